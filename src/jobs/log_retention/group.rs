//! Write blocks by group: the indices a run archives, in comma lists of at most ~3 KB, are read,
//! write-blocked, refreshed and described with one request each when the first of them starts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tracing::{info, warn};

use super::batch::{self, MAX_LIST_BYTES};
use crate::clients::http::HttpError;
use crate::clients::search::{MinMax, SearchClient, Settings};
use crate::jobs::JobError;

/// What the group's requests say of one index, for its archive.
#[derive(Debug)]
pub struct Facts {
    /// The UUID read before the block and again after it (the same, or the index is refused).
    pub uuid: String,
    /// The index was write-blocked before this run: its failures leave the block in place.
    pub was_blocked: bool,
    /// Flat settings and mappings read after the write block (recorded in the manifest).
    pub settings: Settings,
    pub mappings: Value,
    /// The timestamp field's min and max, read for the whole group after the block (`None`
    /// if that search failed: the archive then asks for this index alone).
    pub min_max: Option<MinMax>,
}

struct Opened {
    /// Every index of the group found, and whether it was write-blocked before this run.
    was_blocked: BTreeMap<String, bool>,
    /// Taken out by each index's claim (a group's mappings are not all held to the end).
    facts: Mutex<BTreeMap<String, Result<Facts, String>>>,
}

struct Group {
    names: Vec<String>,
    opened: OnceCell<Opened>,
}

/// The run's archive indices in groups; an index's group is opened by its first `claim`.
pub struct Groups {
    timestamp_field: String,
    groups: Vec<Group>,
    of: BTreeMap<String, usize>,
    claimed: Mutex<BTreeSet<String>>,
}

impl Groups {
    /// `names` in the order they will be archived; `timestamp_field` for their time ranges.
    pub fn new(names: &[String], timestamp_field: &str) -> Self {
        let groups: Vec<Group> = batch::split_lists(names, MAX_LIST_BYTES)
            .into_iter()
            .map(|names| Group {
                names,
                opened: OnceCell::new(),
            })
            .collect();
        let of = groups
            .iter()
            .enumerate()
            .flat_map(|(at, group)| group.names.iter().map(move |name| (name.clone(), at)))
            .collect();
        Self {
            timestamp_field: timestamp_field.to_string(),
            groups,
            of,
            claimed: Mutex::default(),
        }
    }

    /// The facts of `index`, its group opened first if it is not yet. From then on the caller
    /// owns the index's write block: it lifts the block on failure if the run set it.
    pub async fn claim(&self, search: &SearchClient, index: &str) -> Result<Facts, JobError> {
        let group = self
            .of
            .get(index)
            .map(|&at| &self.groups[at])
            .ok_or_else(|| fatal(format!("{index}: not among the run's archive groups; index kept")))?;
        let opened = group
            .opened
            .get_or_try_init(|| open(search, &group.names, &self.timestamp_field))
            .await?;
        let facts = opened.facts.lock().unwrap_or_else(|e| e.into_inner()).remove(index);
        let facts = match facts {
            Some(Ok(facts)) => facts,
            Some(Err(message)) => return Err(fatal(message)),
            None => {
                return Err(fatal(format!(
                    "{index}: claimed twice or not read with its group; index kept"
                )));
            }
        };
        self.claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(index.to_string());
        Ok(facts)
    }

    /// Lifts the write block this run set on the indices of opened groups that no archive
    /// claimed (the run stopped first, or the index was refused): they are left as found.
    pub async fn release_unclaimed(&self, search: &SearchClient) {
        let claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let names: Vec<String> = self
            .groups
            .iter()
            .filter_map(|group| group.opened.get())
            .flat_map(|opened| set_by_run(&opened.was_blocked))
            .filter(|name| !claimed.contains(name))
            .collect();
        lift(search, &names).await;
    }
}

fn fatal(message: String) -> JobError {
    JobError::fatal(anyhow::anyhow!(message))
}

/// The indices that were not write-blocked before this run.
fn set_by_run(was_blocked: &BTreeMap<String, bool>) -> Vec<String> {
    was_blocked
        .iter()
        .filter(|(_, was)| !**was)
        .map(|(name, _)| name.clone())
        .collect()
}

/// Opens a group; once more if an index vanished between the read and the block (404: the
/// block then changed nothing).
async fn open(search: &SearchClient, names: &[String], field: &str) -> Result<Opened, JobError> {
    match open_once(search, names, field).await {
        Err(error) if error.status() == Some(reqwest::StatusCode::NOT_FOUND) => {
            Ok(open_once(search, names, field).await?)
        }
        result => Ok(result?),
    }
}

/// Reads the group (UUIDs, blocks), write-blocks it in one settings update, refreshes it, and
/// reads its settings, mappings and time ranges. Any failure after the read lifts what the run
/// may have set (the answer of the block may be lost while the block holds).
async fn open_once(search: &SearchClient, names: &[String], field: &str) -> Result<Opened, HttpError> {
    let started = Instant::now();
    let before = search.settings_of(names).await?;
    let was_blocked: BTreeMap<String, bool> = before
        .iter()
        .map(|(name, settings)| (name.clone(), batch::write_blocked(settings)))
        .collect();
    let present: Vec<String> = names.iter().filter(|n| before.contains_key(*n)).cloned().collect();
    let described = async {
        search
            .put_settings_of(&present, &json!({"index.blocks.write": true}))
            .await?;
        search.refresh_of(&present).await?;
        let after = search.settings_of(&present).await?;
        let mappings = search.mappings_of(&present).await?;
        Ok::<_, HttpError>((after, mappings))
    }
    .await;
    let (after, mut mappings) = match described {
        Ok(described) => described,
        Err(error) => {
            lift(search, &set_by_run(&was_blocked)).await;
            return Err(error);
        }
    };
    let mut ranges = search.min_max_of(&present, field).await.ok();
    let mut facts = BTreeMap::new();
    for name in names {
        let fact = match (before.get(name), after.get(name)) {
            (None, _) => Err(format!(
                "{name}: no longer in the cluster (deleted since the plan?); nothing archived"
            )),
            (Some(_), None) => Err(format!("{name}: vanished while being write-blocked; nothing archived")),
            (Some(old), Some(new)) if batch::uuid(old) != batch::uuid(new) => Err(format!(
                "{name}: replaced by another index of that name while being write-blocked (UUID {} then {}); \
                 index kept",
                batch::uuid(old),
                batch::uuid(new)
            )),
            (Some(old), Some(new)) => Ok(Facts {
                uuid: batch::uuid(new).to_string(),
                was_blocked: batch::write_blocked(old),
                settings: new.clone(),
                mappings: mappings.remove(name).unwrap_or_else(|| json!({})),
                min_max: ranges.as_mut().map(|r| r.remove(name).unwrap_or_default()),
            }),
        };
        facts.insert(name.clone(), fact);
    }
    info!(
        message = "index group write-blocked",
        indices = present.len(),
        first = names.first().map(String::as_str).unwrap_or_default(),
        seconds = started.elapsed().as_secs_f64()
    );
    Ok(Opened {
        was_blocked,
        facts: Mutex::new(facts),
    })
}

/// Unsets `index.blocks.write` on the names still in the cluster, in lists of ~3 KB (strict
/// updates of names just read; one by one if a list fails). Failures are logged, not raised:
/// the run already failed or stopped.
pub async fn lift(search: &SearchClient, names: &[String]) {
    let unset = json!({"index.blocks.write": null});
    for list in batch::split_lists(names, MAX_LIST_BYTES) {
        let present: Vec<String> = match search.settings_of(&list).await {
            Ok(found) => list.into_iter().filter(|n| found.contains_key(n)).collect(),
            Err(_) => list,
        };
        if present.is_empty() {
            continue;
        }
        if search.put_settings_of(&present, &unset).await.is_ok() {
            info!(message = "write block set by this run lifted", indices = present.len());
            continue;
        }
        for index in &present {
            if let Err(error) = search.put_settings(index, &unset).await
                && search.exists(index).await.unwrap_or(true)
            {
                warn!(message = "cannot lift the write block set by this run", index, %error);
            }
        }
    }
}
