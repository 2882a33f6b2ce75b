//! Daily report job: one day of Prometheus metrics in the job's time zone → stats, charts and
//! SLOs → an HTML + text email sent over SMTP, or written to `out/` when no `[smtp]` is set.

mod build;
pub mod chart;
pub mod day;
pub mod mime;
pub mod query;
pub mod render;
mod settings;
pub mod slo;
pub mod synth;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use self::day::{day_bounds, promql_duration};
use self::query::When;
pub use self::settings::{PanelSettings, SectionSettings, Settings, SloSettings, default_sections, default_slos};
use super::{JobContext, JobError, Outcome, Status};
use crate::clients::mail;
use crate::clients::prometheus::PrometheusClient;
use crate::config::Section;
use crate::output::Table;

/// Connection sections this kind needs (`[smtp]` is optional: without it, `out/`).
pub const REQUIRES: &[Section] = &[Section::Prometheus];

/// One query the run will make.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedQuery {
    pub panel: String,
    pub purpose: &'static str,
    pub expr: String,
    /// Instant query time (unix seconds), or `None` for a range query.
    pub time: Option<i64>,
    /// Range query `[start, end, step]` (unix seconds, seconds).
    pub range: Option<[i64; 3]>,
}

/// What a run will do.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub day: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub prev_start: DateTime<Utc>,
    pub prev_end: DateTime<Utc>,
    /// The day as a PromQL range (`23h`, `24h`, `25h`).
    pub range: String,
    pub prometheus: String,
    pub prometheus_version: String,
    /// `smtp://host:port` or the output directory.
    pub delivery: String,
    pub recipients: Vec<String>,
    pub queries: Vec<PlannedQuery>,
}

impl Plan {
    fn days(&self) -> build::Days {
        build::Days {
            start: self.start,
            end: self.end,
            prev_start: self.prev_start,
            prev_end: self.prev_end,
        }
    }

    pub fn render_text(&self) -> String {
        let mut out = format!(
            "report for {} ({} → {}, range {}) from {} (Prometheus {})\ndelivery: {}{}\n\n",
            self.day,
            self.start.to_rfc3339(),
            self.end.to_rfc3339(),
            self.range,
            self.prometheus,
            self.prometheus_version,
            self.delivery,
            if self.recipients.is_empty() {
                String::new()
            } else {
                format!(" to {}", self.recipients.join(", "))
            }
        );
        let mut table = Table::new(["PANEL", "QUERY", "PROMQL"]);
        for query in &self.queries {
            table.row([query.panel.as_str(), query.purpose, query.expr.as_str()]);
        }
        out.push_str(&table.render());
        out
    }
}

/// The report day: `--date`, or yesterday in the job's time zone.
fn report_day(ctx: &JobContext) -> Result<(NaiveDate, DateTime<Utc>, DateTime<Utc>), JobError> {
    let tz = ctx.job.timezone.0;
    let day = match ctx.options.date {
        Some(day) => day,
        None => ctx
            .now
            .with_timezone(&tz)
            .date_naive()
            .pred_opt()
            .ok_or_else(|| JobError::Usage("no day before --now".into()))?,
    };
    let (start, end) = day_bounds(day, tz);
    if end > ctx.now {
        return Err(JobError::Usage(format!(
            "{day} in {tz} is not over until {end} (now is {}): a report covers a whole past day; pass an earlier --date",
            ctx.now.to_rfc3339()
        )));
    }
    Ok((day, start, end))
}

fn client(ctx: &JobContext) -> Result<PrometheusClient, JobError> {
    let endpoint = ctx
        .config
        .prometheus
        .as_ref()
        .ok_or_else(|| JobError::Usage("a report job needs a [prometheus] section".into()))?;
    Ok(PrometheusClient::new(endpoint)?)
}

fn delivery(ctx: &JobContext, settings: &Settings) -> String {
    match &ctx.config.smtp {
        Some(smtp) => format!("smtp://{}:{} ({:?})", smtp.host, smtp.port(), smtp.tls).to_lowercase(),
        None => format!("files in {}/ (no [smtp] configured)", settings.out_dir.display()),
    }
}

pub async fn plan(ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
    let (day, start, end) = report_day(ctx)?;
    let prometheus = client(ctx)?;
    // One cheap call first: an unreachable Prometheus must fail the run, not send empty charts.
    let version = prometheus
        .build_info()
        .await
        .map_err(|error| JobError::from(error).context("Prometheus is unreachable; no report sent"))?;
    let day_seconds = (end - start).num_seconds();
    let (prev_start, prev_end) = day_bounds(day.pred_opt().unwrap_or(day), ctx.job.timezone.0);
    let specs = build::specs(
        settings,
        build::Days {
            start,
            end,
            prev_start,
            prev_end,
        },
    );
    Ok(Plan {
        day,
        start,
        end,
        prev_start,
        prev_end,
        range: promql_duration(day_seconds),
        prometheus: prometheus.http().shown_url(""),
        prometheus_version: version,
        delivery: delivery(ctx, settings),
        recipients: settings.to.iter().chain(&settings.cc).cloned().collect(),
        queries: specs
            .iter()
            .map(|s| PlannedQuery {
                panel: s.owner.clone(),
                purpose: s.purpose.label(),
                expr: s.spec.expr.clone(),
                time: match s.spec.when {
                    When::At(time) => Some(time.timestamp()),
                    When::Range { .. } => None,
                },
                range: match s.spec.when {
                    When::Range { start, end, step } => Some([start.timestamp(), end.timestamp(), step as i64]),
                    When::At(_) => None,
                },
            })
            .collect(),
    })
}

pub async fn execute(ctx: &JobContext, settings: &Settings, plan: Plan) -> Result<Outcome, JobError> {
    let prometheus = client(ctx)?;
    let report = build::build(ctx, settings, &plan, &prometheus).await?;
    let failed = report.failed_panels;
    let email = mime::Email {
        from: settings
            .from
            .clone()
            .or_else(|| ctx.config.smtp.as_ref().map(|s| s.from.clone()))
            .unwrap_or_else(|| "almanac <almanac@localhost>".into()),
        to: settings.to.clone(),
        cc: settings.cc.clone(),
        subject: report.view.subject.clone(),
        text: report.view.text().map_err(JobError::fatal)?,
        html: report.view.html().map_err(JobError::fatal)?,
        images: report.images,
        job: ctx.job.name.clone(),
        day: plan.day,
        date: ctx.now,
        run_id: ctx.run_id.clone(),
    };
    let message = mime::build(&email).map_err(JobError::Usage)?;
    let mut outcome = match &ctx.config.smtp {
        Some(smtp) => {
            let attempts =
                mail::send_with_retries(smtp, message, settings.send_attempts, settings.send_backoff.as_std()).await?;
            let mut outcome = Outcome::success(format!(
                "report for {} sent to {} ({})",
                plan.day,
                email.to.join(", "),
                report.view.status.label()
            ))
            .count("emails_sent", 1)
            .count("send_attempts", attempts as u64);
            outcome
                .artifacts
                .push(mime::message_id(&email.job, plan.day, &email.from));
            outcome
        }
        None => {
            let written = mime::write_out(&settings.out_dir, &email, &message)
                .map_err(|e| JobError::fatal(anyhow::anyhow!("cannot write to {}: {e}", settings.out_dir.display())))?;
            let mut outcome = Outcome::success(format!(
                "report for {} written to {} and {} ({})",
                plan.day,
                written.html.display(),
                written.eml.display(),
                report.view.status.label()
            ))
            .count("emails_written", 1);
            outcome.artifacts.push(written.html.display().to_string());
            outcome.artifacts.push(written.eml.display().to_string());
            outcome
                .artifacts
                .extend(written.images.iter().map(|p| p.display().to_string()));
            outcome
        }
    };
    outcome = outcome
        .count("panels", report.panels as u64)
        .count("panels_failed", failed as u64)
        .count("charts", email.images.len() as u64)
        .count("queries", plan.queries.len() as u64);
    if failed > 0 {
        outcome.status = Status::Partial;
        outcome.warnings.extend(report.problems);
    }
    Ok(outcome)
}
