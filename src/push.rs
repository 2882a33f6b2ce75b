//! After each run, its metrics go to the Prometheus Pushgateway in the group `job=<job name>`,
//! following Prometheus' batch-job guidance: gauges of the last run, POST semantics, and a
//! failed run never touches the last-success gauge. See docs/operating.md for the labels.
//!
//! Label scheme: every pushed sample carries `job_name=<job>`, the same label `serve`'s
//! `/metrics` uses; the Pushgateway adds `job=<job>` (the grouping key) and `instance=""`.
//! Scraped with `honor_labels: true`, the series are
//! `almanac_job_last_success_timestamp_seconds{job="daily-report", job_name="daily-report"}`;
//! without it `job` becomes `exported_job`. The alert rules aggregate `by (job_name)` only,
//! so they work in both cases and for `serve` scraped directly (`job="almanac"`).

use tracing::{debug, warn};

use crate::clients::http::HttpError;
use crate::clients::pushgateway::{PushMethod, Pushgateway};
use crate::config::PushgatewayConfig;
use crate::metrics::{DURATION, Finished, LAST_FAILURE, LAST_OUTCOME, LAST_RUN, LAST_SUCCESS};

/// Pushes a finished run to the group `job=<job name>` with POST semantics; `false` for a
/// dry run (nothing sent).
pub async fn push_run(config: &PushgatewayConfig, run: &Finished) -> Result<bool, HttpError> {
    let Some(body) = crate::metrics::push_body(run) else {
        return Ok(false);
    };
    Pushgateway::new(config)?
        .push(&run.job, PushMethod::Post, body)
        .await
        .map(|()| true)
}

/// Pushes a run's metrics when `[pushgateway]` is configured. A failed push is logged; it
/// fails the run (returns `false`) only with `fail_run_on_error = true`.
pub async fn after_run(gateway: Option<&PushgatewayConfig>, run: &Finished) -> bool {
    let Some(gateway) = gateway else {
        return true;
    };
    match push_run(gateway, run).await {
        Ok(pushed) => {
            if pushed {
                debug!(message = "metrics pushed", pushgateway = %gateway.url, job = %run.job);
            }
            true
        }
        Err(error) => {
            warn!(
                message = "cannot push metrics to the Pushgateway",
                %error,
                job = %run.job,
                fails_run = gateway.fail_run_on_error
            );
            !gateway.fail_run_on_error
        }
    }
}

/// What the Pushgateway says about a job's last run, for `almanac list`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct LastRun {
    pub outcome: Option<String>,
    /// Unix seconds.
    pub last_run: Option<f64>,
    pub last_success: Option<f64>,
    pub last_failure: Option<f64>,
    pub duration_seconds: Option<f64>,
}

/// Reads the last run of `job` out of the Pushgateway's groups: the group whose only
/// grouping label is `job=<job>`.
pub fn last_run_of(groups: &[crate::clients::pushgateway::Group], job: &str) -> Option<LastRun> {
    let group = groups
        .iter()
        .find(|group| group.labels.len() == 1 && group.labels.get("job").map(String::as_str) == Some(job))?;
    let first = |family: &str| group.samples(family).first().map(|(_, value)| *value);
    let outcome = group
        .samples(LAST_OUTCOME.name)
        .into_iter()
        .find(|(_, value)| *value == 1.0)
        .and_then(|(labels, _)| labels.get("outcome").cloned());
    let last = LastRun {
        outcome,
        last_run: first(LAST_RUN.name),
        last_success: first(LAST_SUCCESS.name),
        last_failure: first(LAST_FAILURE.name),
        duration_seconds: first(DURATION.name),
    };
    (last != LastRun::default()).then_some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_run_reads_the_group_of_the_job_only() {
        let json = serde_json::json!([
            {"labels": {"job": "a"},
             "almanac_job_last_outcome": {"type": "GAUGE", "metrics": [
                {"labels": {"job": "a", "job_name": "a", "outcome": "success"}, "value": "0"},
                {"labels": {"job": "a", "job_name": "a", "outcome": "failed"}, "value": "1"}]},
             "almanac_job_last_success_timestamp_seconds": {"metrics": [{"labels": {}, "value": "1.7e+09"}]},
             "push_time_seconds": {"metrics": [{"labels": {}, "value": "1"}]}},
            {"labels": {"job": "a", "instance": "x"},
             "almanac_job_last_outcome": {"metrics": [{"labels": {"outcome": "success"}, "value": "1"}]}}
        ]);
        let groups: Vec<crate::clients::pushgateway::Group> = serde_json::from_value(json).unwrap();
        let last = last_run_of(&groups, "a").unwrap();
        assert_eq!(last.outcome.as_deref(), Some("failed"));
        assert_eq!(last.last_success, Some(1.7e9));
        assert_eq!(last.last_run, None);
        assert_eq!(last_run_of(&groups, "b"), None);
    }
}
