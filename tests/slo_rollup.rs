//! The 30-day SLOs read from rollups once the raw series are gone: 40 days of raw data of known
//! shape in a real Prometheus (remote-write receiver, out-of-order window), then tsdb-rollup
//! (1 h tier over the 40 days), tsdb-retention (raw 15 d, `:1h_*` 31 d, as shipped), then the
//! report: each SLO's compliance equals the value computed here from the raw data.

mod support;

use std::fmt::Write as _;

use chrono::DateTime;
use serde_json::Value;
use support::{PrivateServer, Workspace, only_file};

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn utc(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text).unwrap().timestamp()
}

fn rfc3339(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0).unwrap().to_rfc3339()
}

/// The report day (UTC), its end, and when the jobs run: 07:00 the morning after.
const DATE: &str = "2026-11-10";
fn end() -> i64 {
    utc("2026-11-11T00:00:00Z")
}
fn now() -> i64 {
    end() + 7 * HOUR
}
/// 40 days of data before the report day's end, and the morning after.
fn first() -> i64 {
    end() - 40 * DAY
}
fn last() -> i64 {
    now() - 30 * MINUTE
}
fn minutes() -> impl Iterator<Item = i64> {
    (first()..=last()).step_by(MINUTE as usize)
}

/// Down periods `[from, to)` of each instance: before the window (not counted), older than 15
/// days (read from rollups), and recent (read raw).
fn outages(instance: &str) -> Vec<(i64, i64)> {
    let spans: &[(&str, &str)] = match instance {
        "a" => &[
            ("2026-10-08T10:00:00Z", "2026-10-08T14:00:00Z"),
            ("2026-10-20T03:00:00Z", "2026-10-20T05:30:00Z"),
            ("2026-10-25T12:00:00Z", "2026-10-25T12:20:00Z"),
            ("2026-11-05T22:00:00Z", "2026-11-05T23:10:00Z"),
        ],
        _ => &[
            ("2026-10-15T00:00:00Z", "2026-10-15T01:00:00Z"),
            ("2026-11-09T08:00:00Z", "2026-11-09T08:30:00Z"),
        ],
    };
    spans.iter().map(|(a, b)| (utc(a), utc(b))).collect()
}

fn up(instance: &str, t: i64) -> f64 {
    if outages(instance).iter().any(|(a, b)| (*a..*b).contains(&t)) {
        0.0
    } else {
        1.0
    }
}

/// Requests in the minute ending at `t` and how many took ≤ 0.5 s: 10 % slow until 27 October
/// noon, 1 % after (with a few bad minutes).
fn requests(i: i64, t: i64) -> (f64, f64) {
    let total = 100 + i % 13;
    let slow = if t < utc("2026-10-27T12:00:00Z") {
        total / 10
    } else if i % 97 == 0 {
        25
    } else {
        1
    };
    ((total - slow) as f64, total as f64)
}

/// The process restarts at this minute: both counters start again from zero.
fn restart() -> i64 {
    utc("2026-10-18T06:00:00Z")
}

/// (time, value) per series: `up` of two instances, the `le="0.5"` bucket and the count.
struct Data {
    up: Vec<(&'static str, Vec<(i64, f64)>)>,
    good: Vec<(i64, f64)>,
    total: Vec<(i64, f64)>,
}

fn data() -> Data {
    let up = ["a", "b"]
        .into_iter()
        .map(|instance| (instance, minutes().map(|t| (t, up(instance, t))).collect()))
        .collect();
    let (mut good, mut total) = (Vec::new(), Vec::new());
    let (mut g, mut n) = (5000.0, 6000.0);
    for (i, t) in minutes().enumerate() {
        let (dg, dn) = requests(i as i64, t);
        if t == restart() {
            (g, n) = (0.0, 0.0);
        }
        g += dg;
        n += dn;
        good.push((t, g));
        total.push((t, n));
    }
    Data { up, good, total }
}

fn openmetrics(data: &Data) -> String {
    let mut out = String::from("# TYPE up gauge\n");
    for (instance, points) in &data.up {
        for (t, v) in points {
            writeln!(out, "up{{job=\"aindusdb-core\",instance=\"{instance}\"}} {v} {t}").unwrap();
        }
    }
    out.push_str("# TYPE aindusdb_request_duration_seconds histogram\n");
    for (t, v) in &data.good {
        writeln!(
            out,
            "aindusdb_request_duration_seconds_bucket{{job=\"aindusdb-core\",le=\"0.5\"}} {v} {t}"
        )
        .unwrap();
    }
    for (t, v) in &data.total {
        writeln!(
            out,
            "aindusdb_request_duration_seconds_bucket{{job=\"aindusdb-core\",le=\"+Inf\"}} {v} {t}"
        )
        .unwrap();
    }
    for (t, v) in &data.total {
        writeln!(
            out,
            "aindusdb_request_duration_seconds_count{{job=\"aindusdb-core\"}} {v} {t}"
        )
        .unwrap();
    }
    out.push_str("# EOF\n");
    out
}

/// A counter's increase over `(from, to]`: each step, a drop counting as a restart from zero.
fn increase(points: &[(i64, f64)], from: i64, to: i64) -> f64 {
    points
        .windows(2)
        .filter(|w| w[1].0 > from && w[1].0 <= to)
        .map(|w| if w[1].1 >= w[0].1 { w[1].1 - w[0].1 } else { w[1].1 })
        .sum()
}

/// The SLIs over `[from, to]` from the generated data: availability = up samples / samples,
/// latency = good requests / requests.
fn slis(data: &Data, from: i64, to: i64) -> (f64, f64) {
    let inside = |t: &i64| (from..=to).contains(t);
    let (mut up, mut samples) = (0.0, 0.0);
    for (_, points) in &data.up {
        for (_, v) in points.iter().filter(|p| inside(&p.0)) {
            up += v;
            samples += 1.0;
        }
    }
    let latency = increase(&data.good, from, to) / increase(&data.total, from, to);
    (up / samples, latency)
}

/// The SLOs of the shipped jobs.toml (events, with or without their rollup forms).
fn slos(job: &str, rollups: bool) -> String {
    let mut out = String::new();
    let slos = [
        (
            "API availability",
            0.999,
            r#"sum(sum_over_time(up{job="aindusdb-core"}[$__range]))"#,
            r#"sum(count_over_time(up{job="aindusdb-core"}[$__range]))"#,
            r#"sum(sum_over_time(up:1h_sum{job="aindusdb-core"}[$__range]))"#,
            r#"sum(sum_over_time(up:1h_count{job="aindusdb-core"}[$__range]))"#,
        ),
        (
            "API latency",
            0.95,
            r#"sum(increase(aindusdb_request_duration_seconds_bucket{job="aindusdb-core",le="0.5"}[$__range]))"#,
            r#"sum(increase(aindusdb_request_duration_seconds_count{job="aindusdb-core"}[$__range]))"#,
            r#"sum(sum_over_time(aindusdb_request_duration_seconds_bucket:1h_increase{job="aindusdb-core",le="0.5"}[$__range]))"#,
            r#"sum(sum_over_time(aindusdb_request_duration_seconds_count:1h_increase{job="aindusdb-core"}[$__range]))"#,
        ),
    ];
    for (name, objective, good, total, good_rollup, total_rollup) in slos {
        writeln!(
            out,
            "[[jobs.{job}.slos]]\nname = \"{name}\"\nobjective = {objective}\nwindow = \"30d\"\ngood = '{good}'\ntotal = '{total}'"
        )
        .unwrap();
        if rollups {
            writeln!(out, "good_rollup = '{good_rollup}'\ntotal_rollup = '{total_rollup}'").unwrap();
        }
    }
    out
}

/// The rollup job (1 h tier over the 40 days in one run), the retention job (the shipped
/// `retain` rules) and two reports (with and without the rollup expressions).
fn config(url: &str, out: &std::path::Path) -> String {
    format!(
        r#"
[prometheus]
url = "{url}"
timeout = "60s"

[jobs.rollup]
kind = "tsdb-rollup"
schedule = "0 10 * * * *"
timezone = "UTC"
tiers = ["1h"]
lookback = "41d"
max_windows_per_run = 2000

[[jobs.rollup.rules]]
selector = 'up{{job="aindusdb-core"}}'
aggregates = ["avg", "min", "max", "count", "sum"]

[[jobs.rollup.rules]]
selector = '{{__name__=~"aindusdb_.+"}}'

[jobs.retention]
kind = "tsdb-retention"
schedule = "0 30 3 * * *"
timezone = "UTC"

# The shipped raw rule, less the watermark: the catch-up just wrote its old samples into the
# out-of-order head, whose series Prometheus 2.42's series and label-values APIs do not list
# (until compaction), so the run would delete nothing of it and its check would find it.
[[jobs.retention.rules]]
retain = '{{__name__=~"[^:]+",__name__!="almanac_rollup_watermark"}}'
keep = "15d"

[[jobs.retention.rules]]
retain = '{{__name__=~".+:1h_.+"}}'
keep = "31d"

[jobs.report]
kind = "report"
schedule = "0 0 7 * * *"
timezone = "UTC"
out_dir = "{rolled}"
to = ["team@example.com"]
raw_retention = "15d"
sections = []
compare = []
maintenance = false
{with}
[jobs.raw-report]
kind = "report"
schedule = "0 0 7 * * *"
timezone = "UTC"
out_dir = "{raw}"
to = ["team@example.com"]
raw_retention = "15d"
sections = []
compare = []
maintenance = false
{without}"#,
        rolled = out.join("rolled").display(),
        raw = out.join("raw").display(),
        with = slos("report", true),
        without = slos("raw-report", false),
    )
}

fn query(url: &str, expr: &str, at: i64) -> Vec<Value> {
    let body: Value = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/query"))
        .form(&[("query", expr.to_string()), ("time", at.to_string())])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["status"], "success", "{expr}: {body}");
    body["data"]["result"].as_array().unwrap().clone()
}

fn scalar(url: &str, expr: &str, at: i64) -> f64 {
    let result = query(url, expr, at);
    assert_eq!(result.len(), 1, "{expr}: {result:?}");
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

/// The compliance of each SLO in the report's text part: `compliance 99.618 %`.
fn compliances(dir: &std::path::Path) -> Vec<(String, f64)> {
    let raw = std::fs::read(only_file(dir, "eml")).unwrap();
    let mail = mailparse::parse_mail(&raw).unwrap();
    let text = mail.subparts[0].get_body().unwrap().replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for name in ["API availability", "API latency"] {
        let at = lines
            .iter()
            .position(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no SLO {name}:\n{text}"));
        let line = lines[at..]
            .iter()
            .find(|l| l.trim_start().starts_with("compliance "))
            .unwrap_or_else(|| panic!("no compliance for {name}:\n{text}"));
        let number: String = line.trim_start()["compliance ".len()..]
            .chars()
            .take_while(|c| *c != '%')
            .filter(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let percent: f64 = number.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        out.push((name.to_string(), percent / 100.0));
    }
    out
}

#[test]
fn thirty_day_slos_equal_the_raw_data_after_the_raw_series_are_deleted() {
    let data = data();
    let start = end() - 30 * DAY;
    let (availability, latency) = slis(&data, start, end());
    // The generated data is what the test means: old and recent parts differ.
    let (recent_availability, recent_latency) = slis(&data, now() - 15 * DAY, end());
    assert!(
        (availability - recent_availability).abs() > 1e-3,
        "{availability} {recent_availability}"
    );
    assert!((latency - recent_latency).abs() > 1e-2, "{latency} {recent_latency}");

    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.om");
    std::fs::write(&seed, openmetrics(&data)).unwrap();
    let server = PrivateServer::start(
        "prometheus",
        &[
            ("ALMANAC_SEED_OPENMETRICS", seed.to_str().unwrap()),
            ("ALMANAC_PROMETHEUS_OOO_WINDOW", "45d"),
        ],
    );
    let url = server.get("ALMANAC_TEST_PROMETHEUS_URL").to_string();
    // Before anything: the raw data over 30 days says what the test computed.
    let raw_availability = scalar(
        &url,
        r#"sum(sum_over_time(up{job="aindusdb-core"}[30d])) / sum(count_over_time(up{job="aindusdb-core"}[30d]))"#,
        end(),
    );
    assert!(
        (raw_availability - availability).abs() < 1e-9,
        "{raw_availability} {availability}"
    );
    let raw_latency = scalar(
        &url,
        r#"sum(increase(aindusdb_request_duration_seconds_bucket{le="0.5"}[30d])) / sum(increase(aindusdb_request_duration_seconds_count[30d]))"#,
        end(),
    );
    assert!((raw_latency - latency).abs() < 1e-5, "{raw_latency} {latency}");

    let work = Workspace::new();
    work.write("jobs.toml", &config(&url, work.path()));
    let now = rfc3339(now());
    let run = |job: &str, extra: &[&str]| {
        let mut args = vec!["run", job, "--now", &now, "--allow-clock-skew"];
        args.extend_from_slice(extra);
        let run = work.almanac(&args, &[]);
        run.expect_code(0);
        run
    };

    // The 1 h tier over the 40 days in one run.
    run("rollup", &[]);
    let hours = scalar(&url, r#"count_over_time(up:1h_sum{instance="a"}[41d])"#, end());
    assert_eq!(hours, 960.0);

    // The shipped retention: raw series older than 15 days are gone, the rollups are not.
    run("retention", &[]);
    let kept_from = self::now() - 15 * DAY;
    for expr in [
        r#"count_over_time(up{job="aindusdb-core"}[30d])"#,
        r#"count_over_time(aindusdb_request_duration_seconds_count[30d])"#,
    ] {
        assert!(
            query(&url, expr, kept_from - MINUTE).is_empty(),
            "{expr} still has old samples"
        );
        assert!(
            !query(&url, expr, kept_from + HOUR).is_empty(),
            "{expr}: recent samples deleted"
        );
    }
    let kept_rollups = scalar(&url, r#"count_over_time(up:1h_sum{instance="a"}[30d])"#, kept_from);
    assert!(kept_rollups > 24.0 * 14.0, "{kept_rollups}");

    // The report reads the older 16 days from the rollups, the recent 14 raw.
    let dry = run("report", &["--date", DATE, "--dry-run"]);
    let plan = dry.stdout();
    for expected in [
        "good events, older part (rollups)",
        "total events, recent part (raw)",
        "up:1h_sum{job=\"aindusdb-core\"}[384h]",
        "SLO API latency: rollups 2026-10-12 00:00 UTC → 2026-10-28 00:00 UTC, raw 2026-10-28 00:00 UTC → 2026-11-11 00:00 UTC",
    ] {
        assert!(plan.contains(expected), "{expected:?} not in\n{plan}");
    }
    run("report", &["--date", DATE]);
    let got = compliances(&work.path().join("rolled"));
    for ((name, value), expected) in got.iter().zip([availability, latency]) {
        assert!(
            (value - expected).abs() < 1e-4,
            "{name}: report {value}, raw data {expected}"
        );
    }

    // Without the rollup expressions the same SLOs now miss the deleted 15 days.
    run("raw-report", &["--date", DATE]);
    let raw_only = compliances(&work.path().join("raw"));
    for ((name, value), expected) in raw_only.iter().zip([availability, latency]) {
        assert!((value - expected).abs() > 1e-3, "{name}: {value} vs {expected}");
    }
}
