//! `almanac serve`: every enabled job on its cron schedule (tokio-cron-scheduler) in its time
//! zone, never two runs of one job at once, `/healthz` and `/metrics`, graceful shutdown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{Offset, TimeZone, Utc};
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use uuid::Uuid;

use crate::jobs::{Config, JobConfig, RunOptions};
use crate::metrics::Registry;
use crate::runner;

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Shared by the cron callbacks of all jobs.
struct Shared {
    config: Arc<Config>,
    metrics: Arc<Registry>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    accepting: AtomicBool,
    running: BTreeMap<String, AtomicBool>,
}

impl Shared {
    /// Called on each tick: starts a run unless one is still going or shutdown began.
    fn tick(self: &Arc<Self>, name: &str) {
        if !self.accepting.load(Ordering::SeqCst) {
            return;
        }
        let Some(flag) = self.running.get(name) else { return };
        if flag.swap(true, Ordering::SeqCst) {
            warn!(message = "previous run still going, skipping this tick", job = name);
            self.metrics.skipped(name);
            return;
        }
        let shared = Arc::clone(self);
        let name = name.to_string();
        self.tracker.spawn(async move {
            shared.metrics.set_running(&name, true);
            // Cleared on every way out, a panic of the job included: else it never runs again.
            let _running = Running {
                shared: Arc::clone(&shared),
                name: name.clone(),
            };
            let options = RunOptions::default();
            match runner::run_job(
                Arc::clone(&shared.config),
                &name,
                options,
                Utc::now(),
                shared.cancel.clone(),
            )
            .await
            {
                Ok(report) => {
                    // The registry, and the Pushgateway when one is configured, so the
                    // last success survives a restart of `serve`.
                    runner::record(&shared.config, Some(&shared.metrics), &report).await;
                }
                Err(message) => warn!(message = "cannot run job", job = %name, error = %message),
            }
        });
    }
}

/// A job's "running" flag and gauge, reset when the run's task ends however it ends.
struct Running {
    shared: Arc<Shared>,
    name: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.metrics.set_running(&self.name, false);
        if let Some(flag) = self.shared.running.get(&self.name) {
            flag.store(false, Ordering::SeqCst);
        }
    }
}

/// The UTC offset a job's time zone has right now. tokio-cron-scheduler fixes this offset
/// when a job is added, so jobs are re-added whenever it changes (DST).
fn current_offset(job: &JobConfig) -> i32 {
    job.timezone
        .0
        .offset_from_utc_datetime(&Utc::now().naive_utc())
        .fix()
        .local_minus_utc()
}

fn cron_job(shared: &Arc<Shared>, job: &JobConfig) -> anyhow::Result<Job> {
    let name = job.name.clone();
    let callback_shared = Arc::clone(shared);
    Job::new_async_tz(job.schedule.with_seconds(), job.timezone.0, move |_uuid, _lock| {
        let shared = Arc::clone(&callback_shared);
        let name = name.clone();
        Box::pin(async move { shared.tick(&name) })
    })
    .with_context(|| format!("cannot schedule job {} ({})", job.name, job.schedule.as_str()))
}

/// Runs until SIGTERM/SIGINT, then lets running jobs finish within the grace period.
pub async fn serve(config: Arc<Config>, listen: Option<String>) -> anyhow::Result<()> {
    let metrics = Arc::new(Registry::default());
    let shared = Arc::new(Shared {
        config: Arc::clone(&config),
        metrics: Arc::clone(&metrics),
        tracker: TaskTracker::new(),
        cancel: CancellationToken::new(),
        accepting: AtomicBool::new(true),
        running: config
            .jobs
            .keys()
            .map(|name| (name.clone(), AtomicBool::new(false)))
            .collect(),
    });

    let listen = listen.unwrap_or_else(|| config.serve.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let http_stop = CancellationToken::new();
    let http = tokio::spawn(serve_http(listener, Arc::clone(&metrics), http_stop.clone()));

    let mut scheduler = JobScheduler::new().await.context("cannot start the scheduler")?;
    let mut registered: BTreeMap<String, (Uuid, i32)> = BTreeMap::new();
    for job in config.jobs.values().filter(|job| job.enabled) {
        let id = scheduler
            .add(cron_job(&shared, job)?)
            .await
            .context("cannot add a job to the scheduler")?;
        registered.insert(job.name.clone(), (id, current_offset(job)));
    }
    scheduler.start().await.context("cannot start the scheduler")?;
    info!(message = "serving", listen = %address, jobs = registered.len());

    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut dst_check = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = &mut signal => break,
            _ = dst_check.tick() => {
                for job in config.jobs.values().filter(|job| job.enabled) {
                    let offset = current_offset(job);
                    let Some((id, registered_offset)) = registered.get(&job.name).copied() else { continue };
                    if offset != registered_offset {
                        info!(message = "time zone offset changed, rescheduling", job = %job.name, offset_seconds = offset);
                        let _ = scheduler.remove(&id).await;
                        let id = scheduler.add(cron_job(&shared, job)?).await.context("cannot re-add a job")?;
                        registered.insert(job.name.clone(), (id, offset));
                    }
                }
            }
        }
    }

    shared.accepting.store(false, Ordering::SeqCst);
    let _ = scheduler.shutdown().await;
    shared.tracker.close();
    let grace = config.serve.grace_period.as_std();
    let running = shared.tracker.len();
    info!(
        message = "shutting down: no new runs; waiting for running jobs",
        running,
        grace_seconds = grace.as_secs()
    );
    if tokio::time::timeout(grace, shared.tracker.wait()).await.is_err() {
        warn!(message = "grace period over, cancelling running jobs");
        shared.cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), shared.tracker.wait()).await;
    }
    http_stop.cancel();
    let _ = http.await;
    info!(message = "stopped");
    Ok(())
}

async fn serve_http(listener: tokio::net::TcpListener, metrics: Arc<Registry>, stop: CancellationToken) {
    use axum::routing::get;
    let app = axum::Router::new().route("/healthz", get(|| async { "ok\n" })).route(
        "/metrics",
        get(move || {
            let metrics = Arc::clone(&metrics);
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }
        }),
    );
    let server = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await });
    if let Err(error) = server.await {
        warn!(message = "metrics server stopped", %error);
    }
}
