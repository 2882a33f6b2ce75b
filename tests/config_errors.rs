//! Every kind of bad jobs.toml exits with code 2 and an error naming file:line:col and the
//! key, and the repo's own jobs.toml validates.

mod support;

use support::{Workspace, run};

const GOOD_HEAD: &str = "[prometheus]\nurl = \"http://127.0.0.1:9\"\n\n";

/// (name, jobs.toml content, expected "line:col", expected key, a word the message must have)
fn cases() -> Vec<(&'static str, String, &'static str, &'static str, &'static str)> {
    let job = |body: &str| format!("{GOOD_HEAD}[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n{body}");
    vec![
        ("bad cron", format!("{GOOD_HEAD}[jobs.a]\nkind = \"noop\"\nschedule = \"0 61 * * *\"\n"), "6:1", "jobs.a.schedule", "cron"),
        ("cron with too many fields", format!("{GOOD_HEAD}[jobs.a]\nkind = \"noop\"\nschedule = \"0 0 0 7 * * * *\"\n"), "6:1", "jobs.a.schedule", "fields"),
        ("unknown time zone", job("timezone = \"Mars/Olympus_Mons\"\n"), "7:1", "jobs.a.timezone", "time zone"),
        ("unknown key in a job", job("sleeep = \"1s\"\n"), "7:1", "jobs.a.sleeep", "unknown field"),
        ("wrong type", job("retries = \"three\"\n"), "7:1", "jobs.a.retries", "invalid type"),
        ("bad duration", job("timeout = \"10 minutes\"\n"), "7:1", "jobs.a.timeout", "duration"),
        ("absurdly long duration", job("timeout = \"300000y\"\n"), "7:1", "jobs.a.timeout", "longer than 1000y"),
        ("unknown job kind", format!("{GOOD_HEAD}[jobs.a]\nkind = \"backup\"\nschedule = \"0 7 * * *\"\n"), "5:1", "jobs.a.kind", "unknown job kind"),
        ("missing kind", format!("{GOOD_HEAD}[jobs.a]\nschedule = \"0 7 * * *\"\n"), "4:7", "jobs.a", "kind"),
        ("missing schedule", format!("{GOOD_HEAD}[jobs.a]\nkind = \"noop\"\n"), "4:7", "jobs.a", "schedule"),
        ("unknown section", format!("{GOOD_HEAD}[grafana]\nurl = \"http://x\"\n"), "4:2", "grafana", "unknown section"),
        ("unknown key in a section", "[prometheus]\nurl = \"http://127.0.0.1:9\"\nuri = \"x\"\n".to_string(), "3:1", "prometheus.uri", "unknown field"),
        ("invalid URL", "[prometheus]\nurl = \"prometheus:9090/x y\"\n".to_string(), "2:1", "prometheus.url", "URL"),
        ("unset environment variable", "[prometheus]\nurl = \"${ALMANAC_TEST_SURELY_UNSET}\"\n".to_string(), "2:1", "prometheus.url", "ALMANAC_TEST_SURELY_UNSET is not set"),
        ("missing secret file", "[smtp]\nhost = \"localhost\"\nfrom = \"a@b.c\"\nusername = \"u\"\npassword_file = \"/nonexistent/smtp-password\"\n".to_string(), "5:1", "smtp.password_file", "cannot read secret file"),
        ("secret given twice", "[smtp]\nhost = \"localhost\"\nfrom = \"a@b.c\"\nusername = \"u\"\npassword = \"x\"\npassword_file = \"pw\"\n".to_string(), "5:1", "smtp.password", "not both"),
        ("bad TLS mode", "[smtp]\nhost = \"localhost\"\nfrom = \"a@b.c\"\ntls = \"ssl\"\n".to_string(), "4:1", "smtp.tls", "unknown variant"),
        ("missing section a kind needs", "[jobs.r]\nkind = \"report\"\nschedule = \"0 7 * * *\"\nto = [\"a@b.c\"]\n".to_string(), "2:1", "jobs.r.kind", "[prometheus]"),
        ("report without recipients", format!("{GOOD_HEAD}[jobs.r]\nkind = \"report\"\nschedule = \"0 7 * * *\"\n"), "4:7", "jobs.r.to", "recipient"),
        ("report to a bad address", format!("{GOOD_HEAD}[jobs.r]\nkind = \"report\"\nschedule = \"0 7 * * *\"\nto = [\"ops@x\", \"not an address\"]\n"), "7:16", "jobs.r.to[1]", "not an email address"),
        ("bad listen address", "[serve]\nlisten = \"everywhere\"\n".to_string(), "2:1", "serve.listen", "listen address"),
        ("syntax error", "[prometheus\nurl = 1\n".to_string(), "1:12", "(syntax)", "expected"),
        ("credentials over http to another machine", "[search]\nurl = \"http://es.example:9200\"\nusername = \"almanac\"\npassword = \"x\"\n".to_string(), "2:1", "search.url", "in clear"),
        ("password in a URL over http", "[prometheus]\nurl = \"http://u:p@prom.example:9090\"\n".to_string(), "2:1", "prometheus.url", "allow_insecure"),
        ("pushgateway login over http", "[pushgateway]\nurl = \"http://pg.example:9091\"\nusername = \"u\"\npassword = \"x\"\n".to_string(), "2:1", "pushgateway.url", "in clear"),
        ("API key that is no header value", "[search]\nurl = \"https://es.example:9200\"\napi_key = \"abc\\u0001def\"\n".to_string(), "3:1", "search.api_key", "header"),
        ("SMTP login without TLS", "[smtp]\nhost = \"mail.example\"\nfrom = \"a@b.c\"\ntls = \"none\"\nusername = \"u\"\npassword = \"x\"\n".to_string(), "4:1", "smtp.tls", "in clear"),
        ("bad Kubernetes service account", job("[jobs.a.kubernetes]\nservice_account = \"Almanac_Logs\"\n"), "8:1", "jobs.a.kubernetes.service_account", "DNS-1123"),
        ("bad Kubernetes memory quantity", job("[jobs.a.kubernetes]\nmemory_limit = \"256MB\"\n"), "8:1", "jobs.a.kubernetes.memory_limit", "memory quantity"),
        ("Kubernetes memory in millibytes", job("[jobs.a.kubernetes]\nmemory_request = \"500m\"\n"), "8:1", "jobs.a.kubernetes.memory_request", "thousandths of a byte"),
        ("Kubernetes memory request above the limit", job("[jobs.a.kubernetes]\nmemory_request = \"1Gi\"\nmemory_limit = \"512Mi\"\n"), "8:1", "jobs.a.kubernetes.memory_request", "above memory_limit"),
        ("report title with CR/LF (header injection)", format!("{GOOD_HEAD}[jobs.r]\nkind = \"report\"\nschedule = \"0 7 * * *\"\nto = [\"a@b.c\"]\ntitle = \"Daily\\r\\nBcc: evil@example.com\"\n"), "8:1", "jobs.r.title", "control characters"),
        ("report subject with LF", format!("{GOOD_HEAD}[jobs.r]\nkind = \"report\"\nschedule = \"0 7 * * *\"\nto = [\"a@b.c\"]\nsubject = \"\"\"{{title}}\nBcc: evil@example.com\"\"\"\n"), "8:1", "jobs.r.subject", "control characters"),
        ("unknown report period", format!("{GOOD_HEAD}[jobs.r]\nkind = \"report\"\nschedule = \"0 7 * * 1\"\nto = [\"a@b.c\"]\nperiod = \"fortnight\"\n"), "8:1", "jobs.r.period", "day, week or month"),
        ("SLO with both sli and events", format!("{GOOD_HEAD}[jobs.r]\nkind = \"report\"\nschedule = \"0 7 * * *\"\nto = [\"a@b.c\"]\n[[jobs.r.slos]]\nname = \"a\"\nobjective = 0.99\nwindow = \"30d\"\nsli = \"x\"\ngood = \"g\"\ntotal = \"t\"\n"), "13:1", "jobs.r.slos[0].good", "exclude each other"),
        ("SLO with good events only", format!("{GOOD_HEAD}[jobs.r]\nkind = \"report\"\nschedule = \"0 7 * * *\"\nto = [\"a@b.c\"]\n[[jobs.r.slos]]\nname = \"a\"\nobjective = 0.99\nwindow = \"30d\"\ngood = \"g\"\n"), "8:1", "jobs.r.slos[0].total", "both `good` and `total`"),
        ("SLO with half its rollup expressions", format!("{GOOD_HEAD}[jobs.r]\nkind = \"report\"\nschedule = \"0 7 * * *\"\nto = [\"a@b.c\"]\n[[jobs.r.slos]]\nname = \"a\"\nobjective = 0.99\nwindow = \"30d\"\ngood = \"g\"\ntotal = \"t\"\ntotal_rollup = \"tr\"\n"), "8:1", "jobs.r.slos[0].good_rollup", "go together"),
        ("SLO raw retention within the margin", format!("{GOOD_HEAD}[jobs.r]\nkind = \"report\"\nschedule = \"0 7 * * *\"\nto = [\"a@b.c\"]\nraw_retention = \"1d\"\n"), "8:1", "jobs.r.raw_retention", "margin"),
        ("report section title with CR", format!("{GOOD_HEAD}[jobs.r]\nkind = \"report\"\nschedule = \"0 7 * * *\"\nto = [\"a@b.c\"]\n[[jobs.r.sections]]\ntitle = \"A\\rB\"\n[[jobs.r.sections.panels]]\ntitle = \"p\"\nquery = \"up\"\n"), "9:1", "jobs.r.sections[0].title", "control characters"),
    ]
}

#[test]
fn bad_configs_exit_2_with_file_line_column_and_key() {
    let cases = cases();
    assert!(cases.len() >= 12);
    for (name, content, position, key, word) in cases {
        let workspace = Workspace::new();
        workspace.write("pw", "secret\n");
        let file = workspace.write("jobs.toml", &content);
        let result = workspace.almanac(&["validate"], &[]);
        assert_eq!(
            result.code(),
            2,
            "case {name:?}: expected exit 2\n{}",
            result.describe()
        );
        let stderr = result.stderr();
        let expected = format!("{}:{position}: {key}: ", file.display());
        assert!(
            stderr.contains(&expected),
            "case {name:?}: expected {expected:?} in stderr\n{}",
            result.describe()
        );
        assert!(
            stderr.contains(word),
            "case {name:?}: expected {word:?} in the message\n{}",
            result.describe()
        );
    }
}

#[test]
fn secrets_never_appear_in_errors() {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[smtp]\nhost = \"localhost\"\nfrom = \"a@b.c\"\npassword = \"${SMTP_PASSWORD}\"\n",
    );
    let result = workspace.almanac(&["validate"], &[("SMTP_PASSWORD", "hunter2-very-secret")]);
    result.expect_code(2);
    assert!(result.stderr().contains("smtp.username"), "{}", result.describe());
    assert!(!result.stderr().contains("hunter2"), "{}", result.describe());
}

#[test]
fn the_repository_jobs_toml_validates() {
    let config = support::repo().join("jobs.toml");
    let result = run(&["--config", config.to_str().unwrap(), "validate"], &[]);
    result.expect_code(0);
    assert!(result.stdout().contains("daily-report"), "{}", result.describe());
}

#[test]
fn unknown_job_is_a_usage_error() {
    let workspace = Workspace::new();
    workspace.write("jobs.toml", "[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n");
    let result = workspace.almanac(&["run", "nope"], &[]);
    result.expect_code(2);
    assert!(
        result.stderr().contains("no job named \"nope\""),
        "{}",
        result.describe()
    );
}

#[test]
fn cleartext_credentials_pass_to_loopback_or_with_allow_insecure() {
    let workspace = Workspace::new();
    for content in [
        "[search]\nurl = \"http://127.0.0.1:9200\"\nusername = \"u\"\npassword = \"x\"\n",
        "[search]\nurl = \"http://localhost:9200\"\napi_key = \"x\"\n",
        "[search]\nurl = \"http://es.example:9200\"\nusername = \"u\"\npassword = \"x\"\nallow_insecure = true\n",
        "[search]\nurl = \"https://es.example:9200\"\nusername = \"u\"\npassword = \"x\"\n",
        "[smtp]\nhost = \"127.0.0.1\"\nfrom = \"a@b.c\"\ntls = \"none\"\nusername = \"u\"\npassword = \"x\"\n",
        "[smtp]\nhost = \"mail.example\"\nfrom = \"a@b.c\"\ntls = \"none\"\nusername = \"u\"\npassword = \"x\"\nallow_insecure = true\n",
    ] {
        workspace.write(
            "jobs.toml",
            &format!("{content}[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n"),
        );
        workspace.almanac(&["validate"], &[]).expect_code(0);
    }
}
