//! The cold step: write block (by group, `group.rs`) → count → export (`export.rs`) → manifest
//! LAST → verify that the archive restores → re-read the index and only then delete it (by
//! batch, `delete_queue.rs`). Every failure before the delete leaves the index in the cluster.

use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use tokio::sync::{OnceCell, SemaphorePermit};
use tracing::{info, warn};

use super::checks::{self, IndexNow};
use super::delete_queue::{DeleteQueue, Deleted};
use super::export::{self, ExportedPart, hex};
use super::folders::{Folder, Folders};
use super::group::{Facts, Groups};
use super::manifest::{self, Manifest, TimeRange};
use super::ndjson::PartChecker;
use super::{Settings, Verify};
use crate::clients::s3::ArchiveStore;
use crate::clients::search::{ClusterInfo, SearchClient};
use crate::jobs::{JobContext, JobError};

#[derive(Debug, Default)]
pub struct ArchiveReport {
    pub docs: u64,
    pub bytes: u64,
    /// The archive was already complete (an earlier run crashed before deleting the index).
    pub resumed: bool,
}

/// What the archives of one run share: the clients, the write-block groups, the delete
/// queue and the cluster's identity (read once).
pub struct Shared<'a> {
    pub search: &'a SearchClient,
    pub store: &'a ArchiveStore,
    pub groups: &'a Groups,
    /// What each index's S3 folder held when the run's work started.
    pub folders: Folders,
    pub deletes: DeleteQueue,
    pub cluster: OnceCell<ClusterInfo>,
}

impl<'a> Shared<'a> {
    pub fn new(
        search: &'a SearchClient,
        store: &'a ArchiveStore,
        (groups, folders): (&'a Groups, Folders),
        deletes: DeleteQueue,
    ) -> Self {
        Self {
            search,
            store,
            groups,
            folders,
            deletes,
            cluster: OnceCell::new(),
        }
    }
}

fn fatal(message: String) -> JobError {
    JobError::fatal(anyhow::anyhow!(message))
}

/// Archives `index`, verifies the archive and deletes the index. Safe to rerun at any point.
/// `slot` (the run's concurrency) is given back once the archive is verified, before the
/// index waits for its delete.
pub async fn archive_index(
    ctx: &JobContext,
    settings: &Settings,
    shared: &Shared<'_>,
    slot: Option<SemaphorePermit<'_>>,
    index: &str,
    date: NaiveDate,
) -> Result<ArchiveReport, JobError> {
    let search = shared.search;
    let facts = shared.groups.claim(search, index).await?;
    let was_blocked = facts.was_blocked;
    let result = archive_blocked(ctx, settings, shared, slot, index, date, facts).await;
    if result.is_err() && !was_blocked && search.exists(index).await.unwrap_or(false) {
        // Leave the index as the run found it: writable again.
        if let Err(error) = search
            .put_settings(index, &serde_json::json!({"index.blocks.write": null}))
            .await
        {
            warn!(message = "cannot lift the write block set by this run", index, %error);
        }
    }
    result
}

async fn archive_blocked(
    ctx: &JobContext,
    settings: &Settings,
    shared: &Shared<'_>,
    slot: Option<SemaphorePermit<'_>>,
    index: &str,
    date: NaiveDate,
    facts: Facts,
) -> Result<ArchiveReport, JobError> {
    let (search, store) = (shared.search, shared.store);
    // Fixed costs per index (count, manifest read or folder cleanup as listed at the start of
    // the work, time range), logged apart from the export so many small indices show them; the
    // group did the block, refresh, settings and mappings.
    let prepared = std::time::Instant::now();
    let count = search.count(index).await?;
    let folder = shared.folders.take(index);
    let existing = match folder.manifest {
        true => manifest::read(store, index).await?,
        false => None,
    };
    if let Some(existing) = existing {
        info!(
            message = "archive already complete, verifying it before deleting the index",
            index
        );
        // Checked first so that an archive of another index of this name is never read as ours.
        checks::may_delete(
            index,
            &IndexNow {
                uuid: facts.uuid.clone(),
                write_blocked: true,
                count,
            },
            existing.index_uuid.as_deref(),
            existing.doc_count,
        )
        .map_err(fatal)?;
        verify_by_download(store, &existing, count).await?;
        drop(slot);
        let deleted = delete_checked(shared, index, &existing).await?;
        log_deleted(index, count, 0, deleted);
        return Ok(ArchiveReport {
            docs: count,
            bytes: 0,
            resumed: true,
        });
    }
    clean_folder(store, folder).await?;
    let Facts {
        uuid,
        settings: index_settings,
        mappings,
        min_max,
        ..
    } = facts;
    if let Some(loss) = checks::source_loss(&mappings, &index_settings)
        && !settings.allow_rebuilt_source
    {
        return Err(fatal(format!(
            "{index}: {loss}; index kept (set allow_rebuilt_source = true to archive it anyway)"
        )));
    }
    let time_range = match min_max {
        Some((min, max)) => Some(TimeRange {
            field: settings.timestamp_field.clone(),
            min,
            max,
        }),
        None => time_range(search, index, &settings.timestamp_field).await,
    };
    // Read once per run; a failed read is tried again by the next index.
    let cluster = match shared.cluster.get_or_try_init(|| search.cluster()).await {
        Ok(cluster) => cluster.clone(),
        Err(_) => ClusterInfo::default(),
    };
    let bar = crate::output::documents_bar(ctx.options.progress, index, count);
    let shards = index_settings
        .get("index.number_of_shards")
        .and_then(|v| v.as_str())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let slices = export::scroll_slices(settings.slices, shards, count);
    let prepare_seconds = prepared.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let parts = export::export(settings, search, store, index, count, slices, bar.clone(), &ctx.cancel).await;
    bar.finish_and_clear();
    let exported = parts?;
    info!(
        message = "index exported and its parts checked",
        index,
        docs = count,
        parts = exported.len(),
        slices,
        compressed_bytes = exported.iter().map(|p| p.part.size).sum::<u64>(),
        prepare_seconds,
        seconds = started.elapsed().as_secs_f64()
    );
    let parts: Vec<_> = exported.iter().map(|p| p.part.clone()).collect();
    let docs: u64 = parts.iter().map(|p| p.docs).sum();
    if docs != count {
        return Err(fatal(format!(
            "{index}: exported {docs} documents but the index counts {count}; no manifest written, index kept"
        )));
    }
    let bytes = parts.iter().map(|p| p.size).sum();
    let manifest = Manifest {
        format: manifest::FORMAT,
        index: index.to_string(),
        date,
        doc_count: count,
        parts,
        mappings,
        settings: index_settings,
        time_range,
        compression: "gzip".into(),
        line_format: manifest::LINE_FORMAT.into(),
        archived_at: ctx.now,
        run_id: ctx.run_id.clone(),
        tool: format!("almanac {}", crate::VERSION),
        source_cluster: cluster.engine(),
        index_uuid: Some(uuid),
        cluster_uuid: Some(cluster.cluster_uuid.clone()),
        cluster_name: Some(cluster.cluster_name.clone()),
        job: Some(ctx.job.name.clone()),
        pattern: Some(settings.pattern.clone()),
    };
    let started = std::time::Instant::now();
    let manifest = if manifest::write_if_absent(store, &manifest).await? {
        verify_uploaded(store, &manifest, &exported).await?;
        manifest
    } else {
        warn!(
            message = "a manifest appeared meanwhile (another run?); verifying that one",
            index
        );
        let other = manifest::read(store, index)
            .await?
            .ok_or_else(|| fatal(format!("{index}: manifest vanished; index kept")))?;
        verify_by_download(store, &other, count).await?;
        other
    };
    info!(
        message = "archive verified",
        index,
        seconds = started.elapsed().as_secs_f64()
    );
    if settings.verify == Verify::Download {
        verify_by_download(store, &manifest, count).await?;
    }
    drop(slot);
    let deleted = delete_checked(shared, index, &manifest).await?;
    log_deleted(index, count, bytes, deleted);
    Ok(ArchiveReport {
        docs: count,
        bytes,
        resumed: false,
    })
}

/// Queues the index for its delete: the queue re-reads it right before deleting it (same
/// UUID as the manifest's, still write-blocked, same `_count`) and deletes only then.
async fn delete_checked(shared: &Shared<'_>, index: &str, manifest: &Manifest) -> Result<Deleted, JobError> {
    shared
        .deletes
        .delete(index, manifest.index_uuid.as_deref(), manifest.doc_count)
        .await
}

/// `delete_seconds`: the index's share of its delete pass (re-read, DELETE, read back), so
/// that summing it over indices gives the time spent deleting.
fn log_deleted(index: &str, docs: u64, bytes: u64, deleted: Deleted) {
    info!(
        message = "index archived and deleted",
        index,
        docs,
        bytes,
        delete_seconds = deleted.share_seconds,
        delete_wait_seconds = deleted.waited_seconds,
        delete_batch = deleted.batch
    );
}

/// Before a fresh export: aborts dangling multipart uploads and removes leftover parts of
/// an earlier attempt (there is no manifest, so they belong to nothing), as the folder was
/// listed under the lock when the run's work started. A manifest written since by anyone
/// else still wins: ours is written only if none exists.
async fn clean_folder(store: &ArchiveStore, folder: Folder) -> Result<(), JobError> {
    for (key, upload_id) in folder.uploads {
        info!(message = "aborting a dangling multipart upload", key = %key);
        store.abort(&key, &upload_id).await?;
    }
    for key in folder.objects {
        store.delete(&key).await?;
    }
    Ok(())
}

/// Checks a fresh archive whose parts were parsed while they uploaded: each part exists with
/// the size and the ETag (MD5 of the bytes hashed) expected; where the ETag cannot tell (SSE-KMS,
/// another S3 implementation), the part is read back in full instead.
async fn verify_uploaded(store: &ArchiveStore, manifest: &Manifest, exported: &[ExportedPart]) -> Result<(), JobError> {
    let index = &manifest.index;
    manifest
        .check()
        .map_err(|m| fatal(format!("{index}: manifest inconsistent: {m}; index kept")))?;
    for part in exported {
        let key = manifest::part_key(store, index, &part.part.name);
        let head = store
            .head(&key)
            .await?
            .ok_or_else(|| fatal(format!("{index}: part {key} is missing; index kept")))?;
        if head.size != part.part.size {
            return Err(fatal(format!(
                "{index}: part {key} has {} bytes, {} were uploaded; index kept",
                head.size, part.part.size
            )));
        }
        let etag = head.etag.as_deref().unwrap_or_default().trim_matches('"');
        if etag != part.expected_etag {
            info!(message = "the ETag does not prove the part's bytes; reading it back", key = %key, etag);
            verify_part(store, &key, &part.part).await?;
        }
    }
    Ok(())
}

/// Proves an archive restores by reading it all back: every part's sha-256, every line
/// decompressed and parsed, line counts against the manifest and the index's `_count`.
pub async fn verify_by_download(store: &ArchiveStore, manifest: &Manifest, count: u64) -> Result<(), JobError> {
    let index = &manifest.index;
    manifest
        .check()
        .map_err(|m| fatal(format!("{index}: manifest inconsistent: {m}; index kept")))?;
    if manifest.doc_count != count {
        return Err(fatal(format!(
            "{index}: the archive holds {} documents, the index {count}; index kept, archive left as it is",
            manifest.doc_count
        )));
    }
    for part in &manifest.parts {
        let key = manifest::part_key(store, index, &part.name);
        verify_part(store, &key, part).await?;
    }
    Ok(())
}

async fn verify_part(store: &ArchiveStore, key: &str, part: &manifest::Part) -> Result<(), JobError> {
    let mut body = store.get_stream(key).await?;
    let mut sha = Sha256::new();
    let mut checker = PartChecker::default();
    let mut size = 0u64;
    let mut bad = None;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| JobError::transient(anyhow::anyhow!("reading s3://{}/{key}: {e}", store.bucket)))?
    {
        size += chunk.len() as u64;
        sha.update(&chunk);
        if bad.is_none()
            && let Err(error) = tokio::task::block_in_place(|| checker.update(&chunk))
        {
            bad = Some(error);
        }
    }
    let digest = hex(&sha.finalize());
    if size != part.size || digest != part.sha256 {
        return Err(fatal(format!(
            "part s3://{}/{key}: {size} bytes with sha-256 {digest}, manifest says {} bytes with {}; index kept",
            store.bucket, part.size, part.sha256
        )));
    }
    let lines = match bad {
        Some(error) => Err(error),
        None => checker.finish(),
    }
    .map_err(|e| {
        fatal(format!(
            "part s3://{}/{key} would not restore: {e}; index kept",
            store.bucket
        ))
    })?;
    if lines != part.docs {
        return Err(fatal(format!(
            "part s3://{}/{key}: {lines} lines, manifest says {}; index kept",
            store.bucket, part.docs
        )));
    }
    Ok(())
}

async fn time_range(search: &SearchClient, index: &str, field: &str) -> Option<TimeRange> {
    let (min, max) = search.min_max(index, field).await.ok()?;
    Some(TimeRange {
        field: field.to_string(),
        min,
        max,
    })
}
