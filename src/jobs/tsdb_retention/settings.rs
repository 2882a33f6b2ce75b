//! Settings of the `tsdb-retention` job: the `[jobs.<name>]` table with its `rules`, their
//! defaults, and the checks `validate` runs before any server is asked.

use serde::{Deserialize, Serialize};

use super::decide::Selector;
use crate::config::{HumanDuration, KeyPath, SettingsError};

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

    /// How messages name this rule so the operator finds it in jobs.toml: its key path and
    /// what it says, e.g. `rules[2] (stale {job="x"} after 2d)`.
    pub fn describe(&self, index: usize) -> String {
        let (action, selector, duration) = self.parts();
        let (verb, key) = match action {
            Action::Stale => ("stale", "after"),
            Action::Retain => ("retain", "keep"),
        };
        let path = KeyPath::root().key("rules").index(index);
        format!("{path} ({verb} {selector} {key} {duration})")
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
