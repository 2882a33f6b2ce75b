//! The `tsdb-retention` job (stale series, per-selector retention via the TSDB admin API):
//! `settings`, the pure `plan`, its I/O in `execute` + `scan`, pure `decide`; entry points here.

pub mod decide;
mod execute;
mod plan;
mod scan;
mod settings;

pub use self::decide::Selector;
pub use self::plan::{BlockEstimate, DeleteRequest, MetricPlan, Plan, RulePlan, render_labels};
pub use self::settings::{Action, Rule, Settings};
use crate::config::Section;
use crate::jobs::{JobContext, JobError, Outcome};

/// Connection sections this kind needs.
pub const REQUIRES: &[Section] = &[Section::Prometheus];

/// Plans a run: asks the server (`execute`, `scan`), then builds the plan rows (`plan`).
pub async fn plan(ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
    let gathered = execute::gather(ctx, settings).await?;
    Ok(plan::build(settings, ctx.now, gathered))
}

/// Runs a plan: `delete_series`, `clean_tombstones` once, then a check that the ranges are gone.
pub async fn execute(ctx: &JobContext, settings: &Settings, plan: Plan) -> Result<Outcome, JobError> {
    execute::run(ctx, settings, plan).await
}
