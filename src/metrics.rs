//! Metrics of runs, in one registry: `serve` exposes it on `/metrics`, and each `run` pushes
//! the same families to the Pushgateway. One `record` call updates all of them.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::runner::RunReport;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub job_name: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CountLabels {
    pub job_name: String,
    pub count: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The metric families of almanac runs.
pub struct Metrics {
    registry: Registry,
    pub runs: Family<OutcomeLabels, Counter>,
    pub last_run: Family<JobLabels, FloatGauge>,
    pub last_success: Family<JobLabels, FloatGauge>,
    pub last_failure: Family<JobLabels, FloatGauge>,
    pub duration: Family<JobLabels, FloatGauge>,
    pub last_outcome: Family<OutcomeLabels, Gauge>,
    pub running: Family<JobLabels, Gauge>,
    pub skipped: Family<JobLabels, Counter>,
    pub counts: Family<CountLabels, FloatGauge>,
}

const OUTCOMES: [&str; 4] = ["success", "partial", "failed", "planned"];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("almanac");
        let metrics = Self {
            registry: Registry::default(),
            runs: Family::default(),
            last_run: Family::default(),
            last_success: Family::default(),
            last_failure: Family::default(),
            duration: Family::default(),
            last_outcome: Family::default(),
            running: Family::default(),
            skipped: Family::default(),
            counts: Family::default(),
        };
        registry.register("job_runs", "Finished runs by outcome", metrics.runs.clone());
        registry.register(
            "job_last_run_timestamp_seconds",
            "End time of the last run",
            metrics.last_run.clone(),
        );
        registry.register(
            "job_last_success_timestamp_seconds",
            "End time of the last successful run",
            metrics.last_success.clone(),
        );
        registry.register(
            "job_last_failure_timestamp_seconds",
            "End time of the last failed or partial run",
            metrics.last_failure.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Duration of the last run",
            metrics.duration.clone(),
        );
        registry.register(
            "job_last_outcome",
            "1 for the outcome of the last run, 0 for the others",
            metrics.last_outcome.clone(),
        );
        registry.register(
            "job_running",
            "1 while a run of the job is in progress",
            metrics.running.clone(),
        );
        registry.register(
            "job_skipped",
            "Scheduled ticks skipped because the previous run was still going",
            metrics.skipped.clone(),
        );
        registry.register(
            "job_outcome_count",
            "The job's own counts from its last run (series deleted, documents archived, ...)",
            metrics.counts.clone(),
        );
        Self { registry, ..metrics }
    }

    /// Updates every family from a finished run.
    pub fn record(&self, report: &RunReport) {
        let job = JobLabels {
            job_name: report.job.clone(),
        };
        let end = (report.started_at + chrono::Duration::from_std(report.duration).unwrap_or_default())
            .timestamp_millis() as f64
            / 1000.0;
        let outcome = report.outcome_label();
        self.runs
            .get_or_create(&OutcomeLabels {
                job_name: report.job.clone(),
                outcome: outcome.into(),
            })
            .inc();
        self.last_run.get_or_create(&job).set(end);
        self.duration.get_or_create(&job).set(report.duration.as_secs_f64());
        if report.succeeded() {
            self.last_success.get_or_create(&job).set(end);
        } else if outcome != "planned" {
            self.last_failure.get_or_create(&job).set(end);
        }
        for name in OUTCOMES {
            let value = i64::from(name == outcome);
            self.last_outcome
                .get_or_create(&OutcomeLabels {
                    job_name: report.job.clone(),
                    outcome: name.into(),
                })
                .set(value);
        }
        if let Ok(outcome) = &report.result {
            for (name, value) in &outcome.counts {
                self.counts
                    .get_or_create(&CountLabels {
                        job_name: report.job.clone(),
                        count: name.clone(),
                    })
                    .set(*value as f64);
            }
        }
    }

    /// The OpenMetrics text of all families.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
