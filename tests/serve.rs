//! `almanac serve`: a 1-second schedule runs repeatedly, a slow job is never run twice at
//! once, SIGTERM waits for the running job, and /healthz and /metrics answer.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::Workspace;

struct Serve {
    child: Child,
    events: mpsc::Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
}

impl Serve {
    fn start(workspace: &Workspace) -> Self {
        let config = workspace.path().join("jobs.toml");
        let mut child = support::almanac()
            .args([
                "--config",
                config.to_str().unwrap(),
                "--log-format",
                "json",
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start almanac serve");
        let stderr = child.stderr.take().unwrap();
        let (sender, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && sender.send(event).is_err()
                {
                    break;
                }
            }
        });
        Self {
            child,
            events,
            seen: Vec::new(),
        }
    }

    /// Waits for an event with `message`, returning it.
    fn wait_for(&mut self, message: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if event["message"] == message {
                        return event;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no {message:?} event within {timeout:?}; saw {:#?}", self.seen);
    }

    fn collect_for(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Ok(event) = self.events.recv_timeout(left) {
                self.seen.push(event);
            }
        }
    }

    fn terminate(&mut self) -> (i32, Duration) {
        let started = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        // Drain what is left.
        while let Ok(event) = self.events.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(event);
        }
        (code, started.elapsed())
    }

    fn count(&self, message: &str) -> usize {
        self.seen.iter().filter(|e| e["message"] == message).count()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[test]
fn one_second_schedule_runs_repeatedly_and_serves_metrics() {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[jobs.tick]\nkind = \"noop\"\nschedule = \"* * * * * *\"\n",
    );
    let mut serve = Serve::start(&workspace);
    let serving = serve.wait_for("serving", Duration::from_secs(20));
    let address = serving["listen"].as_str().unwrap().to_string();
    serve.collect_for(Duration::from_millis(4_500));
    let runs = serve.count("run finished");
    assert!((3..=6).contains(&runs), "expected about 4 runs in 4.5 s, got {runs}");

    let health = reqwest::blocking::get(format!("http://{address}/healthz")).unwrap();
    assert_eq!(health.status(), 200);
    let metrics = reqwest::blocking::get(format!("http://{address}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("almanac_job_runs_total{")
                && l.contains("job_name=\"tick\"")
                && l.contains("outcome=\"success\"")
        })
        .unwrap_or_else(|| panic!("no run counter in\n{metrics}"));
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value >= 3.0, "{line}");
    assert!(
        metrics.contains("almanac_job_last_success_timestamp_seconds{job_name=\"tick\"}"),
        "{metrics}"
    );

    let (code, _) = serve.terminate();
    assert_eq!(code, 0);
    assert_eq!(serve.count("stopped"), 1);
}

#[test]
fn a_slow_job_is_never_run_twice_at_once() {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[jobs.slow]\nkind = \"noop\"\nschedule = \"* * * * * *\"\nsleep = \"2s\"\n",
    );
    let mut serve = Serve::start(&workspace);
    serve.wait_for("run started", Duration::from_secs(20));
    serve.collect_for(Duration::from_millis(5_500));
    serve.terminate();
    // Replay the events: at most one run in progress at any time.
    let mut in_progress = 0;
    let mut max_in_progress = 0;
    for event in &serve.seen {
        match event["message"].as_str() {
            Some("run started") => in_progress += 1,
            Some("run finished") | Some("run failed") => in_progress -= 1,
            _ => {}
        }
        max_in_progress = max_in_progress.max(in_progress);
    }
    assert_eq!(max_in_progress, 1, "{:#?}", serve.seen);
    assert!(
        serve.count("previous run still going, skipping this tick") >= 2,
        "{:#?}",
        serve.seen
    );
    assert!(serve.count("run finished") >= 2);
}

#[test]
fn sigterm_waits_for_the_running_job() {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[serve]\ngrace_period = \"30s\"\n\n[jobs.slow]\nkind = \"noop\"\nschedule = \"* * * * * *\"\nsleep = \"3s\"\n",
    );
    let mut serve = Serve::start(&workspace);
    serve.wait_for("run started", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    let (code, waited) = serve.terminate();
    assert_eq!(code, 0);
    assert!(
        waited >= Duration::from_millis(2_000),
        "exited after {waited:?}, before the 3 s run could finish"
    );
    assert_eq!(
        serve.count("run started"),
        serve.count("run finished"),
        "{:#?}",
        serve.seen
    );
    assert_eq!(serve.count("run failed"), 0, "{:#?}", serve.seen);
}
