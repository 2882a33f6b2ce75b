//! The run lock: one object under the archive prefix created with `If-None-Match: *`, so two
//! runs against the same bucket/prefix never work at once. A lock past its expiry is taken over.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::clients::s3::ArchiveStore;
use crate::jobs::JobError;

pub const LOCK: &str = ".almanac-lock.json";

#[derive(Debug, Serialize, Deserialize)]
struct Body {
    job: String,
    run_id: String,
    host: String,
    /// Wall-clock seconds since the epoch: lock staleness is about real time, not `--now`.
    expires_at: u64,
}

/// A held lock; `release` deletes it if it is still ours.
pub struct RunLock {
    store: ArchiveStore,
    key: String,
    run_id: String,
}

fn wall_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl RunLock {
    /// Takes the lock for `ttl` (the job's timeout). Another live holder is a transient
    /// error: the runner retries after its backoff, by when the other run may be done.
    pub async fn acquire(store: &ArchiveStore, job: &str, run_id: &str, ttl: Duration) -> Result<Self, JobError> {
        let key = store.key(LOCK);
        let body = Body {
            job: job.to_string(),
            run_id: run_id.to_string(),
            host: std::env::var("HOSTNAME").unwrap_or_default(),
            expires_at: wall_secs() + ttl.as_secs().max(60),
        };
        let bytes = serde_json::to_vec(&body).map_err(JobError::fatal)?;
        for _ in 0..2 {
            if store.put(&key, bytes.clone().into(), true).await? {
                return Ok(Self {
                    store: store.clone(),
                    key,
                    run_id: run_id.to_string(),
                });
            }
            let holder = store
                .get_small(&key)
                .await?
                .and_then(|b| serde_json::from_slice::<Body>(&b).ok());
            match holder {
                Some(holder) if holder.expires_at > wall_secs() => {
                    return Err(JobError::transient(anyhow::anyhow!(
                        "another run ({} of job {} on {}) holds s3://{}/{key} for {} more seconds; nothing done",
                        holder.run_id,
                        holder.job,
                        if holder.host.is_empty() { "?" } else { &holder.host },
                        store.bucket,
                        holder.expires_at - wall_secs()
                    )));
                }
                _ => {
                    warn!(message = "taking over an expired or unreadable run lock", key = %key);
                    store.delete(&key).await?;
                }
            }
        }
        Err(JobError::transient(anyhow::anyhow!(
            "could not take the run lock s3://{}/{key}",
            store.bucket
        )))
    }

    pub async fn release(self) {
        let ours = match self.store.get_small(&self.key).await {
            Ok(Some(bytes)) => serde_json::from_slice::<Body>(&bytes).is_ok_and(|b| b.run_id == self.run_id),
            _ => false,
        };
        if ours && let Err(error) = self.store.delete(&self.key).await {
            warn!(message = "cannot release the run lock (it expires by itself)", %error);
        }
    }
}
