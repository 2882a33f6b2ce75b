//! The plan of the `tsdb-rollup` job, without I/O: each tier's windows from its watermark, now
//! and the time zone (23/25 h days), the hours to fetch, each metric's aggregates, the counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::read_path::ReadPath;
use super::settings::{Aggregate, MetricType, Rule, Tier};
use crate::jobs::tsdb_retention::Selector;
use crate::jobs::tsdb_retention::decide::{MatchOp, Matcher};
use crate::output::Table;

/// Name of the watermark series (labels `job` = the job's name, `tier` = `1h` / `1d`).
pub const WATERMARK: &str = "almanac_rollup_watermark";
/// How far before a window the last raw sample may be to serve as a counter's baseline.
pub const BASELINE_SECONDS: i64 = 3_600;

/// A window `[start, end)`: a raw sample at `start` belongs to it, one at `end` to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    pub fn seconds(&self) -> i64 {
        (self.end - self.start).num_seconds()
    }
    /// Timestamp (ms) of the window's rollup samples: its last millisecond, so a PromQL range
    /// `[24h]` evaluated at a day's end holds exactly that day's 24 hourly rollups.
    pub fn stamp_ms(&self) -> i64 {
        self.end.timestamp_millis() - 1
    }
}

/// The start of the job-zone hour holding `t` (UTC hours for whole-hour zones).
pub fn hour_floor(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local = t.with_timezone(&tz);
    t - Duration::seconds(i64::from(local.minute() * 60 + local.second()))
        - Duration::nanoseconds(i64::from(local.nanosecond()))
}

pub use crate::jobs::clock::start_of_day;

/// The first window boundary of `tier` at or after `t`.
pub fn boundary_at_or_after(tier: Tier, t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    match tier {
        Tier::Hour => {
            let floor = hour_floor(t, tz);
            if floor == t { t } else { floor + Duration::hours(1) }
        }
        Tier::Day => {
            let date = t.with_timezone(&tz).date_naive();
            let start = start_of_day(date, tz);
            if start >= t {
                start
            } else {
                start_of_day(date.succ_opt().unwrap_or(date), tz)
            }
        }
    }
}

/// The window of `tier` starting at the boundary `start`.
pub fn window_at(tier: Tier, start: DateTime<Utc>, tz: Tz) -> Window {
    let end = match tier {
        Tier::Hour => start + Duration::hours(1),
        Tier::Day => {
            let date = start.with_timezone(&tz).date_naive();
            start_of_day(date.succ_opt().unwrap_or(date), tz)
        }
    };
    Window { start, end }
}

/// What one tier does in this run.
#[derive(Debug, Clone, Serialize)]
pub struct TierPlan {
    pub tier: Tier,
    /// End of the last window already written (from the target), if any.
    pub watermark: Option<DateTime<Utc>>,
    /// Windows between a watermark older than `lookback` and now − lookback: not computed.
    pub skipped: Option<Window>,
    /// Windows this run computes, oldest first.
    pub windows: Vec<Window>,
    /// Completed windows left for later runs (`max_windows_per_run`).
    pub pending: usize,
    /// `--dry-run` only: rollup series and samples to write, per rule.
    pub counts: Vec<RuleCount>,
}

/// The windows of `tier` to compute: after the watermark (else, or when it is older, from
/// now − lookback), ending at most at `now − delay`, at most `max` of them.
pub fn tier_windows(
    tier: Tier,
    watermark: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    lookback: Duration,
    delay: Duration,
    max: usize,
    tz: Tz,
) -> TierPlan {
    let until = now - delay;
    let floor = now - lookback;
    // A watermark older than the lookback: raw samples that old are not read (they may be
    // gone); the plan says which span is skipped.
    let skipped = watermark.filter(|w| *w < floor).map(|w| Window {
        start: w,
        end: boundary_at_or_after(tier, floor, tz),
    });
    let from = watermark.filter(|w| *w >= floor).unwrap_or(floor);
    let mut start = boundary_at_or_after(tier, from, tz);
    let mut windows = Vec::new();
    let mut pending = 0;
    loop {
        let window = window_at(tier, start, tz);
        if window.end > until || window.end <= window.start {
            break;
        }
        if windows.len() < max {
            windows.push(window);
        } else {
            pending += 1;
        }
        start = window.end;
    }
    TierPlan {
        tier,
        watermark,
        skipped,
        windows,
        pending,
        counts: Vec::new(),
    }
}

/// One hour of raw samples the run fetches, and what it feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub window: Window,
    /// Its hourly rollups are written (it is one of the hour tier's windows).
    pub hour: bool,
    /// Index of the day-tier window it belongs to.
    pub day: Option<usize>,
    /// The last hour of that day: the day's rollups are written after it.
    pub closes_day: bool,
}

/// The hours to fetch: the hour tier's windows and every hour of the day tier's windows,
/// in time order, each once.
pub fn chunks(hours: &[Window], days: &[Window]) -> Vec<Chunk> {
    let mut by_start: BTreeMap<DateTime<Utc>, Chunk> = BTreeMap::new();
    for window in hours {
        by_start.insert(
            window.start,
            Chunk {
                window: *window,
                hour: true,
                day: None,
                closes_day: false,
            },
        );
    }
    for (index, day) in days.iter().enumerate() {
        let mut start = day.start;
        while start < day.end {
            let end = (start + Duration::hours(1)).min(day.end);
            let chunk = by_start.entry(start).or_insert(Chunk {
                window: Window { start, end },
                hour: false,
                day: None,
                closes_day: false,
            });
            chunk.day = Some(index);
            chunk.closes_day = end == day.end;
            start = end;
        }
    }
    by_start.into_values().collect()
}

/// How a series is rolled up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Gauge,
    Counter,
    /// A classic histogram's `_bucket` series (one per `le`).
    Bucket,
}

impl Kind {
    pub fn aggregates(self) -> &'static [Aggregate] {
        match self {
            Self::Gauge => &[Aggregate::Avg, Aggregate::Min, Aggregate::Max, Aggregate::Count],
            Self::Counter => &[Aggregate::Increase, Aggregate::Rate],
            Self::Bucket => &[Aggregate::Increase],
        }
    }
}

/// The kind of metric `name`: the rule's `type`, else `/api/v1/metadata` (by name, or by
/// family for `_bucket`/`_sum`/`_count`/`_total`), else by suffix (`_bucket`; `_total`,
/// `_sum`, `_count` are counters; anything else is a gauge).
pub fn kind_of(name: &str, forced: Option<MetricType>, metadata: &BTreeMap<String, String>) -> Kind {
    let bucket = name.ends_with("_bucket");
    match forced {
        Some(MetricType::Gauge) => return Kind::Gauge,
        Some(MetricType::Counter) => return Kind::Counter,
        Some(MetricType::Histogram) => return if bucket { Kind::Bucket } else { Kind::Counter },
        None => {}
    }
    match metadata.get(name).map(String::as_str) {
        Some("counter") => return Kind::Counter,
        Some("gauge" | "summary") => return Kind::Gauge,
        _ => {}
    }
    for suffix in ["_bucket", "_sum", "_count", "_total"] {
        let Some(family) = name.strip_suffix(suffix) else {
            continue;
        };
        match (metadata.get(family).map(String::as_str), suffix) {
            (Some("histogram"), "_bucket") => return Kind::Bucket,
            (Some("gaugehistogram"), "_bucket") => return Kind::Gauge,
            (Some("histogram" | "summary" | "counter"), _) => return Kind::Counter,
            (Some("gauge"), _) => return Kind::Gauge,
            _ => {}
        }
    }
    if bucket {
        Kind::Bucket
    } else if ["_total", "_sum", "_count"].iter().any(|s| name.ends_with(s)) {
        Kind::Counter
    } else {
        Kind::Gauge
    }
}

/// The aggregates a rule writes for metric `name`.
pub fn aggregates_for(name: &str, rule: &Rule, metadata: &BTreeMap<String, String>) -> Vec<Aggregate> {
    match &rule.aggregates {
        Some(list) => {
            let mut list = list.clone();
            list.sort();
            list.dedup();
            list
        }
        None => kind_of(name, rule.metric_type, metadata).aggregates().to_vec(),
    }
}

/// A rule's selector as the source is asked: raw series only, no name with a colon (rollups,
/// which keep the labels so `{job="api"}` matches them too, and recording rules) and not the
/// watermark, so nothing is rolled up twice. A positive regex: the server then never expands
/// the rollups' postings (a negative one made every query after the first writes 20 % slower).
pub fn source_selector(selector: &Selector) -> String {
    source_matchers(selector).render()
}

/// `source_selector`, parsed.
pub fn source_matchers(selector: &Selector) -> Selector {
    let mut selector = selector.clone();
    selector.matchers.push(Matcher {
        label: "__name__".into(),
        op: MatchOp::Re,
        value: "[^:]+".into(),
    });
    selector.matchers.push(Matcher {
        label: "__name__".into(),
        op: MatchOp::Ne,
        value: WATERMARK.into(),
    });
    selector
}

/// `<metric>:1h_<aggregate>`.
pub fn rollup_name(metric: &str, tier: Tier, aggregate: Aggregate) -> String {
    format!("{metric}:{}_{}", tier.label(), aggregate.name())
}

/// `--dry-run`: what one rule writes in one tier.
#[derive(Debug, Clone, Serialize)]
pub struct RuleCount {
    pub rule: usize,
    /// Metric → raw series in its busiest window.
    pub metrics: BTreeMap<String, u64>,
    /// Rollup samples to write over all windows of the tier.
    pub samples: u64,
}

/// Counts one rule's rollups from per-window series counts by metric name.
pub fn count_rule(
    rule_index: usize,
    rule: &Rule,
    per_window: &[BTreeMap<String, u64>],
    metadata: &BTreeMap<String, String>,
) -> RuleCount {
    let mut metrics: BTreeMap<String, u64> = BTreeMap::new();
    let mut samples = 0;
    for window in per_window {
        for (name, series) in window {
            let busiest = metrics.entry(name.clone()).or_default();
            *busiest = (*busiest).max(*series);
            samples += series * aggregates_for(name, rule, metadata).len() as u64;
        }
    }
    RuleCount {
        rule: rule_index,
        metrics,
        samples,
    }
}

/// What a run will compute and write.
#[derive(Debug, Serialize)]
pub struct Plan {
    /// The remote-write URL (without credentials) and the server behind it.
    pub target: String,
    pub receiver: &'static str,
    pub timezone: String,
    /// How raw samples are read, and why.
    pub read: ReadPath,
    pub read_reason: String,
    pub tiers: Vec<TierPlan>,
    /// Hours of raw samples fetched (each once, for both tiers).
    pub hours_to_fetch: usize,
    pub rules: Vec<String>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub chunks: Vec<Chunk>,
    #[serde(skip)]
    pub metadata: BTreeMap<String, String>,
}

impl Plan {
    pub fn windows(&self, tier: Tier) -> &[Window] {
        self.tiers
            .iter()
            .find(|t| t.tier == tier)
            .map_or(&[], |t| t.windows.as_slice())
    }

    pub fn render_text(&self) -> String {
        let read = match self.read {
            ReadPath::RemoteRead => "remote read",
            ReadPath::Query => "the query API",
        };
        let mut out = format!(
            "tsdb-rollup to {} ({}), windows in {}\nraw samples read with {read} ({})\n\n",
            self.target, self.receiver, self.timezone, self.read_reason
        );
        let time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
        let mut table = Table::new(["tier", "watermark", "windows", "first", "last", "pending"]);
        for tier in &self.tiers {
            table.row([
                tier.tier.label().to_string(),
                tier.watermark.map_or("none".into(), time),
                tier.windows.len().to_string(),
                tier.windows.first().map_or("-".into(), |w| time(w.start)),
                tier.windows.last().map_or("-".into(), |w| time(w.end)),
                tier.pending.to_string(),
            ]);
        }
        out.push_str(&table.render());
        let mut counts = Table::new(["tier", "rule", "metric", "series", "samples to write"]);
        for tier in &self.tiers {
            for count in &tier.counts {
                let rule = self.rules.get(count.rule).cloned().unwrap_or_default();
                if count.metrics.is_empty() {
                    counts.row([
                        tier.tier.label().into(),
                        rule.clone(),
                        "-".into(),
                        "0".into(),
                        "0".into(),
                    ]);
                }
                for (i, (metric, series)) in count.metrics.iter().enumerate() {
                    let samples = if i == 0 {
                        count.samples.to_string()
                    } else {
                        String::new()
                    };
                    counts.row([
                        tier.tier.label().to_string(),
                        rule.clone(),
                        metric.clone(),
                        series.to_string(),
                        samples,
                    ]);
                }
            }
        }
        if !counts.is_empty() {
            out.push('\n');
            out.push_str(&counts.render());
        }
        let samples: u64 = self.tiers.iter().flat_map(|t| &t.counts).map(|c| c.samples).sum();
        let watermarks: usize = self.tiers.iter().map(|t| t.windows.len()).sum();
        out.push_str(&format!(
            "\n{} hour(s) of raw samples to fetch; {samples} rollup sample(s) and {watermarks} watermark(s) to write\n",
            self.hours_to_fetch
        ));
        if self.rules.len() > 1 && !counts.is_empty() {
            out.push_str("(a series several rules select is counted under each, and written once, by the first)\n");
        }
        for warning in &self.warnings {
            out.push_str(&format!("warning: {warning}\n"));
        }
        out
    }
}

/// A window the target would not keep.
#[derive(Debug, thiserror::Error)]
#[error(
    "the {tier} window ending {end} is older than the target's retention ({retention_days} days): \
     its rollups would be dropped; raise {setting} on the target, or lower `lookback`"
)]
pub struct TooOldForTarget {
    pub tier: &'static str,
    pub end: String,
    pub retention_days: u64,
    pub setting: &'static str,
}

/// Refuses windows older than the target keeps (VictoriaMetrics drops such samples silently;
/// Prometheus would delete them at its next compaction).
pub fn check_retention(
    tiers: &[TierPlan],
    now: DateTime<Utc>,
    retention_seconds: Option<u64>,
    setting: &'static str,
) -> Result<(), TooOldForTarget> {
    let Some(retention) = retention_seconds else {
        return Ok(());
    };
    let oldest_kept = now - Duration::seconds(retention.min(i64::MAX as u64 / 2) as i64);
    for tier in tiers {
        if let Some(window) = tier.windows.iter().find(|w| w.end <= oldest_kept) {
            return Err(TooOldForTarget {
                tier: tier.tier.label(),
                end: window.end.to_rfc3339(),
                retention_days: retention / 86_400,
                setting,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
