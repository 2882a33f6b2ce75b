//! The export: a `_doc`-sorted (optionally sliced) scroll streamed into gzip NDJSON parts by
//! multipart upload. Each part is hashed (sha-256, per-chunk MD5) and decompressed and parsed
//! line by line *while* it uploads, so verification needs no second read of what was written.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use md5::Md5;
use sha2::Digest;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::Settings;
use super::manifest::Part;
use super::part::PartWriter;
use crate::clients::s3::ArchiveStore;
use crate::clients::search::{ScrollPage, SearchClient};
use crate::jobs::JobError;

/// Chunks of one part uploading while the next is compressed.
pub(super) const IN_FLIGHT: usize = 2;

pub(super) fn fatal(message: String) -> JobError {
    JobError::fatal(anyhow::anyhow!(message))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ETag S3 gives an object completed from these part MD5s: `md5(md5s)-N`.
pub fn multipart_etag(md5s: &[[u8; 16]]) -> String {
    let mut all = Md5::new();
    for md5 in md5s {
        all.update(md5);
    }
    format!("{}-{}", hex(&all.finalize()), md5s.len())
}

/// A part as exported: what the manifest records, and the ETag S3 should report for it.
#[derive(Debug, Clone)]
pub struct ExportedPart {
    pub part: Part,
    pub expected_etag: String,
}

/// How many slices the export scroll uses. Automatic (`configured` = 0): one per primary
/// shard (at most 8), none for small indices. A slice of a shard costs a filter over every
/// document of that shard, so more slices than shards make the read slower, not faster:
/// measured on one shard, 1 M documents, 2 slices took 1.75× the time of one scroll.
pub fn scroll_slices(configured: u32, primary_shards: u32, docs: u64) -> u32 {
    match configured {
        0 if docs < 100_000 => 1,
        0 => primary_shards.clamp(1, 8),
        n => n,
    }
}

/// Exports every document, slice by slice in parallel; returns the parts in name order.
/// On any failure or cancellation every slice stops, and every multipart upload under the
/// index's folder is aborted before this returns: nothing half-written stays behind.
#[allow(clippy::too_many_arguments)]
pub async fn export(
    settings: &Settings,
    search: &SearchClient,
    store: &ArchiveStore,
    index: &str,
    count: u64,
    slices: u32,
    bar: indicatif::ProgressBar,
    cancel: &CancellationToken,
) -> Result<Vec<ExportedPart>, JobError> {
    tracing::debug!(index, count, slices, "exporting");
    let raw_total = Arc::new(AtomicU64::new(0));
    let started = std::time::Instant::now();
    let stop = cancel.child_token();
    let mut tasks = tokio::task::JoinSet::new();
    for slice in 0..slices {
        let job = SliceJob {
            settings: settings.clone(),
            search: search.clone(),
            store: store.clone(),
            index: index.to_string(),
            slice,
            slices,
            bar: bar.clone(),
            raw_total: raw_total.clone(),
            started,
            stop: stop.clone(),
        };
        tasks.spawn(job.run());
    }
    let mut parts = Vec::new();
    let mut first_error: Option<JobError> = None;
    while let Some(joined) = tasks.join_next().await {
        let error = match joined {
            Ok(Ok(mut slice_parts)) => {
                parts.append(&mut slice_parts);
                continue;
            }
            Ok(Err(error)) => error,
            Err(join) => fatal(format!("{index}: export task failed: {join}")),
        };
        // The other slices see the token, abort their uploads and return.
        stop.cancel();
        if first_error.is_none() || matches!(first_error, Some(JobError::Cancelled)) {
            first_error = Some(error);
        }
    }
    if let Some(error) = first_error {
        abort_uploads(store, index).await;
        return Err(if cancel.is_cancelled() {
            JobError::Cancelled
        } else {
            error
        });
    }
    parts.sort_by(|a, b| a.part.name.cmp(&b.part.name));
    Ok(parts)
}

/// Aborts every multipart upload under the index's folder (all pages of the listing).
pub async fn abort_uploads(store: &ArchiveStore, index: &str) {
    let folder = store.key(&format!("{index}/"));
    match store.dangling_uploads(&folder).await {
        Ok(uploads) => {
            for (key, upload_id) in uploads {
                if let Err(error) = store.abort(&key, &upload_id).await {
                    warn!(message = "cannot abort a multipart upload (the next run will)", %error);
                }
            }
        }
        Err(error) => warn!(message = "cannot list multipart uploads (the next run will)", %error),
    }
}

struct SliceJob {
    settings: Settings,
    search: SearchClient,
    store: ArchiveStore,
    index: String,
    slice: u32,
    slices: u32,
    bar: indicatif::ProgressBar,
    raw_total: Arc<AtomicU64>,
    started: std::time::Instant,
    stop: CancellationToken,
}

/// Checks a scroll page is complete: every shard answered.
fn check_page(index: &str, page: &ScrollPage) -> Result<(), JobError> {
    match page.shards {
        Some(shards) => shards
            .check(&format!("scroll of {index}"))
            .map_err(|m| fatal(format!("{m}; index kept"))),
        None => Err(fatal(format!(
            "scroll of {index}: no _shards in the answer; index kept"
        ))),
    }
}

impl SliceJob {
    async fn run(self) -> Result<Vec<ExportedPart>, JobError> {
        let keep_alive = format!("{}s", self.settings.scroll_keep_alive.as_std().as_secs().max(1));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<ScrollPage>(1);
        let fetcher = {
            let search = self.search.clone();
            let index = self.index.clone();
            let size = self.settings.scroll_size;
            let slice = (self.slice, self.slices);
            tokio::spawn(async move {
                let mut last_id: Option<String> = None;
                let result: Result<(), JobError> = async {
                    let mut page = search.scroll_start(&index, size, &keep_alive, Some(slice)).await?;
                    loop {
                        check_page(&index, &page)?;
                        last_id = page.scroll_id.clone();
                        let done = page.hits.hits.is_empty();
                        if tx.send(page).await.is_err() || done {
                            return Ok(());
                        }
                        let Some(id) = last_id.as_deref() else { return Ok(()) };
                        page = search.scroll_next(id, &keep_alive).await?;
                    }
                }
                .await;
                if let Some(id) = last_id {
                    let _ = search.clear_scroll(&id).await;
                }
                result
            })
        };
        let mut parts = Vec::new();
        let mut writer: Option<PartWriter> = None;
        let mut seq = 0;
        let result: Result<(), JobError> = async {
            loop {
                let page = tokio::select! {
                    page = rx.recv() => page,
                    _ = self.stop.cancelled() => return Err(JobError::Cancelled),
                };
                let Some(page) = page else { break };
                if page.hits.hits.is_empty() {
                    break;
                }
                if writer.is_none() {
                    let name = format!("part-{:03}-{seq:05}.ndjson.gz", self.slice);
                    seq += 1;
                    writer = Some(PartWriter::start(&self.store, &self.index, name, &self.settings).await?);
                }
                let w = writer.as_mut().expect("writer started");
                let docs = page.hits.hits.len() as u64;
                let raw_before = w.raw;
                tokio::task::block_in_place(|| -> Result<(), JobError> {
                    // Each hit is freed as soon as its line is written.
                    for hit in page.hits.hits {
                        let source = hit.source.as_ref().ok_or_else(|| {
                            fatal(format!(
                                "{}: document {} has no _source (disabled?); cannot archive",
                                self.index, hit.id
                            ))
                        })?;
                        w.write_doc(&hit.id, hit.routing.as_deref(), source.get().as_bytes())?;
                    }
                    Ok(())
                })?;
                w.docs += docs;
                w.flush_ready().await?;
                let raw = self.raw_total.fetch_add(w.raw - raw_before, Ordering::Relaxed) + (w.raw - raw_before);
                self.bar.inc(docs);
                let secs = self.started.elapsed().as_secs_f64().max(0.001);
                self.bar.set_message(format!("{:.1} MB/s", raw as f64 / 1e6 / secs));
                if w.size + w.pending() as u64 >= self.settings.part_max_bytes {
                    parts.push(writer.take().expect("writer").finish().await?);
                }
            }
            if let Some(w) = writer.take() {
                parts.push(w.finish().await?);
            }
            Ok(())
        }
        .await;
        if let Err(error) = result {
            drop(rx);
            if let Some(w) = writer.take() {
                w.abort().await;
            }
            fetcher.abort();
            let _ = fetcher.await;
            return Err(error);
        }
        match fetcher.await {
            Ok(Ok(())) => Ok(parts),
            Ok(Err(error)) => Err(error),
            Err(join) => Err(fatal(format!("{}: scroll task failed: {join}", self.index))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_slices_follow_primary_shards() {
        assert_eq!(
            scroll_slices(0, 1, 5_000_000),
            1,
            "one shard: slicing only adds filters"
        );
        assert_eq!(scroll_slices(0, 3, 5_000_000), 3);
        assert_eq!(scroll_slices(0, 30, 5_000_000), 8, "capped");
        assert_eq!(scroll_slices(0, 0, 5_000_000), 1);
        assert_eq!(scroll_slices(0, 6, 50_000), 1, "small index: one scroll");
        assert_eq!(scroll_slices(4, 1, 10), 4, "configured wins");
    }

    #[test]
    fn multipart_etag_is_the_md5_of_the_part_md5s() {
        // Two parts "a" and "b": md5(md5("a") ‖ md5("b")) with the part count.
        let md5s: Vec<[u8; 16]> = [b"a".as_slice(), b"b"].iter().map(|d| Md5::digest(d).into()).collect();
        let etag = multipart_etag(&md5s);
        assert!(etag.ends_with("-2"), "{etag}");
        assert_eq!(etag.len(), 32 + 2);
        assert_ne!(multipart_etag(&md5s[..1]), etag);
    }
}
