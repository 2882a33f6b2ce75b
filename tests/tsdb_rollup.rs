//! The tsdb-rollup job on a real Prometheus (remote-write receiver, out-of-order window) and on
//! VictoriaMetrics: rollups equal values computed here, DST days, reruns, a 3-day gap.

mod support;
mod tsdb_rollup_common;

use chrono::NaiveDate;
use serde_json::Value;
use support::{PrivateServer, Workspace, harness_env, unique};
use tsdb_rollup_common::*;

/// Both periods of the data: the Paris spring-forward day (29 Mar 2026, 23 h) and the
/// fall-back day (25 Oct 2026, 25 h), three local days each, one sample a minute.
struct Data {
    p: String,
    series: Vec<Series>,
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn make_data() -> Data {
    let p = format!("rollup_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let spring = data(
        &p,
        paris_midnight(2026, 3, 28),
        paris_midnight(2026, 3, 31),
        utc("2026-03-29T05:00:00Z"),
        (0, 0),
    );
    let fall = data(
        &p,
        paris_midnight(2026, 10, 24),
        paris_midnight(2026, 10, 27),
        utc("2026-10-25T12:30:00Z"),
        (utc("2026-10-25T10:00:00Z"), utc("2026-10-25T13:00:00Z")),
    );
    let series = spring
        .into_iter()
        .zip(fall)
        .map(|(mut a, b)| {
            a.points.extend(b.points);
            a
        })
        .collect();
    Data { p, series }
}

fn config(url: &str, job: &str, p: &str, lookback: &str, max: usize) -> String {
    format!(
        r#"
[prometheus]
url = "{url}"
timeout = "60s"

[jobs.{job}]
kind = "tsdb-rollup"
schedule = "0 5 * * * *"
timezone = "Europe/Paris"
lookback = "{lookback}"
max_windows_per_run = {max}
{rules}"#,
        rules = rules(job, p)
    )
}

/// Runs `job` at `now`; returns the run's JSON report.
fn run(work: &Workspace, job: &str, now: i64, extra: &[&str]) -> Value {
    let now = rfc3339(now);
    let mut args = vec!["run", job, "--now", &now, "--output", "json", "--allow-clock-skew"];
    args.extend_from_slice(extra);
    let run = work.almanac(&args, &[]);
    run.expect_code(0);
    serde_json::from_str(run.stdout().trim()).unwrap_or_else(|e| panic!("{e}\n{}", run.describe()))
}

/// The whole scenario against one server; `settle` makes fresh writes queryable.
/// `read`: how the plan says raw samples are read (`remote_read` or `query`).
fn scenario(url: &str, data: &Data, read: &str, settle: &dyn Fn()) {
    let p = &data.p;
    let series = &data.series;
    let work = Workspace::new();

    // Spring: one run from nothing (no watermark: from now − lookback), the 23 h day inside.
    let spring = unique("spring");
    let spring_now = utc("2026-03-31T01:00:00Z");
    work.write("jobs.toml", &config(url, &spring, p, "4d", 500));
    let report = run(&work, &spring, spring_now, &[]);
    assert_eq!(report["counts"]["windows_1d"], 3, "{report:#}");
    assert_eq!(report["counts"]["pending_windows_1h"], 0, "{report:#}");
    settle();
    let mut expect = expected(
        series,
        &hours(utc("2026-03-27T01:00:00Z"), utc("2026-03-31T00:00:00Z")),
        "1h",
    );
    let spring_days = paris_days(date(2026, 3, 28), date(2026, 3, 31));
    assert_eq!(
        spring_days[1].1 - spring_days[1].0,
        23 * 3600,
        "29 March is a 23 h day in Paris"
    );
    expect.append(&mut expected(series, &spring_days, "1d"));

    // Fall: a first run, then three days of downtime, caught up 40 hours per run.
    let fall = unique("fall");
    work.write("jobs.toml", &config(url, &fall, p, "2d", 100));
    let report = run(&work, &fall, utc("2026-10-24T01:00:00Z"), &[]);
    assert_eq!(report["counts"]["windows_1h"], 47, "{report:#}");
    assert_eq!(report["counts"]["windows_1d"], 1, "{report:#}");
    settle();
    // After the downtime, lookback must reach back to the watermark (else the span is skipped, with a warning).
    work.write("jobs.toml", &config(url, &fall, p, "4d", 40));
    let now = utc("2026-10-27T01:00:00Z");
    let dry = work.almanac(
        &["run", &fall, "--now", &rfc3339(now), "--dry-run", "--output", "json"],
        &[],
    );
    dry.expect_code(0);
    let plan: Value = serde_json::from_str(&dry.stdout()).unwrap_or_else(|e| panic!("{e}\n{}", dry.describe()));
    assert_eq!(plan["read"], read, "{plan:#}");
    assert_eq!(plan["tiers"][0]["watermark"], "2026-10-24T00:00:00Z", "{plan:#}");
    assert_eq!(plan["tiers"][0]["windows"].as_array().unwrap().len(), 40, "{plan:#}");
    assert_eq!(plan["tiers"][0]["pending"], 32, "{plan:#}");
    assert_eq!(plan["tiers"][1]["windows"].as_array().unwrap().len(), 3, "{plan:#}");
    assert_eq!(
        plan["hours_to_fetch"], 73,
        "3 local days (24 + 25 + 24 h), each hour once: {plan:#}"
    );
    let planned: u64 = plan["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["counts"].as_array().unwrap())
        .map(|c| c["samples"].as_u64().unwrap())
        .sum();
    let stored_before = stored_rollups(url, p, now);
    let report = run(&work, &fall, now, &[]);
    assert_eq!(report["counts"]["windows_1h"], 40, "{report:#}");
    assert_eq!(report["counts"]["windows_1d"], 3, "{report:#}");
    assert_eq!(report["counts"]["pending_windows_1h"], 32, "{report:#}");
    assert_eq!(
        report["counts"]["rollup_samples_written"], planned,
        "dry run said so: {report:#}"
    );
    settle();
    let report = run(&work, &fall, now, &[]);
    assert_eq!(report["counts"]["windows_1h"], 32, "{report:#}");
    assert_eq!(report["counts"]["windows_1d"], 0, "{report:#}");
    assert_eq!(report["counts"]["pending_windows_1h"], 0, "{report:#}");
    settle();
    let caught_up = stored_rollups(url, p, now);
    assert!(caught_up.len() > stored_before.len());

    // A rerun writes nothing and the stored rollups stay as they are.
    let report = run(&work, &fall, now, &[]);
    assert_eq!(report["counts"]["rollup_samples_written"], 0, "{report:#}");
    assert_eq!(report["counts"]["watermarks_written"], 0, "{report:#}");
    settle();
    assert_eq!(stored_rollups(url, p, now), caught_up);

    expect.append(&mut expected(
        series,
        &hours(utc("2026-10-22T01:00:00Z"), utc("2026-10-27T00:00:00Z")),
        "1h",
    ));
    let fall_days = paris_days(date(2026, 10, 23), date(2026, 10, 27));
    assert_eq!(
        fall_days[2].1 - fall_days[2].0,
        25 * 3600,
        "25 October is a 25 h day in Paris"
    );
    expect.append(&mut expected(series, &fall_days, "1d"));
    let stored = stored_rollups(url, p, now);
    assert_same(&stored, &expect);

    // Spot checks that do not go through `expected`: the DST days' sample counts, a reset.
    let temp = |tier: &str, agg: &str, end: &str| {
        stored[&(
            format!("{p}_temp:{tier}_{agg}"),
            "host=\"a\"".to_string(),
            utc(end) * 1000 - 1,
        )]
    };
    assert_eq!(temp("1d", "count", "2026-03-29T22:00:00Z"), 23.0 * 60.0);
    assert_eq!(temp("1d", "count", "2026-10-25T23:00:00Z"), 25.0 * 60.0);
    let requests = |agg: &str, end: &str| {
        stored[&(
            format!("{p}_requests_total:1h_{agg}"),
            "host=\"a\",job=\"api\"".to_string(),
            utc(end) * 1000 - 1,
        )]
    };
    // The hour of the counter reset (12:30Z): resets counted, never a negative increase.
    let increase = requests("increase", "2026-10-25T13:00:00Z");
    assert!(increase > 3.0 && increase < 60.0 * 5.0, "{increase}");
    assert!((requests("rate", "2026-10-25T13:00:00Z") - increase / 3600.0).abs() < 1e-12);
}

#[test]
fn rollups_on_prometheus_with_out_of_order_window() {
    let data = make_data();
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.om");
    std::fs::write(&seed, openmetrics(&data.series)).unwrap();
    let server = PrivateServer::start(
        "prometheus",
        &[
            ("ALMANAC_SEED_OPENMETRICS", seed.to_str().unwrap()),
            ("ALMANAC_PROMETHEUS_OOO_WINDOW", "400d"),
        ],
    );
    let url = server.get("ALMANAC_TEST_PROMETHEUS_URL").to_string();
    scenario(&url, &data, "remote_read", &|| {});
}

#[test]
fn rollups_on_victoria_metrics() {
    let url = harness_env("ALMANAC_TEST_VM_URL");
    let data = make_data();
    let client = reqwest::blocking::Client::new();
    let response = client
        .post(format!("{url}/api/v1/import"))
        .body(vm_import(&data.series))
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{:?}", response.text());
    let flush = || {
        client.get(format!("{url}/internal/force_flush")).send().unwrap();
    };
    flush();
    scenario(&url, &data, "query", &flush);
}

#[test]
fn old_windows_without_an_out_of_order_window_fail_naming_the_setting() {
    let data = make_data();
    let (server, _dir) = support::seeded_prometheus(&openmetrics(&data.series));
    let url = server.get("ALMANAC_TEST_PROMETHEUS_URL");
    let work = Workspace::new();
    let job = unique("old");
    work.write("jobs.toml", &config(url, &job, &data.p, "2d", 10));
    let now = rfc3339(utc("2026-10-27T01:00:00Z"));
    let run = work.almanac(&["run", &job, "--now", &now, "--allow-clock-skew"], &[]);
    run.expect_code(1);
    let all = run.stdout() + &run.stderr();
    assert!(all.contains("out_of_order_time_window"), "{}", run.describe());
    // Nothing was half-written: the watermark did not move.
    let body: Value = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/query"))
        .form(&[
            ("query", format!("almanac_rollup_watermark{{job=\"{job}\"}}[30d]")),
            ("time", utc("2026-10-28T00:00:00Z").to_string()),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["data"]["result"], Value::Array(vec![]), "{body}");
}
