//! The report's "Maintenance" section (pure): almanac's own run metrics as Prometheus scraped
//! them (last run, outcome, duration, counts by `job_name`) against each job's schedule.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::day::{Level, Unit};
use super::locale::Catalogue;
use super::numbers::run_duration;
use super::query::QueryResult;
use crate::clients::prometheus::Sample;
use crate::config::{Schedule, TimeZoneName};
use crate::metrics::{COUNTS, DURATION, Family, LAST_OUTCOME, LAST_RUN, LAST_SUCCESS};

/// How far back a metric's last sample may be: the gauges of a job that runs weekly are
/// scraped all week long; older than this they are gone.
pub const LOOKBACK: &str = "7d";

/// One of the run metrics the section reads (one query each, all jobs at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Metric {
    LastSuccess,
    LastRun,
    Outcome,
    Duration,
    Counts,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Self::LastSuccess,
        Self::LastRun,
        Self::Outcome,
        Self::Duration,
        Self::Counts,
    ];

    fn family(self) -> &'static Family {
        match self {
            Self::LastSuccess => &LAST_SUCCESS,
            Self::LastRun => &LAST_RUN,
            Self::Outcome => &LAST_OUTCOME,
            Self::Duration => &DURATION,
            Self::Counts => &COUNTS,
        }
    }

    /// What the dry run says the query is for.
    pub fn label(self) -> &'static str {
        match self {
            Self::LastSuccess => "maintenance: last success",
            Self::LastRun => "maintenance: last run",
            Self::Outcome => "maintenance: outcome",
            Self::Duration => "maintenance: duration",
            Self::Counts => "maintenance: counts",
        }
    }

    /// The PromQL: the last value of each job's series, whoever exposed it (`serve` or the
    /// Pushgateway), by `job_name` and the family's own labels.
    pub fn expr(self) -> String {
        let family = self.family();
        let by: Vec<&str> = std::iter::once("job_name")
            .chain(family.labels.iter().copied())
            .collect();
        format!(
            "max by ({}) (last_over_time({}[{LOOKBACK}]))",
            by.join(", "),
            family.name
        )
    }
}

/// A job of the configuration the section reports on (the report jobs aside).
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceJob {
    pub name: String,
    pub kind: String,
    pub schedule: Schedule,
    pub timezone: TimeZoneName,
    /// The whole run may take this long: a run is due finished by its start + timeout.
    pub timeout: Duration,
    pub enabled: bool,
}

/// What the metrics say about one job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub last_success: Option<f64>,
    pub last_run: Option<f64>,
    pub outcome: Option<String>,
    pub duration: Option<f64>,
    pub counts: BTreeMap<String, f64>,
}

/// Outcomes from worst to best: two sources disagreeing show the worse.
const OUTCOME_ORDER: [&str; 4] = ["failed", "partial", "success", "planned"];

/// Adds one metric's samples to the observations by `job_name`.
pub fn observe(metric: Metric, samples: &[Sample], into: &mut BTreeMap<String, Observed>) {
    for sample in samples {
        let Some(job) = sample.labels.get("job_name") else {
            continue;
        };
        let entry = into.entry(job.clone()).or_default();
        let value = Some(sample.value).filter(|v| v.is_finite());
        match metric {
            Metric::LastSuccess => entry.last_success = value,
            Metric::LastRun => entry.last_run = value,
            Metric::Duration => entry.duration = value,
            Metric::Outcome => {
                let Some(outcome) = sample.labels.get("outcome") else {
                    continue;
                };
                let rank = |o: &str| {
                    OUTCOME_ORDER
                        .iter()
                        .position(|x| *x == o)
                        .unwrap_or(OUTCOME_ORDER.len())
                };
                let better_known = entry
                    .outcome
                    .as_deref()
                    .is_some_and(|known| rank(known) <= rank(outcome));
                if sample.value >= 0.5 && !better_known {
                    entry.outcome = Some(outcome.clone());
                }
            }
            Metric::Counts => {
                if let (Some(name), Some(value)) = (sample.labels.get("count"), value) {
                    entry.counts.insert(name.clone(), value);
                }
            }
        }
    }
}

/// The latest scheduled start of `job` that should have finished by `now` (start + timeout
/// ≤ now), looking back up to 35 days; `None` when nothing was due in that time.
pub fn due(job: &MaintenanceJob, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let timeout = chrono::Duration::from_std(job.timeout).unwrap_or(chrono::Duration::zero());
    let cutoff = now - timeout;
    let tz = job.timezone.0;
    for days_back in [0, 1, 8, 35] {
        let from = (cutoff - chrono::Duration::days(days_back) - chrono::Duration::hours(1)).with_timezone(&tz);
        let latest = job
            .schedule
            .next_after(&from, 5000)
            .into_iter()
            .map(|t| t.with_timezone(&Utc))
            .take_while(|t| *t <= cutoff)
            .last();
        if latest.is_some() {
            return latest;
        }
    }
    None
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum State {
    /// Succeeded since its last due run (or nothing was due).
    Ok,
    /// Its last success is older than the run that was due at this time.
    Late {
        due: DateTime<Utc>,
    },
    /// Metrics but no success at all, and a run was due.
    NeverSucceeded {
        due: DateTime<Utc>,
    },
    /// No metric of the job in Prometheus.
    NoMetrics,
    Disabled,
}

/// Whether `job` succeeded within its schedule period: since its latest start due finished.
pub fn state(job: &MaintenanceJob, observed: Option<&Observed>, now: DateTime<Utc>) -> State {
    if !job.enabled {
        return State::Disabled;
    }
    let Some(observed) = observed else {
        return State::NoMetrics;
    };
    match (due(job, now), observed.last_success) {
        (None, _) => State::Ok,
        (Some(due), Some(success)) if success >= due.timestamp() as f64 => State::Ok,
        (Some(due), Some(_)) => State::Late { due },
        (Some(due), None) => State::NeverSucceeded { due },
    }
}

/// One row of the section.
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceRow {
    pub job: String,
    pub kind: String,
    /// `schedule 0 0 2 * * * (Europe/Paris)`.
    pub schedule: String,
    pub last_run: String,
    pub outcome: String,
    pub outcome_level: Level,
    pub duration: String,
    /// `series_deleted 1,234 · requests 2`.
    pub counts: String,
    /// Why the job is flagged, or what else to know (last success, disabled).
    pub note: String,
    pub late: bool,
}

/// The section: a message instead of rows when there is nothing to show.
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceView {
    pub message: Option<String>,
    pub rows: Vec<MaintenanceRow>,
    pub late: usize,
}

fn outcome_level(outcome: &str) -> Level {
    match outcome {
        "success" => Level::Ok,
        "partial" => Level::Warning,
        "failed" => Level::Critical,
        _ => Level::Info,
    }
}

/// The section from the metric queries' results, at `now`, times shown in `tz`.
pub fn view(
    jobs: &[MaintenanceJob],
    results: &[(Metric, &QueryResult)],
    now: DateTime<Utc>,
    tz: Tz,
    catalogue: &Catalogue,
) -> MaintenanceView {
    let mut observed = BTreeMap::new();
    let mut failure = None;
    for (metric, result) in results {
        match result {
            QueryResult::Instant(samples) => observe(*metric, samples, &mut observed),
            QueryResult::Failed(reason) => failure = failure.or(Some(reason.clone())),
            QueryResult::Range(_) => {}
        }
    }
    let empty = MaintenanceView {
        message: None,
        rows: Vec::new(),
        late: 0,
    };
    if !jobs.iter().any(|j| observed.contains_key(&j.name)) {
        let message = match failure {
            Some(reason) => catalogue.fill("maint.failed", &[("reason", &reason)]),
            None => catalogue.t("maint.absent").to_string(),
        };
        return MaintenanceView {
            message: Some(message),
            ..empty
        };
    }
    let time = |seconds: f64| {
        DateTime::from_timestamp(seconds as i64, 0)
            .map(|t| catalogue.datetime(t.with_timezone(&tz)))
            .unwrap_or_else(|| catalogue.t("value.na").to_string())
    };
    let na = || catalogue.t("value.na").to_string();
    let rows: Vec<MaintenanceRow> = jobs
        .iter()
        .map(|job| {
            let seen = observed.get(&job.name);
            let state = state(job, seen, now);
            let flag = |key: &str, at: DateTime<Utc>| {
                catalogue.fill(key, &[("due", &catalogue.datetime(at.with_timezone(&tz)))])
            };
            let note = match state {
                State::Late { due } => flag("maint.overdue", due),
                State::NeverSucceeded { due } => flag("maint.never_succeeded", due),
                State::Disabled => catalogue.t("maint.disabled").to_string(),
                State::NoMetrics => catalogue.t("maint.no_metrics").to_string(),
                State::Ok => match seen.and_then(|s| s.last_success) {
                    Some(success) if seen.and_then(|s| s.last_run) != Some(success) => {
                        catalogue.fill("maint.last_success", &[("time", &time(success))])
                    }
                    _ => String::new(),
                },
            };
            let outcome = seen.and_then(|s| s.outcome.clone());
            MaintenanceRow {
                job: job.name.clone(),
                kind: job.kind.clone(),
                schedule: catalogue.fill(
                    "maint.schedule",
                    &[("schedule", job.schedule.as_str()), ("zone", job.timezone.0.name())],
                ),
                last_run: seen.and_then(|s| s.last_run).map_or_else(na, time),
                outcome: outcome
                    .as_deref()
                    .map_or_else(na, |o| catalogue.t(&format!("outcome.{o}")).to_string()),
                outcome_level: outcome.as_deref().map_or(Level::NoData, outcome_level),
                duration: seen
                    .and_then(|s| s.duration)
                    .map_or_else(na, |d| run_duration(d, catalogue)),
                counts: seen
                    .map(|s| {
                        s.counts
                            .iter()
                            .map(|(name, value)| format!("{name} {}", Unit::Number.format_in(*value, None, catalogue)))
                            .collect::<Vec<_>>()
                            .join(" · ")
                    })
                    .unwrap_or_default(),
                note,
                late: matches!(state, State::Late { .. } | State::NeverSucceeded { .. }),
            }
        })
        .collect();
    MaintenanceView {
        late: rows.iter().filter(|r| r.late).count(),
        rows,
        ..empty
    }
}

#[cfg(test)]
#[path = "maintenance_tests.rs"]
mod tests;
