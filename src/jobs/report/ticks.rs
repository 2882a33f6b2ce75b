//! Chart y axes (pure): a padded range on "nice" ticks (1, 2 or 5 × 10ⁿ), a minimum span
//! relative to the value so a near-flat series stays flat, and the decimals the ticks need.

/// The most ticks an axis gets: the finest nice step with at most this many ticks wins.
pub const MAX_TICKS: usize = 7;
/// A series spanning less than this share of its value is drawn on this span: a 0.1 %
/// wiggle is not a cliff.
pub const MIN_RELATIVE_SPAN: f64 = 0.05;
/// Room above and below the data, as a share of its span.
pub const PADDING: f64 = 0.08;

/// A y axis in shown units (percent, ms, GiB...).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub step: f64,
    pub ticks: Vec<f64>,
    /// Decimals that tell every two neighbouring ticks apart, and no more.
    pub decimals: usize,
}

/// Limits an axis may not cross when the data does not: `floor` 0 for values that are never
/// negative, `ceiling` 100 for percentages.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub floor: Option<f64>,
    pub ceiling: Option<f64>,
}

/// The smallest of 1, 2, 5 × 10ⁿ at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// The next nice step above `step`.
fn bigger(step: f64) -> f64 {
    nice_step(step * 1.000_001 + f64::EPSILON)
}

/// Decimals for labels `step` apart: 0 for 1, 2, 5, 10...; 1 for 0.5; 2 for 0.02.
pub fn decimals(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 1;
    }
    (-step.log10() - 1e-9).ceil().clamp(0.0, 9.0) as usize
}

/// The axis for data between `min` and `max` (shown units).
pub fn axis(min: f64, max: f64, limits: Limits) -> Axis {
    let (mut min, mut max) = if min.is_finite() && max.is_finite() && min <= max {
        (min, max)
    } else {
        (0.0, 1.0)
    };
    let (data_min, data_max) = (min, max);
    let mid = (min + max) / 2.0;
    let min_span = if mid == 0.0 { 1.0 } else { mid.abs() * MIN_RELATIVE_SPAN };
    if max - min < min_span {
        min = mid - min_span / 2.0;
        max = mid + min_span / 2.0;
    }
    let pad = (max - min) * PADDING;
    let mut lo = min - pad;
    let mut hi = max + pad;
    if let Some(floor) = limits.floor
        && data_min >= floor
        && lo < floor
    {
        lo = floor;
    }
    if let Some(ceiling) = limits.ceiling
        && data_max <= ceiling
        && hi > ceiling
    {
        hi = ceiling;
    }
    let mut step = nice_step((hi - lo) / (MAX_TICKS - 1) as f64);
    loop {
        let first = (lo / step + 1e-9).floor();
        let last = (hi / step - 1e-9).ceil();
        let count = (last - first).round() as usize + 1;
        if count <= MAX_TICKS || step > 1e300 {
            let ticks: Vec<f64> = (0..count).map(|i| (first + i as f64) * step).collect();
            return Axis {
                lo: first * step,
                hi: last * step,
                step,
                decimals: decimals(step),
                ticks,
            };
        }
        step = bigger(step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(axis: &Axis) -> Vec<String> {
        axis.ticks.iter().map(|t| format!("{t:.*}", axis.decimals)).collect()
    }

    #[test]
    fn nice_steps_are_1_2_5_times_a_power_of_ten() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(2.0), 2.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert!((nice_step(0.013) - 0.02).abs() < 1e-12);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(bigger(2.0), 5.0);
        assert_eq!(
            (decimals(0.02), decimals(0.5), decimals(5.0), decimals(100.0)),
            (2, 1, 0, 0)
        );
    }

    #[test]
    fn a_near_flat_series_is_not_a_cliff_and_no_label_is_cut() {
        // 95.45 ms ± 0.05 ms used to give one label "…454545ms" and a cliff.
        let axis = axis(95.40, 95.50, Limits::default());
        assert!(axis.hi - axis.lo >= 95.45 * MIN_RELATIVE_SPAN, "{axis:?}");
        assert!(axis.ticks.len() >= 4 && axis.ticks.len() <= MAX_TICKS, "{axis:?}");
        let labels = labels(&axis);
        assert!(labels.iter().all(|l| l.len() <= 6), "{labels:?}");
        let unique: std::collections::BTreeSet<&String> = labels.iter().collect();
        assert_eq!(unique.len(), labels.len(), "{labels:?}");
    }

    #[test]
    fn ranges_are_padded_on_nice_ticks_within_their_limits() {
        let free = axis(0.2, 9.6, Limits::default());
        assert_eq!(labels(&free), ["-5", "0", "5", "10", "15"]);
        let counts = super::axis(
            0.2,
            9.6,
            Limits {
                floor: Some(0.0),
                ceiling: None,
            },
        );
        assert_eq!(
            labels(&counts),
            ["0", "2", "4", "6", "8", "10", "12"],
            "never below 0 when the data is not"
        );
        let uptime = super::axis(
            80.0,
            100.0,
            Limits {
                floor: Some(0.0),
                ceiling: Some(100.0),
            },
        );
        assert_eq!(uptime.hi, 100.0, "{uptime:?}");
        assert!(uptime.lo < 80.0 && uptime.lo >= 70.0, "{uptime:?}");
        // A small error ratio: 0.46 % … 0.54 %.
        let errors = super::axis(0.46, 0.54, Limits::default());
        assert_eq!(errors.decimals, 2, "{errors:?}");
        assert!(errors.lo <= 0.46 && errors.hi >= 0.54);
    }

    #[test]
    fn flat_zero_and_bad_input_still_give_an_axis() {
        let zero = axis(
            0.0,
            0.0,
            Limits {
                floor: Some(0.0),
                ceiling: None,
            },
        );
        assert_eq!(zero.lo, 0.0);
        assert!(zero.hi > 0.0 && zero.ticks.len() >= 2);
        let bad = axis(f64::NAN, 1.0, Limits::default());
        assert!(bad.lo <= 0.0 && bad.hi >= 1.0);
        let negative = axis(-5.0, -4.9, Limits::default());
        assert!(negative.lo < -5.0 && negative.hi > -4.9);
    }
}
