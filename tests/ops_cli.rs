//! Operator ergonomics: `--version` with build information, `--quiet` runs that print
//! nothing on success and still report failures.

mod support;

use support::Workspace;

#[test]
fn version_shows_commit_and_date() {
    let result = support::run(&["--version"], &[]);
    result.expect_code(0);
    let line = result.stdout();
    let rest = line
        .trim()
        .strip_prefix(concat!("almanac ", env!("CARGO_PKG_VERSION"), " (commit "))
        .unwrap_or_else(|| panic!("{}", result.describe()));
    let (commit, date) = rest.trim_end_matches(')').split_once(", ").unwrap();
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    assert!(
        date == "unknown" || chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
        "{date}"
    );
}

#[test]
fn quiet_runs_print_nothing_on_success_but_report_failures() {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[jobs.ok]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n\n[jobs.bad]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\nfail = true\n",
    );
    let env: [(&str, &str); 0] = [];
    let ok = workspace.almanac(&["--quiet", "run", "ok"], &env);
    ok.expect_code(0);
    assert_eq!(ok.stdout(), "", "{}", ok.describe());
    assert!(
        !ok.stderr().contains("run finished"),
        "info logs with --quiet\n{}",
        ok.describe()
    );
    let loud = workspace.almanac(&["run", "ok"], &env);
    assert!(loud.stdout().contains("ok: success"), "{}", loud.describe());
    let bad = workspace.almanac(&["--quiet", "run", "bad"], &env);
    bad.expect_code(1);
    assert!(bad.stdout().contains("configured to fail"), "{}", bad.describe());
    assert!(
        bad.stderr().contains("run failed"),
        "errors still logged\n{}",
        bad.describe()
    );
}
