//! The tsdb-retention job against a real, private Prometheus backfilled with promtool: live,
//! stale, reviving and superset series with hostile label values; exactly those ranges go.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;
use support::{PrivateServer, Workspace};

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
const WEIRD: &str = "q\"uo\\te\nnl ü日本 🚀";

/// `--now` of the runs: an hour boundary a day ago, so all data is in the real past.
fn now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    secs / HOUR * HOUR - DAY
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap().to_rfc3339()
}

/// A series of the generated data: labels and sample times.
struct Series {
    metric: String,
    labels: Vec<(&'static str, String)>,
    times: Vec<i64>,
}

fn every_10m(from: i64, to: i64) -> Vec<i64> {
    (0..).map(|i| from + i * 10 * MIN).take_while(|t| *t <= to).collect()
}

fn om_escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The data set, metric names prefixed with `p` (unique per test).
fn data(p: &str, n: i64) -> Vec<Series> {
    let s = |metric: &str, labels: &[(&'static str, &str)], times: Vec<i64>| Series {
        metric: format!("{p}_{metric}"),
        labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        times,
    };
    let k8s = "kubernetes-pods";
    let mut revived = every_10m(n - 5 * DAY, n - 4 * DAY);
    revived.extend(every_10m(n - DAY, n - HOUR));
    let mut comes_back = every_10m(n - 5 * DAY, n - 3 * DAY);
    comes_back.push(n + HOUR);
    vec![
        s("up", &[("job", k8s), ("pod", "live")], every_10m(n - 5 * DAY, n - HOUR)),
        s(
            "up",
            &[("job", k8s), ("pod", "dead")],
            every_10m(n - 5 * DAY, n - 3 * DAY),
        ),
        s(
            "up",
            &[("job", k8s), ("pod", WEIRD)],
            every_10m(n - 5 * DAY, n - 3 * DAY),
        ),
        s("up", &[("job", k8s), ("pod", "revived")], revived),
        // Stale at `now`, but a sample after `now` (it came back after planning): kept.
        s("up", &[("job", k8s), ("pod", "comes-back")], comes_back),
        // Live superset of the dead series' labels: an inexact selector would hit it.
        s(
            "up",
            &[("extra", "x"), ("job", k8s), ("pod", "dead")],
            every_10m(n - 5 * DAY, n - HOUR),
        ),
        // Stale, but another job: outside the rule's selector.
        s(
            "up",
            &[("job", "other"), ("pod", "dead2")],
            every_10m(n - 5 * DAY, n - 3 * DAY),
        ),
        s(
            "mem",
            &[("job", k8s), ("pod", "gone")],
            every_10m(n - 4 * DAY, n - 3 * DAY),
        ),
        s(
            "lat_bucket",
            &[("job", "api"), ("le", "0.1")],
            every_10m(n - 10 * DAY, n - HOUR),
        ),
    ]
}

fn openmetrics(series: &[Series]) -> String {
    let mut out = String::new();
    let mut by_metric: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
    for s in series {
        by_metric.entry(&s.metric).or_default().push(s);
    }
    for (metric, group) in by_metric {
        let _ = writeln!(out, "# TYPE {metric} gauge");
        for s in group {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", om_escape(v)))
                .collect();
            for t in &s.times {
                let _ = writeln!(out, "{metric}{{{}}} 1 {t}", labels.join(","));
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Samples per series (keyed by `pod|extra|job`) of `{__name__=~"<p>_.+"}` in (from, to].
fn sample_counts(url: &str, p: &str, from: i64, to: i64) -> BTreeMap<String, u64> {
    let query = format!("count_over_time({{__name__=~\"{p}_.+\"}}[{}s])", to - from);
    let body: Value = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/query"))
        .form(&[("query", query), ("time", to.to_string())])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["status"], "success", "{body}");
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let m = &r["metric"];
            let key = format!(
                "{}|{}|{}|{}",
                m["pod"].as_str().or(m["le"].as_str()).unwrap_or(""),
                m["extra"].as_str().unwrap_or(""),
                m["job"].as_str().unwrap_or(""),
                r["metric"].as_object().map_or(0, |o| o.len())
            );
            (key, r["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

/// The same counts computed from the generated data (count_over_time drops `__name__`, so
/// series of different metrics with the same labels would merge: the data set avoids that).
fn expected_counts(
    series: &[Series],
    from: i64,
    to: i64,
    keep: impl Fn(&Series, i64) -> bool,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for s in series {
        let n = s
            .times
            .iter()
            .filter(|t| **t > from && **t <= to && keep(s, **t))
            .count() as u64;
        if n == 0 {
            continue;
        }
        let get = |k: &str| s.labels.iter().find(|(l, _)| *l == k).map_or("", |(_, v)| v.as_str());
        let key = format!(
            "{}|{}|{}|{}",
            if get("pod").is_empty() { get("le") } else { get("pod") },
            get("extra"),
            get("job"),
            s.labels.len()
        );
        out.insert(key, n);
    }
    out
}

fn config(url: &str, p: &str, max_series: u64) -> String {
    format!(
        r#"
[prometheus]
url = "{url}"

[jobs.tsdb]
kind = "tsdb-retention"
schedule = "0 30 3 * * *"
max_series_per_run = {max_series}
max_request_bytes = 2048

[[jobs.tsdb.rules]]
stale = '{{job="kubernetes-pods",__name__=~"{p}_.+"}}'
after = "2d"

[[jobs.tsdb.rules]]
retain = '{{__name__=~"{p}_.+_bucket"}}'
keep = "7d"
"#
    )
}

#[test]
fn stale_and_retain_delete_exactly_the_right_series_and_ranges() {
    let p = format!("tsdbp_{}", uuid::Uuid::new_v4().simple());
    let n = now();
    let series = data(&p, n);
    let work = Workspace::new();
    let seed = work.write("seed.om", &openmetrics(&series));
    let prom = PrivateServer::start("prometheus", &[("ALMANAC_SEED_OPENMETRICS", seed.to_str().unwrap())]);
    let url = prom.get("ALMANAC_TEST_PROMETHEUS_URL").to_string();
    let (from, to) = (n - 11 * DAY, n + 2 * HOUR);
    let before = sample_counts(&url, &p, from, to);
    assert_eq!(before, expected_counts(&series, from, to, |_, _| true), "backfill");

    // Dry run, JSON: the plan names the stale series per metric and the retained buckets.
    work.write("jobs.toml", &config(&url, &p, 100));
    let now_arg = rfc3339(n);
    let run = work.almanac(
        &["run", "tsdb", "--now", &now_arg, "--dry-run", "--output", "json"],
        &[],
    );
    run.expect_code(0);
    let plan: Value = serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}\n{}", run.describe()));
    assert_eq!(plan["server"]["flavour"], "prometheus", "{plan}");
    assert_eq!(plan["rules"][0]["series"], 4, "dead, weird, comes-back, gone: {plan:#}");
    assert_eq!(plan["rules"][1]["series"], 1, "{plan:#}");
    assert_eq!(plan["total_series"], 5);
    let metrics: Vec<&str> = plan["rules"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric"].as_str().unwrap())
        .collect();
    assert_eq!(metrics, vec![format!("{p}_mem"), format!("{p}_up")]);
    assert!(plan["blocks"]["count"].as_u64().unwrap() >= 1, "{plan:#}");
    assert!(
        plan["rules"][0]["metrics"][1]["sample"].to_string().contains("ü日本"),
        "{plan:#}"
    );
    assert_eq!(sample_counts(&url, &p, from, to), before, "dry run deleted something");

    // Text plan renders a table.
    let run = work.almanac(&["run", "tsdb", "--now", &now_arg, "--dry-run"], &[]);
    run.expect_code(0);
    assert!(
        run.stdout().contains("stale") && run.stdout().contains(&format!("{p}_up")),
        "{}",
        run.describe()
    );

    // Over the limit without --force: refused, nothing deleted.
    work.write("jobs.toml", &config(&url, &p, 3));
    let run = work.almanac(&["run", "tsdb", "--now", &now_arg, "--allow-clock-skew"], &[]);
    run.expect_code(1);
    assert!(
        run.stdout().contains("max_series_per_run") || run.stderr().contains("max_series_per_run"),
        "{}",
        run.describe()
    );
    assert_eq!(
        sample_counts(&url, &p, from, to),
        before,
        "a refused run deleted something"
    );

    // With --force it runs: stale series up to now-2d, buckets up to now-7d.
    let run = work.almanac(
        &[
            "run",
            "tsdb",
            "--now",
            &now_arg,
            "--force",
            "--output",
            "json",
            "--allow-clock-skew",
        ],
        &[],
    );
    run.expect_code(0);
    let report: Value = serde_json::from_str(run.stdout().trim()).unwrap_or_else(|e| panic!("{e}\n{}", run.describe()));
    assert_eq!(report["counts"]["series_deleted"], 5, "{report:#}");
    assert_eq!(report["counts"]["stale_series_deleted"], 4, "{report:#}");
    assert_eq!(report["counts"]["rule1_series_deleted"], 1, "{report:#}");
    assert_eq!(report["counts"]["verify_leftover_series"], 0, "{report:#}");
    assert_eq!(report["counts"]["tombstones_cleaned"], 1, "{report:#}");
    // The dry run only counted its requests (constant memory): the run made that many.
    assert!(plan["delete_requests"].as_u64().unwrap() >= 2, "{plan:#}");
    assert_eq!(
        plan["delete_requests"], report["counts"]["delete_requests"],
        "{report:#}"
    );

    let stale_end = n - 2 * DAY;
    let keep_end = n - 7 * DAY;
    let expected = expected_counts(&series, from, to, |s, t| {
        let pod = s.labels.iter().find(|(k, _)| *k == "pod").map(|(_, v)| v.as_str());
        let stale = s.metric.ends_with("_up")
            && matches!(pod, Some("dead") | Some(WEIRD) | Some("comes-back"))
            && s.labels.len() == 2
            || s.metric.ends_with("_mem");
        let stale = stale && s.labels.iter().any(|(k, v)| *k == "job" && v == "kubernetes-pods");
        if stale {
            return t > stale_end;
        }
        if s.metric.ends_with("_bucket") {
            return t > keep_end;
        }
        true
    });
    assert_eq!(sample_counts(&url, &p, from, to), expected);
    // The series that came back after `now` kept its new sample.
    assert_eq!(expected.get("comes-back||kubernetes-pods|2"), Some(&1));

    // A second run finds nothing more to do.
    let run = work.almanac(
        &[
            "run",
            "tsdb",
            "--now",
            &now_arg,
            "--output",
            "json",
            "--allow-clock-skew",
        ],
        &[],
    );
    run.expect_code(0);
    let report: Value = serde_json::from_str(run.stdout().trim()).unwrap();
    assert_eq!(report["counts"]["series_deleted"], 0, "{report:#}");
}

#[test]
fn disabled_admin_api_is_a_clear_error() {
    let p = format!("tsdbn_{}", uuid::Uuid::new_v4().simple());
    let n = now();
    let work = Workspace::new();
    let seed = work.write("seed.om", &openmetrics(&data(&p, n)));
    let prom = PrivateServer::start(
        "prometheus",
        &[
            ("ALMANAC_SEED_OPENMETRICS", seed.to_str().unwrap()),
            ("ALMANAC_PROMETHEUS_NO_ADMIN", "1"),
        ],
    );
    let url = prom.get("ALMANAC_TEST_PROMETHEUS_URL").to_string();
    work.write("jobs.toml", &config(&url, &p, 100));
    let run = work.almanac(&["run", "tsdb", "--now", &rfc3339(n), "--allow-clock-skew"], &[]);
    run.expect_code(1);
    let all = run.stdout() + &run.stderr();
    assert!(all.contains("--web.enable-admin-api"), "{}", run.describe());

    // The delete call itself (Prometheus answers 503 "admin APIs disabled") is classified too.
    let endpoint = almanac::clients::http::HttpClient::build(
        &reqwest::Url::parse(&url).unwrap(),
        almanac::clients::http::Auth::None,
        std::time::Duration::from_secs(10),
        &Default::default(),
    )
    .unwrap();
    let admin = almanac::clients::prometheus::admin::AdminClient::new(endpoint);
    let error = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(admin.delete_series(&[format!("{{__name__=\"{p}_up\"}}")], None, None))
        .unwrap_err();
    assert!(error.to_string().contains("--web.enable-admin-api"), "{error}");
    assert!(!almanac::jobs::Transience::is_transient(&error));
}

#[test]
fn a_rule_the_server_rejects_is_named_in_the_error() {
    // Our parser takes any regex; Prometheus refuses this one when asked, and the error must
    // say which rule of jobs.toml it was.
    let url = support::harness_env("ALMANAC_TEST_PROMETHEUS_URL");
    let p = format!("tsdbr_{}", uuid::Uuid::new_v4().simple());
    let work = Workspace::new();
    work.write(
        "jobs.toml",
        &format!(
            r#"
[prometheus]
url = "{url}"

[jobs.tsdb]
kind = "tsdb-retention"
schedule = "0 30 3 * * *"

[[jobs.tsdb.rules]]
stale = '{p}_up'
after = "2d"

[[jobs.tsdb.rules]]
stale = '{{job=~"("}}'
after = "2d"
"#
        ),
    );
    let run = work.almanac(&["run", "tsdb", "--now", &rfc3339(now()), "--dry-run"], &[]);
    run.expect_code(1);
    // The failure as the run's log line reports it (stderr is JSON lines).
    let error = run
        .stderr()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "run failed")
        .and_then(|line| line["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no `run failed` line\n{}", run.describe()));
    assert!(
        error.starts_with(r#"rules[1] (stale {job=~"("} after 2d): "#) && error.contains("error parsing regexp"),
        "{error}"
    );
}
