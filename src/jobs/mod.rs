//! The job kinds (one file each) and what they share: the context a run gets, the plan a
//! job builds before touching anything, the outcome it returns, and its error type.

pub mod clock;
pub mod connect;
pub mod log_retention;
pub mod noop;
pub mod report;
pub mod tsdb_retention;
pub mod tsdb_rollup;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use crate::clients::error::Transience;
use crate::config::{ConfigError, JobKinds, KeyPath, Loader, Section, SettingsError};

/// The configuration with this binary's job kinds.
pub type Config = crate::config::Config<JobKind>;
/// One `[jobs.<name>]` table with this binary's job kinds.
pub type JobConfig = crate::config::JobConfig<JobKind>;

/// Reads and validates a configuration file (see `config::load`).
pub fn load_config(file: &std::path::Path) -> Result<Config, ConfigError> {
    crate::config::load(file)
}
use crate::output::OutputFormat;

/// A job's settings, by kind: the `kind = "..."` of its `[jobs.<name>]` table.
// Built once per configuration load; the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum JobKind {
    Report(report::Settings),
    TsdbRetention(tsdb_retention::Settings),
    TsdbRollup(tsdb_rollup::Settings),
    LogRetention(log_retention::Settings),
    Noop(noop::Settings),
}

impl JobKinds for JobKind {
    const NAMES: &'static [&'static str] = &["report", "tsdb-retention", "tsdb-rollup", "log-retention", "noop"];

    fn parse(
        kind: &str,
        settings: toml::Value,
        loader: &Loader<'_>,
        path: &KeyPath,
    ) -> Option<Result<Self, ConfigError>> {
        Some(match kind {
            "report" => loader.deserialize(settings, path).map(Self::Report),
            "tsdb-retention" => loader.deserialize(settings, path).map(Self::TsdbRetention),
            "tsdb-rollup" => loader.deserialize(settings, path).map(Self::TsdbRollup),
            "log-retention" => loader.deserialize(settings, path).map(Self::LogRetention),
            "noop" => loader.deserialize(settings, path).map(Self::Noop),
            _ => return None,
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Report(_) => "report",
            Self::TsdbRetention(_) => "tsdb-retention",
            Self::TsdbRollup(_) => "tsdb-rollup",
            Self::LogRetention(_) => "log-retention",
            Self::Noop(_) => "noop",
        }
    }

    /// Connection sections this kind cannot run without.
    fn requires(&self) -> &'static [Section] {
        match self {
            Self::Report(_) => report::REQUIRES,
            Self::TsdbRetention(_) => tsdb_retention::REQUIRES,
            Self::TsdbRollup(_) => tsdb_rollup::REQUIRES,
            Self::LogRetention(_) => log_retention::REQUIRES,
            Self::Noop(_) => noop::REQUIRES,
        }
    }

    /// Checks across fields that serde cannot express.
    fn validate(&self) -> Result<(), SettingsError> {
        match self {
            Self::Report(settings) => settings.validate(),
            Self::TsdbRetention(settings) => settings.validate(),
            Self::TsdbRollup(settings) => settings.validate(),
            Self::LogRetention(settings) => settings.validate(),
            Self::Noop(settings) => settings.validate(),
        }
    }

    fn check_config(config: &crate::config::Config<Self>) -> Result<(), (String, SettingsError)> {
        log_retention::check_config(config)
    }
}

impl JobKind {
    /// Looks at the world and decides what to do, without changing anything.
    pub async fn plan(&self, ctx: &JobContext) -> Result<Plan, JobError> {
        Ok(match self {
            Self::Report(settings) => Plan::Report(report::plan(ctx, settings).await?),
            Self::TsdbRetention(settings) => Plan::TsdbRetention(tsdb_retention::plan(ctx, settings).await?),
            Self::TsdbRollup(settings) => Plan::TsdbRollup(tsdb_rollup::plan(ctx, settings).await?),
            Self::LogRetention(settings) => Plan::LogRetention(log_retention::plan(ctx, settings).await?),
            Self::Noop(settings) => Plan::Noop(noop::plan(ctx, settings).await?),
        })
    }
}

/// What a run is about to do. `--dry-run` prints it and stops there.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Plan {
    Report(report::Plan),
    TsdbRetention(tsdb_retention::Plan),
    TsdbRollup(tsdb_rollup::Plan),
    LogRetention(log_retention::Plan),
    Noop(noop::Plan),
}

impl Plan {
    /// Human-readable form (tables) for a terminal.
    pub fn render_text(&self) -> String {
        match self {
            Self::Report(plan) => plan.render_text(),
            Self::TsdbRetention(plan) => plan.render_text(),
            Self::TsdbRollup(plan) => plan.render_text(),
            Self::LogRetention(plan) => plan.render_text(),
            Self::Noop(plan) => plan.render_text(),
        }
    }

    pub async fn execute(self, ctx: &JobContext, kind: &JobKind) -> Result<Outcome, JobError> {
        match (self, kind) {
            (Self::Report(plan), JobKind::Report(settings)) => report::execute(ctx, settings, plan).await,
            (Self::TsdbRetention(plan), JobKind::TsdbRetention(settings)) => {
                tsdb_retention::execute(ctx, settings, plan).await
            }
            (Self::TsdbRollup(plan), JobKind::TsdbRollup(settings)) => tsdb_rollup::execute(ctx, settings, plan).await,
            (Self::LogRetention(plan), JobKind::LogRetention(settings)) => {
                log_retention::execute(ctx, settings, plan).await
            }
            (Self::Noop(plan), JobKind::Noop(settings)) => noop::execute(ctx, settings, plan).await,
            _ => Err(JobError::fatal(anyhow::anyhow!(
                "internal error: plan and job kind differ"
            ))),
        }
    }
}

/// Options of one `almanac run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub dry_run: bool,
    pub output: OutputFormat,
    /// `--date`: the day a report covers (default: yesterday in the job's time zone).
    pub date: Option<NaiveDate>,
    /// `--force`: go past safety limits such as `max_series_per_run`.
    pub force: bool,
    /// `--allow-clock-skew`: destructive steps run even with a clock far from the wall clock.
    pub allow_clock_skew: bool,
    /// Show progress bars (only when stderr is a terminal and not `--quiet`).
    pub progress: bool,
}

/// Everything a run may use. Jobs take the time from `now`, never from the system clock,
/// so `--now` makes runs reproducible.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub config: Arc<Config>,
    pub job: JobConfig,
    pub now: DateTime<Utc>,
    pub run_id: String,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u32,
    pub options: RunOptions,
    /// Cancelled on shutdown or timeout; long loops check it between steps.
    pub cancel: CancellationToken,
}

impl JobContext {
    /// Refuses destructive steps when the run's clock is more than a day from the system
    /// clock (a wrong `--now` or `ALMANAC_NOW` must never delete), unless allowed.
    pub fn check_clock(&self) -> Result<(), JobError> {
        if self.options.allow_clock_skew {
            return Ok(());
        }
        match clock::clock_skew(self.now, Utc::now()) {
            Some(message) => Err(JobError::Usage(message)),
            None => Ok(()),
        }
    }
}

/// How a finished run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Everything done.
    Success,
    /// Done with parts missing (e.g. a report sent with failed panels): exit code 1.
    Partial,
    /// `--dry-run`: planned, nothing done.
    Planned,
}

/// The result of a run: counts for logs and metrics, warnings, and where results are.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub status: Status,
    pub summary: String,
    /// Named counts exported as metrics, e.g. `emails_sent`, `indices_archived`, `bytes_uploaded`.
    pub counts: BTreeMap<String, u64>,
    pub warnings: Vec<String>,
    /// Files or objects the run produced (report paths, archive keys).
    pub artifacts: Vec<String>,
}

impl Outcome {
    pub fn success(summary: impl Into<String>) -> Self {
        Self {
            status: Status::Success,
            summary: summary.into(),
            counts: BTreeMap::new(),
            warnings: Vec::new(),
            artifacts: Vec::new(),
        }
    }
    pub fn planned() -> Self {
        Self {
            status: Status::Planned,
            ..Self::success("dry run: nothing done")
        }
    }
    pub fn count(mut self, name: &str, value: u64) -> Self {
        self.counts.insert(name.to_string(), value);
        self
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Bad input on the command line or in settings: exit code 2, never retried.
    #[error("{0}")]
    Usage(String),
    /// A failure that may go away (connection refused, 503, timeout): retried with backoff.
    #[error("{0:#}")]
    Transient(anyhow::Error),
    /// A failure a retry will not fix.
    #[error("{0:#}")]
    Fatal(anyhow::Error),
    /// The run took longer than the job's `timeout`.
    #[error("timed out after {0}")]
    TimedOut(crate::config::HumanDuration),
    /// Shutdown asked the run to stop.
    #[error("cancelled")]
    Cancelled,
}

impl JobError {
    pub fn transient(error: impl Into<anyhow::Error>) -> Self {
        Self::Transient(error.into())
    }
    pub fn fatal(error: impl Into<anyhow::Error>) -> Self {
        Self::Fatal(error.into())
    }
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
    /// Adds context to the message while keeping the classification.
    pub fn context(self, context: impl std::fmt::Display + Send + Sync + 'static) -> Self {
        match self {
            Self::Transient(error) => Self::Transient(error.context(context)),
            Self::Fatal(error) => Self::Fatal(error.context(context)),
            Self::Usage(message) => Self::Usage(format!("{context}: {message}")),
            other => other,
        }
    }
}

impl<E> From<E> for JobError
where
    E: Transience + std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        if error.is_transient() {
            Self::Transient(error.into())
        } else {
            Self::Fatal(error.into())
        }
    }
}
