//! The `tsdb-retention` job: deletes stale series and applies per-selector retention through
//! the TSDB admin API of Prometheus or VictoriaMetrics. Settings and plan types live here.

pub mod decide;
mod execute;
mod scan;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use self::decide::Selector;
pub use self::execute::execute;
pub use self::scan::plan;
use crate::clients::prometheus::Labels;
use crate::clients::prometheus::admin::Server;
use crate::config::{HumanDuration, KeyPath, Section, SettingsError};
use crate::output::Table;

/// Connection sections this kind needs.
pub const REQUIRES: &[Section] = &[Section::Prometheus];

/// Settings of a `[jobs.<name>]` table of kind `tsdb-retention`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// What to delete, one `[[jobs.<name>.rules]]` table each: either
    /// `stale = '<selector>'` + `after = "2d"` (series whose newest sample is older than
    /// `after`), or `retain = '<selector>'` + `keep = "7d"` (drop history older than `keep`).
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Refuse a run that would delete more series than this (all rules together), unless
    /// `almanac run --force`.
    #[serde(default = "default_max_series")]
    pub max_series_per_run: u64,
    /// Call `clean_tombstones` once after the deletions, so the space is freed now rather
    /// than at the next compaction (Prometheus only; it rewrites every touched block).
    #[serde(default = "yes")]
    pub clean_tombstones: bool,
    /// How long `clean_tombstones` may take (a big TSDB can need more than 15 minutes).
    #[serde(default = "default_clean_timeout")]
    pub clean_tombstones_timeout: HumanDuration,
    /// How far back stale detection looks ("the whole retention"). Default: the server's
    /// retention (`--storage.tsdb.retention.time`, VictoriaMetrics `-retentionPeriod`).
    #[serde(default)]
    pub lookback: Option<HumanDuration>,
    /// Largest form-encoded body of one `delete_series` request; more `match[]` selectors
    /// are split over several requests.
    #[serde(default = "default_request_bytes")]
    pub max_request_bytes: usize,
    /// Label sets shown per metric in the plan.
    #[serde(default = "default_sample_size")]
    pub sample_size: usize,
    /// After deleting, check through the query API that the deleted ranges return nothing.
    #[serde(default = "yes")]
    pub verify: bool,
}

/// One rule: `stale` + `after`, or `retain` + `keep`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Series selector of a stale rule, e.g. `{job="kubernetes-pods"}`.
    pub stale: Option<Selector>,
    /// A series is stale when its newest sample is older than this.
    pub after: Option<HumanDuration>,
    /// Series selector of a retention rule, e.g. `{__name__=~".+_bucket"}`.
    pub retain: Option<Selector>,
    /// How much history a retention rule keeps.
    pub keep: Option<HumanDuration>,
}

/// A rule once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Stale,
    Retain,
}

impl Rule {
    /// (action, selector, duration) of a validated rule.
    pub fn parts(&self) -> (Action, &Selector, HumanDuration) {
        match (&self.stale, &self.retain) {
            (Some(selector), _) => (
                Action::Stale,
                selector,
                self.after.unwrap_or(HumanDuration::from_days(2)),
            ),
            (None, Some(selector)) => (
                Action::Retain,
                selector,
                self.keep.unwrap_or(HumanDuration::from_days(7)),
            ),
            (None, None) => unreachable!("validated rules have a selector"),
        }
    }
}

fn default_max_series() -> u64 {
    10_000
}
fn yes() -> bool {
    true
}
fn default_clean_timeout() -> HumanDuration {
    HumanDuration::from_secs(3_600)
}
fn default_request_bytes() -> usize {
    256 * 1024
}
fn default_sample_size() -> usize {
    3
}

impl Settings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (i, rule) in self.rules.iter().enumerate() {
            let path = KeyPath::root().key("rules").index(i);
            match (&rule.stale, &rule.retain) {
                (Some(_), Some(_)) => {
                    return Err(SettingsError::new(
                        path,
                        "a rule has either `stale` or `retain`, not both",
                    ));
                }
                (None, None) => {
                    return Err(SettingsError::new(
                        path,
                        "a rule needs `stale = '<selector>'` (with `after`) or `retain = '<selector>'` (with `keep`)",
                    ));
                }
                (Some(_), None) if rule.keep.is_some() => {
                    return Err(SettingsError::new(
                        path.key("keep"),
                        "`keep` belongs to `retain` rules; stale rules use `after`",
                    ));
                }
                (Some(_), None) if rule.after.is_none() => {
                    return Err(SettingsError::new(path, "a stale rule needs `after` (e.g. \"2d\")"));
                }
                (None, Some(_)) if rule.after.is_some() => {
                    return Err(SettingsError::new(
                        path.key("after"),
                        "`after` belongs to `stale` rules; retain rules use `keep`",
                    ));
                }
                (None, Some(_)) if rule.keep.is_none() => {
                    return Err(SettingsError::new(path, "a retain rule needs `keep` (e.g. \"7d\")"));
                }
                _ => {}
            }
            let (_, _, duration) = rule.parts();
            if duration.as_std().as_secs() < 300 {
                let key = if rule.stale.is_some() { "after" } else { "keep" };
                return Err(SettingsError::new(
                    path.key(key),
                    "must be at least 5m (shorter would delete live data)",
                ));
            }
        }
        if self.max_request_bytes < 1024 {
            return Err(SettingsError::new(
                KeyPath::root().key("max_request_bytes"),
                "must be at least 1024",
            ));
        }
        if let Some(lookback) = self.lookback
            && lookback.as_std().as_secs() < 3600
        {
            return Err(SettingsError::new(
                KeyPath::root().key("lookback"),
                "must be at least 1h",
            ));
        }
        Ok(())
    }
}

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
