//! The tsdb-retention job against the shared VictoriaMetrics (data imported through its API,
//! unique metric names): stale series go whole, live ones stay, `retain` rules are refused.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{Workspace, harness_env};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
const WEIRD: &str = "q\"uo\\te\nnl ü日本 🚀";

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

fn hourly(from: i64, to: i64) -> Vec<i64> {
    (0..).map(|i| from + i * HOUR).take_while(|t| *t <= to).collect()
}

/// Imports one series (JSON line format) into VictoriaMetrics.
fn line(metric: &str, labels: &[(&str, &str)], times: &[i64]) -> String {
    let mut m = serde_json::Map::new();
    m.insert("__name__".into(), json!(metric));
    for (k, v) in labels {
        m.insert((*k).into(), json!(v));
    }
    let ms: Vec<i64> = times.iter().map(|t| t * 1000).collect();
    let values: Vec<f64> = times.iter().map(|_| 1.0).collect();
    json!({"metric": m, "values": values, "timestamps": ms}).to_string()
}

/// `pod|extra|job` of every series of `<p>_*` over the last 30 days before `n`.
fn series(url: &str, p: &str, n: i64) -> BTreeSet<String> {
    let body: Value = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/series"))
        .form(&[
            ("match[]", format!("{{__name__=~\"{p}_.+\"}}")),
            ("start", (n - 30 * DAY).to_string()),
            ("end", (n + DAY).to_string()),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["status"], "success", "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}|{}|{}|{}",
                m["__name__"].as_str().unwrap().trim_start_matches(p),
                m["pod"].as_str().unwrap_or(""),
                m["extra"].as_str().unwrap_or(""),
                m["job"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn config(url: &str, rules: &str) -> String {
    format!(
        r#"
[prometheus]
url = "{url}"

[jobs.tsdb]
kind = "tsdb-retention"
schedule = "0 30 3 * * *"
lookback = "30d"
{rules}
"#
    )
}

#[test]
fn stale_series_are_deleted_whole_on_victoria_metrics() {
    let url = harness_env("ALMANAC_TEST_VM_URL");
    let p = format!("tsdbvm_{}", uuid::Uuid::new_v4().simple());
    let n = now();
    let k8s = "kubernetes-pods";
    let up = format!("{p}_up");
    let mem = format!("{p}_mem");
    // VictoriaMetrics' series index is per day: stale series end 4+ days before `now`.
    let old = hourly(n - 8 * DAY, n - 4 * DAY);
    let live = hourly(n - 8 * DAY, n - HOUR);
    let mut revived = hourly(n - 8 * DAY, n - 6 * DAY);
    revived.extend(hourly(n - DAY, n - HOUR));
    let lines = [
        line(&up, &[("job", k8s), ("pod", "live")], &live),
        line(&up, &[("job", k8s), ("pod", "dead")], &old),
        line(&up, &[("job", k8s), ("pod", WEIRD)], &old),
        line(&up, &[("job", k8s), ("pod", "revived")], &revived),
        line(&up, &[("job", k8s), ("pod", "dead"), ("extra", "x")], &live),
        line(&up, &[("job", "other"), ("pod", "dead2")], &old),
        line(&mem, &[("job", k8s), ("pod", "gone")], &old),
    ];
    let client = reqwest::blocking::Client::new();
    let response = client
        .post(format!("{url}/api/v1/import"))
        .body(lines.join("\n") + "\n")
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{:?}", response.text());
    client.get(format!("{url}/internal/force_flush")).send().unwrap();
    let before = series(&url, &p, n);
    assert_eq!(before.len(), 7, "{before:#?}");

    let work = Workspace::new();
    let rule =
        format!("[[jobs.tsdb.rules]]\nstale = '{{job=\"kubernetes-pods\",__name__=~\"{p}_.+\"}}'\nafter = \"2d\"\n");
    work.write("jobs.toml", &config(&url, &rule));
    let now_arg = rfc3339(n);
    let run = work.almanac(
        &["run", "tsdb", "--now", &now_arg, "--dry-run", "--output", "json"],
        &[],
    );
    run.expect_code(0);
    let plan: Value = serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}\n{}", run.describe()));
    assert_eq!(plan["server"]["flavour"], "victoria_metrics", "{plan:#}");
    assert_eq!(plan["total_series"], 3, "{plan:#}");
    assert_eq!(plan["clean_tombstones"], false, "{plan:#}");
    assert_eq!(series(&url, &p, n), before);

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
    let report: Value = serde_json::from_str(run.stdout().trim()).unwrap_or_else(|e| panic!("{e}\n{}", run.describe()));
    assert_eq!(report["counts"]["series_deleted"], 3, "{report:#}");
    assert_eq!(report["counts"]["verify_leftover_series"], 0, "{report:#}");

    let gone: BTreeSet<String> = [
        "_up|dead||kubernetes-pods".to_string(),
        format!("_up|{WEIRD}||kubernetes-pods"),
        "_mem|gone||kubernetes-pods".to_string(),
    ]
    .into_iter()
    .collect();
    assert!(gone.is_subset(&before), "{before:#?}");
    let expected: BTreeSet<String> = before.difference(&gone).cloned().collect();
    assert_eq!(series(&url, &p, n), expected);
}

#[test]
fn retain_rules_are_refused_on_victoria_metrics() {
    let url = harness_env("ALMANAC_TEST_VM_URL");
    let work = Workspace::new();
    let rule = "[[jobs.tsdb.rules]]\nretain = '{__name__=~\"tsdbvm_never_.+_bucket\"}'\nkeep = \"7d\"\n";
    work.write("jobs.toml", &config(&url, rule));
    let run = work.almanac(&["run", "tsdb", "--dry-run"], &[]);
    run.expect_code(2);
    let all = run.stdout() + &run.stderr();
    assert!(
        all.contains("VictoriaMetrics") && all.contains("retain"),
        "{}",
        run.describe()
    );
}
