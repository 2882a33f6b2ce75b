//! The I/O of the `report` job: planning asks Prometheus for its version; a run queries it,
//! draws the charts, assembles the report (pure, `assemble`), then sends or writes the email.

use chrono::{DateTime, Utc};
use lettre::Message;

use super::Settings;
use super::assemble::{self, Answers, Built, Charts, Run};
use super::chart::{self, ChartError};
use super::locale::Catalogue;
use super::maintenance::MaintenanceJob;
use super::mime::{self, Email};
use super::plan::{self, Plan, Probed, Purpose};
use super::query::{self, QueryResult, QuerySpec};
use crate::clients::mail;
use crate::clients::prometheus::PrometheusClient;
use crate::config::JobKinds;
use crate::jobs::{JobContext, JobError, Outcome, Status};

fn client(ctx: &JobContext) -> Result<PrometheusClient, JobError> {
    let endpoint = ctx
        .config
        .prometheus
        .as_ref()
        .ok_or_else(|| JobError::Usage("a report job needs a [prometheus] section".into()))?;
    Ok(PrometheusClient::new(endpoint)?)
}

/// Plans a run: the report day (refused unless over), one cheap call to Prometheus (an
/// unreachable server must fail the run, not send empty charts), then the pure plan.
pub async fn plan(ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
    let tz = ctx.job.timezone.0;
    let day = plan::report_start(settings.period, ctx.options.date, ctx.now, tz)?;
    let prometheus = client(ctx)?;
    let version = prometheus
        .build_info()
        .await
        .map_err(|error| JobError::from(error).context("Prometheus is unreachable; no report sent"))?;
    let probed = Probed {
        url: prometheus.http().shown_url(""),
        version,
    };
    let delivery = plan::delivery(ctx.config.smtp.as_ref(), settings);
    let mut plan = plan::build(settings, day, tz, probed, delivery);
    plan::extend(&mut plan, settings, tz, ctx.now, maintenance_jobs(ctx));
    Ok(plan)
}

/// The jobs of the configuration the maintenance section reports on: every job that is not
/// a report.
fn maintenance_jobs(ctx: &JobContext) -> Vec<MaintenanceJob> {
    ctx.config
        .jobs
        .values()
        .filter(|job| job.kind.name() != "report")
        .map(|job| MaintenanceJob {
            name: job.name.clone(),
            kind: job.kind.name().to_string(),
            schedule: job.schedule.clone(),
            timezone: job.timezone,
            timeout: job.timeout.as_std(),
            enabled: job.enabled,
        })
        .collect()
}

/// Draws every chart at once on the blocking pool (plotters is CPU-bound and single-threaded),
/// keyed by `(section, panel)`, each over the band of its previous 7 days when queried.
async fn render_charts(
    settings: &Settings,
    answers: &Answers<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    step: u64,
    tz: chrono_tz::Tz,
) -> Charts {
    let catalogue = Catalogue::of(&settings.locale);
    // One chart per core at a time: more threads only add memory (a bitmap and an allocator
    // arena each), not speed.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(cores));
    let mut drawing = Vec::new();
    for (s, section) in settings.sections.iter().enumerate() {
        for (p, panel) in section.panels.iter().enumerate() {
            if let Some((_, QueryResult::Range(series))) = answers.find(Some(s), p, Purpose::Chart) {
                let week = match answers.find(Some(s), p, Purpose::ChartWeek) {
                    Some((_, QueryResult::Range(week))) => week.clone(),
                    _ => Vec::new(),
                };
                let request = chart::Request {
                    series: series.clone(),
                    week,
                    legend: panel.legend.clone(),
                    unit: panel.unit,
                    start,
                    end,
                    step,
                    tz,
                    period: settings.period,
                    top: settings.top_series,
                    catalogue,
                };
                let permits = permits.clone();
                let task = tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    tokio::task::spawn_blocking(move || chart::draw(&request)).await
                });
                drawing.push(((s, p), task));
            }
        }
    }
    let mut charts = Charts::new();
    for (key, task) in drawing {
        let drawn = match task.await {
            Ok(Ok(drawn)) => drawn,
            Ok(Err(error)) | Err(error) => Err(ChartError::Aborted(error.to_string())),
        };
        charts.insert(key, drawn);
    }
    charts
}

/// Runs the queries, draws the charts and assembles the report. Fails (transient) when every
/// query that matters failed: nothing is worth sending then.
async fn build(
    ctx: &JobContext,
    settings: &Settings,
    plan: &Plan,
    prometheus: &PrometheusClient,
) -> Result<Built, JobError> {
    let tz = ctx.job.timezone.0;
    let specs = plan::all_specs(settings, plan);
    let queries: Vec<QuerySpec> = specs.iter().map(|o| o.spec.clone()).collect();
    let started = std::time::Instant::now();
    let results = query::run_all(
        prometheus,
        &queries,
        settings.parallelism,
        settings.query_timeout.as_std(),
    )
    .await;
    let answers = Answers::new(&specs, &results);
    tracing::info!(
        queries = queries.len(),
        failed = answers.failed(),
        seconds = started.elapsed().as_secs_f64(),
        "queries finished"
    );
    check_answered(&answers)?;
    let started = std::time::Instant::now();
    let charts = render_charts(settings, &answers, plan.start, plan.end, plan.step, tz).await;
    let run = Run {
        job: &ctx.job.name,
        run_id: &ctx.run_id,
        now: ctx.now,
        tz,
    };
    let link = |expr: &str, end, hours| prometheus.graph_link(expr, end, hours);
    let built = assemble::assemble(settings, plan, run, &answers, charts, &link);
    tracing::info!(
        charts = built.images.len(),
        seconds = started.elapsed().as_secs_f64(),
        "report assembled"
    );
    Ok(built)
}

/// A transient failure when every query that matters failed.
fn check_answered(answers: &Answers<'_>) -> Result<(), JobError> {
    match answers.all_failed() {
        Some(reason) => Err(JobError::transient(anyhow::anyhow!(
            "every Prometheus query failed (first: {reason}); no report sent"
        ))),
        None => Ok(()),
    }
}

/// The MIME message. The queries already ran, so a failure here is the run's failure (exit 1),
/// not a usage error (exit 2 says "bad configuration, nothing done").
fn message(email: &Email, queries: usize) -> Result<Message, JobError> {
    mime::build(email).map_err(|error| {
        JobError::fatal(error).context(format!(
            "the report's {queries} queries ran but its email could not be built; nothing sent"
        ))
    })
}

/// Runs a plan: the queries, charts and assembly, then the email sent over SMTP (or written
/// to `out_dir` without `[smtp]`). Failed panels make the outcome partial.
pub async fn run(ctx: &JobContext, settings: &Settings, plan: Plan) -> Result<Outcome, JobError> {
    let prometheus = client(ctx)?;
    let report = build(ctx, settings, &plan, &prometheus).await?;
    let failed = report.failed_panels;
    let email = Email {
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
    let message = message(&email, plan.queries.len())?;
    let mut outcome = match &ctx.config.smtp {
        Some(smtp) => {
            let attempts =
                mail::send_with_retries(smtp, message, settings.send_attempts, settings.send_backoff.as_std()).await?;
            let mut outcome = Outcome::success(format!(
                "report for {} sent to {} ({})",
                plan.period.describe(plan.day),
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
                plan.period.describe(plan.day),
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

#[cfg(test)]
#[path = "execute_tests.rs"]
mod tests;
