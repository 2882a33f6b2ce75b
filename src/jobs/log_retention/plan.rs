//! Log-retention planning, pure: what the cluster and the bucket hold (gathered by
//! `execute.rs`) → one row per index with its tier and action, and the plan's warnings.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::checks;
use super::manifest::Manifest;
use super::placement::{self, Placement, WarmMethod};
use super::settings::{AgeFrom, Settings};
use super::tiers::{self, Action, Location, SkipReason, Tier, TierAges};
use crate::clients::search::{CatIndex, CatShard, NodeInfo};
use crate::output::{Table, human_bytes};

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
    /// Indices processed at once (`index_concurrency`, or the data nodes, at most 4).
    pub index_concurrency: usize,
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

/// Everything the plan is decided from, as plain data.
#[derive(Debug, Default)]
pub struct Inputs {
    pub now: DateTime<Utc>,
    /// `--force`: no `max_indices_per_run` limit.
    pub force: bool,
    /// The job's name: only archives whose manifest names it are aged.
    pub job: String,
    /// The data stream's write index, for a `data_stream` job.
    pub write_index: Option<String>,
    pub indices: Vec<CatIndex>,
    /// Flat settings by index.
    pub index_settings: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    pub mappings: BTreeMap<String, serde_json::Value>,
    pub nodes: BTreeMap<String, NodeInfo>,
    pub shards: Vec<CatShard>,
    /// S3 folders by index name.
    pub archived: BTreeMap<String, ArchiveState>,
    /// The manifests of [`manifests_to_read`]'s folders (absent: none found).
    pub manifests: BTreeMap<String, Manifest>,
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

/// Archive folders the plan needs the manifest of: this job's, with a manifest, whose index is
/// no longer in the cluster.
pub fn manifests_to_read(
    settings: &Settings,
    indices: &[CatIndex],
    archived: &BTreeMap<String, ArchiveState>,
) -> Vec<String> {
    let in_cluster: BTreeSet<&str> = indices.iter().map(|c| c.index.as_str()).collect();
    archived
        .iter()
        .filter(|(index, state)| !in_cluster.contains(index.as_str()) && settings.manages(index) && state.manifest)
        .map(|(index, _)| index.clone())
        .collect()
}

/// The plan of a run. Rows of indices asked to be warm that are not moving get a note
/// without the cluster's explanation; `execute.rs` adds it.
pub fn build(settings: &Settings, inputs: &Inputs) -> Plan {
    let pattern = settings.index_pattern();
    let ages = settings.tier_ages();
    let nodes: Vec<NodeInfo> = inputs.nodes.values().cloned().collect();
    let method = placement::resolve(settings.warm_method, &nodes);
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for cat in &inputs.indices {
        if inputs.write_index.as_deref() == Some(cat.index.as_str()) {
            continue;
        }
        match cluster_row(settings, inputs, method, cat) {
            Some(row) => rows.push(row),
            None => skipped.push(cat.index.clone()),
        }
    }
    let in_cluster: BTreeSet<&str> = inputs.indices.iter().map(|c| c.index.as_str()).collect();
    let mut incomplete = Vec::new();
    let mut foreign = Vec::new();
    let archive_life = chrono::Duration::days(ages.expire - ages.cold);
    for (index, state) in &inputs.archived {
        if in_cluster.contains(index.as_str()) {
            continue;
        }
        if !settings.manages(index) {
            let wanted = settings
                .data_stream
                .as_ref()
                .map_or(settings.pattern.clone(), |_| format!("{}*", settings.listing_prefix()));
            foreign.push((index.clone(), format!("does not match {wanted}")));
            continue;
        }
        if !state.manifest {
            incomplete.push(index.clone());
            continue;
        }
        let Some(found) = inputs.manifests.get(index) else {
            continue;
        };
        if let Err(why) = checks::owned_by(found.job.as_deref(), &inputs.job) {
            foreign.push((index.clone(), why));
            continue;
        }
        let date = match (settings.age_from, &settings.data_stream) {
            (AgeFrom::Name, None) => pattern.date_of(index).unwrap_or(found.date),
            _ => found.date,
        };
        let location = Location::S3 {
            glacier: state.glacier(),
        };
        let mut row = Row::new(
            index.clone(),
            date,
            location,
            (ages, inputs.now),
            Some(found.doc_count),
            Some(state.size()),
        );
        if row.action == Action::Expire && checks::too_young_to_expire(found.archived_at, inputs.now, archive_life) {
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
    let deferred = if inputs.force {
        0
    } else {
        tiers::apply_limit(&mut actions, settings.max_indices_per_run)
    };
    for (row, action) in rows.iter_mut().zip(actions) {
        row.action = action;
    }
    let data_nodes = nodes
        .iter()
        .filter(|n| n.roles.iter().any(|r| r.starts_with("data")))
        .count();
    Plan {
        now: inputs.now,
        warm_method: method,
        index_concurrency: settings.index_concurrency.unwrap_or(data_nodes.clamp(1, 4)),
        pattern: settings.pattern.clone(),
        rows,
        skipped,
        write_index: inputs.write_index.clone(),
        incomplete_archives: incomplete,
        foreign_archives: foreign,
        deferred,
    }
}

/// The row of an index in the cluster, `None` when the job does not manage it (name not
/// matching the pattern, or no creation date to age it by).
fn cluster_row(settings: &Settings, inputs: &Inputs, method: WarmMethod, cat: &CatIndex) -> Option<Row> {
    let name_date = if settings.data_stream.is_some() {
        settings.manages(&cat.index).then_some(NaiveDate::MIN)
    } else {
        settings.index_pattern().date_of(&cat.index)
    }?;
    let age_from = if settings.data_stream.is_some() {
        AgeFrom::CreationDate
    } else {
        settings.age_from
    };
    let date = match age_from {
        AgeFrom::Name => name_date,
        AgeFrom::CreationDate => DateTime::from_timestamp_millis(cat.creation_date? as i64)?.date_naive(),
    };
    let (warm_key, warm_value) = placement::warm_setting(method, &settings.warm_attribute, &settings.warm_value);
    let empty = serde_json::Map::new();
    let flat = inputs.index_settings.get(&cat.index).unwrap_or(&empty);
    let get = |key: &str| flat.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let warm = get(&warm_key) == warm_value && get("index.blocks.write") == "true";
    let location = if cat.is_closed() {
        Location::ClosedIndex
    } else {
        Location::Cluster {
            warm,
            archived: inputs.archived.get(&cat.index).is_some_and(|a| a.manifest),
        }
    };
    let mut row = Row::new(
        cat.index.clone(),
        date,
        location,
        (settings.tier_ages(), inputs.now),
        cat.docs_count,
        cat.store_size,
    );
    row.health = cat.health.clone();
    if warm && !cat.is_closed() {
        let of_index: Vec<_> = inputs.shards.iter().filter(|s| s.index == cat.index).collect();
        let placed = placement::placement(
            &of_index,
            &inputs.nodes,
            method,
            &settings.warm_attribute,
            &settings.warm_value,
        );
        row.placement = Some(placed);
        if placed == Placement::Stuck && row.action == Action::None && row.target == Tier::Warm {
            row.action = Action::Skip(SkipReason::Stuck);
            row.note = Some(format!("asked to be warm ({warm_key}: {warm_value}) but not moving"));
        }
    }
    if let Action::Archive { .. } = row.action {
        if cat.health.as_deref() == Some("red") {
            row.action = Action::Skip(SkipReason::Unhealthy);
            row.note = Some("health red: a primary shard is unassigned; kept until it is green or yellow".into());
        } else if let Some(loss) = inputs
            .mappings
            .get(&cat.index)
            .and_then(|m| checks::source_loss(m, flat))
            && !settings.allow_rebuilt_source
        {
            row.action = Action::Skip(SkipReason::SourceNotArchivable);
            row.note = Some(format!("{loss}; kept (allow_rebuilt_source = true archives it anyway)"));
        }
    }
    Some(row)
}

/// Warnings of a plan, and whether one of them needs an operator (the run then exits 1).
pub fn plan_warnings(plan: &Plan) -> (Vec<String>, bool) {
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

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
