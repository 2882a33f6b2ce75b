//! The report's Maintenance section from the real path: almanac runs real jobs whose metrics
//! the runner pushes to a real Pushgateway, a real Prometheus scrapes it (`honor_labels`,
//! every second), and the report shows each job's last run, outcome, duration and counts as
//! pushed, flags a job whose last success is older than its schedule period, and says so when
//! there are no almanac metrics at all (the report still succeeds).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use almanac::jobs::report::locale::Catalogue;
use almanac::jobs::report::numbers::run_duration;
use almanac::metrics;
use chrono::DateTime;
use support::{PrivateServer, Workspace, only_file};

/// Family name → `job_name` → [(labels, value)], as the Pushgateway holds them.
type Pushed = BTreeMap<String, BTreeMap<String, Vec<(BTreeMap<String, String>, f64)>>>;

/// Everything the Pushgateway holds, by family and `job_name`.
fn pushed(gateway: &str) -> Pushed {
    let answer: serde_json::Value = reqwest::blocking::get(format!("{gateway}/api/v1/metrics"))
        .unwrap()
        .json()
        .unwrap();
    let mut out = Pushed::new();
    for group in answer["data"].as_array().unwrap() {
        for (name, family) in group.as_object().unwrap() {
            let Some(metrics) = family.get("metrics").and_then(|m| m.as_array()) else {
                continue;
            };
            for metric in metrics {
                let labels: BTreeMap<String, String> = serde_json::from_value(metric["labels"].clone()).unwrap();
                let Some(job) = labels.get("job_name").cloned() else {
                    continue;
                };
                let value = metric["value"].as_str().unwrap().parse::<f64>().unwrap();
                let entry = out.entry(name.clone()).or_default().entry(job).or_default();
                entry.push((labels, value));
            }
        }
    }
    out
}

fn one(pushed: &Pushed, family: &str, job: &str) -> f64 {
    pushed[family][job][0].1
}

/// `job_name` → value of an instant query on Prometheus.
fn query(prometheus: &str, expr: &str) -> BTreeMap<String, f64> {
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    answer["data"]["result"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    let job = r["metric"]["job_name"].as_str()?.to_string();
                    Some((job, r["value"][1].as_str()?.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until Prometheus has scraped each job's last run and count samples as pushed.
fn wait_scraped(prometheus: &str, gateway: &Pushed, jobs: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = query(prometheus, "almanac_job_last_run_timestamp_seconds");
        let counts = query(prometheus, "count by (job_name) (almanac_job_outcome_count)");
        let done = jobs.iter().all(|job| {
            runs.get(*job) == Some(&one(gateway, "almanac_job_last_run_timestamp_seconds", job))
                && gateway
                    .get("almanac_job_outcome_count")
                    .and_then(|f| f.get(*job))
                    .is_none_or(|samples| counts.get(*job) == Some(&(samples.len() as f64)))
        });
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape {jobs:?}: {runs:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn jobs_toml(prometheus: &str, gateway: &str, out: &Path) -> String {
    format!(
        r#"
[prometheus]
url = "{prometheus}"
timeout = "20s"

[pushgateway]
url = "{gateway}"
timeout = "5s"

[jobs.ops-report]
kind = "report"
schedule = "0 0 7 * * *"
timezone = "UTC"
retries = 0
out_dir = "{out}"
to = ["team@example.com"]
compare = ["day"]
slos = []

[[jobs.ops-report.sections]]
title = "Liveness"

[[jobs.ops-report.sections.panels]]
title = "Constant"
query = 'vector(1)'

[jobs.nightly-noop]
kind = "noop"
schedule = "0 0 2 * * *"
timezone = "UTC"
sleep = "1200ms"

[jobs.tsdb-cleanup]
kind = "tsdb-retention"
schedule = "0 30 2 * * *"
timezone = "UTC"
lookback = "30d"

[[jobs.tsdb-cleanup.rules]]
stale = '{{__name__="maint_gone_metric"}}'
after = "2d"

[jobs.stale-noop]
kind = "noop"
schedule = "0 0 3 * * *"
timezone = "UTC"
"#,
        out = out.display()
    )
}

/// Runs the report (no --now: the real clock, as the metrics have) and returns the text part.
fn report(ws: &Workspace, out: &Path) -> String {
    let _ = std::fs::remove_dir_all(out);
    ws.almanac(&["run", "ops-report"], &[]).expect_code(0);
    let raw = std::fs::read(only_file(out, "eml")).unwrap();
    let mail = mailparse::parse_mail(&raw).unwrap();
    mail.subparts[0].get_body().unwrap().replace("\r\n", "\n")
}

/// The Maintenance section of a text part (up to the footer).
fn maintenance(text: &str) -> &str {
    let from = &text[text
        .find("== Maintenance ==")
        .unwrap_or_else(|| panic!("no maintenance section\n{text}"))..];
    &from[..from.find("\n--\n").unwrap_or(from.len())]
}

/// The block of one job in the section (its lines up to the next blank line).
fn block<'a>(section: &'a str, job: &str) -> &'a str {
    section
        .split("\n\n")
        .find(|b| b.starts_with(&format!("{job} (")) || b.contains(&format!("\n{job} (")))
        .unwrap_or_else(|| panic!("no {job} in\n{section}"))
}

#[test]
fn the_maintenance_section_shows_what_the_runner_pushed_and_prometheus_scraped() {
    let gateway_server = PrivateServer::start("pushgateway", &[]);
    let gateway = gateway_server.get("ALMANAC_TEST_PUSHGATEWAY_URL").to_string();
    let target = gateway.trim_start_matches("http://").to_string();
    // A series last written 9 days ago, for the tsdb-retention run to delete.
    let seed_dir = tempfile::tempdir().unwrap();
    let seed = seed_dir.path().join("seed.om");
    let now = chrono::Utc::now().timestamp();
    let mut om = String::from("# TYPE maint_gone_metric gauge\n");
    for t in (now - 12 * 86_400..now - 9 * 86_400).step_by(600) {
        om.push_str(&format!("maint_gone_metric{{job=\"old\"}} 1 {t}\n"));
    }
    om.push_str("# EOF\n");
    std::fs::write(&seed, om).unwrap();
    let prometheus_server = PrivateServer::start(
        "prometheus",
        &[
            ("ALMANAC_PROMETHEUS_SCRAPE", target.as_str()),
            ("ALMANAC_SEED_OPENMETRICS", seed.to_str().unwrap()),
        ],
    );
    let prometheus = prometheus_server.get("ALMANAC_TEST_PROMETHEUS_URL").to_string();
    let ws = Workspace::new();
    let out = ws.path().join("out");
    ws.write("jobs.toml", &jobs_toml(&prometheus, &gateway, &out));

    // Nothing ran yet: no almanac metric at all; the section says so, the report goes out.
    let text = report(&ws, &out);
    assert!(
        maintenance(&text).contains("Prometheus holds no run metrics of almanac"),
        "{text}"
    );
    assert!(!text.contains("maintenance job late"), "{text}");

    // Real runs, pushed by the runner; one job whose last success is 3 days old.
    ws.almanac(&["run", "nightly-noop"], &[]).expect_code(0);
    let cleanup = ws.almanac(&["run", "tsdb-cleanup"], &[]);
    cleanup.expect_code(0);
    // The same HELP and TYPE as the runner's pushes: the Pushgateway refuses a family that
    // differs from the one other groups hold.
    let stale = now - 3 * 86_400;
    let mut body = String::new();
    for (family, samples) in [
        (&metrics::LAST_SUCCESS, vec![("", stale as f64)]),
        (&metrics::LAST_RUN, vec![("", stale as f64)]),
        (&metrics::DURATION, vec![("", 2.5)]),
        (
            &metrics::LAST_OUTCOME,
            vec![(",outcome=\"success\"", 1.0), (",outcome=\"failed\"", 0.0)],
        ),
    ] {
        body.push_str(&format!(
            "# HELP {} {}\n# TYPE {} gauge\n",
            family.name, family.help, family.name
        ));
        for (labels, value) in samples {
            body.push_str(&format!("{}{{job_name=\"stale-noop\"{labels}}} {value}\n", family.name));
        }
    }
    let response = reqwest::blocking::Client::new()
        .put(format!("{gateway}/metrics/job/stale-noop"))
        .body(body)
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    let jobs = ["nightly-noop", "tsdb-cleanup", "stale-noop"];
    let gateway_holds = pushed(&gateway);
    let deleted = &gateway_holds["almanac_job_outcome_count"]["tsdb-cleanup"];
    assert!(
        deleted.iter().any(|(l, v)| l["count"] == "series_deleted" && *v == 1.0),
        "the cleanup deleted the old series: {deleted:?}\n{}",
        cleanup.describe()
    );
    wait_scraped(&prometheus, &gateway_holds, &jobs);

    let text = report(&ws, &out);
    let section = maintenance(&text);
    let en = Catalogue::english();
    let time = |t: f64| {
        en.datetime(
            DateTime::from_timestamp(t as i64, 0)
                .unwrap()
                .with_timezone(&chrono_tz::UTC),
        )
    };
    for (job, kind) in [
        ("nightly-noop", "noop"),
        ("tsdb-cleanup", "tsdb-retention"),
        ("stale-noop", "noop"),
    ] {
        let last_run = one(&gateway_holds, "almanac_job_last_run_timestamp_seconds", job);
        let duration = one(&gateway_holds, "almanac_job_duration_seconds", job);
        let expected = format!(
            "{job} ({kind}) [success] Last run: {} · Duration: {}",
            time(last_run),
            run_duration(duration, en)
        );
        let block = block(section, job);
        assert!(block.contains(&expected), "{expected:?} not in\n{section}");
        let late = job == "stale-noop";
        assert_eq!(
            block.contains("!! no success since the run due"),
            late,
            "{job}\n{block}"
        );
    }
    let nightly = one(&gateway_holds, "almanac_job_duration_seconds", "nightly-noop");
    assert!(nightly >= 1.2, "the noop slept 1.2 s: {nightly}");
    let counts: Vec<String> = deleted
        .iter()
        .map(|(labels, value)| format!("{} {value}", labels["count"]))
        .collect();
    let shown = block(section, "tsdb-cleanup");
    for count in &counts {
        assert!(shown.contains(count.as_str()), "{count:?} not in\n{shown}");
    }
    assert!(text.contains("1 maintenance job late"), "{text}");
    assert!(
        !section.contains("ops-report"),
        "the report itself is no maintenance job\n{section}"
    );
}
