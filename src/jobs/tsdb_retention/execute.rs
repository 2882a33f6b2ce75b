//! The I/O of the `tsdb-retention` job: planning asks the server what it is and lists each
//! rule's series (`scan`); a run sends `delete_series`, `clean_tombstones`, then verifies.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::decide::{self, Batcher};
use super::plan::{self, BlockLayout, Gathered, Plan, Scanned};
use super::scan;
use super::settings::{Action, Rule, Settings};
use crate::clients::prometheus::PrometheusClient;
use crate::clients::prometheus::admin::{AdminClient, AdminError, Server};
use crate::jobs::{JobContext, JobError, Outcome, Status};

fn clients(ctx: &JobContext) -> Result<(PrometheusClient, AdminClient), JobError> {
    let client = crate::jobs::connect::prometheus(&ctx.config)?;
    let admin = AdminClient::new(client.http().clone());
    Ok((client, admin))
}

/// Everything planning needs from the server: its flavour and retention, each rule's series,
/// and the block layout when a Prometheus deletion touches blocks.
pub(super) async fn gather(ctx: &JobContext, settings: &Settings) -> Result<Gathered, JobError> {
    let (client, admin) = clients(ctx)?;
    let server = admin.detect().await?;
    let mut warnings = Vec::new();
    if let Server::Prometheus { admin_api: false, .. } = server {
        let error = AdminError::Disabled {
            url: client.http().shown_url(""),
            detail: "flag web.enable-admin-api is false".into(),
        };
        if !ctx.options.dry_run {
            return Err(JobError::fatal(error));
        }
        warnings.push(error.to_string());
    }
    if server.is_victoria_metrics()
        && let Some((i, rule)) = settings.rules.iter().enumerate().find(|(_, r)| r.retain.is_some())
    {
        return Err(JobError::Usage(format!(
            "{} is a `retain` rule, but {} is VictoriaMetrics: its delete_series ignores time ranges \
             and would delete whole series, so per-selector retention cannot be applied there \
             (use -retentionFilter of VictoriaMetrics Enterprise, or remove the rule)",
            rule.describe(i),
            client.http().shown_url("")
        )));
    }
    let window_start = plan::window_start(ctx.now, settings.lookback, &server);
    info!(message = "planning TSDB maintenance", server = ?server, window_start = %window_start.to_rfc3339(), rules = settings.rules.len());
    // A dry run only counts the delete requests; a run keeps their selectors up to the
    // series limit it would refuse past (all of them with --force).
    let keep = match (ctx.options.dry_run, ctx.options.force) {
        (true, _) => Some(0),
        (false, true) => None,
        (false, false) => Some(settings.max_series_per_run),
    };
    let scans = scan_rules(&settings.rules, |index, rule| {
        let batcher = Batcher::new(settings.max_request_bytes, plan::RESERVED, keep);
        scan::rule(ctx, &client, settings.sample_size, index, rule, window_start, batcher)
    })
    .await?;
    let layout = if plan::needs_block_layout(&server, &scans) {
        Some(BlockLayout::new(admin.head_stats().await?, admin.blocks().await?))
    } else {
        None
    };
    Ok(Gathered {
        server,
        window_start,
        scans,
        layout,
        warnings,
    })
}

/// Scans the rules in order; an error names the rule it came from (`rules[2] (stale
/// {job="x"} after 2d): ...`) so the operator finds it in jobs.toml.
async fn scan_rules<'a, F, Fut>(rules: &'a [Rule], mut scan: F) -> Result<Vec<Scanned>, JobError>
where
    F: FnMut(usize, &'a Rule) -> Fut,
    Fut: Future<Output = Result<Scanned, JobError>>,
{
    let mut scans = Vec::with_capacity(rules.len());
    for (index, rule) in rules.iter().enumerate() {
        let scanned = scan(index, rule)
            .await
            .map_err(|error| error.context(rule.describe(index)))?;
        scans.push(scanned);
    }
    Ok(scans)
}

/// Deletes what the plan lists.
pub(super) async fn run(ctx: &JobContext, settings: &Settings, plan: Plan) -> Result<Outcome, JobError> {
    if plan.over_limit && !ctx.options.force {
        return Err(JobError::fatal(anyhow::anyhow!(
            "refusing to delete {} series: above max_series_per_run = {} (nothing deleted; check the plan with \
             --dry-run, then raise the limit or run with --force)",
            plan.total_series,
            plan.max_series_per_run
        )));
    }
    if !plan.requests_complete {
        // Selectors are only counted past the limit or in a dry run; deleting from such a plan
        // would miss series.
        return Err(JobError::fatal(anyhow::anyhow!(
            "the plan's delete requests were counted, not kept (dry run or over max_series_per_run): nothing deleted"
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
            let rule = settings.rules.get(request.rule).map(|r| r.describe(request.rule));
            JobError::from(e).context(format!(
                "delete_series for {} failed after {requests} successful request(s)",
                rule.unwrap_or_else(|| format!("rule #{}", request.rule))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planning_errors_name_the_rule() {
        let settings: Settings = toml::from_str(
            r#"
            [[rules]]
            stale = '{job="a"}'
            after = "2d"
            [[rules]]
            stale = '{job=~"("}'
            after = "36h"
            [[rules]]
            retain = 'up{job="b"}'
            keep = "1w"
            "#,
        )
        .unwrap();
        let scanned = std::cell::Cell::new(0);
        let error = futures::executor::block_on(scan_rules(&settings.rules, |index, _| {
            scanned.set(scanned.get() + 1);
            async move {
                match index {
                    1 => Err(JobError::fatal(anyhow::anyhow!("bad_data: error parsing regexp"))),
                    _ => Ok(Scanned::default()),
                }
            }
        }))
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"rules[1] (stale {job=~"("} after 1d12h): bad_data: error parsing regexp"#
        );
        assert!(!error.is_transient());
        assert_eq!(scanned.get(), 2, "planning stops at the failing rule");

        // A retry stays a retry, and the selector reads as the server gets it.
        let error = futures::executor::block_on(scan_rules(&settings.rules, |index, _| async move {
            match index {
                2 => Err(JobError::transient(anyhow::anyhow!("503 Service Unavailable"))),
                _ => Ok(Scanned::default()),
            }
        }))
        .unwrap_err();
        assert!(error.is_transient());
        assert_eq!(
            error.to_string(),
            r#"rules[2] (retain {__name__="up",job="b"} keep 7d): 503 Service Unavailable"#
        );
    }
}
