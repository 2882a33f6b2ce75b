//! `[[jobs.<name>.slos]]`: an SLO given as one SLI expression, or as good and total events
//! (raw, and optionally over the `:1h_*` rollups for the part older than the raw retention).

use serde::{Deserialize, Serialize};

use super::slo_parts::RAW_MARGIN_SECONDS;
use crate::config::{HumanDuration, KeyPath, SettingsError};

/// `[[jobs.<name>.slos]]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloSettings {
    pub name: String,
    pub description: Option<String>,
    /// Target ratio, e.g. 0.999.
    pub objective: f64,
    /// Compliance window ending at the end of the report's period, e.g. `30d`.
    pub window: HumanDuration,
    /// PromQL giving the SLI (0..1) over `$__range`, evaluated over the whole window on raw
    /// series. Excludes `good`/`total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sli: Option<String>,
    /// PromQL counting the good events over `$__range` (raw series); SLI = good / total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good: Option<String>,
    /// PromQL counting all events over `$__range` (raw series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    /// `good` over the `:1h_*` rollups (e.g. `sum(sum_over_time(x:1h_increase[$__range]))`),
    /// read for the part of the window older than the raw retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good_rollup: Option<String>,
    /// `total` over the `:1h_*` rollups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_rollup: Option<String>,
    /// How long raw series are kept (the `keep` of their `retain` rule); default: the report's
    /// `raw_retention`. With the rollup expressions, the window's part older than this (less a
    /// day's margin) is read from rollups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_retention: Option<HumanDuration>,
}

/// How an SLO's SLI is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SliForm<'a> {
    /// One expression giving the SLI.
    Ratio(&'a str),
    /// Good and total events (SLI = Σ good / Σ total), with their rollup forms if given.
    Events {
        good: &'a str,
        total: &'a str,
        rollup: Option<(&'a str, &'a str)>,
    },
}

/// The shortest `raw_retention`: the report may run up to a day after its period ends, and the
/// period itself (a day, 25 h at most) is read raw.
const MIN_RAW_RETENTION_SECONDS: u64 = RAW_MARGIN_SECONDS as u64 + 25 * 3600;

impl SloSettings {
    /// The form of the SLI (`Events` unless `sli` is given; validated to be one or the other).
    pub fn form(&self) -> SliForm<'_> {
        match (&self.sli, &self.good, &self.total) {
            (Some(sli), _, _) => SliForm::Ratio(sli),
            (None, good, total) => SliForm::Events {
                good: good.as_deref().unwrap_or_default(),
                total: total.as_deref().unwrap_or_default(),
                rollup: self.good_rollup.as_deref().zip(self.total_rollup.as_deref()),
            },
        }
    }

    /// The raw retention that applies: the SLO's, else the report's.
    pub fn raw_retention(&self, report: Option<HumanDuration>) -> Option<HumanDuration> {
        self.raw_retention.or(report)
    }

    /// Checks one SLO at `at` (`slos[i]`).
    pub fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        if !(self.objective > 0.0 && self.objective < 1.0) {
            return Err(SettingsError::new(
                at.key("objective"),
                format!(
                    "must be between 0 and 1 (exclusive), e.g. 0.999; got {}",
                    self.objective
                ),
            ));
        }
        let given = |key: &str, value: &Option<String>| -> Result<bool, SettingsError> {
            match value {
                Some(text) if text.trim().is_empty() => Err(SettingsError::new(at.key(key), "must not be empty")),
                other => Ok(other.is_some()),
            }
        };
        let sli = given("sli", &self.sli)?;
        let good = given("good", &self.good)?;
        let total = given("total", &self.total)?;
        let good_rollup = given("good_rollup", &self.good_rollup)?;
        let total_rollup = given("total_rollup", &self.total_rollup)?;
        if sli && (good || total) {
            let key = if good { "good" } else { "total" };
            return Err(SettingsError::new(
                at.key(key),
                "`sli` and `good`/`total` exclude each other: give the SLI, or its good and total events",
            ));
        }
        if sli && (good_rollup || total_rollup || self.raw_retention.is_some()) {
            let key = [
                ("good_rollup", good_rollup),
                ("total_rollup", total_rollup),
                ("raw_retention", self.raw_retention.is_some()),
            ]
            .into_iter()
            .find_map(|(key, set)| set.then_some(key))
            .unwrap_or("sli");
            return Err(SettingsError::new(
                at.key(key),
                "only an SLO given as `good` and `total` events can be split between rollups and raw series",
            ));
        }
        if !(sli || good && total) {
            let key = if good {
                "total"
            } else if total {
                "good"
            } else {
                "sli"
            };
            return Err(SettingsError::new(
                at.key(key),
                "an SLO needs `sli` (PromQL giving the ratio) or both `good` and `total` (PromQL counting events)",
            ));
        }
        if good_rollup != total_rollup {
            let key = if good_rollup { "total_rollup" } else { "good_rollup" };
            return Err(SettingsError::new(
                at.key(key),
                "`good_rollup` and `total_rollup` go together (the events of the older part)",
            ));
        }
        let window = self.window.as_std().as_secs();
        if window == 0 {
            return Err(SettingsError::new(at.key("window"), "must be longer than 0s"));
        }
        if good_rollup && !window.is_multiple_of(3600) {
            return Err(SettingsError::new(
                at.key("window"),
                format!(
                    "must be whole hours when rollups are read (they are hourly); got {}",
                    self.window
                ),
            ));
        }
        if let Some(retention) = self.raw_retention {
            check_raw_retention(at.key("raw_retention"), retention)?;
        }
        Ok(())
    }
}

/// A `raw_retention` (the report's or an SLO's) must leave the margin and the period raw.
pub fn check_raw_retention(at: KeyPath, retention: HumanDuration) -> Result<(), SettingsError> {
    if retention.as_std().as_secs() < MIN_RAW_RETENTION_SECONDS {
        return Err(SettingsError::new(
            at,
            format!(
                "must be at least {} (a day of margin: the report may run up to a day after its period ends, plus the period's day read raw); got {retention}",
                HumanDuration::from_secs(MIN_RAW_RETENTION_SECONDS)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo(extra: &str) -> SloSettings {
        toml::from_str(&format!("name = 'a'\nobjective = 0.99\nwindow = '30d'\n{extra}")).unwrap()
    }

    #[test]
    fn ratio_and_events_forms() {
        let ratio = slo("sli = 'x'");
        ratio.validate(&KeyPath::root()).unwrap();
        assert_eq!(ratio.form(), SliForm::Ratio("x"));
        let events = slo("good = 'g'\ntotal = 't'");
        events.validate(&KeyPath::root()).unwrap();
        assert_eq!(
            events.form(),
            SliForm::Events {
                good: "g",
                total: "t",
                rollup: None
            }
        );
        let rolled = slo("good = 'g'\ntotal = 't'\ngood_rollup = 'gr'\ntotal_rollup = 'tr'\nraw_retention = '15d'");
        rolled.validate(&KeyPath::root()).unwrap();
        assert_eq!(
            rolled.form(),
            SliForm::Events {
                good: "g",
                total: "t",
                rollup: Some(("gr", "tr"))
            }
        );
        assert_eq!(rolled.raw_retention(None), Some(HumanDuration::from_days(15)));
        assert_eq!(
            events.raw_retention(Some(HumanDuration::from_days(7))),
            Some(HumanDuration::from_days(7))
        );
    }

    #[test]
    fn bad_combinations_are_located() {
        for (extra, key, word) in [
            (
                "sli = 'x'\ngood = 'g'\ntotal = 't'",
                "slos[0].good",
                "exclude each other",
            ),
            ("good = 'g'", "slos[0].total", "both `good` and `total`"),
            ("total = 't'", "slos[0].good", "both `good` and `total`"),
            ("", "slos[0].sli", "needs `sli`"),
            ("sli = ' '", "slos[0].sli", "empty"),
            (
                "good = 'g'\ntotal = 't'\ngood_rollup = 'gr'",
                "slos[0].total_rollup",
                "go together",
            ),
            (
                "good = 'g'\ntotal = 't'\ntotal_rollup = 'tr'",
                "slos[0].good_rollup",
                "go together",
            ),
            ("sli = 'x'\nraw_retention = '15d'", "slos[0].raw_retention", "split"),
            ("sli = 'x'\ngood_rollup = 'gr'", "slos[0].good_rollup", "split"),
            (
                "good = 'g'\ntotal = 't'\nraw_retention = '1d'",
                "slos[0].raw_retention",
                "margin",
            ),
            (
                "good = 'g'\ntotal = 't'\nobjective = 1.0",
                "slos[0].objective",
                "between 0 and 1",
            ),
        ] {
            let extra = extra.replace("objective = 1.0", "");
            let mut settings = slo(&extra);
            if key.ends_with("objective") {
                settings.objective = 1.0;
            }
            let found = settings
                .validate(&KeyPath::root().key("slos").index(0))
                .expect_err(&extra);
            assert_eq!(found.path.to_string(), key, "{extra}");
            assert!(found.message.contains(word), "{extra}: {}", found.message);
        }
        let mut odd = slo("good = 'g'\ntotal = 't'\ngood_rollup = 'gr'\ntotal_rollup = 'tr'");
        odd.window = "1d30m".parse().unwrap();
        let found = odd.validate(&KeyPath::root()).unwrap_err();
        assert_eq!(found.path.to_string(), "window");
        assert!(found.message.contains("whole hours"), "{}", found.message);
        odd.good_rollup = None;
        odd.total_rollup = None;
        odd.validate(&KeyPath::root()).unwrap();
    }
}
