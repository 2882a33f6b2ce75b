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

use std::fmt::Write as _;

use tracing::{debug, warn};

use crate::clients::http::HttpError;
use crate::clients::pushgateway::{PushMethod, Pushgateway};
use crate::config::{Config, PushgatewayConfig};
use crate::runner::RunReport;

pub const LAST_RUN: &str = "almanac_job_last_run_timestamp_seconds";
pub const LAST_SUCCESS: &str = "almanac_job_last_success_timestamp_seconds";
pub const LAST_FAILURE: &str = "almanac_job_last_failure_timestamp_seconds";
pub const DURATION: &str = "almanac_job_duration_seconds";
pub const LAST_OUTCOME: &str = "almanac_job_last_outcome";
pub const COUNTS: &str = "almanac_job_outcome_count";

/// The outcomes `almanac_job_last_outcome` has a series for (1 for the last run's, 0 else).
pub const OUTCOMES: [&str; 4] = ["success", "partial", "failed", "planned"];

/// One gauge family of the push body.
struct Family {
    name: &'static str,
    help: &'static str,
    /// Extra labels (besides `job_name`) and value of each sample.
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// The Unix time (seconds) a run ended.
pub fn end_time(report: &RunReport) -> f64 {
    let end = report.started_at + chrono::Duration::from_std(report.duration).unwrap_or_default();
    end.timestamp_millis() as f64 / 1000.0
}

/// The push body of a finished run, in the text exposition format, or `None` for a dry run
/// (nothing happened, nothing to report). Which families are present is the point: with
/// POST, families absent from the body keep their previous value in the group, so
/// `last_success` is only sent on success and `last_failure` only on failure.
pub fn render(report: &RunReport) -> Option<String> {
    let outcome = report.outcome_label();
    if outcome == "planned" {
        return None;
    }
    let end = end_time(report);
    let mut families = vec![
        Family {
            name: LAST_RUN,
            help: "End time of the last run",
            samples: vec![(vec![], end)],
        },
        Family {
            name: DURATION,
            help: "Duration of the last run",
            samples: vec![(vec![], report.duration.as_secs_f64())],
        },
        Family {
            name: LAST_OUTCOME,
            help: "1 for the outcome of the last run, 0 for the others",
            samples: OUTCOMES
                .iter()
                .map(|name| {
                    (
                        vec![("outcome", (*name).to_string())],
                        f64::from(u8::from(*name == outcome)),
                    )
                })
                .collect(),
        },
    ];
    if report.succeeded() {
        families.push(Family {
            name: LAST_SUCCESS,
            help: "End time of the last successful run",
            samples: vec![(vec![], end)],
        });
    } else {
        families.push(Family {
            name: LAST_FAILURE,
            help: "End time of the last failed or partial run",
            samples: vec![(vec![], end)],
        });
    }
    // Counts exist when the job got to the end (success or partial); a failed run leaves the
    // counts of the last run that finished. POST replaces the whole family, so a count the
    // job no longer reports disappears.
    if let Ok(result) = &report.result
        && !result.counts.is_empty()
    {
        families.push(Family {
            name: COUNTS,
            help: "The job's own counts from its last run (series deleted, documents archived, ...)",
            samples: result
                .counts
                .iter()
                .map(|(name, value)| (vec![("count", name.clone())], *value as f64))
                .collect(),
        });
    }
    let mut text = String::new();
    for family in families {
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} gauge", family.name);
        for (labels, value) in family.samples {
            let _ = write!(text, "{}{{job_name=\"{}\"", family.name, escape(&report.job));
            for (key, label) in labels {
                let _ = write!(text, ",{key}=\"{}\"", escape(&label));
            }
            let _ = writeln!(text, "}} {value}");
        }
    }
    Some(text)
}

/// Escapes a label value for the text format.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Pushes a finished run to the group `job=<job name>` with POST semantics.
pub async fn push_report(config: &PushgatewayConfig, report: &RunReport) -> Result<bool, HttpError> {
    let Some(body) = render(report) else { return Ok(false) };
    Pushgateway::new(config)?
        .push(&report.job, PushMethod::Post, body)
        .await
        .map(|()| true)
}

/// Pushes a run's metrics when `[pushgateway]` is configured. A failed push is logged; it
/// fails the run (returns `false`) only with `fail_run_on_error = true`.
pub async fn after_run<K>(config: &Config<K>, report: &RunReport) -> bool {
    let Some(gateway) = &config.pushgateway else {
        return true;
    };
    match push_report(gateway, report).await {
        Ok(pushed) => {
            if pushed {
                debug!(message = "metrics pushed", pushgateway = %gateway.url, job = %report.job);
            }
            true
        }
        Err(error) => {
            warn!(
                message = "cannot push metrics to the Pushgateway",
                %error,
                job = %report.job,
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
        .samples(LAST_OUTCOME)
        .into_iter()
        .find(|(_, value)| *value == 1.0)
        .and_then(|(labels, _)| labels.get("outcome").cloned());
    let last = LastRun {
        outcome,
        last_run: first(LAST_RUN),
        last_success: first(LAST_SUCCESS),
        last_failure: first(LAST_FAILURE),
        duration_seconds: first(DURATION),
    };
    (last != LastRun::default()).then_some(last)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::jobs::{JobError, Outcome};

    fn report(result: Result<Outcome, JobError>) -> RunReport {
        RunReport {
            job: "daily-report".into(),
            kind: "noop",
            run_id: "r".into(),
            started_at: chrono::Utc.with_ymd_and_hms(2026, 11, 25, 6, 0, 0).unwrap(),
            duration: Duration::from_millis(12_500),
            attempts: 1,
            result,
        }
    }

    #[test]
    fn success_pushes_last_success_and_counts_but_no_failure() {
        let body = render(&report(Ok(Outcome::success("ok").count("emails_sent", 3)))).unwrap();
        assert!(
            body.contains("almanac_job_last_success_timestamp_seconds{job_name=\"daily-report\"} 1795586412.5\n"),
            "{body}"
        );
        assert!(body.contains("almanac_job_last_run_timestamp_seconds{job_name=\"daily-report\"} 1795586412.5\n"));
        assert!(body.contains("almanac_job_duration_seconds{job_name=\"daily-report\"} 12.5\n"));
        assert!(body.contains("almanac_job_last_outcome{job_name=\"daily-report\",outcome=\"success\"} 1\n"));
        assert!(body.contains("almanac_job_last_outcome{job_name=\"daily-report\",outcome=\"failed\"} 0\n"));
        assert!(body.contains("almanac_job_outcome_count{job_name=\"daily-report\",count=\"emails_sent\"} 3\n"));
        assert!(!body.contains(LAST_FAILURE));
    }

    #[test]
    fn failure_never_pushes_last_success_nor_counts() {
        let body = render(&report(Err(JobError::Cancelled))).unwrap();
        assert!(!body.contains(LAST_SUCCESS), "{body}");
        assert!(!body.contains(COUNTS));
        assert!(body.contains("almanac_job_last_failure_timestamp_seconds{job_name=\"daily-report\"} 1795586412.5\n"));
        assert!(body.contains("outcome=\"failed\"} 1\n"));
    }

    #[test]
    fn dry_runs_push_nothing() {
        assert_eq!(render(&report(Ok(Outcome::planned()))), None);
    }

    #[test]
    fn pushed_families_are_the_ones_serve_exposes() {
        let metrics = crate::metrics::Metrics::new();
        let ok = report(Ok(Outcome::success("ok").count("bytes", 1)));
        let failed = report(Err(JobError::Cancelled));
        metrics.record(&ok);
        metrics.record(&failed);
        let exposed = metrics.encode();
        for body in [render(&ok).unwrap(), render(&failed).unwrap()] {
            for line in body.lines().filter(|l| !l.starts_with('#')) {
                let name = line.split('{').next().unwrap();
                assert!(
                    exposed.contains(&format!("\n{name}{{")),
                    "{name} is not in /metrics:\n{exposed}"
                );
            }
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

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
