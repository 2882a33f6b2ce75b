//! The `tsdb-rollup` job (1-hour and 1-day rollups of raw series, remote-written with a
//! watermark per tier): `settings`, pure `plan` + `rollup` + `read_path`, I/O in `execute`, `fetch`, `run`.

mod execute;
mod fetch;
mod plan;
mod read_path;
mod rollup;
mod run;
mod settings;

pub use self::plan::{Plan, WATERMARK, Window};
pub use self::settings::{Aggregate, MetricType, Rule, Settings, Tier};
use crate::config::Section;
use crate::jobs::{JobContext, JobError, Outcome};

/// Connection sections this kind needs (the source; the target defaults to it too).
pub const REQUIRES: &[Section] = &[Section::Prometheus];

/// Plans a run: target flavour, watermarks, windows per tier, hours to fetch (and, for
/// `--dry-run`, series and samples to write).
pub async fn plan(ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
    execute::gather(ctx, settings).await
}

/// Runs a plan: each hour of raw samples fetched once, rollups and watermarks remote-written.
pub async fn execute(ctx: &JobContext, settings: &Settings, plan: Plan) -> Result<Outcome, JobError> {
    run::run(ctx, settings, plan).await
}
