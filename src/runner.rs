//! One run of one job: run id and tracing span, the clock, plan then execute, retries of
//! transient failures with exponential backoff, the overall timeout, and the final report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, warn};

use crate::config::JobKinds as _;
use crate::jobs::{Config, JobContext, JobError, Outcome, RunOptions, Status};
use crate::output::OutputFormat;

/// Exit codes of the `almanac` binary.
pub mod exit {
    /// The job did everything it planned.
    pub const SUCCESS: u8 = 0;
    /// The job failed or finished only partly (e.g. a report sent with failed panels).
    pub const JOB_FAILED: u8 = 1;
    /// Bad command line or configuration; nothing was done.
    pub const USAGE: u8 = 2;
}

/// Everything known about a finished run; logged, printed, and exported as metrics.
#[derive(Debug)]
pub struct RunReport {
    pub job: String,
    pub kind: &'static str,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub attempts: u32,
    pub result: Result<Outcome, JobError>,
}

impl RunReport {
    /// The run as the metrics see it (plain data).
    pub fn finished(&self) -> crate::metrics::Finished {
        let end = self.started_at + chrono::Duration::from_std(self.duration).unwrap_or_default();
        crate::metrics::Finished {
            job: self.job.clone(),
            outcome: self.outcome_label(),
            end: end.timestamp_millis() as f64 / 1000.0,
            duration_seconds: self.duration.as_secs_f64(),
            counts: match &self.result {
                Ok(outcome) => outcome.counts.iter().map(|(k, v)| (k.clone(), *v as f64)).collect(),
                Err(_) => Vec::new(),
            },
        }
    }

    pub fn exit_code(&self) -> u8 {
        match &self.result {
            Ok(outcome) if outcome.status == Status::Partial => exit::JOB_FAILED,
            Ok(_) => exit::SUCCESS,
            Err(JobError::Usage(_)) => exit::USAGE,
            Err(_) => exit::JOB_FAILED,
        }
    }

    pub fn succeeded(&self) -> bool {
        matches!(&self.result, Ok(outcome) if outcome.status == Status::Success)
    }

    /// `success`, `partial`, `planned` or `failed`: the outcome label of metrics.
    pub fn outcome_label(&self) -> &'static str {
        match &self.result {
            Ok(outcome) => match outcome.status {
                Status::Success => "success",
                Status::Partial => "partial",
                Status::Planned => "planned",
            },
            Err(_) => "failed",
        }
    }

    /// The machine-readable summary printed with `--output json`.
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Json<'a> {
            job: &'a str,
            kind: &'a str,
            run_id: &'a str,
            started_at: String,
            duration_seconds: f64,
            attempts: u32,
            outcome: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<String>,
            #[serde(flatten, skip_serializing_if = "Option::is_none")]
            details: Option<&'a Outcome>,
        }
        serde_json::to_value(Json {
            job: &self.job,
            kind: self.kind,
            run_id: &self.run_id,
            started_at: self.started_at.to_rfc3339(),
            duration_seconds: self.duration.as_secs_f64(),
            attempts: self.attempts,
            outcome: self.outcome_label(),
            error: self.result.as_ref().err().map(|e| e.to_string()),
            details: self.result.as_ref().ok(),
        })
        .unwrap_or_default()
    }

    /// One line for a terminal.
    pub fn to_text(&self) -> String {
        let took = format!("{:.1}s", self.duration.as_secs_f64());
        match &self.result {
            Ok(outcome) => {
                let mut text = format!(
                    "{}: {} — {} ({took})\n",
                    self.job,
                    self.outcome_label(),
                    outcome.summary
                );
                for warning in &outcome.warnings {
                    text.push_str(&format!("  warning: {warning}\n"));
                }
                for artifact in &outcome.artifacts {
                    text.push_str(&format!("  wrote: {artifact}\n"));
                }
                text
            }
            Err(error) => format!(
                "{}: failed after {} attempt(s) ({took}): {error}\n",
                self.job, self.attempts
            ),
        }
    }
}

/// After a timeout, how long a cancelled job gets to clean up before it is dropped.
pub const CLEANUP_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Where a finished run is recorded: the Pushgateway when configured, and `serve`'s
/// registry. The one place both happen. Returns `false` when the push failed and the
/// configuration says that fails the run.
pub async fn record(config: &Config, registry: Option<&crate::metrics::Registry>, report: &RunReport) -> bool {
    let finished = report.finished();
    if let Some(registry) = registry {
        registry.record(&finished);
    }
    crate::push::after_run(config.pushgateway.as_ref(), &finished).await
}

/// Runs job `name` once. `now` is the clock every time-relative decision uses.
/// The plan is printed to stdout on `--dry-run`.
pub async fn run_job(
    config: Arc<Config>,
    name: &str,
    options: RunOptions,
    now: DateTime<Utc>,
    cancel: CancellationToken,
) -> Result<RunReport, crate::config::UnknownJob> {
    let job = config.job(name)?.clone();
    let run_id = uuid::Uuid::now_v7().to_string();
    let span = tracing::info_span!("run", job = %job.name, kind = job.kind.name(), run_id = %run_id);
    let ctx = JobContext {
        config,
        job,
        now,
        run_id: run_id.clone(),
        attempt: 1,
        options,
        cancel: cancel.child_token(),
    };
    let report = async move {
        let started_at = Utc::now();
        let clock = Instant::now();
        info!(message = "run started", now = %ctx.now.to_rfc3339(), dry_run = ctx.options.dry_run);
        let mut attempts = 0;
        let timeout = ctx.job.timeout;
        let result = {
            let work = attempt_loop(&ctx, &mut attempts);
            tokio::pin!(work);
            tokio::select! {
                result = &mut work => result,
                _ = tokio::time::sleep(timeout.as_std()) => {
                    // Cancel and let the job clean up (abort uploads, release its lock) for a
                    // bounded time, rather than dropping it mid-step.
                    ctx.cancel.cancel();
                    if tokio::time::timeout(CLEANUP_GRACE, &mut work).await.is_err() {
                        warn!(message = "the job did not stop within the grace period after its timeout");
                    }
                    Err(JobError::TimedOut(timeout))
                }
            }
        };
        let report = RunReport {
            job: ctx.job.name.clone(),
            kind: ctx.job.kind.name(),
            run_id,
            started_at,
            duration: clock.elapsed(),
            attempts,
            result,
        };
        log_report(&report);
        report
    }
    .instrument(span)
    .await;
    Ok(report)
}

async fn attempt_loop(ctx: &JobContext, attempts: &mut u32) -> Result<Outcome, JobError> {
    let mut delay = ctx.job.backoff.as_std();
    loop {
        *attempts += 1;
        let ctx = JobContext {
            attempt: *attempts,
            ..ctx.clone()
        };
        match attempt(&ctx).await {
            Err(error) if error.is_transient() && *attempts <= ctx.job.retries => {
                warn!(message = "attempt failed, will retry", attempt = *attempts, retry_in_seconds = delay.as_secs_f64(), %error);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = ctx.cancel.cancelled() => return Err(JobError::Cancelled),
                }
                delay = (delay * 2).min(ctx.job.backoff_max.as_std());
            }
            other => return other,
        }
    }
}

async fn attempt(ctx: &JobContext) -> Result<Outcome, JobError> {
    let plan = ctx.job.kind.plan(ctx).await?;
    if ctx.options.dry_run {
        match ctx.options.output {
            OutputFormat::Text => print!("{}", plan.render_text()),
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default()),
        }
        return Ok(Outcome::planned());
    }
    info!(message = "plan ready, executing");
    plan.execute(ctx, &ctx.job.kind).await
}

fn log_report(report: &RunReport) {
    let duration_seconds = report.duration.as_secs_f64();
    match &report.result {
        Ok(outcome) => {
            let counts = serde_json::to_string(&outcome.counts).unwrap_or_default();
            if outcome.status == Status::Partial {
                warn!(message = "run finished partly", outcome = report.outcome_label(), summary = %outcome.summary, %counts, duration_seconds, warnings = outcome.warnings.len());
            } else {
                info!(message = "run finished", outcome = report.outcome_label(), summary = %outcome.summary, %counts, duration_seconds);
            }
        }
        Err(error) => error!(message = "run failed", %error, attempts = report.attempts, duration_seconds),
    }
}
