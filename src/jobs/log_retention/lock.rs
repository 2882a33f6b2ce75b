//! The run lock: one object under the archive prefix, created with `If-None-Match: *`, taken
//! over when expired and renewed only with `If-Match` on its ETag, released only if still ours.
//! So of two runs (or a run and a restore) against one prefix, exactly one works at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tracing::{error, warn};

use crate::clients::s3::{ArchiveStore, Condition};
use crate::jobs::JobError;

pub const LOCK: &str = ".almanac-lock.json";
/// How long a lock holds without renewal: a crashed run blocks the next one this long at most.
pub const LEASE: Duration = Duration::from_secs(300);
/// How often a live run renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
struct Body {
    job: String,
    run_id: String,
    host: String,
    /// Wall-clock seconds since the epoch: lock staleness is about real time, not `--now`.
    expires_at: u64,
}

/// A held lock, renewed in the background until `release`.
pub struct RunLock {
    store: ArchiveStore,
    key: String,
    etag: Arc<Mutex<String>>,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

fn wall_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn body(job: &str, run_id: &str) -> Result<bytes::Bytes, JobError> {
    let body = Body {
        job: job.to_string(),
        run_id: run_id.to_string(),
        host: std::env::var("HOSTNAME").unwrap_or_default(),
        expires_at: wall_secs() + LEASE.as_secs(),
    };
    Ok(serde_json::to_vec(&body).map_err(JobError::fatal)?.into())
}

/// Refuses an S3 server that ignores `If-None-Match` (it would let two runs hold the lock
/// and two manifests overwrite each other): writes a probe object twice.
pub async fn check_conditional_writes(store: &ArchiveStore, run_id: &str) -> Result<(), JobError> {
    let key = store.key(&format!(".almanac-probe-{run_id}"));
    let first = store.put_if(&key, "probe".into(), Condition::Absent).await?;
    let second = store.put_if(&key, "probe".into(), Condition::Absent).await?;
    let _ = store.delete(&key).await;
    match (first, second) {
        (Some(_), None) => Ok(()),
        _ => Err(JobError::fatal(anyhow::anyhow!(
            "the S3 server at s3://{}/ does not honour If-None-Match (a second create-only write \
             succeeded): almanac cannot lock runs nor protect manifests there; nothing done",
            store.bucket
        ))),
    }
}

impl RunLock {
    /// Takes the lock. Another live holder is a transient error: the runner retries after
    /// its backoff, by when the other run may be done.
    pub async fn acquire(store: &ArchiveStore, job: &str, run_id: &str) -> Result<Self, JobError> {
        check_conditional_writes(store, run_id).await?;
        let key = store.key(LOCK);
        let mut etag = store.put_if(&key, body(job, run_id)?, Condition::Absent).await?;
        if etag.is_none() {
            let holder = store.get_versioned(&key).await?;
            match holder {
                // Gone meanwhile: one more create-only attempt.
                None => etag = store.put_if(&key, body(job, run_id)?, Condition::Absent).await?,
                Some((bytes, current)) => {
                    let holder = serde_json::from_slice::<Body>(&bytes).ok();
                    if let Some(holder) = holder.as_ref().filter(|h| h.expires_at > wall_secs()) {
                        return Err(JobError::transient(anyhow::anyhow!(
                            "another run ({} of job {} on {}) holds s3://{}/{key} for {} more seconds; nothing done",
                            holder.run_id,
                            holder.job,
                            if holder.host.is_empty() { "?" } else { &holder.host },
                            store.bucket,
                            holder.expires_at - wall_secs()
                        )));
                    }
                    warn!(message = "taking over an expired or unreadable run lock", key = %key);
                    // Only the version we judged expired is replaced: of two runs taking it
                    // over at once, one gets 412 here.
                    etag = store
                        .put_if(&key, body(job, run_id)?, Condition::Matches(&current))
                        .await?;
                }
            }
        }
        let Some(etag) = etag else {
            return Err(JobError::transient(anyhow::anyhow!(
                "another run holds s3://{}/{key} (it took the lock first); nothing done",
                store.bucket
            )));
        };
        let etag = Arc::new(Mutex::new(etag));
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn(renew(
            store.clone(),
            key.clone(),
            job.to_string(),
            run_id.to_string(),
            etag.clone(),
            lost.clone(),
        ));
        Ok(Self {
            store: store.clone(),
            key,
            etag,
            lost,
            renewer,
        })
    }

    /// An error when the lease could not be renewed: another run may be working, so no
    /// destructive step may start.
    pub fn check(&self) -> Result<(), JobError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(JobError::fatal(anyhow::anyhow!(
                "the run lock s3://{}/{} was lost (lease not renewed); stopping before any further change",
                self.store.bucket,
                self.key
            )));
        }
        Ok(())
    }

    /// Deletes the lock if it is still the version this run wrote.
    pub async fn release(self) {
        self.renewer.abort();
        let _ = self.renewer.await;
        if self.lost.load(Ordering::SeqCst) {
            return;
        }
        let etag = self.etag.lock().await.clone();
        match self.store.delete_if(&self.key, &etag).await {
            Ok(true) => {}
            Ok(false) => warn!(message = "the run lock changed hands before release; left as it is", key = %self.key),
            Err(error) => warn!(message = "cannot release the run lock (it expires by itself)", %error),
        }
    }
}

async fn renew(
    store: ArchiveStore,
    key: String,
    job: String,
    run_id: String,
    etag: Arc<Mutex<String>>,
    lost: Arc<AtomicBool>,
) {
    let mut renewed_at = std::time::Instant::now();
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let Ok(bytes) = body(&job, &run_id) else { continue };
        let mut current = etag.lock().await;
        match store.put_if(&key, bytes, Condition::Matches(&current)).await {
            Ok(Some(next)) => {
                *current = next;
                renewed_at = std::time::Instant::now();
            }
            Ok(None) => {
                error!(message = "the run lock was taken by another run", key = %key);
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // A failed renewal is retried while the lease lasts.
            Err(error) if renewed_at.elapsed() + RENEW_EVERY < LEASE => {
                warn!(message = "cannot renew the run lock, will retry", %error)
            }
            Err(error) => {
                error!(message = "the run lock lease ran out without renewal", %error);
                lost.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
}
