//! Daily report job: a day of Prometheus metrics → stats, charts, SLOs, maintenance → an email
//! (or `out/`) in the job's language. Pure `plan` and `assemble` (+ `panel`), I/O in `execute`.

pub mod assemble;
pub mod baseline;
pub mod chart;
pub mod day;
mod execute;
pub mod locale;
pub mod maintenance;
pub mod mime;
pub mod numbers;
pub mod panel;
pub mod period;
pub mod plan;
pub mod query;
pub mod render;
mod settings;
pub mod slo;
pub mod slo_parts;
mod slo_settings;
pub mod synth;
pub mod ticks;

pub use self::period::Period;
pub use self::plan::{Plan, PlannedQuery};
pub use self::settings::{
    Compare, PanelSettings, SectionSettings, Settings, SloSettings, default_sections, default_slos,
};
use super::{JobContext, JobError, Outcome};
use crate::config::Section;

/// Connection sections this kind needs (`[smtp]` is optional: without it, `out/`).
pub const REQUIRES: &[Section] = &[Section::Prometheus];

/// Plans a run: the report day, Prometheus' version (`execute`), then the queries (`plan`).
pub async fn plan(ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
    execute::plan(ctx, settings).await
}

/// Runs a plan: queries, charts, assembly, then the email sent or written (`execute`).
pub async fn execute(ctx: &JobContext, settings: &Settings, plan: Plan) -> Result<Outcome, JobError> {
    execute::run(ctx, settings, plan).await
}
