//! A distinctive secret in every secret field goes through every command and output almanac
//! has (runs that succeed and fail, dry runs, JSON, trace logs, validate with and without
//! --connect, an invalid URL, `almanac k8s`); it must appear nowhere: not on stdout or stderr,
//! not in the written report files, not in what reached the Pushgateway.

mod support;

use support::{Workspace, harness_env};

const CANARY: &str = "CaNaRy7f3a";

fn secret(n: u32) -> String {
    format!("{CANARY}{n}")
}

/// `http://host:port` of a harness URL.
fn authority(url: &str) -> String {
    url.trim_end_matches('/').trim_start_matches("http://").to_string()
}

fn config(search: &str, prometheus: &str) -> String {
    format!(
        r#"
[prometheus]
url = "http://{p_user}:{p_pw}@{prometheus}/?token={p_query}"
timeout = "5s"

[search]
url = "http://canary:{s_pw}@{search}"
timeout = "5s"

[s3]
endpoint = "{s3}"
region = "us-east-1"
bucket = "canary-bucket"
prefix = "canary"
access_key_id = "testing"
secret_access_key_file = "s3-secret"

[pushgateway]
url = "{pushgateway}"
username = "almanac"
password_file = "pg-password"

[jobs.logs]
kind = "log-retention"
schedule = "0 0 2 * * *"
pattern = "canary-logs-%Y.%m.%d"

[jobs.daily-report]
kind = "report"
schedule = "0 0 7 * * *"
to = ["ops@example.com"]
out_dir = "out"
"#,
        p_user = secret(7),
        p_pw = secret(1),
        p_query = secret(8),
        s_pw = secret(2),
        s3 = harness_env("ALMANAC_TEST_S3_URL"),
        pushgateway = harness_env("ALMANAC_TEST_PUSHGATEWAY_URL"),
    )
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(CANARY), "{what} shows a secret:\n{text}");
}

#[test]
fn no_secret_appears_anywhere() {
    let workspace = Workspace::new();
    workspace.write("s3-secret", &secret(3));
    workspace.write("pg-password", &secret(4));
    let search = authority(&harness_env("ALMANAC_TEST_OPENSEARCH_URL"));
    let prometheus = authority(&harness_env("ALMANAC_TEST_PROMETHEUS_URL"));
    let live = config(&search, &prometheus);
    let dead = config("127.0.0.1:1", "127.0.0.1:1");
    let trace = [("ALMANAC_LOG", "trace")];
    let mut runs = Vec::new();
    for (name, content) in [("live", &live), ("dead", &dead)] {
        workspace.write("jobs.toml", content);
        for args in [
            &["validate"][..],
            &["validate", "--output", "json"],
            &["validate", "--connect"],
            &["validate", "--connect", "--output", "json"],
            &["run", "logs"],
            &["run", "logs", "--dry-run"],
            &["run", "logs", "--dry-run", "--output", "json"],
            &["run", "daily-report", "--output", "json"],
            &["list"],
            &["restore", "canary-logs-2026.01.01"],
        ] {
            let run = workspace.almanac(args, &trace);
            runs.push((format!("{name}: almanac {}", args.join(" ")), run.code()));
            assert_clean(&format!("{name}: almanac {}", args.join(" ")), &run.describe());
        }
    }
    // Both outcomes were exercised: something succeeded, something failed.
    assert!(runs.iter().any(|(_, code)| *code == 0), "{runs:?}");
    assert!(runs.iter().any(|(_, code)| *code != 0), "{runs:?}");

    // An invalid URL holding a password.
    workspace.write(
        "jobs.toml",
        &format!("[prometheus]\nurl = \"http://u:{}@[::1\"\n", secret(5)),
    );
    let run = workspace.almanac(&["validate"], &[]);
    run.expect_code(2);
    assert_clean("invalid URL", &run.describe());

    // almanac k8s: refuses a secret in clear, without showing it.
    workspace.write(
        "jobs.toml",
        &format!(
            "[smtp]\nhost = \"mail\"\nfrom = \"a@b.c\"\nusername = \"u\"\npassword = \"{}\"\n[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n",
            secret(6)
        ),
    );
    let run = workspace.almanac(&["k8s"], &[]);
    run.expect_code(2);
    assert!(run.stderr().contains("smtp.password"), "{}", run.describe());
    assert_clean("almanac k8s", &run.describe());
    workspace.write("jobs.toml", &live);
    let run = workspace.almanac(&["k8s"], &[]);
    assert_clean("almanac k8s (live config)", &run.describe());

    // Files the runs wrote (report .eml/.html/.txt) and what the Pushgateway holds.
    for entry in walk(workspace.path()) {
        if entry.ends_with("s3-secret") || entry.ends_with("pg-password") || entry.ends_with("jobs.toml") {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert_clean(&entry.display().to_string(), &String::from_utf8_lossy(&bytes));
    }
    let metrics = reqwest::blocking::get(format!(
        "{}/metrics",
        harness_env("ALMANAC_TEST_PUSHGATEWAY_URL").trim_end_matches('/')
    ))
    .unwrap()
    .text()
    .unwrap();
    assert!(metrics.contains("almanac_"), "the runs pushed their metrics");
    assert_clean("Pushgateway", &metrics);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
