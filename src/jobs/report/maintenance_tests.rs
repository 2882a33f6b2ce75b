//! Unit tests of the maintenance section: the queries, reading the metrics by `job_name`, when
//! a run is due, late and never-successful jobs, and a section without metrics.

use super::*;
use crate::clients::prometheus::Labels;

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn job(name: &str, schedule: &str) -> MaintenanceJob {
    MaintenanceJob {
        name: name.into(),
        kind: "tsdb-retention".into(),
        schedule: schedule.parse().unwrap(),
        timezone: TimeZoneName(chrono_tz::Europe::Paris),
        timeout: Duration::from_secs(3600),
        enabled: true,
    }
}

fn sample(pairs: &[(&str, &str)], value: f64) -> Sample {
    let labels: Labels = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Sample {
        labels,
        time: 0.0,
        value,
    }
}

#[test]
fn one_query_per_metric_by_job_name() {
    assert_eq!(
        Metric::LastSuccess.expr(),
        "max by (job_name) (last_over_time(almanac_job_last_success_timestamp_seconds[7d]))"
    );
    assert_eq!(
        Metric::Counts.expr(),
        "max by (job_name, count) (last_over_time(almanac_job_outcome_count[7d]))"
    );
    assert_eq!(
        Metric::Outcome.expr(),
        "max by (job_name, outcome) (last_over_time(almanac_job_last_outcome[7d]))"
    );
}

#[test]
fn a_run_is_due_once_its_start_plus_timeout_has_passed() {
    let nightly = job("tsdb", "0 0 2 * * *");
    // 07:00 in Paris: tonight's 02:00 run is due.
    assert_eq!(
        due(&nightly, t("2026-11-25T06:00:00Z")),
        Some(t("2026-11-25T01:00:00Z"))
    );
    // 02:30: tonight's run may still be going; yesterday's is the one due.
    assert_eq!(
        due(&nightly, t("2026-11-25T01:30:00Z")),
        Some(t("2026-11-24T01:00:00Z"))
    );
    let monthly = job("archive", "0 0 3 1 * *");
    assert_eq!(
        due(&monthly, t("2026-11-25T06:00:00Z")),
        Some(t("2026-11-01T02:00:00Z"))
    );
    let yearly = job("yearly", "0 0 3 1 1 *");
    assert_eq!(
        due(&yearly, t("2026-11-25T06:00:00Z")),
        None,
        "nothing due within 35 days"
    );
}

#[test]
fn late_never_successful_disabled_and_unknown_jobs() {
    let now = t("2026-11-25T06:00:00Z");
    let nightly = job("tsdb", "0 0 2 * * *");
    let success = |at: &str| Observed {
        last_success: Some(t(at).timestamp() as f64),
        ..Observed::default()
    };
    assert_eq!(state(&nightly, Some(&success("2026-11-25T01:04:00Z")), now), State::Ok);
    assert_eq!(
        state(&nightly, Some(&success("2026-11-24T01:04:00Z")), now),
        State::Late {
            due: t("2026-11-25T01:00:00Z")
        }
    );
    assert_eq!(
        state(&nightly, Some(&Observed::default()), now),
        State::NeverSucceeded {
            due: t("2026-11-25T01:00:00Z")
        }
    );
    assert_eq!(state(&nightly, None, now), State::NoMetrics);
    let off = MaintenanceJob {
        enabled: false,
        ..nightly
    };
    assert_eq!(state(&off, None, now), State::Disabled);
}

#[test]
fn metrics_are_read_by_job_name_and_the_worse_outcome_wins() {
    let mut observed = BTreeMap::new();
    observe(
        Metric::Outcome,
        &[
            sample(&[("job_name", "a"), ("outcome", "success")], 1.0),
            sample(&[("job_name", "a"), ("outcome", "failed")], 0.0),
            sample(&[("job_name", "b"), ("outcome", "success")], 1.0),
            sample(&[("job_name", "b"), ("outcome", "partial")], 1.0),
            sample(&[("outcome", "failed")], 1.0),
        ],
        &mut observed,
    );
    observe(
        Metric::Counts,
        &[
            sample(&[("job_name", "a"), ("count", "series_deleted")], 1234.0),
            sample(&[("job_name", "a"), ("count", "blocks")], 2.0),
        ],
        &mut observed,
    );
    assert_eq!(observed["a"].outcome.as_deref(), Some("success"));
    assert_eq!(observed["b"].outcome.as_deref(), Some("partial"));
    assert_eq!(observed["a"].counts.len(), 2);
    assert_eq!(observed.len(), 2, "a sample without job_name is ignored");
}

#[test]
fn the_section_flags_late_jobs_and_says_when_there_is_nothing() {
    let now = t("2026-11-25T06:00:00Z");
    let jobs = [job("tsdb", "0 30 3 * * *"), job("logs", "0 0 2 * * *")];
    let fr = Catalogue::get("fr").unwrap();
    let at = |text: &str| t(text).timestamp() as f64;
    let results = [
        QueryResult::Instant(vec![
            sample(&[("job_name", "tsdb")], at("2026-11-25T02:41:00Z")),
            sample(&[("job_name", "logs")], at("2026-11-24T01:10:00Z")),
        ]),
        QueryResult::Instant(vec![
            sample(&[("job_name", "tsdb")], at("2026-11-25T02:41:00Z")),
            sample(&[("job_name", "logs")], at("2026-11-25T01:12:00Z")),
        ]),
        QueryResult::Instant(vec![
            sample(&[("job_name", "tsdb"), ("outcome", "success")], 1.0),
            sample(&[("job_name", "logs"), ("outcome", "failed")], 1.0),
        ]),
        QueryResult::Instant(vec![sample(&[("job_name", "tsdb")], 671.0)]),
        QueryResult::Instant(vec![sample(
            &[("job_name", "tsdb"), ("count", "series_deleted")],
            1234.0,
        )]),
    ];
    let pairs: Vec<(Metric, &QueryResult)> = Metric::ALL.into_iter().zip(&results).collect();
    let section = view(&jobs, &pairs, now, chrono_tz::Europe::Paris, fr);
    assert_eq!(section.message, None);
    assert_eq!(section.late, 1);
    let tsdb = &section.rows[0];
    assert_eq!(tsdb.last_run, "25/11/2026 03:41:00 CET");
    assert_eq!((tsdb.outcome.as_str(), tsdb.outcome_level), ("succès", Level::Ok));
    assert_eq!(tsdb.duration, "11\u{a0}min 11\u{a0}s");
    assert_eq!(tsdb.counts, "series_deleted 1\u{202f}234");
    assert!(!tsdb.late && tsdb.note.is_empty(), "{tsdb:?}");
    let logs = &section.rows[1];
    assert!(logs.late);
    assert_eq!((logs.outcome.as_str(), logs.outcome_level), ("échec", Level::Critical));
    assert_eq!(
        logs.note,
        "aucun succès depuis l'exécution prévue le 25/11/2026 02:00:00 CET"
    );
    assert_eq!(logs.schedule, "planification 0 0 2 * * * (Europe/Paris)");

    let nothing = [QueryResult::Instant(Vec::new())];
    let pairs = [(Metric::LastRun, &nothing[0])];
    let en = Catalogue::english();
    let section = view(&jobs, &pairs, now, chrono_tz::UTC, en);
    assert!(section.rows.is_empty());
    assert!(
        section
            .message
            .unwrap()
            .starts_with("Prometheus holds no run metrics of almanac")
    );
    let down = [QueryResult::Failed("connection refused".into())];
    let pairs = [(Metric::LastRun, &down[0])];
    let section = view(&jobs, &pairs, now, chrono_tz::UTC, en);
    assert_eq!(
        section.message.as_deref(),
        Some("The run metrics could not be read: connection refused")
    );
}
