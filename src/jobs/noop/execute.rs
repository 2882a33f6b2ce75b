//! A `noop` run: waits (cancellable), then fails as configured or succeeds.

use super::settings::Settings;
use crate::jobs::{JobContext, JobError, Outcome};

pub async fn run(ctx: &JobContext, settings: &Settings) -> Result<Outcome, JobError> {
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
