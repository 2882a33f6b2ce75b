//! Settings of the `tsdb-rollup` job: the `[jobs.<name>]` table with its `rules` (selector,
//! optional type or aggregates), tiers, bounds and target, checked before any server is asked.

use serde::{Deserialize, Serialize};

use crate::config::{EndpointUrl, HumanDuration, KeyPath, SettingsError};
use crate::jobs::tsdb_retention::Selector;

/// Settings of a `[jobs.<name>]` table of kind `tsdb-rollup`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// What to roll up, one `[[jobs.<name>.rules]]` table each.
    pub rules: Vec<Rule>,
    /// Tiers to compute: `1h` (each completed hour) and `1d` (each completed day in the job's
    /// time zone: 23 or 25 hours on DST days).
    #[serde(default = "default_tiers")]
    pub tiers: Vec<Tier>,
    /// Windows each tier computes in one run at most (the rest waits for the next run).
    #[serde(default = "default_max_windows")]
    pub max_windows_per_run: usize,
    /// How far back the first run starts, and how far back the watermark is looked for
    /// (at most the raw retention: older raw samples are gone).
    #[serde(default = "default_lookback")]
    pub lookback: HumanDuration,
    /// A window is computed once it ended this long ago (late scrapes, ingestion delay).
    #[serde(default = "default_delay")]
    pub delay: HumanDuration,
    /// Where rollups and watermarks go (`<url>/api/v1/write`, read back through its query
    /// API). Default: the `[prometheus]` URL. Uses `[prometheus]`'s credentials, TLS files and timeout.
    #[serde(default)]
    pub target_url: Option<EndpointUrl>,
    /// Series per remote-write request.
    #[serde(default = "default_series_per_request")]
    pub max_series_per_request: usize,
    /// How raw samples are read: `auto` (remote read from a Prometheus without external
    /// labels, else the query API), `remote-read` or `query`.
    #[serde(default)]
    pub raw_read: RawRead,
}

/// The `raw_read` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawRead {
    #[default]
    Auto,
    RemoteRead,
    Query,
}

/// One rule: a selector, optionally forcing the metric type or the aggregates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Series selector, e.g. `{job="aindusdb-core"}` or `up`.
    pub selector: Selector,
    /// Treat every matched metric as this type instead of asking `/api/v1/metadata`.
    #[serde(rename = "type", default)]
    pub metric_type: Option<MetricType>,
    /// Exactly these aggregates for every matched metric (overrides the type's).
    #[serde(default)]
    pub aggregates: Option<Vec<Aggregate>>,
}

/// A rollup tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
pub enum Tier {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "1d")]
    Day,
}

impl Tier {
    /// `1h` / `1d`: the suffix of rollup names and the watermark's `tier` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Hour => "1h",
            Self::Day => "1d",
        }
    }
}

/// How a metric's samples are rolled up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    /// avg, min, max, count.
    Gauge,
    /// increase (resets handled), rate.
    Counter,
    /// Classic histogram: `_bucket` series get the increase per `le`; `_sum`/`_count` are counters.
    Histogram,
}

/// One aggregate; its name ends the rollup series name (`<metric>:1h_<aggregate>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Avg,
    Min,
    Max,
    Count,
    /// Sum of the window's non-NaN samples (gauges, when asked: e.g. `up`, whose sum over
    /// count is the share of scrapes up, composable across windows).
    Sum,
    Increase,
    Rate,
}

impl Aggregate {
    pub fn name(self) -> &'static str {
        match self {
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
            Self::Count => "count",
            Self::Sum => "sum",
            Self::Increase => "increase",
            Self::Rate => "rate",
        }
    }
}

fn default_tiers() -> Vec<Tier> {
    vec![Tier::Hour, Tier::Day]
}
fn default_max_windows() -> usize {
    168
}
fn default_lookback() -> HumanDuration {
    HumanDuration::from_days(15)
}
fn default_delay() -> HumanDuration {
    HumanDuration::from_secs(300)
}
fn default_series_per_request() -> usize {
    5_000
}

impl Settings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        let root = KeyPath::root();
        if self.rules.is_empty() {
            return Err(SettingsError::new(
                root.key("rules"),
                "at least one rule is needed: [[jobs.<name>.rules]] selector = '{job=\"x\"}'",
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let path = root.key("rules").index(i);
            if let Some(aggregates) = &rule.aggregates {
                if aggregates.is_empty() {
                    return Err(SettingsError::new(
                        path.key("aggregates"),
                        "empty: remove the key to use the metric type's aggregates",
                    ));
                }
                if rule.metric_type.is_some() {
                    return Err(SettingsError::new(
                        path.key("aggregates"),
                        "`aggregates` and `type` exclude each other: `type` chooses the aggregates",
                    ));
                }
            }
        }
        if self.tiers.is_empty() {
            return Err(SettingsError::new(root.key("tiers"), "at least one of \"1h\", \"1d\""));
        }
        if self.max_windows_per_run == 0 {
            return Err(SettingsError::new(
                root.key("max_windows_per_run"),
                "must be at least 1",
            ));
        }
        if self.lookback.as_std().as_secs() < 86_400 {
            return Err(SettingsError::new(root.key("lookback"), "must be at least 1d"));
        }
        if self.delay.as_std().as_secs() > 86_400 {
            return Err(SettingsError::new(root.key("delay"), "must be at most 1d"));
        }
        if self.max_series_per_request == 0 {
            return Err(SettingsError::new(
                root.key("max_series_per_request"),
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
