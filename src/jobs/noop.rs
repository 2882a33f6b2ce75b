//! The `noop` job kind: waits for `sleep` and succeeds. For checking a deployment end to end
//! (schedule, time zone, metrics, alerts) without touching any server, and for tests.

use serde::{Deserialize, Serialize};

use super::{JobContext, JobError, Outcome};
use crate::config::{HumanDuration, Section, SettingsError};

pub const REQUIRES: &[Section] = &[];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How long each run takes.
    #[serde(default = "zero")]
    pub sleep: HumanDuration,
    /// Fail every run (to test alerts and metrics of failed runs).
    #[serde(default)]
    pub fail: bool,
    /// The first N attempts of each run fail with a transient error (to test retries).
    #[serde(default)]
    pub transient_failures: u32,
}

fn zero() -> HumanDuration {
    HumanDuration::from_secs(0)
}

impl Settings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct Plan {
    pub sleep_seconds: u64,
    pub fail: bool,
}

impl Plan {
    pub fn render_text(&self) -> String {
        format!(
            "noop: wait {}s, then {}\n",
            self.sleep_seconds,
            if self.fail { "fail" } else { "succeed" }
        )
    }
}

pub async fn plan(_ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
    Ok(Plan {
        sleep_seconds: settings.sleep.as_std().as_secs(),
        fail: settings.fail,
    })
}

pub async fn execute(ctx: &JobContext, settings: &Settings, _plan: Plan) -> Result<Outcome, JobError> {
    tokio::select! {
        _ = tokio::time::sleep(settings.sleep.as_std()) => {}
        _ = ctx.cancel.cancelled() => return Err(JobError::Cancelled),
    }
    if ctx.attempt <= settings.transient_failures {
        return Err(JobError::transient(anyhow::anyhow!(
            "noop job: transient failure of attempt {}",
            ctx.attempt
        )));
    }
    if settings.fail {
        return Err(JobError::fatal(anyhow::anyhow!("noop job configured to fail")));
    }
    Ok(Outcome::success(format!("waited {}", settings.sleep)))
}
