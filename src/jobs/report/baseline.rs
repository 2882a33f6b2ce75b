//! The week a stat is compared with (pure): the same weekday last week, the median and the
//! min–max band of the previous 7 days, the "unusual" verdict, and the chart's hourly band.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;

use super::chart::Line;
use crate::clients::prometheus::RangeSeries;

/// Days a baseline looks back (day−1 … day−7).
pub const DAYS: usize = 7;
/// Days with a value a median, a band or a verdict needs.
pub const MIN_DAYS: usize = 3;

/// A stat against the previous 7 days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// Day−7: the same weekday last week.
    pub week: Option<f64>,
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Days with a value.
    pub days: usize,
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    })
}

/// The baseline from the values of the previous days, day−1 first (`None`: no value that day).
pub fn baseline(history: &[Option<f64>]) -> Baseline {
    let values: Vec<f64> = history.iter().flatten().copied().filter(|v| v.is_finite()).collect();
    let enough = values.len() >= MIN_DAYS;
    let fold = |pick: fn(f64, f64) -> f64| values.iter().copied().reduce(pick);
    Baseline {
        week: history.get(DAYS - 1).copied().flatten().filter(|v| v.is_finite()),
        median: if enough { median(&values) } else { None },
        min: if enough { fold(f64::min) } else { None },
        max: if enough { fold(f64::max) } else { None },
        days: values.len(),
    }
}

/// Whether `value` lies outside the band of the previous days by more than the tolerance:
/// `tolerance` × the larger of the band's width and the value's scale (its median; for a
/// ratio, its distance to 0 or 1, whichever is nearer: 99.9 % moves on the scale of 0.1 %).
pub fn is_unusual(value: f64, baseline: &Baseline, tolerance: f64, ratio: bool) -> bool {
    let (Some(min), Some(max), Some(median)) = (baseline.min, baseline.max, baseline.median) else {
        return false;
    };
    if !value.is_finite() {
        return false;
    }
    let scale = if ratio {
        median.abs().min((1.0 - median).abs())
    } else {
        median.abs()
    };
    let margin = tolerance * (max - min).max(scale) + 1e-12 * value.abs().max(1.0);
    value > max + margin || value < min - margin
}

/// One point of a chart's band: at `t` (the report day, unix seconds) the lowest and highest
/// value of the previous days at the same local time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandPoint {
    pub t: f64,
    pub lo: f64,
    pub hi: f64,
}

/// The local time of day of `t` in `step`s (the band's bucket).
fn slot(t: f64, tz: Tz, step: u64) -> Option<(u32, chrono::NaiveDate)> {
    let at = DateTime::from_timestamp(t.round() as i64, 0)?.with_timezone(&tz);
    let seconds = at.num_seconds_from_midnight() as u64;
    Some((((seconds + step / 2) / step) as u32, at.date_naive()))
}

/// Distinct local days holding a finite value in `points`.
pub fn days_with_data(points: &[(f64, f64)], tz: Tz, step: u64) -> usize {
    let step = step.max(1);
    let days: BTreeSet<_> = points
        .iter()
        .filter(|p| p.1.is_finite())
        .filter_map(|p| slot(p.0, tz, step).map(|s| s.1))
        .collect();
    days.len()
}

/// The band of `history` (points of the previous days) over the report day's `times`: per
/// local time of day, the min and max of the days that have a value there (at least
/// [`MIN_DAYS`] of them; elsewhere no point, so the band has a gap).
pub fn band(times: &[f64], history: &[(f64, f64)], tz: Tz, step: u64) -> Vec<BandPoint> {
    let step = step.max(1);
    let mut slots: BTreeMap<u32, (f64, f64, BTreeSet<chrono::NaiveDate>)> = BTreeMap::new();
    for &(t, v) in history.iter().filter(|p| p.1.is_finite()) {
        let Some((slot, day)) = slot(t, tz, step) else { continue };
        let entry = slots
            .entry(slot)
            .or_insert((f64::INFINITY, f64::NEG_INFINITY, BTreeSet::new()));
        entry.0 = entry.0.min(v);
        entry.1 = entry.1.max(v);
        entry.2.insert(day);
    }
    times
        .iter()
        .filter_map(|&t| {
            let (slot, _) = slot(t, tz, step)?;
            let (lo, hi, days) = slots.get(&slot)?;
            (days.len() >= MIN_DAYS).then_some(BandPoint { t, lo: *lo, hi: *hi })
        })
        .collect()
}

/// The bands behind `lines`: for each line but "other", the min–max of the week's series of
/// the same name at the same local hours (index into `lines`, points).
#[allow(clippy::too_many_arguments)]
pub fn bands(
    lines: &[Line],
    week: &[RangeSeries],
    legend: Option<&str>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    step: u64,
    tz: Tz,
) -> Vec<(usize, Vec<BandPoint>)> {
    if week.is_empty() {
        return Vec::new();
    }
    let step = step.max(1);
    let times: Vec<f64> = (0..)
        .map(|i| (start.timestamp() + i * step as i64) as f64)
        .take_while(|t| *t <= end.timestamp() as f64)
        .collect();
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let history = week
                .iter()
                .find(|s| super::query::legend(legend, &s.labels) == line.name)?;
            let band = band(&times, &history.points, tz, step);
            (!band.is_empty()).then_some((i, band))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_band_and_the_same_weekday() {
        let history = [Some(5.0), Some(7.0), None, Some(6.0), Some(9.0), Some(4.0), Some(6.5)];
        let b = baseline(&history);
        assert_eq!(b.week, Some(6.5));
        assert_eq!(b.median, Some(6.25));
        assert_eq!((b.min, b.max, b.days), (Some(4.0), Some(9.0), 6));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
        let thin = baseline(&[Some(1.0), Some(2.0), None, None, None, None, None]);
        assert_eq!((thin.median, thin.min, thin.week), (None, None, None), "too few days");
        assert!(!is_unusual(100.0, &thin, 0.1, false), "no verdict without a baseline");
    }

    #[test]
    fn unusual_is_outside_the_band_beyond_the_tolerance() {
        let requests = baseline(&[
            Some(83.3),
            Some(100.0),
            Some(116.7),
            Some(90.0),
            Some(100.0),
            Some(83.3),
            Some(95.0),
        ]);
        assert!(!is_unusual(100.0, &requests, 0.1, false));
        assert!(
            !is_unusual(118.0, &requests, 0.1, false),
            "just above the band: within tolerance"
        );
        assert!(is_unusual(150.0, &requests, 0.1, false));
        assert!(is_unusual(40.0, &requests, 0.1, false));
        // Error ratios 0.4 %–0.6 %: 3 % is unusual, 0.5 % is not.
        let errors = baseline(&[
            Some(0.004),
            Some(0.005),
            Some(0.006),
            Some(0.004),
            Some(0.005),
            Some(0.006),
            Some(0.005),
        ]);
        assert!(!is_unusual(0.005, &errors, 0.1, true));
        assert!(is_unusual(0.03, &errors, 0.1, true));
        // Uptime: a flat 100 % week; 99.93 % is a real dip on the scale of a ratio near 1.
        let uptime = baseline(&[Some(1.0); 7]);
        assert!(is_unusual(0.9793, &uptime, 0.1, true));
        assert!(!is_unusual(1.0, &uptime, 0.1, true));
        // A flat gauge: the same value is never unusual; 10 % off is, 1 % is not.
        let flat = baseline(&[Some(40.0); 7]);
        assert!(!is_unusual(40.0, &flat, 0.1, false));
        assert!(!is_unusual(40.4, &flat, 0.1, false));
        assert!(is_unusual(46.0, &flat, 0.1, false));
    }

    #[test]
    fn the_band_takes_the_same_local_hours_of_the_previous_days() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let day = 1_795_474_800.0; // 2026-11-24 00:00 in Paris
        let step = 3600;
        // Three previous days: value = day index + hour / 100.
        let history: Vec<(f64, f64)> = (1..=3)
            .flat_map(|d| {
                (0..24).map(move |h| {
                    (
                        day - d as f64 * 86_400.0 + h as f64 * 3600.0,
                        d as f64 + h as f64 / 100.0,
                    )
                })
            })
            .collect();
        assert_eq!(days_with_data(&history, tz, step), 3);
        let times: Vec<f64> = (0..24).map(|h| day + h as f64 * 3600.0).collect();
        let band = band(&times, &history, tz, step);
        assert_eq!(band.len(), 24);
        assert_eq!(
            band[5],
            BandPoint {
                t: day + 5.0 * 3600.0,
                lo: 1.05,
                hi: 3.05
            }
        );
        // With only two days at some hour, that hour has no band.
        let sparse: Vec<(f64, f64)> = history
            .iter()
            .copied()
            .filter(|p| !(p.1 >= 3.0 && p.1 < 3.06))
            .collect();
        let band = super::band(&times, &sparse, tz, step);
        assert_eq!(band.len(), 18);
    }
}
