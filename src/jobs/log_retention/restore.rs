//! `almanac restore <index> [--as NAME]`: recreate an index from its archive's manifest
//! (mapping, settings), bulk-load the parts in parallel, streamed, and verify the count.

use std::sync::Arc;

use tokio::io::AsyncBufReadExt as _;
use tracing::{info, warn};

use super::Settings;
use super::manifest::{self, Manifest};
use super::ndjson;
use crate::clients::s3::ArchiveStore;
use crate::clients::search::SearchClient;
use crate::jobs::{Config, JobError, JobKind, JobKinds as _};

/// How a restore ended.
#[derive(Debug)]
pub enum RestoreOutcome {
    /// The index is back with every document.
    Restored { index: String, docs: u64 },
    /// Parts are in Glacier: a restore was requested; run the command again later.
    Requested { message: String },
}

/// The mappings of a plain index: without the data stream's timestamp meta field, which
/// only a data stream's backing index may have.
fn plain_mappings(mappings: &serde_json::Value) -> serde_json::Value {
    let mut mappings = mappings.clone();
    if let Some(object) = mappings.as_object_mut() {
        object.remove("_data_stream_timestamp");
    }
    mappings
}

/// Settings an index cannot be created with, or that belonged to the old cluster's layout.
fn keep_setting(key: &str) -> bool {
    const DROP: &[&str] = &[
        "index.uuid",
        "index.creation_date",
        "index.creation_date_string",
        "index.provided_name",
        "index.verified_before_close",
        "index.history.uuid",
        "index.resize.",
        "index.version.",
        "index.blocks.",
        "index.routing.allocation.",
        "index.lifecycle.",
        "index.plugins.",
        "index.replication.",
        "index.frozen",
        "index.hidden",
        "index.search.throttled",
    ];
    key.starts_with("index.")
        && !DROP
            .iter()
            .any(|d| key == *d || (d.ends_with('.') && key.starts_with(d)))
}

/// The `[jobs.<name>]` of kind log-retention to restore with (the only one if not named).
fn find_job<'a>(config: &'a Config, job: Option<&str>) -> Result<(&'a str, &'a Settings), JobError> {
    let mut candidates = config.jobs.values().filter_map(|j| match &j.kind {
        JobKind::LogRetention(settings) => Some((j.name.as_str(), settings)),
        _ => None,
    });
    match job {
        Some(name) => {
            let job = config.job(name).map_err(|e| JobError::Usage(e.to_string()))?;
            match &job.kind {
                JobKind::LogRetention(settings) => Ok((job.name.as_str(), settings)),
                other => Err(JobError::Usage(format!(
                    "job {name} is of kind {}, not log-retention",
                    other.name()
                ))),
            }
        }
        None => {
            let first = candidates
                .next()
                .ok_or_else(|| JobError::Usage("no job of kind log-retention in the configuration".into()))?;
            if candidates.next().is_some() {
                return Err(JobError::Usage(
                    "several log-retention jobs: choose one with --job".into(),
                ));
            }
            Ok(first)
        }
    }
}

/// Why `name` cannot be an index name, if it cannot (the rules of Elasticsearch and OpenSearch).
pub fn invalid_index_name(name: &str) -> Option<String> {
    const FORBIDDEN: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];
    if name.is_empty() || name == "." || name == ".." {
        return Some("an index name cannot be empty, . or ..".into());
    }
    if name.len() > 255 {
        return Some("an index name is at most 255 bytes".into());
    }
    if name.starts_with(['-', '_', '+']) {
        return Some("an index name cannot start with -, _ or +".into());
    }
    if name.chars().any(|c| c.is_uppercase()) {
        return Some("an index name must be lowercase".into());
    }
    if let Some(c) = name.chars().find(|c| FORBIDDEN.contains(c)) {
        return Some(format!("an index name cannot contain {c:?}"));
    }
    None
}

#[allow(clippy::too_many_arguments)]
pub async fn restore(
    config: Arc<Config>,
    job: Option<&str>,
    index: &str,
    as_name: Option<&str>,
    force: bool,
    progress: bool,
) -> Result<RestoreOutcome, JobError> {
    let (job_name, settings) = find_job(&config, job)?;
    if let Some(name) = as_name {
        if let Some(why) = invalid_index_name(name) {
            return Err(JobError::Usage(format!("--as {name:?}: {why}")));
        }
        if settings.index_pattern().date_of(name).is_some() && !force {
            return Err(JobError::Usage(format!(
                "--as {name:?} matches the pattern {} of job {job_name}: the job would age it like a \
                 daily index (archive, then delete it); choose another name or add --force",
                settings.pattern
            )));
        }
    }
    let search = crate::jobs::connect::search(&config)?;
    let store = crate::jobs::connect::archive(&config, |s3| settings.prefix_in(s3).to_string()).await?;
    let run_id = uuid::Uuid::now_v7().to_string();
    let lock = super::lock::RunLock::acquire(&store, &format!("restore ({job_name})"), &run_id).await?;
    let result = restore_locked(settings, &search, &store, index, as_name, progress).await;
    lock.release().await;
    result
}

async fn restore_locked(
    settings: &Settings,
    search: &SearchClient,
    store: &ArchiveStore,
    index: &str,
    as_name: Option<&str>,
    progress: bool,
) -> Result<RestoreOutcome, JobError> {
    let (search, store) = (search.clone(), store.clone());
    let manifest = manifest::read(&store, index).await?.ok_or_else(|| {
        JobError::Usage(format!(
            "no archive of {index}: s3://{}/{} does not exist",
            store.bucket,
            manifest::key(&store, index)
        ))
    })?;
    manifest
        .check()
        .map_err(|m| JobError::fatal(anyhow::anyhow!("{index}: {m}")))?;
    // A data stream's backing index comes back as a plain index: its own name would be taken
    // for the stream's (and creating it would be refused by the stream's template).
    let plain_name = index.strip_prefix(".ds-").map(|rest| format!("restored-{rest}"));
    let target = as_name.or(plain_name.as_deref()).unwrap_or(index);
    if search.exists(target).await? {
        return Err(JobError::Usage(format!(
            "index {target} already exists: delete it or restore with --as <other name>"
        )));
    }
    if let Some(message) = thaw(settings, &store, &manifest).await? {
        return Ok(RestoreOutcome::Requested { message });
    }
    let mut index_settings: serde_json::Map<String, serde_json::Value> = manifest
        .settings
        .iter()
        .filter(|(k, _)| keep_setting(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let refresh = index_settings.remove("index.refresh_interval");
    index_settings.insert("index.refresh_interval".into(), "-1".into());
    search
        .create_index(
            target,
            &serde_json::json!({"settings": index_settings, "mappings": plain_mappings(&manifest.mappings)}),
        )
        .await?;
    let bar = crate::output::documents_bar(progress, target, manifest.doc_count);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(settings.restore_parallel));
    let mut tasks = tokio::task::JoinSet::new();
    for part in &manifest.parts {
        let key = manifest::part_key(&store, index, &part.name);
        let (store, search, semaphore, bar) = (store.clone(), search.clone(), semaphore.clone(), bar.clone());
        let (target, batch, expected) = (target.to_string(), settings.restore_bulk_docs, part.docs);
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.map_err(JobError::fatal)?;
            let loaded = load_part(&store, &search, &key, &target, batch, &bar).await?;
            if loaded != expected {
                return Err(JobError::fatal(anyhow::anyhow!(
                    "{key}: {loaded} documents, manifest says {expected}"
                )));
            }
            Ok::<u64, JobError>(loaded)
        });
    }
    let mut loaded = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(n)) => loaded += n,
            Ok(Err(error)) => {
                tasks.abort_all();
                return Err(error.context(format!("restoring {target} (partial index left; delete it to retry)")));
            }
            Err(join) => return Err(JobError::fatal(anyhow::anyhow!("restore task failed: {join}"))),
        }
    }
    bar.finish_and_clear();
    search
        .put_settings(
            target,
            &serde_json::json!({"index.refresh_interval": refresh.unwrap_or(serde_json::Value::Null)}),
        )
        .await?;
    search.refresh(target).await?;
    let count = search.count(target).await?;
    if count != manifest.doc_count {
        return Err(JobError::fatal(anyhow::anyhow!(
            "{target}: {count} documents after restore, archive holds {} (loaded {loaded})",
            manifest.doc_count
        )));
    }
    info!(message = "index restored", index = target, docs = count);
    Ok(RestoreOutcome::Restored {
        index: target.to_string(),
        docs: count,
    })
}

/// Requests a Glacier restore of frozen parts. None when every part is readable now.
async fn thaw(settings: &Settings, store: &ArchiveStore, manifest: &Manifest) -> Result<Option<String>, JobError> {
    let mut frozen = Vec::new();
    for part in &manifest.parts {
        let key = manifest::part_key(store, &manifest.index, &part.name);
        let head = store
            .head(&key)
            .await?
            .ok_or_else(|| JobError::fatal(anyhow::anyhow!("part {key} is missing")))?;
        if head.is_frozen() {
            if head.restore.is_none() {
                store
                    .request_restore(&key, settings.restore_days, &settings.restore_tier)
                    .await?;
            }
            frozen.push(key);
        }
    }
    // Some servers (and Expedited retrievals) finish at once: look again.
    let mut still = Vec::new();
    for key in frozen {
        if store.head(&key).await?.is_some_and(|h| h.is_frozen()) {
            still.push(key);
        }
    }
    if still.is_empty() {
        return Ok(None);
    }
    let wait = match settings.restore_tier.as_str() {
        "Expedited" => "1-5 minutes (GLACIER; not available for DEEP_ARCHIVE)",
        "Bulk" => "5-12 hours (GLACIER) or up to 48 hours (DEEP_ARCHIVE)",
        _ => "3-5 hours (GLACIER) or up to 12 hours (DEEP_ARCHIVE)",
    };
    Ok(Some(format!(
        "{}: {} of {} parts are in Glacier; a {} restore was requested for {} days. Come back in {wait} and run the same command again.",
        manifest.index,
        still.len(),
        manifest.parts.len(),
        settings.restore_tier,
        settings.restore_days
    )))
}

/// Largest `_bulk` body restore sends (a single bigger document goes alone).
pub const MAX_BULK_BYTES: usize = 10 << 20;
/// Lines above this are sent alone, from their own buffer.
const BIG_LINE: usize = 1 << 20;

/// One `_bulk` request being filled: the NDJSON body and where each item starts.
struct Batch {
    body: Vec<u8>,
    starts: Vec<usize>,
}

impl Batch {
    fn new() -> Self {
        Self {
            body: Vec::with_capacity(1 << 20),
            starts: Vec::new(),
        }
    }

    fn push(&mut self, line: &ndjson::Line<'_>) -> Result<(), JobError> {
        self.starts.push(self.body.len());
        self.body.extend_from_slice(b"{\"index\":{\"_id\":");
        serde_json::to_writer(&mut self.body, &line.id).map_err(JobError::fatal)?;
        if let Some(routing) = &line.routing {
            self.body.extend_from_slice(b",\"routing\":");
            serde_json::to_writer(&mut self.body, routing).map_err(JobError::fatal)?;
        }
        self.body.extend_from_slice(b"}}\n");
        self.body.extend_from_slice(line.source.get().as_bytes());
        self.body.push(b'\n');
        Ok(())
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    /// A batch of one document made from its archive line in place: the line's buffer
    /// becomes the bulk body (action line, then `_source`).
    fn alone(text: String, number: u64, key: &str) -> Result<Self, JobError> {
        let (action, range) = {
            let line = ndjson::parse_line(text.as_bytes())
                .map_err(|e| JobError::fatal(anyhow::anyhow!("{key}: invalid line {number}: {e}")))?;
            let mut action = b"{\"index\":{\"_id\":".to_vec();
            serde_json::to_writer(&mut action, &line.id).map_err(JobError::fatal)?;
            if let Some(routing) = &line.routing {
                action.extend_from_slice(b",\"routing\":");
                serde_json::to_writer(&mut action, routing).map_err(JobError::fatal)?;
            }
            action.extend_from_slice(b"}}\n");
            let source = line.source.get();
            let start = source.as_ptr() as usize - text.as_ptr() as usize;
            (action, start..start + source.len())
        };
        let mut body = text.into_bytes();
        body.truncate(range.end);
        body.drain(..range.start);
        body.push(b'\n');
        body.splice(0..0, action);
        Ok(Self { body, starts: vec![0] })
    }

    /// The items at `positions` of a batch whose body was `body`, as a new batch.
    fn select(body: &[u8], starts: &[usize], positions: &[usize]) -> Self {
        let mut out = Self::new();
        for &p in positions {
            let end = starts.get(p + 1).copied().unwrap_or(body.len());
            out.starts.push(out.body.len());
            out.body.extend_from_slice(&body[starts[p]..end]);
        }
        out
    }
}

/// Streams one part (gzip NDJSON) into bulk requests of at most `batch_docs` documents and
/// `MAX_BULK_BYTES` bytes.
async fn load_part(
    store: &ArchiveStore,
    search: &SearchClient,
    key: &str,
    target: &str,
    batch_docs: usize,
    bar: &indicatif::ProgressBar,
) -> Result<u64, JobError> {
    let body = store.get_stream(key).await?;
    let reader = tokio::io::BufReader::new(body.into_async_read());
    let mut decoder = async_compression::tokio::bufread::GzipDecoder::new(reader);
    decoder.multiple_members(true);
    let mut lines = tokio::io::BufReader::new(decoder).lines();
    let mut batch = Batch::new();
    let mut total: u64 = 0;
    let read_error = |e: std::io::Error| JobError::transient(anyhow::anyhow!("reading {key}: {e}"));
    while let Some(text) = lines.next_line().await.map_err(read_error)? {
        if text.is_empty() {
            continue;
        }
        let line = ndjson::parse_line(text.as_bytes())
            .map_err(|e| JobError::fatal(anyhow::anyhow!("{key}: invalid line {}: {e}", total + 1)))?;
        if batch.len() > 0 && batch.body.len() + text.len() + 200 > MAX_BULK_BYTES {
            total += send(search, target, std::mem::replace(&mut batch, Batch::new()), bar).await?;
        }
        if batch.len() == 0 && text.len() > BIG_LINE {
            // A big document goes alone, rewritten in its own buffer: no second copy of it.
            let single = Batch::alone(text, total + 1, key)?;
            total += send(search, target, single, bar).await?;
            continue;
        }
        batch.push(&line)?;
        if batch.len() >= batch_docs {
            total += send(search, target, std::mem::replace(&mut batch, Batch::new()), bar).await?;
        }
    }
    if batch.len() > 0 {
        total += send(search, target, batch, bar).await?;
    }
    Ok(total)
}

/// Sends one batch; items the cluster refuses with 429 are sent again with backoff.
async fn send(
    search: &SearchClient,
    target: &str,
    mut batch: Batch,
    bar: &indicatif::ProgressBar,
) -> Result<u64, JobError> {
    let total = batch.len() as u64;
    let mut delay = std::time::Duration::from_millis(200);
    for attempt in 1.. {
        let body = bytes::Bytes::from(std::mem::take(&mut batch.body));
        let result = search.bulk(target, body.clone()).await?;
        if result.failed > 0 {
            return Err(JobError::fatal(anyhow::anyhow!(
                "{target}: {} documents rejected by bulk, first: {}",
                result.failed,
                result.first_error.unwrap_or_default()
            )));
        }
        bar.inc((batch.len() - result.throttled.len()) as u64);
        if result.throttled.is_empty() {
            return Ok(total);
        }
        if attempt >= 10 {
            return Err(JobError::transient(anyhow::anyhow!(
                "{target}: {} documents still refused with 429 after {attempt} attempts",
                result.throttled.len()
            )));
        }
        warn!(
            message = "bulk items refused with 429, sending them again",
            index = target,
            items = result.throttled.len(),
            attempt
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(10));
        if result.throttled.len() == batch.len() {
            // All refused: send the same bytes again (a big document is not copied).
            batch.body = body.into();
        } else {
            batch = Batch::select(&body, &batch.starts, &result.throttled);
        }
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::{invalid_index_name, keep_setting};

    #[test]
    fn restore_targets_must_be_legal_index_names() {
        assert_eq!(invalid_index_name("logs-restored-2026.01.05"), None);
        for bad in ["", "..", "Upper", "-dash", "_under", "a b", "a/b", "a*", "a,b", "a:b"] {
            assert!(invalid_index_name(bad).is_some(), "{bad:?} accepted");
        }
        assert!(invalid_index_name(&"a".repeat(256)).is_some());
    }

    #[test]
    fn settings_kept_on_restore() {
        assert!(keep_setting("index.number_of_shards"));
        assert!(keep_setting("index.analysis.analyzer.x.type"));
        assert!(!keep_setting("index.uuid"));
        assert!(!keep_setting("index.version.created"));
        assert!(!keep_setting("index.blocks.write"));
        assert!(!keep_setting("index.routing.allocation.require.box_type"));
        assert!(!keep_setting("index.provided_name"));
        assert!(!keep_setting("archived.foo"));
    }
}
