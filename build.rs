//! Build information for `almanac --version`: the git commit and its date, from the
//! environment (ALMANAC_GIT_COMMIT, ALMANAC_BUILD_DATE: Docker builds without .git) or from
//! git, or "unknown" when neither is there.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=ALMANAC_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=ALMANAC_BUILD_DATE");
    // Re-run when HEAD moves (works in worktrees too, where .git is a file).
    for path in [
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["rev-parse", "--symbolic-full-name", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])),
    ]
    .into_iter()
    .flatten()
    {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let from_env = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    let commit = from_env("ALMANAC_GIT_COMMIT")
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let date = from_env("ALMANAC_BUILD_DATE")
        .or_else(|| git(&["log", "-1", "--format=%cs"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ALMANAC_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=ALMANAC_BUILD_DATE={date}");
}
