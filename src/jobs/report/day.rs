//! The report day, statuses and value formatting shared by the query, SLO, chart, rendering
//! and MIME modules of the report job.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::locale::Catalogue;
use super::numbers::relative_change;
use crate::jobs::clock::start_of_day;

/// Local midnight to local midnight of `date` in `tz`, in UTC: 23 or 25 hours on DST days.
/// A midnight that does not exist (a DST gap at 00:00) starts at the first valid instant.
pub fn day_bounds(date: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        start_of_day(date, tz),
        start_of_day(date.succ_opt().unwrap_or(date), tz),
    )
}

/// A PromQL duration for `seconds`: whole hours as `24h`, else seconds.
pub fn promql_duration(seconds: i64) -> String {
    if seconds % 3600 == 0 {
        format!("{}h", seconds / 3600)
    } else {
        format!("{seconds}s")
    }
}

/// The status of a value, a panel, an SLO or the whole report (worst wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    /// No thresholds configured: shown neutral.
    Info,
    NoData,
    Warning,
    Critical,
}

impl Level {
    /// The level's catalogue key (`level.warning`): its name in the report's language.
    pub fn key(self) -> &'static str {
        match self {
            Self::Ok => "level.ok",
            Self::Info => "level.info",
            Self::NoData => "level.no_data",
            Self::Warning => "level.warning",
            Self::Critical => "level.critical",
        }
    }
    /// The English name (logs, outcome summaries).
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Info => "INFO",
            Self::NoData => "NO DATA",
            Self::Warning => "WARNING",
            Self::Critical => "CRITICAL",
        }
    }
    /// Text colour.
    pub fn color(self) -> &'static str {
        match self {
            Self::Ok => "#1a7f37",
            Self::Info => "#24292f",
            Self::NoData => "#57606a",
            Self::Warning => "#9a6700",
            Self::Critical => "#cf222e",
        }
    }
    /// Background colour.
    pub fn background(self) -> &'static str {
        match self {
            Self::Ok => "#dafbe1",
            Self::Info => "#f6f8fa",
            Self::NoData => "#eaeef2",
            Self::Warning => "#fff8c5",
            Self::Critical => "#ffebe9",
        }
    }
}

/// Warning and critical thresholds; their order gives the direction (warn > critical: higher
/// is better, e.g. uptime; warn < critical: lower is better, e.g. latency).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub warn: f64,
    pub critical: f64,
}

impl Thresholds {
    pub fn level(&self, value: f64) -> Level {
        if value.is_nan() {
            return Level::NoData;
        }
        let higher_is_better = self.warn > self.critical;
        let worse_than = |limit: f64| if higher_is_better { value < limit } else { value > limit };
        if worse_than(self.critical) {
            Level::Critical
        } else if worse_than(self.warn) {
            Level::Warning
        } else {
            Level::Ok
        }
    }
}

/// How a panel's numbers are shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A plain number.
    #[default]
    Number,
    /// A ratio 0..1 shown as a percentage.
    Percent,
    /// Seconds, shown in ms below one second.
    Seconds,
    /// A rate per second.
    PerSecond,
    /// Bytes, shown in binary units with 3 significant digits (KiB/MiB/GiB).
    Bytes,
}

impl Unit {
    /// `value` formatted with `decimals` (or the unit's default), in English: see
    /// [`Unit::format_in`] (`numbers.rs`) for the report's language.
    pub fn format(self, value: f64, decimals: Option<usize>) -> String {
        self.format_in(value, decimals, Catalogue::english())
    }

    /// A short axis label form, with as many decimals as `tick` (the distance between two
    /// labels) needs for neighbouring labels to differ: `0.46%, 0.48%`, not `0.5%, 0.5%`.
    pub fn axis(self, value: f64, tick: f64) -> String {
        let decimals = |scale: f64| {
            let step = (tick * scale).abs();
            if step.is_finite() && step > 0.0 {
                (-step.log10() - 1e-9).ceil().clamp(0.0, 6.0) as usize
            } else {
                1
            }
        };
        match self {
            Self::Percent => format!("{:.*}%", decimals(100.0), value * 100.0),
            Self::Seconds if value.abs() < 1.0 => format!("{:.*}ms", decimals(1000.0), value * 1000.0),
            Self::Seconds => format!("{:.*}s", decimals(1.0), value),
            Self::Bytes => self.format(value, Some(1)),
            _ if value.abs() >= 1000.0 => format!("{:.*}k", decimals(0.001), value / 1000.0),
            _ => format!("{:.*}", decimals(1.0), value),
        }
    }
}

/// The change of `current` against `previous` in English: an arrow and a relative percentage
/// (see `numbers::relative_change`).
pub fn change(current: f64, previous: f64) -> Option<String> {
    relative_change(current, previous, Catalogue::english())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dst_days_are_23_and_25_hours() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let len = |d| {
            let (s, e) = day_bounds(d, paris);
            (e - s).num_hours()
        };
        assert_eq!(len(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()), 23);
        assert_eq!(len(NaiveDate::from_ymd_opt(2026, 10, 25).unwrap()), 25);
        assert_eq!(len(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()), 24);
        let (start, _) = day_bounds(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(), paris);
        assert_eq!(start.to_rfc3339(), "2026-11-23T23:00:00+00:00");
        assert_eq!(promql_duration(23 * 3600), "23h");
        assert_eq!(promql_duration(86_399), "86399s");
    }

    #[test]
    fn thresholds_take_their_direction_from_their_order() {
        let uptime = Thresholds {
            warn: 0.9995,
            critical: 0.999,
        };
        assert_eq!(uptime.level(0.9999), Level::Ok);
        assert_eq!(uptime.level(0.9993), Level::Warning);
        assert_eq!(uptime.level(0.99), Level::Critical);
        let latency = Thresholds {
            warn: 0.5,
            critical: 1.0,
        };
        assert_eq!(latency.level(0.3), Level::Ok);
        assert_eq!(latency.level(0.7), Level::Warning);
        assert_eq!(latency.level(2.0), Level::Critical);
        assert_eq!(latency.level(f64::NAN), Level::NoData);
    }

    #[test]
    fn axis_labels_have_the_decimals_their_spacing_needs() {
        // A near-flat error ratio: 0.46 % … 0.54 %, labels 0.02 points apart.
        let labels: Vec<String> = (0..5)
            .map(|i| Unit::Percent.axis(0.0046 + 0.0002 * i as f64, 0.0002))
            .collect();
        assert_eq!(labels, ["0.46%", "0.48%", "0.50%", "0.52%", "0.54%"]);
        assert_eq!(Unit::Percent.axis(0.995, 0.005), "99.5%");
        assert_eq!(Unit::Percent.axis(0.5, 0.25), "50%");
        assert_eq!(Unit::Seconds.axis(0.25, 0.05), "250ms");
        assert_eq!(Unit::Seconds.axis(0.2505, 0.0005), "250.5ms");
        assert_eq!(Unit::Number.axis(12_000.0, 2_000.0), "12k");
        assert_eq!(Unit::Number.axis(3.25, 0.05), "3.25");
        assert_eq!(Unit::Number.axis(3.0, f64::NAN), "3.0");
    }

    #[test]
    fn units_and_changes_format_for_people() {
        assert_eq!(Unit::Percent.format(0.99930556, None), "99.93 %");
        assert_eq!(Unit::Seconds.format(0.488889, None), "488.9 ms");
        assert_eq!(Unit::Seconds.format(1.75, None), "1.75 s");
        assert_eq!(Unit::Bytes.format(2.0 * 1024.0 * 1024.0 * 1024.0, None), "2.00 GiB");
        assert_eq!(Unit::Number.format(40.0, None), "40");
        assert_eq!(Unit::Number.format(-1234567.25, None), "-1,234,567.25");
        assert_eq!(change(100.0, 83.333), Some("↑ 20.0 %".into()));
        assert_eq!(change(0.004, 0.005), Some("↓ 20.0 %".into()));
        assert_eq!(change(1.0, 0.0), None);
    }
}
