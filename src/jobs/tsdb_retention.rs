//! TSDB maintenance job (placeholder until its issue lands): settings, plan and execution.
//! It plans nothing and does nothing, so the runner and scheduler can be exercised end to end.

use serde::{Deserialize, Serialize};

use super::{JobContext, JobError, Outcome};
use crate::config::{Section, SettingsError};

/// Connection sections this kind needs.
pub const REQUIRES: &[Section] = &[Section::Prometheus];

/// Settings of a `[jobs.<name>]` table of this kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

impl Settings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        Ok(())
    }
}

/// What a run will do.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub actions: Vec<String>,
}

impl Plan {
    pub fn render_text(&self) -> String {
        self.actions.join("\n") + "\n"
    }
}

pub async fn plan(ctx: &JobContext, _settings: &Settings) -> Result<Plan, JobError> {
    Ok(Plan {
        actions: vec![format!("{}: placeholder job, nothing to do", ctx.job.name)],
    })
}

pub async fn execute(_ctx: &JobContext, _settings: &Settings, _plan: Plan) -> Result<Outcome, JobError> {
    Ok(Outcome::success("placeholder job: nothing done"))
}
