//! The `noop` job kind: waits for `sleep` and succeeds. For checking a deployment end to end
//! (schedule, time zone, metrics, alerts) without touching any server, and for tests.

mod execute;
mod plan;
mod settings;

pub use self::plan::Plan;
pub use self::settings::Settings;
use crate::config::Section;
use crate::jobs::{JobContext, JobError, Outcome};

pub const REQUIRES: &[Section] = &[];

pub async fn plan(_ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
    Ok(plan::build(settings))
}

pub async fn execute(ctx: &JobContext, settings: &Settings, _plan: Plan) -> Result<Outcome, JobError> {
    execute::run(ctx, settings).await
}
