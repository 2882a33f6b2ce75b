//! Planning: asks the server what it is, then walks each rule metric by metric through the
//! series API (whole window vs. recent window) so memory stays bounded by one metric.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use tracing::{debug, info};

use super::decide::{self, Selector};
use super::{Action, BlockEstimate, DeleteRequest, MetricPlan, Plan, RulePlan, Settings};
use crate::clients::prometheus::admin::{AdminClient, AdminError, Server};
use crate::clients::prometheus::{Labels, PrometheusClient, PrometheusError};
use crate::jobs::{JobContext, JobError};

/// Bytes kept free in each delete request for `start`/`end`.
const RESERVED: usize = 64;

pub(super) fn clients(ctx: &JobContext) -> Result<(PrometheusClient, AdminClient), JobError> {
    let endpoint = ctx
        .config
        .prometheus
        .as_ref()
        .ok_or_else(|| JobError::Usage("the tsdb-retention job needs a [prometheus] section".into()))?;
    let client = PrometheusClient::new(endpoint)?;
    let admin = AdminClient::new(client.http().clone());
    Ok((client, admin))
}

pub async fn plan(ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
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
        && let Some(i) = settings.rules.iter().position(|r| r.retain.is_some())
    {
        return Err(JobError::Usage(format!(
            "rule #{i} is a `retain` rule, but {} is VictoriaMetrics: its delete_series ignores time ranges \
             and would delete whole series, so per-selector retention cannot be applied there \
             (use -retentionFilter of VictoriaMetrics Enterprise, or remove the rule)",
            client.http().shown_url("")
        )));
    }
    let lookback = settings
        .lookback
        .map(|d| d.as_std().as_secs())
        .or(server.retention_seconds())
        .unwrap_or(if server.is_victoria_metrics() {
            31 * 86_400
        } else {
            15 * 86_400
        });
    let window_start = (ctx.now - Duration::seconds(lookback.min(i64::MAX as u64 / 2) as i64))
        .max(DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1));
    info!(message = "planning TSDB maintenance", server = ?server, window_start = %window_start.to_rfc3339(), rules = settings.rules.len());

    let mut rules = Vec::new();
    let mut requests = Vec::new();
    for (index, rule) in settings.rules.iter().enumerate() {
        let (action, selector, duration) = rule.parts();
        let end = ctx.now - duration.as_chrono();
        let (plan, selectors) = match action {
            Action::Stale => scan_stale(ctx, &client, settings, index, selector, window_start, end).await?,
            Action::Retain => scan_retain(ctx, &client, settings, index, selector, window_start, end).await?,
        };
        let series = plan.series;
        for matchers in decide::batches(selectors, settings.max_request_bytes, RESERVED) {
            // Stale requests carry one exact selector per series; a retain request one selector.
            let count = if action == Action::Stale {
                matchers.len() as u64
            } else {
                series
            };
            requests.push(DeleteRequest {
                rule: index,
                matchers,
                start: window_start,
                end,
                series: count,
            });
        }
        rules.push(plan);
    }
    let total_series = rules.iter().map(|r| r.series).sum();
    let blocks = estimate_blocks(&admin, &server, &mut rules, window_start).await?;
    Ok(Plan {
        clean_tombstones: settings.clean_tombstones && !server.is_victoria_metrics(),
        server,
        window_start,
        total_series,
        max_series_per_run: settings.max_series_per_run,
        over_limit: total_series > settings.max_series_per_run,
        blocks,
        delete_requests: requests.len(),
        warnings,
        requests,
        rules,
    })
}

/// Metric names matching `selector` with samples in `[start, end]`.
async fn metric_names(
    client: &PrometheusClient,
    selector: &Selector,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<String>, JobError> {
    if let Some(name) = selector.metric_name() {
        return Ok(vec![name.to_string()]);
    }
    let mut names = client
        .label_values("__name__", &[selector.render()], start, end)
        .await?;
    names.sort();
    names.dedup();
    Ok(names)
}

/// Stale series of one rule: per metric, whole window minus recent window; returns the exact
/// selector of every stale series.
async fn scan_stale(
    ctx: &JobContext,
    client: &PrometheusClient,
    settings: &Settings,
    index: usize,
    selector: &Selector,
    window_start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(RulePlan, Vec<String>), JobError> {
    let names = metric_names(client, selector, window_start, ctx.now).await?;
    let mut metrics = Vec::new();
    let mut selectors = Vec::new();
    // Two series calls in flight at any time (whole window, then recent window, metric after
    // metric), each a task that also decodes its answer, so that comparing one metric's
    // windows overlaps with fetching the next metric's.
    let mut calls = Vec::with_capacity(names.len() * 2);
    for name in &names {
        let matcher = vec![selector.for_metric(name).render()];
        calls.push((matcher.clone(), window_start));
        calls.push((matcher, end));
    }
    let (series_client, now) = (client.clone(), ctx.now);
    let mut answers = futures::stream::iter(calls)
        .map(move |(matcher, from)| {
            let client = series_client.clone();
            tokio::spawn(async move { client.series(&matcher, from, now).await })
        })
        .buffered(2);
    for name in names.iter().cloned() {
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let whole = next_answer(&mut answers).await?;
        let recent: HashSet<u64> = next_answer(&mut answers)
            .await?
            .iter()
            .map(decide::fingerprint)
            .collect();
        // Label names of every series of this metric, live ones included, so that exact
        // selectors pin absent labels to "" and never match a live superset.
        let all_names = decide::label_names(&whole);
        let stale = decide::stale_series(whole, &recent);
        debug!(message = "metric scanned", metric = %name, recent = recent.len(), stale = stale.len());
        if stale.is_empty() {
            continue;
        }
        selectors.extend(stale.iter().map(|labels| decide::exact_selector(labels, &all_names)));
        metrics.push(MetricPlan {
            metric: name,
            series: stale.len() as u64,
            start: window_start,
            end,
            sample: sample(stale, settings.sample_size),
        });
    }
    let series = metrics.iter().map(|m| m.series).sum();
    info!(message = "stale rule planned", rule = index, selector = %selector, stale_series = series, metrics = metrics.len());
    Ok((
        RulePlan {
            index,
            action: Action::Stale,
            selector: selector.render(),
            end,
            series,
            metrics,
            blocks: None,
        },
        selectors,
    ))
}

/// The next answer of a stream of spawned series calls.
async fn next_answer<S>(answers: &mut S) -> Result<Vec<Labels>, JobError>
where
    S: futures::Stream<Item = Result<Result<Vec<Labels>, PrometheusError>, tokio::task::JoinError>> + Unpin,
{
    match answers.next().await {
        Some(Ok(answer)) => Ok(answer?),
        Some(Err(join)) => Err(JobError::fatal(anyhow::anyhow!("series call failed: {join}"))),
        None => Err(JobError::fatal(anyhow::anyhow!("series calls ended early"))),
    }
}

/// Series of a retain rule with samples older than `end`; the deletion is the rule's selector.
async fn scan_retain(
    ctx: &JobContext,
    client: &PrometheusClient,
    settings: &Settings,
    index: usize,
    selector: &Selector,
    window_start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(RulePlan, Vec<String>), JobError> {
    let names = metric_names(client, selector, window_start, end).await?;
    let mut metrics = Vec::new();
    for name in names {
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let series = client
            .series(&[selector.for_metric(&name).render()], window_start, end)
            .await?;
        if series.is_empty() {
            continue;
        }
        metrics.push(MetricPlan {
            metric: name,
            series: series.len() as u64,
            start: window_start,
            end,
            sample: sample(series, settings.sample_size),
        });
    }
    let series: u64 = metrics.iter().map(|m| m.series).sum();
    info!(message = "retain rule planned", rule = index, selector = %selector, series, metrics = metrics.len());
    let selectors = if series > 0 {
        vec![selector.render()]
    } else {
        Vec::new()
    };
    Ok((
        RulePlan {
            index,
            action: Action::Retain,
            selector: selector.render(),
            end,
            series,
            metrics,
            blocks: None,
        },
        selectors,
    ))
}

fn sample(mut series: Vec<Labels>, size: usize) -> Vec<Labels> {
    series.sort();
    series.truncate(size);
    series
}

/// Blocks each rule's deletion touches: listed by the server when it can, else estimated
/// from the head range and the block duration.
async fn estimate_blocks(
    admin: &AdminClient,
    server: &Server,
    rules: &mut [RulePlan],
    window_start: DateTime<Utc>,
) -> Result<BlockEstimate, JobError> {
    let Server::Prometheus {
        retention_seconds,
        max_block_seconds,
        ..
    } = server
    else {
        return Ok(BlockEstimate {
            count: None,
            source: "not_applicable",
            note: "VictoriaMetrics deletes whole series by marking them in its index; no blocks are rewritten".into(),
        });
    };
    let touching: Vec<&RulePlan> = rules.iter().filter(|r| r.series > 0).collect();
    let Some(latest_end) = touching.iter().map(|r| r.end).max() else {
        return Ok(BlockEstimate {
            count: Some(0),
            source: "listed",
            note: "nothing to delete".into(),
        });
    };
    let head = admin.head_stats().await?;
    let head = (head.min_time <= head.max_time).then_some((head.min_time, head.max_time));
    if let Some(blocks) = admin.blocks().await? {
        let count_until = |end: i64| {
            blocks.iter().filter(|b| b.min_time <= end).count() as u64
                + u64::from(head.is_some_and(|(min, _)| min <= end))
        };
        for rule in rules.iter_mut().filter(|r| r.series > 0) {
            rule.blocks = Some(count_until(rule.end.timestamp_millis()));
        }
        return Ok(BlockEstimate {
            count: Some(count_until(latest_end.timestamp_millis())),
            source: "listed",
            note: "from /api/v1/status/tsdb/blocks and the head range".into(),
        });
    }
    // Prometheus 2.x lists no blocks over HTTP: head range + at most max-block-duration each
    // (default 10% of the retention, capped at 31 days).
    let max_block = max_block_seconds
        .filter(|s| *s > 0)
        .or(retention_seconds.map(|r| (r / 10).clamp(2 * 3600, 31 * 86_400)))
        .unwrap_or(36 * 3600) as i64
        * 1000;
    let start = window_start.timestamp_millis();
    for rule in rules.iter_mut().filter(|r| r.series > 0) {
        rule.blocks = Some(decide::estimate_blocks(
            start,
            rule.end.timestamp_millis(),
            head,
            max_block,
        ));
    }
    Ok(BlockEstimate {
        count: Some(decide::estimate_blocks(
            start,
            latest_end.timestamp_millis(),
            head,
            max_block,
        )),
        source: "estimated",
        note: format!(
            "this server lists no blocks over HTTP: head block plus persisted blocks of up to {}h between the \
             lookback start and the deletion end (an upper bound when the TSDB holds less history)",
            max_block / 3_600_000
        ),
    })
}
