//! Settings of a `log-retention` job: index pattern, tier ages and what each tier does,
//! export and restore sizes. Validated when jobs.toml is read.

use serde::{Deserialize, Serialize};

use super::placement::WarmMethod;
use super::tiers::{IndexPattern, TierAges};
use crate::config::{HumanDuration, KeyPath, SettingsError};

/// Where the age of an index comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeFrom {
    /// The date in the index name (`pattern`).
    Name,
    /// The index creation date (`index.creation_date`); names must still match `pattern`.
    CreationDate,
}

/// How archives reach the Glacier class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// The job rewrites each part with CopyObject into `archive_storage_class`.
    Copy,
    /// A bucket lifecycle rule does it; the job only checks that one exists.
    Lifecycle,
}

/// How thoroughly an archive is checked before its index is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verify {
    /// Every part is decompressed and parsed line by line while it uploads; then S3 must
    /// report its size and the ETag of the bytes hashed (a part whose ETag cannot tell, e.g.
    /// under SSE-KMS, is read back in full). `size`, the old name of a weaker check, means this.
    #[serde(alias = "size")]
    Checksum,
    /// As `checksum`, then every part is read back in full: sha-256, decompress, parse, count.
    Download,
}

/// Settings of a `[jobs.<name>]` table of kind `log-retention`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Folder of this job's archives in the bucket (default: `[s3] prefix`). Required: the
    /// job ages only what is under it, and no two log-retention jobs may share one.
    #[serde(default)]
    pub prefix: Option<String>,
    /// strftime pattern of the daily indices; the literal part before the first `%` selects
    /// candidates, names that do not match exactly are listed as skipped.
    #[serde(default = "default_pattern")]
    pub pattern: String,
    /// A data stream (e.g. `logs-aindusdb-default`) whose backing indices go through the
    /// tiers instead of the indices of `pattern`: each is aged from its creation date, the
    /// write index is never touched.
    #[serde(default)]
    pub data_stream: Option<String>,
    /// `name` (the date in the index name) or `creation_date`.
    #[serde(default = "default_age_from")]
    pub age_from: AgeFrom,
    /// Age at which an index leaves the hot tier for warm nodes (seed: hot 7 days).
    #[serde(default = "default_warm_after")]
    pub warm_after: HumanDuration,
    /// Age at which an index is archived to S3 and deleted from the cluster (seed: warm 30 days).
    #[serde(default = "default_cold_after")]
    pub cold_after: HumanDuration,
    /// Age at which an archive moves to the Glacier class (seed: cold 1 year).
    #[serde(default = "default_archive_after")]
    pub archive_after: HumanDuration,
    /// Age at which an archive is deleted (seed: archive 7 years).
    #[serde(default = "default_expire_after")]
    pub expire_after: HumanDuration,
    /// How the warm step moves indices: `auto` (data tiers when a node has the `data_warm`
    /// role, else the attribute), `tier` or `attribute`.
    #[serde(default)]
    pub warm_method: WarmMethod,
    /// Node attribute warm nodes carry (`node.attr.<name>`).
    #[serde(default = "default_warm_attribute")]
    pub warm_attribute: String,
    /// Its value on warm nodes.
    #[serde(default = "default_warm_value")]
    pub warm_value: String,
    /// Force-merge indices when they go warm.
    #[serde(default = "yes")]
    pub force_merge: bool,
    /// Segments per shard after the force-merge.
    #[serde(default = "one")]
    pub max_num_segments: u32,
    /// Storage class of the archive tier: GLACIER, DEEP_ARCHIVE or GLACIER_IR.
    #[serde(default = "default_class")]
    pub archive_storage_class: String,
    /// `copy` (CopyObject by the job) or `lifecycle` (a bucket rule does it).
    #[serde(default = "default_transition")]
    pub transition: Transition,
    /// At most this many indices change per run (oldest first); `--force` lifts it.
    #[serde(default = "default_max")]
    pub max_indices_per_run: usize,
    /// Indices processed at once within a run (one lock, each index's own guarantees);
    /// default: the cluster's data nodes, at most 4. Memory grows with it (one export each).
    #[serde(default)]
    pub index_concurrency: Option<usize>,
    /// Documents per scroll page.
    #[serde(default = "default_scroll_size")]
    pub scroll_size: usize,
    /// Scroll context keep-alive between pages.
    #[serde(default = "default_keep_alive")]
    pub scroll_keep_alive: HumanDuration,
    /// Parallel slices of the export scroll; 0 = automatic: one per primary shard (at most 8)
    /// from 100 000 documents. More slices than shards slow the read down.
    #[serde(default)]
    pub slices: u32,
    /// A new part object starts past this many compressed bytes.
    #[serde(default = "default_part_bytes")]
    pub part_max_bytes: u64,
    /// Multipart chunk size in bytes (≥ 5 MiB); memory per slice is about 3 chunks.
    #[serde(default = "default_chunk_bytes")]
    pub chunk_bytes: usize,
    /// gzip level 1 (fast) to 9 (small).
    #[serde(default = "one")]
    pub compression_level: u32,
    /// `checksum` (download and hash every part) or `size` (HEAD only).
    #[serde(default = "default_verify")]
    pub verify: Verify,
    /// Field holding each document's time, for the manifest's time range.
    #[serde(default = "default_timestamp_field")]
    pub timestamp_field: String,
    /// Documents per bulk request when restoring.
    #[serde(default = "default_bulk_docs")]
    pub restore_bulk_docs: usize,
    /// Parts loaded in parallel when restoring.
    #[serde(default = "default_restore_parallel")]
    pub restore_parallel: usize,
    /// Days a Glacier restore keeps the temporary copy.
    #[serde(default = "default_restore_days")]
    pub restore_days: i32,
    /// Archive indices whose `_source` would not come back as indexed (synthetic `_source`,
    /// `index.mode: logsdb`, `_source` includes/excludes). Off: such indices are kept, with
    /// a warning and exit code 1.
    #[serde(default)]
    pub allow_rebuilt_source: bool,
    /// Glacier retrieval tier: Expedited, Standard or Bulk.
    #[serde(default = "default_restore_tier")]
    pub restore_tier: String,
}

fn default_pattern() -> String {
    "aindusdb-logs-%Y.%m.%d".into()
}
fn default_age_from() -> AgeFrom {
    AgeFrom::Name
}
fn default_warm_after() -> HumanDuration {
    HumanDuration::from_secs(7 * 86_400)
}
fn default_cold_after() -> HumanDuration {
    HumanDuration::from_secs(30 * 86_400)
}
fn default_archive_after() -> HumanDuration {
    HumanDuration::from_secs(365 * 86_400)
}
fn default_expire_after() -> HumanDuration {
    HumanDuration::from_secs(7 * 365 * 86_400)
}
fn default_warm_attribute() -> String {
    "box_type".into()
}
fn default_warm_value() -> String {
    "warm".into()
}
fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_class() -> String {
    "GLACIER".into()
}
fn default_transition() -> Transition {
    Transition::Copy
}
fn default_max() -> usize {
    20
}
fn default_scroll_size() -> usize {
    2000
}
fn default_keep_alive() -> HumanDuration {
    HumanDuration::from_secs(300)
}
fn default_part_bytes() -> u64 {
    1 << 30
}
fn default_chunk_bytes() -> usize {
    5 << 20
}
fn default_verify() -> Verify {
    Verify::Checksum
}
fn default_timestamp_field() -> String {
    "@timestamp".into()
}
fn default_bulk_docs() -> usize {
    2000
}
fn default_restore_parallel() -> usize {
    2
}
fn default_restore_days() -> i32 {
    7
}
fn default_restore_tier() -> String {
    "Standard".into()
}

fn days(duration: HumanDuration) -> i64 {
    (duration.as_std().as_secs() / 86_400) as i64
}

impl Settings {
    /// The archive prefix this job uses: its own `prefix`, else `[s3] prefix`.
    pub fn prefix_in<'a>(&'a self, s3: &'a crate::config::S3Config) -> &'a str {
        self.prefix.as_deref().unwrap_or(&s3.prefix).trim_matches('/')
    }
    pub fn validate(&self) -> Result<(), SettingsError> {
        let root = KeyPath::root();
        IndexPattern::new(&self.pattern).map_err(|m| SettingsError::new(root.key("pattern"), m))?;
        if let Some(n) = self.index_concurrency
            && !(1..=16).contains(&n)
        {
            return Err(SettingsError::new(
                root.key("index_concurrency"),
                format!("{n} indices at once: choose 1 to 16 (each holds one export in memory)"),
            ));
        }
        if let Some(stream) = &self.data_stream
            && (stream.is_empty()
                || stream.starts_with(['.', '-', '_'])
                || stream.chars().any(|c| c.is_uppercase() || "\\/*?\"<>| ,#:".contains(c)))
        {
            return Err(SettingsError::new(
                root.key("data_stream"),
                format!("{stream:?} is not a data stream name"),
            ));
        }
        for (key, value) in [
            ("warm_after", self.warm_after),
            ("cold_after", self.cold_after),
            ("archive_after", self.archive_after),
            ("expire_after", self.expire_after),
        ] {
            if value.as_std().as_secs() % 86_400 != 0 {
                return Err(SettingsError::new(
                    root.key(key),
                    "must be whole days, e.g. \"30d\" or \"1y\"",
                ));
            }
        }
        self.tier_ages()
            .check()
            .map_err(|m| SettingsError::new(root.key("cold_after"), m))?;
        if !matches!(
            self.archive_storage_class.as_str(),
            "GLACIER" | "DEEP_ARCHIVE" | "GLACIER_IR"
        ) {
            return Err(SettingsError::new(
                root.key("archive_storage_class"),
                "expected GLACIER, DEEP_ARCHIVE or GLACIER_IR",
            ));
        }
        if self.chunk_bytes < 5 << 20 {
            return Err(SettingsError::new(
                root.key("chunk_bytes"),
                "S3 multipart chunks must be at least 5 MiB (5242880)",
            ));
        }
        if self.part_max_bytes < self.chunk_bytes as u64 {
            return Err(SettingsError::new(
                root.key("part_max_bytes"),
                "must be at least chunk_bytes",
            ));
        }
        if !(1..=9).contains(&self.compression_level) {
            return Err(SettingsError::new(root.key("compression_level"), "expected 1 to 9"));
        }
        if self.scroll_size == 0 || self.scroll_size > 10_000 {
            return Err(SettingsError::new(root.key("scroll_size"), "expected 1 to 10000"));
        }
        if self.restore_bulk_docs == 0 || self.restore_parallel == 0 {
            return Err(SettingsError::new(
                root.key("restore_parallel"),
                "restore sizes must be positive",
            ));
        }
        if !matches!(self.restore_tier.as_str(), "Expedited" | "Standard" | "Bulk") {
            return Err(SettingsError::new(
                root.key("restore_tier"),
                "expected Expedited, Standard or Bulk",
            ));
        }
        if self.warm_attribute.is_empty() || self.warm_attribute.contains(['.', ' ']) {
            return Err(SettingsError::new(
                root.key("warm_attribute"),
                "expected a node attribute name such as box_type",
            ));
        }
        Ok(())
    }

    pub fn tier_ages(&self) -> TierAges {
        TierAges {
            warm: days(self.warm_after),
            cold: days(self.cold_after),
            archive: days(self.archive_after),
            expire: days(self.expire_after),
        }
    }

    pub fn index_pattern(&self) -> IndexPattern {
        IndexPattern::new(&self.pattern).expect("validated pattern")
    }

    /// The name prefix of the indices this job manages: `.ds-<stream>-` (the backing indices
    /// of its data stream) or the literal start of `pattern`.
    pub fn listing_prefix(&self) -> String {
        match &self.data_stream {
            Some(stream) => format!(".ds-{stream}-"),
            None => self.index_pattern().prefix().to_string(),
        }
    }

    /// Whether `name` is an index (or archive folder) of this job.
    pub fn manages(&self, name: &str) -> bool {
        match &self.data_stream {
            Some(_) => name.starts_with(&self.listing_prefix()),
            None => self.index_pattern().date_of(name).is_some(),
        }
    }
}

/// Checks across jobs: every log-retention job archives under a non-empty prefix of its own
/// (the prefix is what the job ages and expires; a shared one would age another job's data).
pub fn check_config(config: &crate::config::Config<crate::jobs::JobKind>) -> Result<(), (String, SettingsError)> {
    let Some(s3) = &config.s3 else { return Ok(()) };
    let mut seen: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for job in config.jobs.values() {
        let crate::jobs::JobKind::LogRetention(settings) = &job.kind else {
            continue;
        };
        let key = if settings.prefix.is_some() { "prefix" } else { "kind" };
        let prefix = settings.prefix_in(s3);
        if prefix.is_empty() {
            return Err((
                job.name.clone(),
                SettingsError::new(
                    KeyPath::root().key(key),
                    "a log-retention job needs a non-empty archive prefix: set prefix here or in [s3]",
                ),
            ));
        }
        if let Some(other) = seen.insert(prefix, &job.name) {
            return Err((
                job.name.clone(),
                SettingsError::new(
                    KeyPath::root().key(key),
                    format!(
                        "jobs {other} and {} both archive under s3://{}/{prefix}: give each its own prefix",
                        job.name, s3.bucket
                    ),
                ),
            ));
        }
    }
    Ok(())
}
