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
    // Tests build from a git checkout: the commit and its date must be there, and be HEAD's.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(head.status.success(), "the tests run from a git checkout");
    assert_eq!(commit, String::from_utf8_lossy(&head.stdout).trim());
    assert!(chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(), "{date}");
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
