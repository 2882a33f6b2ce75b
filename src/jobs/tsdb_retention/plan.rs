//! The plan of the `tsdb-retention` job, built without I/O: what the server said and what the
//! series listing found (plain data) → per-rule rows, `delete_series` requests, block estimate.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::decide::{self, Batches};
use super::settings::{Action, Rule, Settings};
use crate::clients::prometheus::Labels;
use crate::clients::prometheus::admin::{BlockMeta, HeadStats, Server};
use crate::config::HumanDuration;
use crate::output::Table;

/// Bytes kept free in each delete request for `start`/`end`.
pub const RESERVED: usize = 64;

/// What a run will delete, per rule and per metric.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub server: Server,
    /// Oldest time looked at (now − lookback).
    pub window_start: DateTime<Utc>,
    pub rules: Vec<RulePlan>,
    /// Series all rules delete together.
    pub total_series: u64,
    pub max_series_per_run: u64,
    /// Over the limit: the run refuses unless `--force`.
    pub over_limit: bool,
    pub blocks: BlockEstimate,
    pub clean_tombstones: bool,
    pub delete_requests: usize,
    pub warnings: Vec<String>,
    /// The `delete_series` request set (not printed: one exact selector per stale series).
    #[serde(skip)]
    pub requests: Vec<DeleteRequest>,
    /// False when `requests` was only counted (a dry run, or over `max_series_per_run`):
    /// such a plan is never executed.
    #[serde(skip)]
    pub requests_complete: bool,
}

/// One rule's share of the plan.
#[derive(Debug, Serialize)]
pub struct RulePlan {
    pub index: usize,
    pub action: Action,
    pub selector: String,
    /// Samples up to this time are deleted (now − after / now − keep).
    pub end: DateTime<Utc>,
    pub series: u64,
    pub metrics: Vec<MetricPlan>,
    /// TSDB blocks holding data before `end` (see `BlockEstimate`).
    pub blocks: Option<u64>,
}

/// One metric name of a rule.
#[derive(Debug, Serialize)]
pub struct MetricPlan {
    pub metric: String,
    pub series: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub sample: Vec<Labels>,
}

/// How many TSDB blocks the deletion touches (each is rewritten by `clean_tombstones`).
#[derive(Debug, Serialize)]
pub struct BlockEstimate {
    pub count: Option<u64>,
    /// `listed` (the server listed its blocks), `estimated` (from the head range and the
    /// block duration) or `not_applicable` (VictoriaMetrics has no blocks to rewrite).
    pub source: &'static str,
    pub note: String,
}

/// One `delete_series` call.
#[derive(Debug, Clone)]
pub struct DeleteRequest {
    pub rule: usize,
    pub matchers: Vec<String>,
    /// The start of the scanned window: only samples that were counted are deleted.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Series this request deletes (for counting).
    pub series: u64,
}

impl Plan {
    pub fn render_text(&self) -> String {
        let server = match &self.server {
            Server::Prometheus { .. } => "Prometheus",
            Server::VictoriaMetrics { .. } => "VictoriaMetrics",
        };
        let mut out = format!(
            "tsdb-retention on {server}: looking back to {}\n\n",
            self.window_start.to_rfc3339()
        );
        let mut table = Table::new([
            "rule",
            "action",
            "selector",
            "metric",
            "series",
            "deleted range",
            "sample",
        ]);
        for rule in &self.rules {
            if rule.metrics.is_empty() {
                table.row([
                    format!("#{}", rule.index),
                    format!("{:?}", rule.action).to_lowercase(),
                    rule.selector.clone(),
                    "-".into(),
                    "0".into(),
                    format!("… → {}", rule.end.format("%Y-%m-%d %H:%M")),
                    String::new(),
                ]);
            }
            for metric in &rule.metrics {
                let sample = metric.sample.iter().map(render_labels).collect::<Vec<_>>().join(" ");
                table.row([
                    format!("#{}", rule.index),
                    format!("{:?}", rule.action).to_lowercase(),
                    rule.selector.clone(),
                    metric.metric.clone(),
                    metric.series.to_string(),
                    format!(
                        "{} → {}",
                        metric.start.format("%Y-%m-%d %H:%M"),
                        metric.end.format("%Y-%m-%d %H:%M")
                    ),
                    sample,
                ]);
            }
        }
        out.push_str(&table.render());
        out.push_str(&format!(
            "\ntotal: {} series in {} delete request(s); limit {} per run{}\n",
            self.total_series,
            self.delete_requests,
            self.max_series_per_run,
            if self.over_limit {
                " — OVER THE LIMIT: refused without --force"
            } else {
                ""
            }
        ));
        out.push_str(&format!(
            "blocks touched: {} ({}: {})\n",
            self.blocks.count.map_or("n/a".to_string(), |c| c.to_string()),
            self.blocks.source,
            self.blocks.note
        ));
        out.push_str(&format!(
            "clean_tombstones: {}\n",
            if self.clean_tombstones {
                "yes, once at the end"
            } else {
                "no"
            }
        ));
        for warning in &self.warnings {
            out.push_str(&format!("warning: {warning}\n"));
        }
        out
    }
}

/// `{a="x", b="y"}` with the metric name in front, values escaped.
pub fn render_labels(labels: &Labels) -> String {
    let name = labels.get("__name__").map_or("", String::as_str);
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}=\"{}\"", decide::escape(v)))
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}

/// What the series listing found for one rule.
#[derive(Debug, Default)]
pub struct Scanned {
    /// Metrics with series to delete (none listed when a metric has none).
    pub metrics: Vec<MetricPlan>,
    /// Stale rules: the exact selector of every stale series, grouped into requests (only
    /// counted in a dry run, or past `max_series_per_run`). Retain rules: none (their
    /// deletion is the rule's own selector).
    pub exact: Batches,
}

impl Scanned {
    pub fn series(&self) -> u64 {
        self.metrics.iter().map(|m| m.series).sum()
    }
}

/// How the server lays out its TSDB, read only when a Prometheus deletion touches blocks.
#[derive(Debug, Default)]
pub struct BlockLayout {
    /// Head block range (milliseconds), when it holds samples.
    pub head: Option<(i64, i64)>,
    /// Persisted blocks, when the server lists them (Prometheus 3).
    pub listed: Option<Vec<BlockMeta>>,
}

impl BlockLayout {
    pub fn new(head: HeadStats, listed: Option<Vec<BlockMeta>>) -> Self {
        Self {
            head: (head.min_time <= head.max_time).then_some((head.min_time, head.max_time)),
            listed,
        }
    }
}

/// Everything planning asks the server, as plain data.
#[derive(Debug)]
pub struct Gathered {
    pub server: Server,
    pub window_start: DateTime<Utc>,
    /// One per rule, in the order of `settings.rules`.
    pub scans: Vec<Scanned>,
    /// `None` when `needs_block_layout` said no.
    pub layout: Option<BlockLayout>,
    pub warnings: Vec<String>,
}

/// Oldest time looked at: now − `lookback`, by default the server's retention (else 15 days
/// on Prometheus, 31 on VictoriaMetrics), never before the epoch.
pub fn window_start(now: DateTime<Utc>, lookback: Option<HumanDuration>, server: &Server) -> DateTime<Utc> {
    let lookback = lookback
        .map(|d| d.as_std().as_secs())
        .or(server.retention_seconds())
        .unwrap_or(if server.is_victoria_metrics() {
            31 * 86_400
        } else {
            15 * 86_400
        });
    (now - Duration::seconds(lookback.min(i64::MAX as u64 / 2) as i64))
        .max(DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1))
}

/// Samples up to this time are deleted: now − `after` (stale) or now − `keep` (retain).
pub fn deletion_end(rule: &Rule, now: DateTime<Utc>) -> DateTime<Utc> {
    let (_, _, duration) = rule.parts();
    now - duration.as_chrono()
}

/// Whether the block estimate needs the server's layout: Prometheus, with something to delete.
pub fn needs_block_layout(server: &Server, scans: &[Scanned]) -> bool {
    !server.is_victoria_metrics() && scans.iter().any(|s| s.series() > 0)
}

/// The plan from what the server said.
pub fn build(settings: &Settings, now: DateTime<Utc>, gathered: Gathered) -> Plan {
    let Gathered {
        server,
        window_start,
        scans,
        layout,
        warnings,
    } = gathered;
    let mut rules = Vec::with_capacity(scans.len());
    let mut requests = Vec::new();
    let mut delete_requests = 0;
    let mut complete = true;
    for ((index, rule), scanned) in settings.rules.iter().enumerate().zip(scans) {
        let (action, selector, _) = rule.parts();
        let end = deletion_end(rule, now);
        let series = scanned.series();
        let batches = match action {
            Action::Stale => scanned.exact,
            Action::Retain if series > 0 => Batches {
                count: 1,
                groups: vec![vec![selector.render()]],
                complete: true,
            },
            Action::Retain => Batches::default(),
        };
        delete_requests += batches.count;
        complete &= batches.complete;
        for matchers in batches.groups {
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
        rules.push(RulePlan {
            index,
            action,
            selector: selector.render(),
            end,
            series,
            metrics: scanned.metrics,
            blocks: None,
        });
    }
    let total_series = rules.iter().map(|r| r.series).sum();
    let blocks = estimate_blocks(&server, &mut rules, window_start, layout.unwrap_or_default());
    Plan {
        clean_tombstones: settings.clean_tombstones && !server.is_victoria_metrics(),
        server,
        window_start,
        total_series,
        max_series_per_run: settings.max_series_per_run,
        over_limit: total_series > settings.max_series_per_run,
        blocks,
        delete_requests,
        warnings,
        requests_complete: complete,
        requests,
        rules,
    }
}

/// Blocks each rule's deletion touches: as listed by the server when it can, else estimated
/// from the head range and the block duration.
fn estimate_blocks(
    server: &Server,
    rules: &mut [RulePlan],
    window_start: DateTime<Utc>,
    layout: BlockLayout,
) -> BlockEstimate {
    let Server::Prometheus {
        retention_seconds,
        max_block_seconds,
        ..
    } = server
    else {
        return BlockEstimate {
            count: None,
            source: "not_applicable",
            note: "VictoriaMetrics deletes whole series by marking them in its index; no blocks are rewritten".into(),
        };
    };
    let Some(latest_end) = rules.iter().filter(|r| r.series > 0).map(|r| r.end).max() else {
        return BlockEstimate {
            count: Some(0),
            source: "listed",
            note: "nothing to delete".into(),
        };
    };
    let BlockLayout { head, listed } = layout;
    if let Some(blocks) = listed {
        let count_until = |end: i64| {
            blocks.iter().filter(|b| b.min_time <= end).count() as u64
                + u64::from(head.is_some_and(|(min, _)| min <= end))
        };
        for rule in rules.iter_mut().filter(|r| r.series > 0) {
            rule.blocks = Some(count_until(rule.end.timestamp_millis()));
        }
        return BlockEstimate {
            count: Some(count_until(latest_end.timestamp_millis())),
            source: "listed",
            note: "from /api/v1/status/tsdb/blocks and the head range".into(),
        };
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
    BlockEstimate {
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
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
