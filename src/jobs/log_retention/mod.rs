//! The `log-retention` job: daily indices through hot → warm → S3 → Glacier → gone.
//! Planning (pure decisions in `tiers`) and the run loop live here; the settings
//! and the warm, Glacier and expiry steps have their own files.

pub mod archive;
pub mod checks;
pub mod export;
pub mod lock;
pub mod manifest;
pub mod ndjson;
pub mod placement;
pub mod restore;
mod settings;
mod steps;
pub mod tiers;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt as _;
use serde::Serialize;
use tracing::{info, warn};

use self::placement::{Placement, WarmMethod};
pub use self::settings::{AgeFrom, Settings, Transition, Verify, check_config};
pub use self::steps::{expire, transition, warm};
use self::tiers::{Action, Location, SkipReason, Tier, TierAges};
use super::{JobContext, JobError, Outcome, Status};
use crate::clients::s3::ArchiveStore;
use crate::clients::search::SearchClient;
use crate::config::Section;
use crate::output::{Table, human_bytes};

/// Connection sections this kind needs.
pub const REQUIRES: &[Section] = &[Section::Search, Section::S3];

/// One index (in the cluster, in S3, or both) and what the run does to it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub index: String,
    /// Cluster health of the index (`green`, `yellow`, `red`); none for archives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Where the shards of an index asked to be warm are: warm, warming or stuck.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Why the action was held back, in words, when a safety check did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub date: NaiveDate,
    pub age_days: i64,
    pub location: Location,
    pub tier_now: Tier,
    pub target: Tier,
    pub action: Action,
    pub docs: Option<u64>,
    pub size_bytes: Option<u64>,
}

impl Row {
    /// An index where it is now, with its target tier and action decided from its age at `now`.
    fn new(
        index: String,
        date: NaiveDate,
        location: Location,
        (ages, now): (TierAges, DateTime<Utc>),
        docs: Option<u64>,
        size_bytes: Option<u64>,
    ) -> Self {
        let age_days = tiers::age_days(date, now);
        let target = ages.target(age_days);
        Self {
            index,
            health: None,
            placement: None,
            note: None,
            date,
            age_days,
            location,
            tier_now: location.tier(),
            target,
            action: tiers::decide(location, target),
            docs,
            size_bytes,
        }
    }
}

/// What a run will do.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub now: DateTime<Utc>,
    /// How the warm step moves indices on this cluster (`auto` resolved).
    pub warm_method: WarmMethod,
    pub pattern: String,
    pub rows: Vec<Row>,
    /// Names under the pattern's prefix that do not match it (left alone).
    pub skipped: Vec<String>,
    /// The data stream's write index (never touched), for a `data_stream` job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_index: Option<String>,
    /// S3 folders with parts but neither manifest nor index (left alone, reported).
    pub incomplete_archives: Vec<String>,
    /// S3 folders under the prefix that are not this job's archives, with why (left alone).
    pub foreign_archives: Vec<(String, String)>,
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
                match row.placement {
                    Some(Placement::Warming) => format!("warming → {}", row.target.as_str()),
                    Some(Placement::Stuck) => format!("stuck → {}", row.target.as_str()),
                    _ => format!("{} → {}", row.tier_now.as_str(), row.target.as_str()),
                },
                row.action.describe().to_string(),
                row.docs.map_or("-".into(), |d| d.to_string()),
                row.size_bytes.map_or("-".into(), human_bytes),
            ]);
        }
        let mut out = table.render();
        for name in &self.skipped {
            out.push_str(&format!("skipped: {name} (does not match {})\n", self.pattern));
        }
        if let Some(name) = &self.write_index {
            out.push_str(&format!("write index of the data stream: {name} (never touched)\n"));
        }
        for name in &self.incomplete_archives {
            out.push_str(&format!("incomplete archive without index: {name} (left alone)\n"));
        }
        for (name, why) in &self.foreign_archives {
            out.push_str(&format!("skipped archive: {name} ({why}; left alone)\n"));
        }
        for row in &self.rows {
            if let Some(note) = &row.note {
                out.push_str(&format!("{}: {note}\n", row.index));
            }
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

pub(crate) async fn clients(ctx: &JobContext, settings: &Settings) -> Result<(SearchClient, ArchiveStore), JobError> {
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
    let mut store = ArchiveStore::new(s3).await?;
    store.prefix = settings.prefix_in(s3).to_string();
    Ok((SearchClient::new(search)?, store))
}

pub async fn plan(ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
    let (search, store) = clients(ctx, settings).await?;
    let pattern = settings.index_pattern();
    let ages = settings.tier_ages();
    let prefix = settings.listing_prefix();
    let write_index = match &settings.data_stream {
        Some(stream) => Some(search.data_stream_write_index(stream).await?),
        None => None,
    };
    let indices = search.cat_indices(&prefix).await?;
    let index_settings = search.settings_all(&prefix).await?;
    let mappings = search.mappings_all(&prefix).await?;
    let nodes = search.nodes().await?;
    let shards = search.cat_shards(&prefix).await?;
    let archived = archives(&store).await?;
    let method = placement::resolve(settings.warm_method, &nodes.values().cloned().collect::<Vec<_>>());
    let (warm_key, warm_value) = placement::warm_setting(method, &settings.warm_attribute, &settings.warm_value);
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut in_cluster = std::collections::BTreeSet::new();
    for cat in &indices {
        in_cluster.insert(cat.index.clone());
        if write_index.as_deref() == Some(cat.index.as_str()) {
            continue;
        }
        let name_date = if settings.data_stream.is_some() {
            settings.manages(&cat.index).then_some(NaiveDate::MIN)
        } else {
            pattern.date_of(&cat.index)
        };
        let Some(name_date) = name_date else {
            skipped.push(cat.index.clone());
            continue;
        };
        let age_from = if settings.data_stream.is_some() {
            AgeFrom::CreationDate
        } else {
            settings.age_from
        };
        let date = match age_from {
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
        let empty = serde_json::Map::new();
        let flat = index_settings.get(&cat.index).unwrap_or(&empty);
        let get = |key: &str| flat.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let warm = get(&warm_key) == warm_value && get("index.blocks.write") == "true";
        let location = if cat.is_closed() {
            Location::ClosedIndex
        } else {
            Location::Cluster {
                warm,
                archived: archived.get(&cat.index).is_some_and(|a| a.manifest),
            }
        };
        let mut row = Row::new(
            cat.index.clone(),
            date,
            location,
            (ages, ctx.now),
            cat.docs_count,
            cat.store_size,
        );
        row.health = cat.health.clone();
        if warm && !cat.is_closed() {
            let of_index: Vec<_> = shards.iter().filter(|s| s.index == cat.index).collect();
            let placed = placement::placement(
                &of_index,
                &nodes,
                method,
                &settings.warm_attribute,
                &settings.warm_value,
            );
            row.placement = Some(placed);
            if placed == Placement::Stuck && row.action == Action::None && row.target == Tier::Warm {
                let why = search
                    .allocation_explain(&cat.index)
                    .await
                    .unwrap_or_else(|e| format!("allocation explain failed: {e}"));
                row.action = Action::Skip(SkipReason::Stuck);
                row.note = Some(format!(
                    "asked to be warm ({warm_key}: {warm_value}) but not moving: {why}"
                ));
            }
        }
        if let Action::Archive { .. } = row.action {
            if cat.health.as_deref() == Some("red") {
                row.action = Action::Skip(SkipReason::Unhealthy);
                row.note = Some("health red: a primary shard is unassigned; kept until it is green or yellow".into());
            } else if let Some(loss) = mappings.get(&cat.index).and_then(|m| checks::source_loss(m, flat))
                && !settings.allow_rebuilt_source
            {
                row.action = Action::Skip(SkipReason::SourceNotArchivable);
                row.note = Some(format!("{loss}; kept (allow_rebuilt_source = true archives it anyway)"));
            }
        }
        rows.push(row);
    }
    let mut incomplete = Vec::new();
    let mut foreign = Vec::new();
    let mut folders = Vec::new();
    for (index, state) in &archived {
        if in_cluster.contains(index) {
            continue;
        }
        if !settings.manages(index) {
            let wanted = settings
                .data_stream
                .as_ref()
                .map_or(settings.pattern.clone(), |_| format!("{prefix}*"));
            foreign.push((index.clone(), format!("does not match {wanted}")));
        } else if !state.manifest {
            incomplete.push(index.clone());
        } else {
            folders.push((index.clone(), state));
        }
    }
    // Every manifest is read (16 at a time): only this job's archives are aged.
    let reads: Vec<_> = folders
        .iter()
        .map(|(index, _)| {
            let (store, index) = (store.clone(), index.clone());
            async move { manifest::read(&store, &index).await }
        })
        .collect();
    let manifests: Vec<_> = futures::stream::iter(reads).buffered(16).collect().await;
    let archive_life = chrono::Duration::days(ages.expire - ages.cold);
    for ((index, state), read) in folders.into_iter().zip(manifests) {
        let Some(found) = read? else { continue };
        if let Err(why) = checks::owned_by(found.job.as_deref(), &ctx.job.name) {
            foreign.push((index, why));
            continue;
        }
        let date = match (settings.age_from, &settings.data_stream) {
            (AgeFrom::Name, None) => pattern.date_of(&index).unwrap_or(found.date),
            _ => found.date,
        };
        let location = Location::S3 {
            glacier: state.glacier(),
        };
        let mut row = Row::new(
            index,
            date,
            location,
            (ages, ctx.now),
            Some(found.doc_count),
            Some(state.size()),
        );
        if row.action == Action::Expire && checks::too_young_to_expire(found.archived_at, ctx.now, archive_life) {
            row.action = Action::Skip(SkipReason::ArchiveTooYoung);
            row.note = Some(format!(
                "archived at {}, less than {} days ago; kept",
                found.archived_at.to_rfc3339(),
                archive_life.num_days()
            ));
        }
        rows.push(row);
    }
    rows.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.index.cmp(&b.index)));
    let mut actions: Vec<Action> = rows.iter().map(|r| r.action).collect();
    let deferred = if ctx.options.force {
        0
    } else {
        tiers::apply_limit(&mut actions, settings.max_indices_per_run)
    };
    for (row, action) in rows.iter_mut().zip(actions) {
        row.action = action;
    }
    Ok(Plan {
        now: ctx.now,
        warm_method: method,
        pattern: settings.pattern.clone(),
        rows,
        skipped,
        write_index,
        incomplete_archives: incomplete,
        foreign_archives: foreign,
        deferred,
    })
}

/// Warnings of a plan, and whether one of them needs an operator (the run then exits 1).
fn plan_warnings(plan: &Plan) -> (Vec<String>, bool) {
    let mut warnings = Vec::new();
    let mut attention = false;
    for row in &plan.rows {
        if let Action::Skip(reason) = row.action
            && reason != SkipReason::Deferred
        {
            attention |= reason.needs_attention();
            let note = row.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            warnings.push(format!("{}: {}{note}", row.index, row.action.describe()));
        }
    }
    for name in &plan.incomplete_archives {
        warnings.push(format!("{name}: parts in S3 without manifest nor index; left alone"));
    }
    (warnings, attention)
}

pub async fn execute(ctx: &JobContext, settings: &Settings, plan: Plan) -> Result<Outcome, JobError> {
    let (search, store) = clients(ctx, settings).await?;
    let (mut warnings, mut attention) = plan_warnings(&plan);
    let destructive = |rows: &[Row]| {
        rows.iter()
            .any(|r| matches!(r.action, Action::Archive { .. } | Action::Expire))
    };
    if !plan.rows.iter().any(|r| r.action.is_work()) {
        let mut outcome = Outcome::success("nothing to do").count("indices_planned", plan.rows.len() as u64);
        outcome.warnings = warnings;
        if attention {
            outcome.status = Status::Partial;
        }
        return Ok(outcome);
    }
    if destructive(&plan.rows) {
        ctx.check_clock()?;
    }
    let lock = lock::RunLock::acquire(&store, &ctx.job.name, &ctx.run_id).await?;
    // The plan was made before the lock: another run may have moved things meanwhile.
    let result = async {
        let fresh = self::plan(ctx, settings).await?;
        (warnings, attention) = plan_warnings(&fresh);
        if destructive(&fresh.rows) {
            ctx.check_clock()?;
        }
        let work: Vec<&Row> = fresh.rows.iter().filter(|r| r.action.is_work()).collect();
        run_work(
            ctx,
            settings,
            (&search, &store, &lock),
            fresh.warm_method,
            &work,
            &mut warnings,
        )
        .await
    }
    .await;
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
    outcome.warnings = warnings;
    if attention {
        outcome.status = Status::Partial;
    }
    Ok(outcome)
}

async fn run_work(
    ctx: &JobContext,
    settings: &Settings,
    (search, store, lock): (&SearchClient, &ArchiveStore, &lock::RunLock),
    method: WarmMethod,
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
        lock.check()?;
        let index = row.index.as_str();
        info!(message = "index step", index, action = row.action.describe());
        let step: Result<(), JobError> = async {
            match row.action {
                Action::Warm => {
                    warm(search, settings, method, index).await?;
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
