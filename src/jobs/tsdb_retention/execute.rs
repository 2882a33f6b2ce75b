//! Execution: one set of `delete_series` requests, `clean_tombstones` once at the end, then a
//! check through the query API that the deleted ranges return nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::decide;
use super::scan::clients;
use super::{Action, Plan, Settings};
use crate::clients::prometheus::PrometheusClient;
use crate::jobs::{JobContext, JobError, Outcome, Status};

pub async fn execute(ctx: &JobContext, settings: &Settings, plan: Plan) -> Result<Outcome, JobError> {
    if plan.over_limit && !ctx.options.force {
        return Err(JobError::fatal(anyhow::anyhow!(
            "refusing to delete {} series: above max_series_per_run = {} (nothing deleted; check the plan with \
             --dry-run, then raise the limit or run with --force)",
            plan.total_series,
            plan.max_series_per_run
        )));
    }
    if !plan.requests.is_empty() {
        ctx.check_clock()?;
    }
    let (client, admin) = clients(ctx)?;
    let mut deleted: BTreeMap<usize, u64> = BTreeMap::new();
    let mut requests = 0u64;
    for request in &plan.requests {
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        // Stale: up to now − after, so samples of a series that came back since stay.
        // Retain: up to now − keep. VictoriaMetrics deletes whole series: no range is sent.
        let ranged = !plan.server.is_victoria_metrics();
        let (start, end) = (ranged.then_some(request.start), ranged.then_some(request.end));
        admin.delete_series(&request.matchers, start, end).await.map_err(|e| {
            JobError::from(e).context(format!(
                "delete_series for rule #{} failed after {requests} successful request(s)",
                request.rule
            ))
        })?;
        requests += 1;
        *deleted.entry(request.rule).or_default() += request.series;
        info!(message = "series deleted", rule = request.rule, selectors = request.matchers.len(), series = request.series, end = %request.end.to_rfc3339());
    }
    let mut outcome = Outcome::success("");
    let mut cleaned = false;
    if plan.clean_tombstones && requests > 0 {
        info!(message = "cleaning tombstones", timeout = %settings.clean_tombstones_timeout);
        match admin.clean_tombstones(settings.clean_tombstones_timeout.as_std()).await {
            Ok(()) => cleaned = true,
            Err(error) => {
                // The deletions stand (tombstones hide the data); compaction frees the space later.
                warn!(message = "clean_tombstones failed", %error);
                outcome.warnings.push(format!("clean_tombstones failed: {error}"));
            }
        }
    }
    let mut leftovers = 0u64;
    if settings.verify && requests > 0 {
        leftovers = verify(ctx, &client, &plan, settings).await?;
        if leftovers > 0 {
            let message = format!("{leftovers} series still return samples in the deleted ranges");
            warn!(message = "verification failed", leftovers);
            outcome.warnings.push(message);
        }
    }
    let total: u64 = deleted.values().sum();
    let by_action = |action: Action| -> u64 {
        plan.rules
            .iter()
            .filter(|r| r.action == action)
            .map(|r| deleted.get(&r.index).copied().unwrap_or(0))
            .sum()
    };
    outcome = outcome
        .count("series_deleted", total)
        .count("stale_series_deleted", by_action(Action::Stale))
        .count("retained_series_trimmed", by_action(Action::Retain))
        .count("delete_requests", requests)
        .count("tombstones_cleaned", u64::from(cleaned))
        .count("verify_leftover_series", leftovers);
    for rule in &plan.rules {
        outcome = outcome.count(
            &format!("rule{}_series_deleted", rule.index),
            deleted.get(&rule.index).copied().unwrap_or(0),
        );
    }
    let per_rule: Vec<String> = plan
        .rules
        .iter()
        .map(|r| {
            format!(
                "#{} {:?} {}: {}",
                r.index,
                r.action,
                r.selector,
                deleted.get(&r.index).copied().unwrap_or(0)
            )
        })
        .collect();
    outcome.summary = format!(
        "{total} series deleted in {requests} request(s){} ({})",
        if cleaned { ", tombstones cleaned" } else { "" },
        per_rule.join("; ")
    );
    if !outcome.warnings.is_empty() {
        outcome.status = Status::Partial;
    }
    Ok(outcome)
}

/// Counts series that still have samples in a deleted range: per request, an instant query at
/// its `end` over a range reaching back to the window start (`count(last_over_time(...))`).
async fn verify(
    ctx: &JobContext,
    client: &PrometheusClient,
    plan: &Plan,
    settings: &Settings,
) -> Result<u64, JobError> {
    let mut leftovers = 0u64;
    for request in &plan.requests {
        let at = request.end;
        let range = range_seconds(plan.window_start, at);
        let terms: Vec<String> = request
            .matchers
            .iter()
            .map(|m| format!("last_over_time({m}[{range}s])"))
            .collect();
        // Queries are POSTed too; keep them within the same size limit.
        for group in decide::batches(terms, settings.max_request_bytes, 64) {
            if ctx.cancel.is_cancelled() {
                return Err(JobError::Cancelled);
            }
            let query = format!("count({})", group.join(" or "));
            let result = client.query(&query, at).await?;
            leftovers += result.iter().map(|s| s.value as u64).sum::<u64>();
        }
    }
    info!(message = "deletions verified", leftovers);
    Ok(leftovers)
}

fn range_seconds(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    (end - start).num_seconds().max(1) + 1
}
