//! The runner's command line: list (time zones across DST), run with --dry-run and --now,
//! exit codes of success and failure, retries of transient failures.

mod support;

use support::Workspace;

#[test]
fn list_shows_next_runs_in_the_job_time_zone_across_dst() {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[jobs.paris]\nkind = \"noop\"\nschedule = \"0 0 7 * * *\"\ntimezone = \"Europe/Paris\"\n\n\
         [jobs.utc]\nkind = \"noop\"\nschedule = \"30 2 * * *\"\n",
    );
    // Europe/Paris leaves summer time on Sunday 2026-10-25 at 03:00 local.
    let result = workspace.almanac(&["list", "--output", "json", "--now", "2026-10-23T12:00:00Z"], &[]);
    result.expect_code(0);
    let jobs: serde_json::Value = serde_json::from_str(&result.stdout()).expect("JSON");
    let paris = jobs.as_array().unwrap().iter().find(|j| j["job"] == "paris").unwrap();
    assert_eq!(paris["timezone"], "Europe/Paris");
    assert_eq!(
        paris["next_runs"],
        serde_json::json!([
            "2026-10-24T07:00:00+02:00",
            "2026-10-25T07:00:00+01:00",
            "2026-10-26T07:00:00+01:00"
        ]),
        "{}",
        result.describe()
    );
    let utc = jobs.as_array().unwrap().iter().find(|j| j["job"] == "utc").unwrap();
    assert_eq!(utc["next_runs"][0], "2026-10-24T02:30:00+00:00");

    let text = workspace.almanac(&["list", "--now", "2026-10-23T12:00:00Z"], &[]);
    text.expect_code(0);
    assert!(
        text.stdout().contains("2026-10-25 07:00:00 +01:00"),
        "{}",
        text.describe()
    );
}

#[test]
fn dry_run_prints_the_plan_and_json_output_is_machine_readable() {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\nsleep = \"3s\"\n",
    );
    let result = workspace.almanac(&["run", "a", "--dry-run"], &[]);
    result.expect_code(0);
    assert!(result.stdout().contains("noop: wait 3s"), "{}", result.describe());
    let json = workspace.almanac(&["run", "a", "--dry-run", "--output", "json"], &[]);
    json.expect_code(0);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout()).expect("plan JSON");
    assert_eq!(plan["sleep_seconds"], 3);
}

#[test]
fn failed_job_exits_1_and_reports_in_json() {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\nfail = true\n",
    );
    let result = workspace.almanac(&["run", "a", "--output", "json", "--now", "2026-01-02T03:04:05Z"], &[]);
    result.expect_code(1);
    let report: serde_json::Value = serde_json::from_str(result.stdout().trim()).expect("JSON");
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["attempts"], 1, "fatal errors are not retried");
    assert!(report["error"].as_str().unwrap().contains("configured to fail"));
}

#[test]
fn timeouts_abort_the_run() {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\nsleep = \"1m\"\ntimeout = \"1s\"\n",
    );
    let started = std::time::Instant::now();
    let result = workspace.almanac(&["run", "a"], &[]);
    result.expect_code(1);
    assert!(started.elapsed().as_secs() < 20);
    assert!(result.stdout().contains("timed out after 1s"), "{}", result.describe());
}

#[test]
fn logs_are_json_with_job_and_run_id_when_not_a_terminal() {
    let workspace = Workspace::new();
    workspace.write("jobs.toml", "[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n");
    let result = workspace.almanac(&["run", "a"], &[]);
    result.expect_code(0);
    let finished = result
        .stderr()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["message"] == "run finished")
        .unwrap_or_else(|| panic!("no JSON 'run finished' event\n{}", result.describe()));
    assert_eq!(finished["span"]["job"], "a");
    assert!(finished["span"]["run_id"].as_str().is_some_and(|id| id.len() == 36));
}

#[test]
fn transient_failures_are_retried_with_exponential_backoff() {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[jobs.flaky]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\ntransient_failures = 2\nretries = 2\nbackoff = \"1s\"\n\n\
         [jobs.gives-up]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\ntransient_failures = 5\nretries = 1\nbackoff = \"1s\"\n",
    );
    let started = std::time::Instant::now();
    let result = workspace.almanac(&["run", "flaky", "--output", "json"], &[]);
    result.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(result.stdout().trim()).unwrap();
    assert_eq!(report["attempts"], 3);
    // Backoff 1 s then 2 s.
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        result.stderr().matches("attempt failed, will retry").count(),
        2,
        "{}",
        result.describe()
    );

    let result = workspace.almanac(&["run", "gives-up", "--output", "json"], &[]);
    result.expect_code(1);
    let report: serde_json::Value = serde_json::from_str(result.stdout().trim()).unwrap();
    assert_eq!(report["attempts"], 2);
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("transient failure of attempt 2")
    );
}
