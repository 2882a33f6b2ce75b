//! The `log-retention` job: daily indices through hot → warm → S3 → Glacier → gone. Planning
//! (pure decisions in `crate::retention`), the warm step, and the run loop live here.

pub mod archive;
pub mod lock;
pub mod manifest;
pub mod restore;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{JobContext, JobError, Outcome, Status};
use crate::clients::s3::ArchiveStore;
use crate::clients::search::SearchClient;
use crate::config::{HumanDuration, KeyPath, Section, SettingsError};
use crate::output::{Table, human_bytes};
use crate::retention::{self, Action, IndexPattern, Location, SkipReason, Tier, TierAges};

/// Connection sections this kind needs.
pub const REQUIRES: &[Section] = &[Section::Search, Section::S3];

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
    /// Download every part and compare its size and sha-256 with the manifest.
    Checksum,
    /// HEAD every part and compare its size only.
    Size,
}

/// Settings of a `[jobs.<name>]` table of kind `log-retention`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// strftime pattern of the daily indices; the literal part before the first `%` selects
    /// candidates, names that do not match exactly are listed as skipped.
    #[serde(default = "default_pattern")]
    pub pattern: String,
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
    /// Documents per scroll page.
    #[serde(default = "default_scroll_size")]
    pub scroll_size: usize,
    /// Scroll context keep-alive between pages.
    #[serde(default = "default_keep_alive")]
    pub scroll_keep_alive: HumanDuration,
    /// Parallel slices of the export scroll; 0 = automatic (2 from 200 000 documents).
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
    pub fn validate(&self) -> Result<(), SettingsError> {
        let root = KeyPath::root();
        IndexPattern::new(&self.pattern).map_err(|m| SettingsError::new(root.key("pattern"), m))?;
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
}

/// One index (in the cluster, in S3, or both) and what the run does to it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub index: String,
    pub date: NaiveDate,
    pub age_days: i64,
    pub location: Location,
    pub tier_now: Tier,
    pub target: Tier,
    pub action: Action,
    pub docs: Option<u64>,
    pub size_bytes: Option<u64>,
}

/// What a run will do.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub now: DateTime<Utc>,
    pub pattern: String,
    pub rows: Vec<Row>,
    /// Names under the pattern's prefix that do not match it (left alone).
    pub skipped: Vec<String>,
    /// S3 folders with parts but neither manifest nor index (left alone, reported).
    pub incomplete_archives: Vec<String>,
    pub deferred: usize,
}

impl Plan {
    pub fn render_text(&self) -> String {
        let mut table = Table::new(["INDEX", "DATE", "AGE", "TIER NOW → TARGET", "ACTION", "DOCS", "SIZE"]);
        for row in &self.rows {
            table.row([
                row.index.clone(),
                row.date.to_string(),
                format!("{}d", row.age_days),
                format!("{} → {}", row.tier_now.as_str(), row.target.as_str()),
                row.action.describe().to_string(),
                row.docs.map_or("-".into(), |d| d.to_string()),
                row.size_bytes.map_or("-".into(), human_bytes),
            ]);
        }
        let mut out = table.render();
        for name in &self.skipped {
            out.push_str(&format!("skipped: {name} (does not match {})\n", self.pattern));
        }
        for name in &self.incomplete_archives {
            out.push_str(&format!("incomplete archive without index: {name} (left alone)\n"));
        }
        if self.deferred > 0 {
            out.push_str(&format!(
                "{} index(es) deferred by max_indices_per_run\n",
                self.deferred
            ));
        }
        out
    }
}

/// What S3 holds for one index folder.
#[derive(Debug, Default, Clone)]
pub struct ArchiveState {
    pub manifest: bool,
    pub parts: Vec<crate::clients::s3::ObjectInfo>,
}

impl ArchiveState {
    pub fn size(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum()
    }
    /// Every part in a Glacier-type class.
    pub fn glacier(&self) -> bool {
        !self.parts.is_empty() && self.parts.iter().all(|p| p.storage_class != "STANDARD")
    }
}

/// Archive folders under the store's prefix, by index name.
pub async fn archives(store: &ArchiveStore) -> Result<BTreeMap<String, ArchiveState>, JobError> {
    let root = store.key("");
    let mut out: BTreeMap<String, ArchiveState> = BTreeMap::new();
    for object in store.list(&root).await? {
        let Some(rest) = object.key.strip_prefix(&root) else {
            continue;
        };
        let Some((index, file)) = rest.split_once('/') else {
            continue;
        };
        let state = out.entry(index.to_string()).or_default();
        if file == manifest::MANIFEST {
            state.manifest = true;
        } else {
            state.parts.push(object);
        }
    }
    Ok(out)
}

pub(crate) async fn clients(ctx: &JobContext) -> Result<(SearchClient, ArchiveStore), JobError> {
    let search = ctx
        .config
        .search
        .as_ref()
        .ok_or_else(|| JobError::Usage("[search] is missing".into()))?;
    let s3 = ctx
        .config
        .s3
        .as_ref()
        .ok_or_else(|| JobError::Usage("[s3] is missing".into()))?;
    Ok((SearchClient::new(search)?, ArchiveStore::new(s3).await))
}

pub async fn plan(ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
    let (search, store) = clients(ctx).await?;
    let pattern = settings.index_pattern();
    let ages = settings.tier_ages();
    let indices = search.cat_indices(pattern.prefix()).await?;
    let index_settings = search.settings_all(pattern.prefix()).await?;
    let archived = archives(&store).await?;
    let require_key = format!("index.routing.allocation.require.{}", settings.warm_attribute);
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut in_cluster = std::collections::BTreeSet::new();
    for cat in &indices {
        in_cluster.insert(cat.index.clone());
        let Some(name_date) = pattern.date_of(&cat.index) else {
            skipped.push(cat.index.clone());
            continue;
        };
        let date = match settings.age_from {
            AgeFrom::Name => name_date,
            AgeFrom::CreationDate => match cat
                .creation_date
                .and_then(|ms| DateTime::from_timestamp_millis(ms as i64))
            {
                Some(created) => created.date_naive(),
                None => {
                    skipped.push(cat.index.clone());
                    continue;
                }
            },
        };
        let flat = index_settings.get(&cat.index);
        let get = |key: &str| {
            flat.and_then(|s| s.get(key))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let warm = get(&require_key) == settings.warm_value && get("index.blocks.write") == "true";
        let location = if cat.is_closed() {
            Location::ClosedIndex
        } else {
            Location::Cluster {
                warm,
                archived: archived.get(&cat.index).is_some_and(|a| a.manifest),
            }
        };
        let age = retention::age_days(date, ctx.now);
        let target = ages.target(age);
        rows.push(Row {
            index: cat.index.clone(),
            date,
            age_days: age,
            location,
            tier_now: location.tier(),
            target,
            action: retention::decide(location, target),
            docs: cat.docs_count,
            size_bytes: cat.store_size,
        });
    }
    let mut incomplete = Vec::new();
    for (index, state) in &archived {
        if in_cluster.contains(index) {
            continue;
        }
        if !state.manifest {
            incomplete.push(index.clone());
            continue;
        }
        let (date, docs) = match (settings.age_from, pattern.date_of(index)) {
            (AgeFrom::Name, Some(date)) => (date, None),
            _ => match manifest::read(&store, index).await? {
                Some(m) => (m.date, Some(m.doc_count)),
                None => continue,
            },
        };
        let location = Location::S3 {
            glacier: state.glacier(),
        };
        let age = retention::age_days(date, ctx.now);
        let target = ages.target(age);
        rows.push(Row {
            index: index.clone(),
            date,
            age_days: age,
            location,
            tier_now: location.tier(),
            target,
            action: retention::decide(location, target),
            docs,
            size_bytes: Some(state.size()),
        });
    }
    rows.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.index.cmp(&b.index)));
    let mut actions: Vec<Action> = rows.iter().map(|r| r.action).collect();
    let deferred = if ctx.options.force {
        0
    } else {
        retention::apply_limit(&mut actions, settings.max_indices_per_run)
    };
    for (row, action) in rows.iter_mut().zip(actions) {
        row.action = action;
    }
    Ok(Plan {
        now: ctx.now,
        pattern: settings.pattern.clone(),
        rows,
        skipped,
        incomplete_archives: incomplete,
        deferred,
    })
}

/// Allocation to warm nodes, optional force-merge, write block.
pub async fn warm(search: &SearchClient, settings: &Settings, index: &str) -> Result<(), JobError> {
    let require_key = format!("index.routing.allocation.require.{}", settings.warm_attribute);
    search
        .put_settings(index, &serde_json::json!({ require_key: settings.warm_value }))
        .await?;
    search
        .put_settings(index, &serde_json::json!({"index.blocks.write": true}))
        .await?;
    if settings.force_merge {
        search.forcemerge(index, settings.max_num_segments).await?;
    }
    Ok(())
}

pub async fn execute(ctx: &JobContext, settings: &Settings, plan: Plan) -> Result<Outcome, JobError> {
    let (search, store) = clients(ctx).await?;
    let work: Vec<&Row> = plan.rows.iter().filter(|r| r.action.is_work()).collect();
    let mut warnings = Vec::new();
    for row in &plan.rows {
        if let Action::Skip(reason) = row.action
            && reason != SkipReason::Deferred
        {
            warnings.push(format!("{}: {}", row.index, row.action.describe()));
        }
    }
    for name in &plan.incomplete_archives {
        warnings.push(format!("{name}: parts in S3 without manifest nor index; left alone"));
    }
    if work.is_empty() {
        let mut outcome = Outcome::success("nothing to do").count("indices_planned", plan.rows.len() as u64);
        outcome.warnings = warnings;
        return Ok(outcome);
    }
    let lock = lock::RunLock::acquire(&store, &ctx.job.name, &ctx.run_id, ctx.job.timeout.as_std()).await?;
    // The plan was made before the lock: another run may have moved things meanwhile.
    let result = match self::plan(ctx, settings).await {
        Ok(fresh) => {
            let work: Vec<&Row> = fresh.rows.iter().filter(|r| r.action.is_work()).collect();
            run_work(ctx, settings, &search, &store, &work, &mut warnings).await
        }
        Err(error) => Err(error),
    };
    lock.release().await;
    let counts = result?;
    let mut outcome = Outcome::success(format!(
        "{} warmed, {} archived, {} moved to {}, {} expired",
        counts.get("indices_warmed").unwrap_or(&0),
        counts.get("indices_archived").unwrap_or(&0),
        counts.get("archives_transitioned").unwrap_or(&0),
        settings.archive_storage_class,
        counts.get("archives_expired").unwrap_or(&0),
    ));
    outcome.counts = counts;
    if !warnings.is_empty() && outcome.status == Status::Success {
        outcome.warnings = warnings;
    }
    Ok(outcome)
}

async fn run_work(
    ctx: &JobContext,
    settings: &Settings,
    search: &SearchClient,
    store: &ArchiveStore,
    work: &[&Row],
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, u64>, JobError> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures: Vec<(String, JobError)> = Vec::new();
    let mut lifecycle_checked = false;
    for row in work {
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let index = row.index.as_str();
        info!(message = "index step", index, action = row.action.describe());
        let step: Result<(), JobError> = async {
            match row.action {
                Action::Warm => {
                    warm(search, settings, index).await?;
                    *counts.entry("indices_warmed".into()).or_default() += 1;
                }
                Action::Archive { then_transition } => {
                    let report = archive::archive_index(ctx, settings, search, store, index, row.date).await?;
                    *counts.entry("indices_archived".into()).or_default() += 1;
                    *counts.entry("documents_archived".into()).or_default() += report.docs;
                    *counts.entry("bytes_uploaded".into()).or_default() += report.bytes;
                    if then_transition {
                        transition(settings, store, index, &mut lifecycle_checked, warnings).await?;
                        *counts.entry("archives_transitioned".into()).or_default() += 1;
                    }
                }
                Action::Transition => {
                    transition(settings, store, index, &mut lifecycle_checked, warnings).await?;
                    *counts.entry("archives_transitioned".into()).or_default() += 1;
                }
                Action::Expire => {
                    expire(store, index).await?;
                    *counts.entry("archives_expired".into()).or_default() += 1;
                }
                Action::None | Action::Skip(_) => {}
            }
            Ok(())
        }
        .await;
        if let Err(error) = step {
            warn!(message = "index step failed", index, error = %error);
            failures.push((index.to_string(), error));
        }
    }
    if let Some((index, first)) = failures.into_iter().next() {
        return Err(first.context(format!("{index} (other indices were processed; a rerun resumes)")));
    }
    Ok(counts)
}

/// Moves an archive's parts to the Glacier class (the manifest stays readable), or checks
/// that a lifecycle rule will.
pub async fn transition(
    settings: &Settings,
    store: &ArchiveStore,
    index: &str,
    lifecycle_checked: &mut bool,
    warnings: &mut Vec<String>,
) -> Result<(), JobError> {
    if settings.transition == Transition::Lifecycle {
        if !*lifecycle_checked {
            *lifecycle_checked = true;
            let prefix = store.key("");
            let rules = store.lifecycle_transitions().await?;
            let covered = rules.iter().any(|(rule_prefix, enabled, transitions)| {
                *enabled
                    && prefix.starts_with(rule_prefix.as_str())
                    && transitions
                        .iter()
                        .any(|(_, class)| class == &settings.archive_storage_class)
            });
            if !covered {
                warnings.push(format!(
                    "no enabled lifecycle rule of bucket {} moves {prefix} to {}: add one or set transition = \"copy\"",
                    store.bucket, settings.archive_storage_class
                ));
            }
        }
        return Ok(());
    }
    let folder = store.key(&format!("{index}/"));
    for object in store.list(&folder).await? {
        if object.key.ends_with(manifest::MANIFEST) || object.storage_class == settings.archive_storage_class {
            continue;
        }
        store
            .set_storage_class(&object.key, object.size, &settings.archive_storage_class)
            .await?;
    }
    Ok(())
}

/// Deletes an archive: the manifest first (so a half-deleted archive never looks complete),
/// then every part.
pub async fn expire(store: &ArchiveStore, index: &str) -> Result<(), JobError> {
    store.delete(&manifest::key(store, index)).await?;
    let folder = store.key(&format!("{index}/"));
    for object in store.list(&folder).await? {
        store.delete(&object.key).await?;
    }
    Ok(())
}
