//! The plan of the `report` job, built without I/O: the report's period (a day, week or month)
//! and its bounds, and every query a run will make, in a stable order (what `--dry-run` prints).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::Settings;
use super::baseline::DAYS;
use super::day::{day_bounds, promql_duration};
use super::maintenance::{MaintenanceJob, Metric};
use super::period::Period;
use super::query::{self, QuerySpec, When};
use super::settings::Compare;
use super::slo_parts::{self, SloPart, SloRead};
use crate::config::SmtpConfig;
use crate::jobs::JobError;
use crate::output::Table;

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
    /// What the report covers: `day`, `week` or `month`.
    pub period: Period,
    /// The period's first day (the report day of a daily report).
    pub day: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub prev_start: DateTime<Utc>,
    pub prev_end: DateTime<Utc>,
    /// The period as a PromQL range (`23h`, `24h`, `25h`; `169h` for a week, `745h`...).
    pub range: String,
    /// Step of the chart range queries and `$__interval`, seconds (see `Period::chart_step`).
    pub step: u64,
    pub prometheus: String,
    pub prometheus_version: String,
    /// `smtp://host:port` or the output directory.
    pub delivery: String,
    pub recipients: Vec<String>,
    pub queries: Vec<PlannedQuery>,
    /// The 7 days before the report day, day−1 first, each `[start, end]` with its own length
    /// (filled by [`extend`] when `compare` has `week`).
    pub week: Vec<[DateTime<Utc>; 2]>,
    /// When the maintenance section's metrics are read (the run's clock), if it is shown.
    pub maintenance_at: Option<DateTime<Utc>>,
    /// The jobs the maintenance section reports on.
    pub maintenance: Vec<MaintenanceJob>,
    /// How each SLO's window is read: raw, or rollups before the raw retention then raw.
    pub slo_reads: Vec<SloRead>,
}

impl Plan {
    /// The report day and the day before.
    pub fn days(&self) -> Days {
        Days {
            start: self.start,
            end: self.end,
            prev_start: self.prev_start,
            prev_end: self.prev_end,
        }
    }

    pub fn render_text(&self) -> String {
        let mut out = format!(
            "report for {} ({} → {}, range {}) from {} (Prometheus {})\ndelivery: {}{}\n\n",
            self.period.describe(self.day),
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
        for read in self.slo_reads.iter().filter(|r| r.rollups()) {
            out.push_str(&format!("{}\n", read.line()));
        }
        out
    }
}

/// What a query is for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Purpose {
    Stat,
    PreviousStat,
    Chart,
    SloWindow,
    SloDay,
    /// Good events of an SLO given as events, over a part of its window or the period.
    SloGood(SloPart),
    /// All events of an SLO given as events.
    SloTotal(SloPart),
    /// The stat `n` days before the report day (2 to 7; the day before is `PreviousStat`).
    EarlierStat(usize),
    /// The chart's query over the previous 7 days (its band).
    ChartWeek,
    Maintenance(Metric),
}

impl Purpose {
    pub fn label(self) -> &'static str {
        match self {
            Self::Stat => "stat",
            Self::PreviousStat => "stat, period before",
            Self::Chart => "chart",
            Self::SloWindow => "SLI over window",
            Self::SloDay => "SLI over day",
            Self::SloGood(SloPart::Whole) => "good events over window",
            Self::SloTotal(SloPart::Whole) => "total events over window",
            Self::SloGood(SloPart::Recent) => "good events, recent part (raw)",
            Self::SloTotal(SloPart::Recent) => "total events, recent part (raw)",
            Self::SloGood(SloPart::Older) => "good events, older part (rollups)",
            Self::SloTotal(SloPart::Older) => "total events, older part (rollups)",
            Self::SloGood(SloPart::Day) => "good events over day",
            Self::SloTotal(SloPart::Day) => "total events over day",
            Self::EarlierStat(2) => "stat, 2 days before",
            Self::EarlierStat(3) => "stat, 3 days before",
            Self::EarlierStat(4) => "stat, 4 days before",
            Self::EarlierStat(5) => "stat, 5 days before",
            Self::EarlierStat(6) => "stat, 6 days before",
            Self::EarlierStat(_) => "stat, same weekday last week",
            Self::ChartWeek => "chart, previous 7 days",
            Self::Maintenance(metric) => metric.label(),
        }
    }

    /// Whether the report is worth sending with this query's answer alone: comparisons and
    /// the maintenance section are not.
    pub fn essential(self) -> bool {
        matches!(
            self,
            Self::Stat | Self::Chart | Self::SloWindow | Self::SloDay | Self::SloGood(_) | Self::SloTotal(_)
        )
    }
}

/// A query with the panel (or SLO) it belongs to: `(section, panel)` or SLO index.
#[derive(Debug, Clone)]
pub struct Owned {
    pub owner: String,
    pub section: Option<usize>,
    pub index: usize,
    pub purpose: Purpose,
    pub spec: QuerySpec,
}

/// The report day and the day before (each with its real length: DST).
#[derive(Debug, Clone, Copy)]
pub struct Days {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub prev_start: DateTime<Utc>,
    pub prev_end: DateTime<Utc>,
}

/// What planning learnt from Prometheus (`execute::probe`).
#[derive(Debug, Clone)]
pub struct Probed {
    /// The server's URL as shown (no credentials).
    pub url: String,
    pub version: String,
}

/// The report day: `date` (`--date`), or yesterday in `tz`; refused unless over by `now`.
pub fn report_day(date: Option<NaiveDate>, now: DateTime<Utc>, tz: Tz) -> Result<NaiveDate, JobError> {
    report_start(Period::Day, date, now, tz)
}

/// The first day of the reported period: the one holding `date` (`--date`, any day of it), or
/// the last complete one in `tz`; refused unless over by `now`.
pub fn report_start(
    period: Period,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<NaiveDate, JobError> {
    let first = match date {
        Some(day) => period.first_day(day),
        None => period.last_complete(now, tz),
    };
    let (_, end) = period.bounds(first, tz);
    if end > now {
        return Err(JobError::Usage(format!(
            "{} in {tz} is not over until {end} (now is {}): a report covers a whole past {}; pass an earlier --date",
            period.describe(first),
            now.to_rfc3339(),
            period.noun()
        )));
    }
    Ok(first)
}

/// Where the email goes: the SMTP server, or the `out_dir` without `[smtp]`.
pub fn delivery(smtp: Option<&SmtpConfig>, settings: &Settings) -> String {
    match smtp {
        Some(smtp) => format!("smtp://{}:{} ({:?})", smtp.host, smtp.port(), smtp.tls).to_lowercase(),
        None => format!("files in {}/ (no [smtp] configured)", settings.out_dir.display()),
    }
}

/// The plan of the report for the period (`settings.period`) holding `day` in `tz`, compared
/// with the period before it.
pub fn build(settings: &Settings, day: NaiveDate, tz: Tz, probed: Probed, delivery: String) -> Plan {
    let period = settings.period;
    let day = period.first_day(day);
    let (start, end) = period.bounds(day, tz);
    let (prev_start, prev_end) = period.bounds(period.previous(day), tz);
    let days = Days {
        start,
        end,
        prev_start,
        prev_end,
    };
    Plan {
        period,
        day,
        start,
        end,
        prev_start,
        prev_end,
        range: promql_duration((end - start).num_seconds()),
        step: chart_step(settings),
        prometheus: probed.url,
        prometheus_version: probed.version,
        delivery,
        recipients: settings.to.iter().chain(&settings.cc).cloned().collect(),
        queries: specs(settings, days).iter().map(planned).collect(),
        slo_reads: slo_parts::reads(&settings.slos, end, settings.raw_retention),
        week: Vec::new(),
        maintenance_at: None,
        maintenance: Vec::new(),
    }
}

/// Adds to a plan what goes beyond the period and the one before: the previous 7 days (when
/// `compare` has `week` and the report is daily: see `Period::has_baseline`) and the
/// maintenance section of `jobs` read at `now` (when shown and there are jobs), with their
/// queries.
pub fn extend(plan: &mut Plan, settings: &Settings, tz: Tz, now: DateTime<Utc>, jobs: Vec<MaintenanceJob>) {
    if settings.compares(Compare::Week) && plan.period.has_baseline() {
        plan.week = (1..=DAYS as u64)
            .filter_map(|n| plan.day.checked_sub_days(chrono::Days::new(n)))
            .map(|day| {
                let (start, end) = day_bounds(day, tz);
                [start, end]
            })
            .collect();
    }
    if settings.maintenance && !jobs.is_empty() {
        plan.maintenance_at = Some(now);
        plan.maintenance = jobs;
    }
    let extra = extra_specs(settings, plan);
    plan.queries.extend(extra.iter().map(planned));
}

/// Every query of a run: [`specs`] then [`extra_specs`].
pub fn all_specs(settings: &Settings, plan: &Plan) -> Vec<Owned> {
    let mut all = specs(settings, plan.days());
    all.extend(extra_specs(settings, plan));
    all
}

/// The queries [`extend`] added: each stat on days −2 to −7, each chart over the previous
/// 7 days, the maintenance metrics.
pub fn extra_specs(settings: &Settings, plan: &Plan) -> Vec<Owned> {
    let step = chart_step(settings);
    let interval = step_duration(step);
    let mut out = Vec::new();
    for (s, section) in settings.sections.iter().enumerate() {
        for (p, panel) in section.panels.iter().enumerate() {
            let owner = format!("{} / {}", section.title, panel.title);
            let mut push = |purpose, expr: String, when| {
                out.push(Owned {
                    owner: owner.clone(),
                    section: Some(s),
                    index: p,
                    purpose,
                    spec: QuerySpec { expr, when },
                })
            };
            if let Some(q) = &panel.query {
                for (n, [start, end]) in plan.week.iter().enumerate().skip(1) {
                    let seconds = (*end - *start).num_seconds();
                    let expr = query::expand(q, &promql_duration(seconds), seconds, &interval);
                    push(Purpose::EarlierStat(n + 1), expr, When::At(*end));
                }
            }
            if let (Some(q), Some([first, _])) = (&panel.chart, plan.week.last()) {
                let seconds = (plan.end - plan.start).num_seconds();
                let expr = query::expand(q, &promql_duration(seconds), seconds, &interval);
                let when = When::Range {
                    start: *first,
                    end: plan.start,
                    step,
                };
                push(Purpose::ChartWeek, expr, when);
            }
        }
    }
    if let Some(at) = plan.maintenance_at {
        for metric in Metric::ALL {
            out.push(Owned {
                owner: "Maintenance".into(),
                section: None,
                index: 0,
                purpose: Purpose::Maintenance(metric),
                spec: QuerySpec {
                    expr: metric.expr(),
                    when: When::At(at),
                },
            });
        }
    }
    out
}

fn planned(s: &Owned) -> PlannedQuery {
    PlannedQuery {
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
    }
}

/// The step of the report's charts: `step`, at least the period's floor.
pub fn chart_step(settings: &Settings) -> u64 {
    settings.period.chart_step(settings.step.as_std().as_secs().max(1))
}

/// A PromQL duration for a chart step: `5m`, `1h`, `30s`.
fn step_duration(step: u64) -> String {
    if step.is_multiple_of(3600) {
        format!("{}h", step / 3600)
    } else if step.is_multiple_of(60) {
        format!("{}m", step / 60)
    } else {
        format!("{step}s")
    }
}

/// Every query of a report, in a stable order.
pub fn specs(settings: &Settings, days: Days) -> Vec<Owned> {
    let (start, end) = (days.start, days.end);
    let step = chart_step(settings);
    let interval = step_duration(step);
    let day_seconds = (end - start).num_seconds();
    let range = promql_duration(day_seconds);
    let prev_seconds = (days.prev_end - days.prev_start).num_seconds();
    let mut out = Vec::new();
    for (s, section) in settings.sections.iter().enumerate() {
        for (p, panel) in section.panels.iter().enumerate() {
            let owner = format!("{} / {}", section.title, panel.title);
            let push = |out: &mut Vec<Owned>, purpose, expr: String, when| {
                out.push(Owned {
                    owner: owner.clone(),
                    section: Some(s),
                    index: p,
                    purpose,
                    spec: QuerySpec { expr, when },
                })
            };
            if let Some(q) = &panel.query {
                push(
                    &mut out,
                    Purpose::Stat,
                    query::expand(q, &range, day_seconds, &interval),
                    When::At(end),
                );
            }
            let compared = settings.compares(Compare::Day) || settings.compares(Compare::Week);
            if let Some(q) = &panel.query
                && compared
            {
                push(
                    &mut out,
                    Purpose::PreviousStat,
                    query::expand(q, &promql_duration(prev_seconds), prev_seconds, &interval),
                    When::At(days.prev_end),
                );
            }
            if let Some(q) = &panel.chart {
                push(
                    &mut out,
                    Purpose::Chart,
                    query::expand(q, &range, day_seconds, &interval),
                    When::Range { start, end, step },
                );
            }
        }
    }
    for (i, objective) in settings.slos.iter().enumerate() {
        out.extend(slo_parts::specs(
            objective,
            i,
            (start, end),
            &interval,
            settings.raw_retention,
        ));
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
