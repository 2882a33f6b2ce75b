//! Each `almanac run` pushes its metrics to the real Pushgateway (shared harness instance,
//! unique job names): values after a success and a failure, last-success kept by the
//! failure, counts replaced by POST, dry runs push nothing, failed pushes, `list`.

mod support;

use std::collections::BTreeMap;

use support::{Workspace, unique};

fn gateway() -> String {
    support::harness_env("ALMANAC_TEST_PUSHGATEWAY_URL")
}

/// The samples of the group `job=<job>`: family name -> [(labels, value)].
/// Family name -> samples (labels, value).
type Families = BTreeMap<String, Vec<(BTreeMap<String, String>, f64)>>;

fn group(job: &str) -> Option<Families> {
    let answer: serde_json::Value = reqwest::blocking::get(format!("{}/api/v1/metrics", gateway()))
        .unwrap()
        .json()
        .unwrap();
    let group = answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["labels"] == serde_json::json!({ "job": job }))?;
    let mut families = BTreeMap::new();
    for (name, family) in group.as_object().unwrap() {
        let Some(metrics) = family.get("metrics").and_then(|m| m.as_array()) else {
            continue;
        };
        let samples = metrics
            .iter()
            .map(|m| {
                let labels: BTreeMap<String, String> = serde_json::from_value(m["labels"].clone()).unwrap();
                (labels, m["value"].as_str().unwrap().parse::<f64>().unwrap())
            })
            .collect();
        families.insert(name.clone(), samples);
    }
    Some(families)
}

fn value(group: &Families, family: &str, label: Option<(&str, &str)>) -> Option<f64> {
    group.get(family)?.iter().find_map(|(labels, value)| match label {
        Some((key, want)) => (labels.get(key).map(String::as_str) == Some(want)).then_some(*value),
        None => Some(*value),
    })
}

fn delete(job: &str) {
    let _ = reqwest::blocking::Client::new()
        .delete(format!("{}/metrics/job/{job}", gateway()))
        .send();
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn config(job: &str, url: &str, settings: &str) -> String {
    format!(
        "[pushgateway]\nurl = \"{url}\"\ntimeout = \"5s\"\n\n[jobs.{job}]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n{settings}\n"
    )
}

#[test]
fn a_failed_run_does_not_overwrite_the_last_success() {
    let job = unique("ops-push");
    let workspace = Workspace::new();
    workspace.write("jobs.toml", &config(&job, &gateway(), "sleep = \"1s\""));
    let before = now();
    workspace.almanac(&["run", &job], &[]).expect_code(0);
    let after = now();
    let first = group(&job).expect("a group job=<job> after the first run");
    let success = value(&first, "almanac_job_last_success_timestamp_seconds", None).expect("last success");
    assert!(
        success >= before && success <= after,
        "{success} not within [{before}, {after}]"
    );
    assert_eq!(
        value(&first, "almanac_job_last_run_timestamp_seconds", None),
        Some(success)
    );
    let duration = value(&first, "almanac_job_duration_seconds", None).unwrap();
    assert!((1.0..10.0).contains(&duration), "duration {duration}");
    assert_eq!(
        value(&first, "almanac_job_last_outcome", Some(("outcome", "success"))),
        Some(1.0)
    );
    assert_eq!(
        value(&first, "almanac_job_last_outcome", Some(("outcome", "failed"))),
        Some(0.0)
    );
    assert_eq!(value(&first, "almanac_job_last_failure_timestamp_seconds", None), None);
    // The label scheme: job (grouping key, added by the Pushgateway) and our job_name.
    let (labels, _) = &first["almanac_job_last_success_timestamp_seconds"][0];
    assert_eq!(labels.get("job"), Some(&job));
    assert_eq!(labels.get("job_name"), Some(&job));
    assert_eq!(labels.get("instance").map(String::as_str).unwrap_or(""), "");

    workspace.write("jobs.toml", &config(&job, &gateway(), "fail = true"));
    let run = workspace.almanac(&["run", &job], &[]);
    run.expect_code(1);
    let second = group(&job).unwrap();
    assert_eq!(
        value(&second, "almanac_job_last_success_timestamp_seconds", None),
        Some(success),
        "the failed run changed the last success\n{}",
        run.describe()
    );
    let last_run = value(&second, "almanac_job_last_run_timestamp_seconds", None).unwrap();
    assert!(
        last_run > success,
        "last run {last_run} should be after the success {success}"
    );
    assert_eq!(
        value(&second, "almanac_job_last_failure_timestamp_seconds", None),
        Some(last_run)
    );
    assert!(value(&second, "almanac_job_duration_seconds", None).unwrap() < 1.0);
    assert_eq!(
        value(&second, "almanac_job_last_outcome", Some(("outcome", "failed"))),
        Some(1.0)
    );
    assert_eq!(
        value(&second, "almanac_job_last_outcome", Some(("outcome", "success"))),
        Some(0.0)
    );

    // What a Prometheus scrape of the Pushgateway sees (honor_labels keeps these labels).
    let scraped = reqwest::blocking::get(format!("{}/metrics", gateway()))
        .unwrap()
        .text()
        .unwrap();
    let line = format!("almanac_job_last_success_timestamp_seconds{{instance=\"\",job=\"{job}\",job_name=\"{job}\"}} ");
    assert!(scraped.contains(&line), "no {line} in the scrape");

    // `almanac list` reads the last outcome back.
    let list = workspace.almanac(&["list", "--output", "json"], &[]);
    list.expect_code(0);
    let jobs: serde_json::Value = serde_json::from_str(&list.stdout()).unwrap();
    assert_eq!(jobs[0]["last_run"]["outcome"], "failed", "{}", list.describe());
    assert_eq!(jobs[0]["last_run"]["last_success"].as_f64(), Some(success));
    let text = workspace.almanac(&["list"], &[]);
    assert!(text.stdout().contains("LAST SUCCESS"), "{}", text.describe());
    assert!(text.stdout().contains("failed 20"), "{}", text.describe());
    delete(&job);
}

#[test]
fn dry_runs_push_nothing() {
    let job = unique("ops-dry");
    let workspace = Workspace::new();
    workspace.write("jobs.toml", &config(&job, &gateway(), ""));
    workspace.almanac(&["run", &job, "--dry-run"], &[]).expect_code(0);
    assert!(group(&job).is_none(), "a dry run pushed metrics");
    let list = workspace.almanac(&["list"], &[]);
    list.expect_code(0);
    assert!(list.stdout().contains("never"), "{}", list.describe());
}

#[test]
fn a_failed_push_is_logged_and_fails_the_run_only_when_configured() {
    let job = unique("ops-nopush");
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let workspace = Workspace::new();
    workspace.write("jobs.toml", &config(&job, &closed, ""));
    let run = workspace.almanac(&["run", &job], &[]);
    run.expect_code(0);
    assert!(
        run.stderr().contains("cannot push metrics to the Pushgateway"),
        "{}",
        run.describe()
    );
    let list = workspace.almanac(&["list"], &[]);
    list.expect_code(0);
    assert!(
        list.stderr().contains("cannot read the last runs"),
        "{}",
        list.describe()
    );

    workspace.write(
        "jobs.toml",
        &config(&job, &closed, "").replace("timeout = \"5s\"", "timeout = \"5s\"\nfail_run_on_error = true"),
    );
    workspace.almanac(&["run", &job], &[]).expect_code(1);
}

#[tokio::test]
async fn counts_are_replaced_by_the_next_run_that_has_counts() {
    use almanac::jobs::{JobError, Outcome};
    use almanac::runner::RunReport;
    let job = unique("ops-counts");
    let config = almanac::config::PushgatewayConfig {
        url: almanac::config::EndpointUrl(gateway().parse().unwrap()),
        timeout: almanac::config::HumanDuration::from_secs(5),
        username: None,
        password: None,
        password_file: None,
        fail_run_on_error: false,
        ca_file: None,
        client_cert_file: None,
        client_key_file: None,
        allow_insecure: false,
    };
    let report = |result: Result<Outcome, JobError>| RunReport {
        job: job.clone(),
        kind: "noop",
        run_id: "test".into(),
        started_at: chrono::Utc::now(),
        duration: std::time::Duration::from_millis(250),
        attempts: 1,
        result,
    };
    let count = |job: String, name: &'static str| {
        tokio::task::spawn_blocking(move || {
            group(&job).and_then(|g| value(&g, "almanac_job_outcome_count", Some(("count", name))))
        })
    };
    let first = report(Ok(Outcome::success("ok").count("series_deleted", 5).count("bytes", 10)));
    assert!(almanac::push::push_run(&config, &first.finished()).await.unwrap());
    assert_eq!(count(job.clone(), "series_deleted").await.unwrap(), Some(5.0));
    assert_eq!(count(job.clone(), "bytes").await.unwrap(), Some(10.0));
    let failed = report(Err(JobError::Cancelled));
    assert!(almanac::push::push_run(&config, &failed.finished()).await.unwrap());
    assert_eq!(
        count(job.clone(), "series_deleted").await.unwrap(),
        Some(5.0),
        "a failure keeps the counts"
    );
    let second = report(Ok(Outcome::success("ok").count("series_deleted", 7)));
    assert!(almanac::push::push_run(&config, &second.finished()).await.unwrap());
    assert_eq!(count(job.clone(), "series_deleted").await.unwrap(), Some(7.0));
    assert_eq!(
        count(job.clone(), "bytes").await.unwrap(),
        None,
        "POST replaces the whole family"
    );
    let job2 = job.clone();
    tokio::task::spawn_blocking(move || delete(&job2)).await.unwrap();
}
