//! The shipped alert rules: `promtool check rules` and `promtool test rules`, and the
//! "not succeeded" alert firing on what a Prometheus scraping the real Pushgateway stores
//! after real `almanac run`s (the scrape turned into promtool input series).

mod support;

use std::path::Path;
use std::process::Command;

use support::Workspace;

const PROMTOOL: &str = "/usr/bin/promtool";

fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let output = Command::new(PROMTOOL)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {PROMTOOL} (Debian package prometheus; scripts/harness/up installs it): {e}")
        });
    let text = format!(
        "promtool {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn shipped_rules_pass_promtool_check_and_unit_tests() {
    let dir = support::repo().join("deploy/prometheus");
    let (ok, text) = promtool(&["check", "rules", "almanac-rules.yml"], &dir);
    assert!(ok, "{text}");
    assert!(text.contains("3 rules found"), "{text}");
    let (ok, text) = promtool(&["test", "rules", "almanac-rules.test.yml"], &dir);
    assert!(ok, "{text}");
}

/// Parses `name{a="b",...} value` lines of a scrape that belong to `job`.
fn scraped_series(scrape: &str, job: &str) -> Vec<(String, String, f64)> {
    let marker = format!("job=\"{job}\"");
    scrape
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains(&marker))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let name = series.split('{').next()?.to_string();
            Some((name, series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// A promtool test file: the scraped series as input (one sample per hour from 1h on, as
/// if Prometheus had scraped the Pushgateway since just after the push), and the
/// expected alerts at `eval_time`.
fn promtool_test(series: &[(String, String, f64)], shift: f64, checks: &str) -> String {
    let mut text = String::from(
        "rule_files:\n  - almanac-rules.yml\nevaluation_interval: 1m\ntests:\n  - interval: 1h\n    input_series:\n",
    );
    for (name, series, value) in series {
        // promtool's clock starts at the Unix epoch: timestamps move by the same offset as
        // the evaluation time, which leaves `time() - timestamp` unchanged.
        let value = if name.ends_with("_seconds") && name.contains("time") && *value > 0.0 {
            value - shift
        } else {
            *value
        };
        text.push_str(&format!("      - series: '{series}'\n        values: '_ {value}x40'\n"));
    }
    text.push_str("    alert_rule_test:\n");
    text.push_str(checks);
    text
}

#[test]
fn not_succeeded_fires_on_a_scrape_of_the_pushgateway() {
    let gateway = support::harness_env("ALMANAC_TEST_PUSHGATEWAY_URL");
    let job = format!("ops-rules-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let workspace = Workspace::new();
    let config = |settings: &str| {
        format!(
            "[pushgateway]\nurl = \"{gateway}\"\n\n[jobs.{job}]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n{settings}\n"
        )
    };
    workspace.write("jobs.toml", &config(""));
    workspace.almanac(&["run", &job], &[]).expect_code(0);
    workspace.write("jobs.toml", &config("fail = true"));
    workspace.almanac(&["run", &job], &[]).expect_code(1);

    let scrape = reqwest::blocking::get(format!("{gateway}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let _ = reqwest::blocking::Client::new()
        .delete(format!("{gateway}/metrics/job/{job}"))
        .send();
    let series = scraped_series(&scrape, &job);
    let success = series
        .iter()
        .find(|(name, _, _)| name == "almanac_job_last_success_timestamp_seconds")
        .unwrap_or_else(|| panic!("no last success of {job} in the scrape:\n{scrape}"))
        .2;
    // In promtool time, the push happened at 1h (shortly before the first sample).
    let shift = success.floor() - 3_600.0;

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        support::repo().join("deploy/prometheus/almanac-rules.yml"),
        dir.path().join("almanac-rules.yml"),
    )
    .unwrap();
    let fires = format!(
        "      - eval_time: 25h\n        alertname: AlmanacJobNotSucceeded\n        exp_alerts: []\n\
         \x20     - eval_time: 28h\n        alertname: AlmanacJobNotSucceeded\n        exp_alerts:\n\
         \x20         - exp_labels:\n              severity: critical\n              job_name: {job}\n\
         \x20           exp_annotations:\n\
         \x20             summary: \"almanac job {job} has not succeeded for more than 26 hours\"\n\
         \x20             description: \"Its last success is older than 26 h: see `almanac list`, and the logs of the last Job of CronJob almanac-{job}.\"\n\
         \x20     - eval_time: 2h\n        alertname: AlmanacJobFailed\n        exp_alerts:\n\
         \x20         - exp_labels:\n              severity: warning\n              job_name: {job}\n              outcome: failed\n\
         \x20           exp_annotations:\n\
         \x20             summary: \"almanac job {job}: last run failed\"\n\
         \x20             description: \"The last run of {job} ended failed: see its logs (`kubectl logs job/...`) or re-run it with `almanac run {job} --dry-run`.\"\n"
    );
    std::fs::write(
        dir.path().join("scrape.test.yml"),
        promtool_test(&series, shift, &fires),
    )
    .unwrap();
    let (ok, text) = promtool(&["test", "rules", "scrape.test.yml"], dir.path());
    assert!(
        ok,
        "{text}\n{}",
        std::fs::read_to_string(dir.path().join("scrape.test.yml")).unwrap()
    );

    // The same data with "no alert at 28h" must fail: the test above can fail.
    let silent = "      - eval_time: 28h\n        alertname: AlmanacJobNotSucceeded\n        exp_alerts: []\n";
    std::fs::write(
        dir.path().join("silent.test.yml"),
        promtool_test(&series, shift, silent),
    )
    .unwrap();
    let (ok, text) = promtool(&["test", "rules", "silent.test.yml"], dir.path());
    assert!(!ok, "expected promtool to report the firing alert:\n{text}");
}
