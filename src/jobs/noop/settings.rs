//! Settings of a `noop` job: how long it waits, and whether (or how many attempts) it fails,
//! to exercise schedules, retries, metrics and alerts.

use serde::Deserialize;

use crate::config::{HumanDuration, SettingsError};

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
