//! Numbers as the report's language writes them (pure): values of each unit, changes against
//! the day before (relative, or in points for ratios), durations, and chart axis labels.

use super::day::Unit;
use super::locale::Catalogue;
use crate::output::human_bytes_in;

/// `value` with `decimals` decimals, the locale's decimal mark and thousands separator.
pub fn decimal(value: f64, decimals: usize, catalogue: &Catalogue) -> String {
    let text = format!("{value:.decimals$}");
    let (sign, rest) = text.strip_prefix('-').map(|r| ("-", r)).unwrap_or(("", &text));
    let (int, frac) = rest.split_once('.').map(|(i, f)| (i, Some(f))).unwrap_or((rest, None));
    let mut out = String::from(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push_str(&catalogue.number.group);
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push_str(&catalogue.number.decimal);
        out.push_str(frac);
    }
    out
}

fn with_unit(catalogue: &Catalogue, key: &str, number: String) -> String {
    catalogue.fill(key, &[("value", &number)])
}

impl Unit {
    /// `value` formatted with `decimals` (or the unit's default) in `catalogue`'s language.
    pub fn format_in(self, value: f64, decimals: Option<usize>, catalogue: &Catalogue) -> String {
        if value.is_nan() {
            return catalogue.t("value.na").to_string();
        }
        if value.is_infinite() {
            return if value > 0.0 { "+∞" } else { "−∞" }.into();
        }
        let number = |v: f64, default: usize| decimal(v, decimals.unwrap_or(default), catalogue);
        match self {
            Self::Number => number(value, if value.fract() == 0.0 { 0 } else { 2 }),
            Self::Percent => with_unit(catalogue, "unit.percent", number(value * 100.0, 2)),
            Self::Seconds if value.abs() < 1.0 => with_unit(catalogue, "unit.ms", number(value * 1000.0, 1)),
            Self::Seconds => with_unit(catalogue, "unit.s", number(value, 2)),
            Self::PerSecond => with_unit(catalogue, "unit.per_second", number(value, 2)),
            // Bytes always have 3 significant digits (`decimals` does not apply).
            Self::Bytes => bytes(value, catalogue),
        }
    }
}

/// Bytes in binary units, 3 significant digits: `1.00 GiB`, `1,00 Gio`.
pub fn bytes(value: f64, catalogue: &Catalogue) -> String {
    let units = &catalogue.bytes.units;
    let symbols = [
        units[0].as_str(),
        units[1].as_str(),
        units[2].as_str(),
        units[3].as_str(),
        units[4].as_str(),
    ];
    human_bytes_in(value, &symbols, &catalogue.number.decimal, &catalogue.bytes.space)
}

/// The relative change of `current` against `previous`: `↑ 20.0 %`, `↓ 0.07 %`, `→ 0 %`.
pub fn relative_change(current: f64, previous: f64, catalogue: &Catalogue) -> Option<String> {
    if !current.is_finite() || !previous.is_finite() || previous == 0.0 {
        return None;
    }
    let pct = (current - previous) / previous.abs() * 100.0;
    Some(if pct.abs() < 0.005 {
        format!("→ {}", with_unit(catalogue, "unit.percent", "0".into()))
    } else {
        let arrow = if pct > 0.0 { "↑" } else { "↓" };
        let digits = if pct.abs() >= 10.0 { 1 } else { 2 };
        format!(
            "{arrow} {}",
            with_unit(catalogue, "unit.percent", decimal(pct.abs(), digits, catalogue))
        )
    })
}

/// The change of a ratio in percentage points: `+0.10 pt`, `−0.05 pt`, `±0.00 pt`.
pub fn points_change(current: f64, previous: f64, decimals: usize, catalogue: &Catalogue) -> Option<String> {
    if !current.is_finite() || !previous.is_finite() {
        return None;
    }
    let delta = (current - previous) * 100.0;
    let shown = decimal(delta.abs(), decimals, catalogue);
    let zero = delta.abs() < 0.5 * 10f64.powi(-(decimals as i32));
    let sign = if zero {
        "±"
    } else if delta > 0.0 {
        "+"
    } else {
        "−"
    };
    Some(with_unit(catalogue, "unit.points", format!("{sign}{shown}")))
}

/// The change against the day before as shown: ratios in points with the relative change
/// beside (`+0.10 pt (↑ 25.0 %)`), other values relative (`↑ 20.0 %`).
pub fn day_change(unit: Unit, decimals: Option<usize>, current: f64, previous: f64, catalogue: &Catalogue) -> String {
    let relative = relative_change(current, previous, catalogue);
    if unit != Unit::Percent {
        return relative.unwrap_or_default();
    }
    match (
        points_change(current, previous, decimals.unwrap_or(2), catalogue),
        relative,
    ) {
        (Some(points), Some(relative)) => catalogue.fill(
            "change.points_and_relative",
            &[("points", &points), ("relative", &relative)],
        ),
        (Some(points), None) => points,
        (None, _) => String::new(),
    }
}

/// A run's duration: `12.50 s`, `4 min 05 s`, `1 h 02 min`.
pub fn run_duration(seconds: f64, catalogue: &Catalogue) -> String {
    if !seconds.is_finite() || seconds < 60.0 {
        return Unit::Seconds.format_in(seconds, None, catalogue);
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        catalogue.fill(
            "duration.min_s",
            &[("m", &(whole / 60).to_string()), ("s", &format!("{:02}", whole % 60))],
        )
    } else {
        catalogue.fill(
            "duration.h_min",
            &[
                ("h", &(whole / 3600).to_string()),
                ("m", &format!("{:02}", whole % 3600 / 60)),
            ],
        )
    }
}

/// How a chart axis shows its values: the factor from raw to shown values and the label form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    Percent,
    Milliseconds,
    Seconds,
    PerSecond,
    Plain,
    Thousands,
    Millions,
    /// Bytes in the n-th binary unit (0 = bytes, 3 = GiB).
    Bytes(usize),
}

impl Scale {
    /// The scale of an axis whose largest absolute value is `max_abs`.
    pub fn of(unit: Unit, max_abs: f64) -> Self {
        let max_abs = if max_abs.is_finite() { max_abs } else { 0.0 };
        match unit {
            Unit::Percent => Self::Percent,
            Unit::Seconds if max_abs < 1.0 => Self::Milliseconds,
            Unit::Seconds => Self::Seconds,
            Unit::PerSecond => Self::PerSecond,
            Unit::Bytes => {
                let mut k = 0;
                while k < 4 && max_abs >= 1024f64.powi(k as i32 + 1) {
                    k += 1;
                }
                Self::Bytes(k)
            }
            Unit::Number if max_abs >= 1e6 => Self::Millions,
            Unit::Number if max_abs >= 1e3 => Self::Thousands,
            Unit::Number => Self::Plain,
        }
    }

    /// Shown value = raw value × factor.
    pub fn factor(self) -> f64 {
        match self {
            Self::Percent => 100.0,
            Self::Milliseconds => 1000.0,
            Self::Seconds | Self::PerSecond | Self::Plain => 1.0,
            Self::Thousands => 1e-3,
            Self::Millions => 1e-6,
            Self::Bytes(k) => 1024f64.powi(-(k as i32)),
        }
    }

    /// An axis label for a shown value.
    pub fn label(self, shown: f64, decimals: usize, catalogue: &Catalogue) -> String {
        // `-0.0` would print as "-0".
        let shown = if shown == 0.0 { 0.0 } else { shown };
        let number = decimal(shown, decimals, catalogue);
        let key = match self {
            Self::Percent => "axis.percent",
            Self::Milliseconds => "axis.ms",
            Self::Seconds => "axis.s",
            Self::PerSecond => "axis.per_second",
            Self::Thousands => "axis.thousands",
            Self::Millions => "axis.millions",
            Self::Plain => return number,
            Self::Bytes(k) => return format!("{number}{}{}", catalogue.bytes.space, catalogue.bytes.units[k]),
        };
        with_unit(catalogue, key, number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn en() -> &'static Catalogue {
        Catalogue::english()
    }
    fn fr() -> &'static Catalogue {
        Catalogue::get("fr").unwrap()
    }

    #[test]
    fn values_in_english_and_french() {
        assert_eq!(Unit::Percent.format_in(0.99930556, None, en()), "99.93 %");
        assert_eq!(Unit::Percent.format_in(0.99930556, None, fr()), "99,93\u{202f}%");
        assert_eq!(Unit::Number.format_in(1234567.0, None, en()), "1,234,567");
        assert_eq!(Unit::Number.format_in(1234567.0, None, fr()), "1\u{202f}234\u{202f}567");
        assert_eq!(Unit::Number.format_in(-1234.5, None, fr()), "-1\u{202f}234,50");
        assert_eq!(Unit::Seconds.format_in(0.488889, None, fr()), "488,9\u{a0}ms");
        assert_eq!(Unit::PerSecond.format_in(100.0, None, fr()), "100,00/s");
        assert_eq!(Unit::Bytes.format_in(1024f64.powi(3), None, en()), "1.00 GiB");
        assert_eq!(Unit::Bytes.format_in(1024f64.powi(3), None, fr()), "1,00\u{a0}Gio");
        assert_eq!(Unit::Bytes.format_in(1024f64.powi(3) - 1.0, Some(2), en()), "1.00 GiB");
        assert_eq!(Unit::Number.format_in(f64::NAN, None, fr()), "n.\u{a0}d.");
    }

    #[test]
    fn ratios_change_in_points_other_values_relatively() {
        assert_eq!(points_change(0.005, 0.004, 2, en()).unwrap(), "+0.10 pt");
        assert_eq!(points_change(0.005, 0.004, 2, fr()).unwrap(), "+0,10\u{a0}pt");
        assert_eq!(points_change(0.9993, 1.0, 2, en()).unwrap(), "−0.07 pt");
        assert_eq!(points_change(0.5, 0.50001, 2, en()).unwrap(), "±0.00 pt");
        assert_eq!(
            day_change(Unit::Percent, None, 0.005, 0.004, en()),
            "+0.10 pt (↑ 25.0 %)"
        );
        assert_eq!(day_change(Unit::Percent, None, 0.001, 0.0, en()), "+0.10 pt");
        assert_eq!(day_change(Unit::PerSecond, None, 100.0, 83.333, en()), "↑ 20.0 %");
        assert_eq!(
            day_change(Unit::PerSecond, None, 100.0, 83.333, fr()),
            "↑ 20,0\u{202f}%"
        );
        assert_eq!(relative_change(1.0, 1.0, en()).unwrap(), "→ 0 %");
        assert_eq!(day_change(Unit::Number, None, 1.0, f64::NAN, en()), "");
    }

    #[test]
    fn durations_of_runs() {
        assert_eq!(run_duration(12.5, en()), "12.50 s");
        assert_eq!(run_duration(245.0, en()), "4 min 05 s");
        assert_eq!(run_duration(3720.0, fr()), "1\u{a0}h 02\u{a0}min");
    }

    #[test]
    fn axis_scales_follow_the_largest_value() {
        assert_eq!(Scale::of(Unit::Seconds, 0.3), Scale::Milliseconds);
        assert_eq!(Scale::of(Unit::Seconds, 3.0), Scale::Seconds);
        assert_eq!(Scale::of(Unit::Bytes, 2.0 * 1024f64.powi(3)), Scale::Bytes(3));
        assert_eq!(Scale::of(Unit::Bytes, 1000.0), Scale::Bytes(0));
        assert_eq!(Scale::of(Unit::Number, 12_000.0), Scale::Thousands);
        assert_eq!(Scale::Percent.label(0.5, 1, en()), "0.5%");
        assert_eq!(Scale::Percent.label(0.5, 1, fr()), "0,5\u{202f}%");
        assert_eq!(Scale::Bytes(3).label(2.5, 1, fr()), "2,5\u{a0}Gio");
        assert_eq!(Scale::Plain.label(-0.0, 0, en()), "0");
        assert_eq!(Scale::Thousands.label(12.0, 0, en()), "12k");
    }
}
