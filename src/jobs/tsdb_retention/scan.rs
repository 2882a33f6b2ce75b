//! The series listing of planning: walks one rule metric by metric through the series API
//! (whole window vs. recent window for stale rules), so memory stays bounded by one metric.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tracing::{debug, info};

use super::decide::{self, Batcher, Batches, Selector};
use super::plan::{MetricPlan, Scanned, deletion_end};
use super::settings::{Action, Rule};
use crate::clients::prometheus::series::{LabelPairs, SeriesAnswer};
use crate::clients::prometheus::{Labels, PrometheusClient, PrometheusError};
use crate::jobs::{JobContext, JobError};

/// What the server holds for one rule within `[window_start, now]`.
pub(super) async fn rule(
    ctx: &JobContext,
    client: &PrometheusClient,
    sample_size: usize,
    index: usize,
    rule: &Rule,
    window_start: DateTime<Utc>,
    batcher: Batcher,
) -> Result<Scanned, JobError> {
    let (action, selector, _) = rule.parts();
    let end = deletion_end(rule, ctx.now);
    match action {
        Action::Stale => {
            scan_stale(
                ctx,
                client,
                sample_size,
                (index, selector),
                (window_start, end),
                batcher,
            )
            .await
        }
        Action::Retain => scan_retain(ctx, client, sample_size, index, selector, window_start, end).await,
    }
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

/// Stale series of one rule: per metric, whole window minus recent window, with the exact
/// selector of every stale series grouped into `delete_series` requests by `batcher`.
async fn scan_stale(
    ctx: &JobContext,
    client: &PrometheusClient,
    sample_size: usize,
    (index, selector): (usize, &Selector),
    (window_start, end): (DateTime<Utc>, DateTime<Utc>),
    mut batcher: Batcher,
) -> Result<Scanned, JobError> {
    let names = metric_names(client, selector, window_start, ctx.now).await?;
    let mut metrics = Vec::new();
    // Two series calls in flight at any time (whole window, then recent window, metric after
    // metric): a call takes one of two permits for its request only, so the next calls start
    // as soon as an answer arrives, while up to AHEAD answers wait to be read in order.
    const AHEAD: usize = 6;
    let mut calls = Vec::with_capacity(names.len() * 2);
    for name in &names {
        let matcher = vec![selector.for_metric(name).render()];
        calls.push((matcher.clone(), window_start));
        calls.push((matcher, end));
    }
    let (series_client, now) = (client.clone(), ctx.now);
    let permits = Arc::new(Semaphore::new(2));
    let mut answers = futures::stream::iter(calls)
        .map(move |(matcher, from)| {
            let (client, permits) = (series_client.clone(), permits.clone());
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.expect("the semaphore is never closed");
                client.series_answer(&matcher, from, now).await
            })
        })
        .buffered(AHEAD);
    for name in names.iter().cloned() {
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        // Both answers are read in place; only the stale series' labels are copied out.
        let whole_answer = next_answer(&mut answers).await?;
        let whole = whole_answer.label_sets()?;
        let recent: HashSet<u64> = next_answer(&mut answers)
            .await?
            .label_sets()?
            .iter()
            .map(decide::fingerprint)
            .collect();
        // Label names of every series of this metric, live ones included, so that exact
        // selectors pin absent labels to "" and never match a live superset.
        let all_names = decide::label_names(&whole);
        let stale: Vec<Labels> = decide::stale_series(whole, &recent)
            .iter()
            .map(LabelPairs::to_labels)
            .collect();
        debug!(message = "metric scanned", metric = %name, recent = recent.len(), stale = stale.len());
        if stale.is_empty() {
            continue;
        }
        for labels in &stale {
            batcher.push(decide::exact_selector(labels, &all_names));
        }
        metrics.push(MetricPlan {
            metric: name,
            series: stale.len() as u64,
            start: window_start,
            end,
            sample: sample(stale, sample_size),
        });
    }
    let series: u64 = metrics.iter().map(|m| m.series).sum();
    info!(message = "stale rule planned", rule = index, selector = %selector, stale_series = series, metrics = metrics.len());
    Ok(Scanned {
        metrics,
        exact: batcher.finish(),
    })
}

/// The next answer of a stream of spawned series calls.
async fn next_answer<S>(answers: &mut S) -> Result<SeriesAnswer, JobError>
where
    S: futures::Stream<Item = Result<Result<SeriesAnswer, PrometheusError>, tokio::task::JoinError>> + Unpin,
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
    sample_size: usize,
    index: usize,
    selector: &Selector,
    window_start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Scanned, JobError> {
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
            sample: sample(series, sample_size),
        });
    }
    let series: u64 = metrics.iter().map(|m| m.series).sum();
    info!(message = "retain rule planned", rule = index, selector = %selector, series, metrics = metrics.len());
    Ok(Scanned {
        metrics,
        exact: Batches::default(),
    })
}

fn sample(mut series: Vec<Labels>, size: usize) -> Vec<Labels> {
    series.sort();
    series.truncate(size);
    series
}
