//! Shared by the integration tests: run the real `almanac` binary, write configs into a
//! temporary directory, and reach the real servers the harness started (scripts/harness).
#![allow(dead_code)]

pub mod proxy;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A value the harness exported (`ALMANAC_TEST_*`). Integration tests need their servers:
/// a missing one is a failure with instructions, never a silent skip.
pub fn harness_env(key: &str) -> String {
    if let Ok(value) = std::env::var(key) {
        return value;
    }
    // Fall back to the env file `scripts/harness/up` writes.
    let dir = std::env::var("ALMANAC_HARNESS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".harness/state"));
    if let Ok(text) = std::fs::read_to_string(dir.join("env")) {
        for line in text.lines() {
            let line = line.trim().trim_start_matches("export ");
            if let Some((name, value)) = line.split_once('=')
                && name == key
            {
                return value.trim_matches('"').trim_matches('\'').to_string();
            }
        }
    }
    panic!("{key} is not set: start the test servers with `scripts/harness/up` (or run ./scripts/test)");
}

/// The output of one almanac invocation, printed in full when an assertion fails.
pub struct Run {
    pub command: String,
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "unexpected exit code\n{}", self.describe());
        self
    }
}

/// A command for the almanac binary built by cargo, with a clean environment for the
/// variables almanac reads.
pub fn almanac() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_almanac"));
    command
        .env_remove("ALMANAC_CONFIG")
        .env_remove("ALMANAC_NOW")
        .env("ALMANAC_LOG", "info");
    command
}

/// Runs almanac with `args` and captures everything.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = almanac();
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("cannot start the almanac binary");
    Run {
        command: format!("almanac {}", args.join(" ")),
        output,
    }
}

/// A temporary directory holding a jobs file.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Writes `name` with `content` and returns its path.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, content).unwrap();
        path
    }
    /// Runs almanac with `--config <dir>/jobs.toml` prepended.
    pub fn almanac(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let config = self.dir.path().join("jobs.toml");
        let mut all = vec!["--config", config.to_str().unwrap()];
        all.extend_from_slice(args);
        run(&all, env)
    }
}

/// A private server instance started through the harness' own service script, for tests
/// that change or stop the server (fault tests, TSDB deletes). Stopped on drop.
pub struct PrivateServer {
    pub name: String,
    pub state: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
}

impl PrivateServer {
    /// `scripts/harness/svc/<name> start <tmpdir>` with extra environment (e.g.
    /// `ALMANAC_SEED_OPENMETRICS` for Prometheus).
    pub fn start(name: &str, extra_env: &[(&str, &str)]) -> Self {
        let state = tempfile::tempdir().expect("tempdir");
        let script = repo().join("scripts/harness/svc").join(name);
        let mut command = Command::new(&script);
        command.arg("start").arg(state.path());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "{} start failed:\n{}\n{}",
            name,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let env_file = state.path().join(format!("{name}.env"));
        let text = std::fs::read_to_string(&env_file).unwrap_or_else(|e| panic!("{}: {e}", env_file.display()));
        let env = text
            .lines()
            .filter_map(|line| line.trim().trim_start_matches("export ").split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').trim_matches('\'').to_string()))
            .collect();
        Self {
            name: name.to_string(),
            state,
            env,
        }
    }

    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{} did not export {key}: {:?}", self.name, self.env))
    }

    /// Stops the server now (to test what a job does when it dies).
    pub fn stop(&self) {
        let script = repo().join("scripts/harness/svc").join(&self.name);
        let _ = Command::new(script).arg("stop").arg(self.state.path()).output();
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A name no other test (or earlier run) uses: `tag` after a random lowercase prefix, valid as
/// an index, bucket, job or metric-label value.
pub fn unique(tag: &str) -> String {
    format!("t{}{tag}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// The one file with extension `ext` in `dir`.
pub fn only_file(dir: &Path, ext: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    assert_eq!(found.len(), 1, "one .{ext} in {}: {found:?}", dir.display());
    found[0].clone()
}

/// A private Prometheus whose TSDB holds `openmetrics` (backfilled with promtool before it
/// starts). The directory holds the seed file; keep it while the server runs.
pub fn seeded_prometheus(openmetrics: &str) -> (PrivateServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.om");
    std::fs::write(&path, openmetrics).unwrap();
    let server = PrivateServer::start("prometheus", &[("ALMANAC_SEED_OPENMETRICS", path.to_str().unwrap())]);
    (server, dir)
}
