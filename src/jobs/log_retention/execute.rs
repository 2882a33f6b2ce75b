//! Log-retention I/O: gathers what the cluster and the bucket hold for the pure plan, then
//! runs each index's step (warm, archive, transition, expire) under the run lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::archive::Shared;
use super::folders::Folders;
use super::group::Groups;
use super::placement::WarmMethod;
use super::plan::{self, ArchiveState, Inputs, Plan, Row, plan_warnings};
use super::settings::Settings;
use super::steps::{expire, transition, warm};
use super::tiers::{Action, SkipReason};
use super::{archive, delete_queue, lock, manifest};
use crate::clients::s3::ArchiveStore;
use crate::clients::search::SearchClient;
use crate::jobs::{JobContext, JobError, Outcome, Status, connect};

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

async fn clients(ctx: &JobContext, settings: &Settings) -> Result<(SearchClient, ArchiveStore), JobError> {
    let store = connect::archive(&ctx.config, |s3| settings.prefix_in(s3).to_string()).await?;
    Ok((connect::search(&ctx.config)?, store))
}

/// What the plan is decided from: one call per kind of fact, manifests 16 at a time.
async fn gather(
    ctx: &JobContext,
    settings: &Settings,
    search: &SearchClient,
    store: &ArchiveStore,
) -> Result<Inputs, JobError> {
    let prefix = settings.listing_prefix();
    let write_index = match &settings.data_stream {
        Some(stream) => Some(search.data_stream_write_index(stream).await?),
        None => None,
    };
    let indices = search.cat_indices(&prefix).await?;
    let archived = archives(store).await?;
    let wanted = plan::manifests_to_read(settings, &indices, &archived);
    let reads: Vec<_> = wanted
        .iter()
        .map(|index| {
            let (store, index) = (store.clone(), index.clone());
            async move { manifest::read(&store, &index).await.map(|found| (index, found)) }
        })
        .collect();
    let mut manifests = BTreeMap::new();
    for read in futures::stream::iter(reads).buffered(16).collect::<Vec<_>>().await {
        if let (index, Some(found)) = read? {
            manifests.insert(index, found);
        }
    }
    Ok(Inputs {
        now: ctx.now,
        force: ctx.options.force,
        job: ctx.job.name.clone(),
        write_index,
        indices,
        index_settings: search.settings_all(&prefix).await?,
        mappings: search.mappings_all(&prefix).await?,
        nodes: search.nodes().await?,
        shards: search.cat_shards(&prefix).await?,
        archived,
        manifests,
    })
}

/// The plan of a run: gather, decide, then ask the cluster why stuck indices do not move.
pub async fn plan(ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
    Ok(planned(ctx, settings).await?.0)
}

/// The plan, and the archive folders it was decided from.
async fn planned(ctx: &JobContext, settings: &Settings) -> Result<(Plan, BTreeMap<String, ArchiveState>), JobError> {
    let (search, store) = clients(ctx, settings).await?;
    let inputs = gather(ctx, settings, &search, &store).await?;
    let mut plan = plan::build(settings, &inputs);
    for row in plan
        .rows
        .iter_mut()
        .filter(|r| r.action == Action::Skip(SkipReason::Stuck))
    {
        let why = search
            .allocation_explain(&row.index)
            .await
            .unwrap_or_else(|e| format!("allocation explain failed: {e}"));
        if let Some(note) = &mut row.note {
            note.push_str(&format!(": {why}"));
        }
    }
    Ok((plan, inputs.archived))
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
        let (fresh, archived) = planned(ctx, settings).await?;
        (warnings, attention) = plan_warnings(&fresh);
        if destructive(&fresh.rows) {
            ctx.check_clock()?;
        }
        let work: Vec<&Row> = fresh.rows.iter().filter(|r| r.action.is_work()).collect();
        run_work(
            ctx,
            settings,
            (&search, &store, &lock),
            (fresh.warm_method, fresh.index_concurrency),
            (&work, &archived),
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
    (method, concurrency): (WarmMethod, usize),
    (work, archived): (&[&Row], &BTreeMap<String, ArchiveState>),
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, u64>, JobError> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures: Vec<(String, JobError)> = Vec::new();
    let lifecycle_checked = AtomicBool::new(false);
    let to_archive: Vec<String> = work
        .iter()
        .filter(|r| matches!(r.action, Action::Archive { .. }))
        .map(|r| r.index.clone())
        .collect();
    let groups = Groups::new(&to_archive, &settings.timestamp_field);
    // Listed under the lock before any export starts: leftovers only, none of this run's.
    let folders = Folders::read(store, archived, &to_archive).await?;
    let (deletes, requests) = delete_queue::channel();
    // Up to `concurrency` indices at once (a slot each), oldest first; each step keeps its
    // own guarantees (checks before its delete), and all run under the one lock. An archived
    // index gives its slot back while it waits for the delete queue, served alongside.
    // Transitions after a delete have slots of their own: a step's slot was given back.
    let slots = (Semaphore::new(concurrency.max(1)), Semaphore::new(concurrency.max(1)));
    let steps = async {
        let shared = Shared::new(search, store, (&groups, folders), deletes);
        let steps: Vec<_> = work
            .iter()
            .enumerate()
            .map(|(position, row)| {
                let step = index_step(ctx, settings, (&shared, lock, &slots), method, row, &lifecycle_checked);
                Box::pin(numbered(position, step))
            })
            .collect();
        let mut results: Vec<_> = futures::stream::iter(steps)
            .buffer_unordered(work.len().max(1))
            .collect()
            .await;
        results.sort_by_key(|(position, _)| *position);
        results
    };
    let (results, ()) = futures::join!(steps, delete_queue::serve(requests, search, lock));
    groups.release_unclaimed(search).await;
    for (_, (index, result, step_counts, step_warnings)) in results {
        for (name, value) in step_counts {
            *counts.entry(name).or_default() += value;
        }
        warnings.extend(step_warnings);
        if let Err(error) = result {
            warn!(message = "index step failed", index, error = %error);
            failures.push((index.to_string(), error));
        }
    }
    if let Some((index, first)) = failures.into_iter().next() {
        return Err(first.context(format!("{index} (other indices were processed; a rerun resumes)")));
    }
    Ok(counts)
}

async fn numbered<T>(position: usize, step: impl std::future::Future<Output = T>) -> (usize, T) {
    (position, step.await)
}

/// What one index's step did: its index, result, counts and warnings.
type StepResult<'a> = (&'a str, Result<(), JobError>, BTreeMap<String, u64>, Vec<String>);

/// One index's step (warm, archive, transition or expire), timed in the logs, in a slot of
/// the run's concurrency.
async fn index_step<'a>(
    ctx: &JobContext,
    settings: &Settings,
    (shared, lock, (slots, after_delete)): (&Shared<'_>, &lock::RunLock, &(Semaphore, Semaphore)),
    method: WarmMethod,
    row: &'a Row,
    lifecycle_checked: &AtomicBool,
) -> StepResult<'a> {
    let mut step_counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut step_warnings = Vec::new();
    let index = row.index.as_str();
    let Ok(slot) = slots.acquire().await else {
        return (index, Err(JobError::Cancelled), step_counts, step_warnings);
    };
    if ctx.cancel.is_cancelled() {
        return (index, Err(JobError::Cancelled), step_counts, step_warnings);
    }
    if let Err(error) = lock.check() {
        return (index, Err(error), step_counts, step_warnings);
    }
    let (search, store) = (shared.search, shared.store);
    info!(message = "index step", index, action = row.action.describe());
    let started = std::time::Instant::now();
    let mut checked = lifecycle_checked.load(Ordering::Relaxed);
    let mut slot = Some(slot);
    let result: Result<(), JobError> = async {
        match row.action {
            Action::Warm => {
                warm(search, settings, method, index).await?;
                *step_counts.entry("indices_warmed".into()).or_default() += 1;
            }
            Action::Archive { then_transition } => {
                let report = archive::archive_index(ctx, settings, shared, slot.take(), index, row.date).await?;
                *step_counts.entry("indices_archived".into()).or_default() += 1;
                *step_counts.entry("documents_archived".into()).or_default() += report.docs;
                *step_counts.entry("bytes_uploaded".into()).or_default() += report.bytes;
                if then_transition {
                    let _slot = after_delete.acquire().await.map_err(|_| JobError::Cancelled)?;
                    transition(settings, store, index, &mut checked, &mut step_warnings).await?;
                    *step_counts.entry("archives_transitioned".into()).or_default() += 1;
                }
            }
            Action::Transition => {
                transition(settings, store, index, &mut checked, &mut step_warnings).await?;
                *step_counts.entry("archives_transitioned".into()).or_default() += 1;
            }
            Action::Expire => {
                expire(store, index).await?;
                *step_counts.entry("archives_expired".into()).or_default() += 1;
            }
            Action::None | Action::Skip(_) => {}
        }
        Ok(())
    }
    .await;
    drop(slot);
    if checked {
        lifecycle_checked.store(true, Ordering::Relaxed);
    }
    info!(
        message = "index step done",
        index,
        action = row.action.describe(),
        ok = result.is_ok(),
        seconds = started.elapsed().as_secs_f64()
    );
    (index, result, step_counts, step_warnings)
}
