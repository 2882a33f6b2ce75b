//! Raw samples → rollup values, pure: gauge statistics, counter increase across resets
//! (a drop is a reset: the new value is added), rate, and days merged from their hours.

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use super::plan::{BASELINE_SECONDS, Window};
use super::settings::Aggregate;

/// Statistics of one series over a window; a day's are its hours' merged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Acc {
    /// Samples in the window (NaN included).
    pub count: u64,
    /// Non-NaN samples, which `sum`, `min` and `max` are over.
    pub finite: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// Counter increase: each step from the previous non-NaN sample (the baseline before the
    /// window, then the window's own), a drop counting as a reset to zero.
    pub increase: f64,
}

impl Default for Acc {
    fn default() -> Self {
        Self {
            count: 0,
            finite: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            increase: 0.0,
        }
    }
}

impl Acc {
    pub fn merge(&mut self, other: &Acc) {
        self.count += other.count;
        self.finite += other.finite;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.increase += other.increase;
    }

    /// The value of `aggregate` over a window of `seconds`; `None` when it has no value
    /// (avg/min/max of a window holding only NaN).
    pub fn value(&self, aggregate: Aggregate, seconds: i64) -> Option<f64> {
        let any = self.finite > 0;
        match aggregate {
            Aggregate::Avg => any.then(|| self.sum / self.finite as f64),
            Aggregate::Min => any.then_some(self.min),
            Aggregate::Max => any.then_some(self.max),
            Aggregate::Count => Some(self.count as f64),
            Aggregate::Sum => any.then_some(self.sum),
            Aggregate::Increase => Some(self.increase),
            Aggregate::Rate => Some(self.increase / seconds.max(1) as f64),
        }
    }
}

/// Accumulates the samples of `points` (time-ordered, ms) that fall in `[start, end)`.
/// The counter baseline is the last non-NaN sample in `[start − 1h, start)`: from `points`
/// when they reach back there, else `carried` (the previous hour's last sample). `None` when
/// the window holds no sample.
pub fn accumulate(points: &[(i64, f64)], window: &Window, carried: Option<(i64, f64)>) -> Option<Acc> {
    let start = window.start.timestamp_millis();
    let end = window.end.timestamp_millis();
    let earliest = start - BASELINE_SECONDS * 1000;
    let before = points.partition_point(|(t, _)| *t < start);
    let inside = &points[before..points.partition_point(|(t, _)| *t < end)];
    if inside.is_empty() {
        return None;
    }
    let own = points[..before]
        .iter()
        .rev()
        .find(|(t, v)| *t >= earliest && !v.is_nan());
    let carried = carried.filter(|(t, v)| *t >= earliest && *t < start && !v.is_nan());
    let mut previous = match (own, carried) {
        (Some(a), Some(b)) => Some(if a.0 >= b.0 { a.1 } else { b.1 }),
        (Some(a), None) => Some(a.1),
        (None, Some(b)) => Some(b.1),
        (None, None) => None,
    };
    let mut acc = Acc::default();
    for &(_, value) in inside {
        acc.count += 1;
        if value.is_nan() {
            continue;
        }
        acc.finite += 1;
        acc.sum += value;
        acc.min = acc.min.min(value);
        acc.max = acc.max.max(value);
        if let Some(prev) = previous {
            acc.increase += if value >= prev { value - prev } else { value };
        }
        previous = Some(value);
    }
    Some(acc)
}

/// A 128-bit fingerprint of a label set (two passes of foldhash's quality hash with different
/// seeds; several times faster than SipHash): the key of a series in the run's maps, cheaper
/// to hash and compare than its labels. Fixed seeds: the same labels, the same key.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> u128 {
    let half = |seed: u64| foldhash::quality::FixedState::with_seed(seed).hash_one(labels);
    (u128::from(half(0x616c_6d61_6e61_6331)) << 64) | u128::from(half(0x726f_6c6c_7570_3132))
}

/// The last non-NaN sample before `end` (the next hour's baseline).
pub fn last_before(points: &[(i64, f64)], end: i64) -> Option<(i64, f64)> {
    let upto = points.partition_point(|(t, _)| *t < end);
    points[..upto].iter().rev().find(|(_, v)| !v.is_nan()).copied()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration};

    use super::*;

    fn hour(start: i64) -> Window {
        let start = DateTime::from_timestamp(start, 0).unwrap();
        Window {
            start,
            end: start + Duration::hours(1),
        }
    }

    #[test]
    fn gauges_are_averaged_over_the_half_open_window() {
        let w = hour(7200);
        // 3600s (previous hour) and 10800s (next hour) are outside [7200, 10800).
        let points = [
            (3_600_000, 100.0),
            (7_200_000, 1.0),
            (9_000_000, 5.0),
            (10_799_999, 3.0),
            (10_800_000, 50.0),
        ];
        let acc = accumulate(&points, &w, None).unwrap();
        assert_eq!(acc.count, 3);
        assert_eq!(acc.value(Aggregate::Avg, 3600), Some(3.0));
        assert_eq!(acc.value(Aggregate::Min, 3600), Some(1.0));
        assert_eq!(acc.value(Aggregate::Max, 3600), Some(5.0));
        assert_eq!(acc.value(Aggregate::Count, 3600), Some(3.0));
        assert_eq!(acc.value(Aggregate::Sum, 3600), Some(9.0));
        let nan = accumulate(&[(7_300_000, f64::NAN)], &w, None).unwrap();
        assert_eq!(nan.value(Aggregate::Sum, 3600), None, "only NaN: no sum");
        assert_eq!(nan.value(Aggregate::Count, 3600), Some(1.0));
        assert_eq!(accumulate(&points[..1], &w, None), None, "no sample inside: no rollup");
    }

    #[test]
    fn counters_count_resets_and_start_from_the_baseline() {
        let w = hour(7200);
        // Baseline 10 (at 7000s), then 15, 20, reset to 4, 6: 5 + 5 + 4 + 2 = 16.
        let points = [
            (7_000_000, 10.0),
            (7_300_000, 15.0),
            (8_000_000, 20.0),
            (9_000_000, 4.0),
            (10_000_000, 6.0),
        ];
        let acc = accumulate(&points, &w, None).unwrap();
        assert_eq!(acc.value(Aggregate::Increase, 3600), Some(16.0));
        assert_eq!(acc.value(Aggregate::Rate, 3600), Some(16.0 / 3600.0));
        // The same baseline carried from the previous hour instead of fetched.
        let acc = accumulate(&points[1..], &w, Some((7_000_000, 10.0))).unwrap();
        assert_eq!(acc.increase, 16.0);
        // No baseline: the first sample only starts the count.
        let acc = accumulate(&points[1..], &w, None).unwrap();
        assert_eq!(acc.increase, 11.0);
        // A baseline more than an hour before the window is too old.
        let acc = accumulate(&points[1..], &w, Some((3_500_000, 1.0))).unwrap();
        assert_eq!(acc.increase, 11.0);
        // NaN samples are counted but skipped by the increase.
        let acc = accumulate(&[(7_300_000, 1.0), (7_400_000, f64::NAN), (7_500_000, 3.0)], &w, None).unwrap();
        assert_eq!((acc.count, acc.finite, acc.increase), (3, 2, 2.0));
        assert_eq!(last_before(&points, 9_000_000), Some((8_000_000, 20.0)));
        let a = BTreeMap::from([("a".to_string(), "bc".to_string())]);
        let b = BTreeMap::from([("ab".to_string(), "c".to_string())]);
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
    }

    #[test]
    fn days_merge_their_hours() {
        let points: Vec<(i64, f64)> = (0..48).map(|i| (i * 1_800_000, (i % 7) as f64)).collect();
        let (a, b) = (hour(0), hour(3600));
        let day = Window {
            start: a.start,
            end: b.end,
        };
        let whole = accumulate(&points, &day, None).unwrap();
        let mut merged = accumulate(&points, &a, None).unwrap();
        merged.merge(&accumulate(&points, &b, last_before(&points, 3_600_000)).unwrap());
        assert_eq!(merged, whole);
        assert_eq!(merged.value(Aggregate::Rate, 7200), Some(whole.increase / 7200.0));
    }
}
