//! Synthetic AindusDB metrics (TEST AND DEMO DATA ONLY): eight days of OpenMetrics text whose
//! true report values are known exactly, so tests can check the numbers the report prints.
//!
//! The generated file covers the report day and the 7 days before (the day before and the
//! week for comparisons; each day its own load, errors and downtime), one sample a minute, each placed half a minute off the minute so that no sample sits on a day boundary
//! (Prometheus 2 and 3 differ on whether a range includes its start). Per-minute increments
//! follow an evening-peak sine whose rounded values sum to exactly `base × minutes`, and whose
//! first increment of each day equals the day's mean, so `increase(x[<day>])` (with its
//! boundary extrapolation) is exact, not approximate. Known truth for the report day:
//! - `up{job="aindusdb-core"}` is 0 for one minute: uptime = 1 − 1/minutes (99.93 % on 24 h).
//! - `aindusdb_requests_total`: exactly 0.5 % `status="error"` (0.4 % the day before);
//!   100 requests/s on average (83.33 the day before).
//! - `aindusdb_request_duration_seconds`: 60 % ≤ 0.1 s, 96 % ≤ 0.5 s, 98.5 % ≤ 1 s,
//!   99.5 % ≤ 2.5 s, 99.9 % ≤ 5 s: p50 = 0.0833 s, p95 = 0.4889 s, p99 = 1.75 s.
//! - `aindusdb_vector_search_duration_seconds`: p95 = 0.09545 s.
//! - `aindusdb_veritas_proof_duration_seconds` (a histogram the seed lacks; added here):
//!   92 % ≤ 2 s, p90 = 1.9375 s.
//! - gauges: mean active connections 40, mean confidence 0.9, mean api memory 2 GiB.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::day::day_bounds;

/// Seconds between samples.
pub const STEP: i64 = 60;

const LATENCY_BUCKETS: [(&str, u64); 7] = [
    ("0.1", 600),
    ("0.5", 960),
    ("1.0", 985),
    ("2.5", 995),
    ("5.0", 999),
    ("10.0", 1000),
    ("+Inf", 1000),
];
const SEARCH_BUCKETS: [(&str, u64); 7] = [
    ("0.01", 40),
    ("0.05", 150),
    ("0.1", 194),
    ("0.5", 198),
    ("1.0", 200),
    ("2.0", 200),
    ("+Inf", 200),
];
const PROOF_BUCKETS: [(&str, u64); 6] = [
    ("0.5", 30),
    ("1.0", 60),
    ("2.0", 92),
    ("5.0", 99),
    ("10.0", 100),
    ("+Inf", 100),
];
const OPERATIONS: [(&str, u64); 7] = [
    ("search", 120),
    ("insert", 40),
    ("update", 12),
    ("delete", 6),
    ("upsert", 4),
    ("batch_insert", 2),
    ("reindex", 1),
];
const LEVELS: [(&str, u64); 3] = [("basic", 50), ("standard", 30), ("strict", 20)];
const MEMORY: [(&str, i64, i64); 3] = [
    ("api", 2 << 30, 256 << 20),
    ("vector_index", 6 << 30, 512 << 20),
    ("cache", 1 << 30, 128 << 20),
];

/// The values a correct report prints for the generated report day.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    pub day_seconds: i64,
    pub uptime: f64,
    pub prev_uptime: f64,
    pub error_ratio: f64,
    pub prev_error_ratio: f64,
    pub requests_per_second: f64,
    pub prev_requests_per_second: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub vector_search_p95: f64,
    pub veritas_p90: f64,
    /// Share of requests under 500 ms (the latency SLO's SLI).
    pub under_500ms: f64,
    /// Share of VERITAS proofs under 2 s.
    pub proofs_under_2s: f64,
    pub mean_connections: f64,
    pub mean_confidence: f64,
}

/// Per-day parameters: thousands of requests a minute on average, errors per thousand, down minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayShape {
    pub base: u64,
    pub errors_per_mille: u64,
    pub down_minutes: usize,
}

impl DayShape {
    const fn new(base: u64, errors_per_mille: u64, down_minutes: usize) -> Self {
        Self {
            base,
            errors_per_mille,
            down_minutes,
        }
    }
    /// Mean requests a second.
    pub fn requests_per_second(&self) -> f64 {
        self.base as f64 * 1000.0 / STEP as f64
    }
    pub fn error_ratio(&self) -> f64 {
        self.errors_per_mille as f64 / 1000.0
    }
}

const PREVIOUS: DayShape = DayShape::new(5, 4, 0);
const REPORT_DAY: DayShape = DayShape::new(6, 5, 1);
/// The 7 days before the report day, day−1 first: the report day lies within their range
/// for every stat (an ordinary day).
pub static WEEK: [DayShape; 7] = [
    PREVIOUS,
    DayShape::new(7, 6, 0),
    DayShape::new(6, 5, 2),
    DayShape::new(5, 4, 0),
    DayShape::new(6, 5, 0),
    DayShape::new(7, 5, 1),
    DayShape::new(6, 4, 0),
];
/// A report day made unusual on purpose: 3 % errors and 30 minutes down, the same load.
pub const UNUSUAL_DAY: DayShape = DayShape::new(6, 30, 30);

/// Which report day [`openmetrics_of`] generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Within the range of the week before.
    Ordinary,
    /// [`UNUSUAL_DAY`].
    Unusual,
}

impl Scenario {
    fn report_day(self) -> &'static DayShape {
        match self {
            Self::Ordinary => &REPORT_DAY,
            Self::Unusual => &UNUSUAL_DAY,
        }
    }
}

/// Linear interpolation inside the bucket holding rank `q`, as `histogram_quantile` does.
fn quantile(q: f64, buckets: &[(&str, u64)]) -> f64 {
    let total = buckets.last().map(|b| b.1).unwrap_or(0) as f64;
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for (le, count) in buckets {
        let upper: f64 = le.parse().unwrap_or(f64::INFINITY);
        if *count as f64 >= rank {
            return lower.0 + (upper - lower.0) * (rank - lower.1) / (*count as f64 - lower.1);
        }
        lower = (upper, *count as f64);
    }
    f64::NAN
}

/// What the report should show for `date` in `tz` (an ordinary day).
pub fn truth(date: NaiveDate, tz: Tz) -> Truth {
    truth_of(date, tz, Scenario::Ordinary)
}

/// What the report should show for `date` in `tz` in `scenario`.
pub fn truth_of(date: NaiveDate, tz: Tz, scenario: Scenario) -> Truth {
    let report_day = scenario.report_day();
    let minutes = |d: NaiveDate| {
        let (start, end) = day_bounds(d, tz);
        (end - start).num_seconds()
    };
    let day_seconds = minutes(date);
    let prev_seconds = minutes(date.pred_opt().unwrap_or(date));
    let samples = (day_seconds / STEP) as f64;
    let prev_samples = (prev_seconds / STEP) as f64;
    let under = |buckets: &[(&str, u64)], le: &str| {
        let hit = buckets.iter().find(|b| b.0 == le).map(|b| b.1).unwrap_or(0);
        hit as f64 / buckets.last().map(|b| b.1).unwrap_or(1) as f64
    };
    Truth {
        day_seconds,
        uptime: 1.0 - report_day.down_minutes as f64 / samples,
        prev_uptime: 1.0 - PREVIOUS.down_minutes as f64 / prev_samples,
        error_ratio: report_day.error_ratio(),
        prev_error_ratio: PREVIOUS.error_ratio(),
        requests_per_second: report_day.requests_per_second(),
        prev_requests_per_second: PREVIOUS.requests_per_second(),
        p50: quantile(0.50, &LATENCY_BUCKETS),
        p95: quantile(0.95, &LATENCY_BUCKETS),
        p99: quantile(0.99, &LATENCY_BUCKETS),
        vector_search_p95: quantile(0.95, &SEARCH_BUCKETS),
        veritas_p90: quantile(0.90, &PROOF_BUCKETS),
        under_500ms: under(&LATENCY_BUCKETS, "0.5"),
        proofs_under_2s: under(&PROOF_BUCKETS, "2.0"),
        mean_connections: 40.0,
        mean_confidence: 0.9,
    }
}

/// The evening-peak wave: `round(-amplitude · sin(2πk/n))`. Its values for k and n−k are
/// opposite, so a whole day sums to 0, and it is 0 at k = 0.
fn wave(k: usize, n: usize, amplitude: f64) -> i64 {
    (-amplitude * (2.0 * std::f64::consts::PI * k as f64 / n as f64).sin()).round() as i64
}

/// One sample time and the day's shape for every minute of the two days.
struct Minute {
    time: i64,
    k: usize,
    n: usize,
    shape: &'static DayShape,
}

fn minutes(date: NaiveDate, tz: Tz, scenario: Scenario) -> Vec<Minute> {
    let mut days: Vec<(NaiveDate, &'static DayShape)> = WEEK
        .iter()
        .enumerate()
        .rev()
        .filter_map(|(i, shape)| Some((date.checked_sub_days(chrono::Days::new(i as u64 + 1))?, shape)))
        .collect();
    days.push((date, scenario.report_day()));
    let mut all = Vec::new();
    for (day, shape) in days {
        let (start, end): (DateTime<Utc>, DateTime<Utc>) = day_bounds(day, tz);
        let n = ((end - start).num_seconds() / STEP) as usize;
        for k in 0..n {
            all.push(Minute {
                time: start.timestamp() + STEP / 2 + STEP * k as i64,
                k,
                n,
                shape,
            });
        }
    }
    all
}

/// A monotonic counter series: `per_step(minute)` added at each sample.
fn counter(out: &mut String, name: &str, labels: &str, minutes: &[Minute], per_step: impl Fn(&Minute) -> u64) {
    let mut value: u64 = 1_000_000;
    for minute in minutes {
        value += per_step(minute);
        let _ = writeln!(out, "{name}{{{labels}}} {value} {}", minute.time);
    }
}

fn gauge(out: &mut String, name: &str, labels: &str, minutes: &[Minute], value: impl Fn(&Minute) -> String) {
    for minute in minutes {
        let _ = writeln!(out, "{name}{{{labels}}} {} {}", value(minute), minute.time);
    }
}

/// Thousands of requests in this minute.
fn load(m: &Minute) -> u64 {
    (m.shape.base as i64 + wave(m.k, m.n, 4.0)).max(0) as u64
}

/// OpenMetrics text (ending in `# EOF`) for `date` (an ordinary day) and the 7 days before, in `tz`.
pub fn openmetrics(date: NaiveDate, tz: Tz) -> String {
    openmetrics_of(date, tz, Scenario::Ordinary)
}

/// OpenMetrics text for `date` in `scenario` and the 7 days before, in `tz`.
pub fn openmetrics_of(date: NaiveDate, tz: Tz, scenario: Scenario) -> String {
    let minutes = minutes(date, tz, scenario);
    let mut out = String::with_capacity(64 << 20);
    let job = r#"job="aindusdb-core",instance="aindusdb-core:8000""#;

    out.push_str("# HELP up Whether the target was up (synthetic).\n# TYPE up gauge\n");
    gauge(&mut out, "up", job, &minutes, |m| {
        let down_from = m.n / 2 + 127; // about 14:07 on a 24 h day
        let down = (down_from..down_from + m.shape.down_minutes).contains(&m.k);
        (if down { "0" } else { "1" }).to_string()
    });

    out.push_str("# HELP aindusdb_requests Total requests.\n# TYPE aindusdb_requests counter\n");
    for status in ["success", "error"] {
        let labels = format!(r#"{job},method="POST",endpoint="/api/v1/search",status="{status}""#);
        counter(&mut out, "aindusdb_requests_total", &labels, &minutes, |m| {
            let errors = load(m) * m.shape.errors_per_mille;
            if status == "error" {
                errors
            } else {
                load(m) * 1000 - errors
            }
        });
    }

    histogram(
        &mut out,
        "aindusdb_request_duration_seconds",
        &format!(r#"{job},method="POST",endpoint="/api/v1/search""#),
        &LATENCY_BUCKETS,
        &minutes,
        load,
        150,
    );
    histogram(
        &mut out,
        "aindusdb_vector_search_duration_seconds",
        &format!(r#"{job},index_name="documents",k_value="10""#),
        &SEARCH_BUCKETS,
        &minutes,
        load,
        8,
    );
    histogram(
        &mut out,
        "aindusdb_veritas_proof_duration_seconds",
        job,
        &PROOF_BUCKETS,
        &minutes,
        |_| 1,
        120,
    );

    out.push_str("# HELP aindusdb_vector_operations Vector operations.\n# TYPE aindusdb_vector_operations counter\n");
    for (operation, per_step) in OPERATIONS {
        let labels = format!(r#"{job},operation_type="{operation}",status="success""#);
        counter(&mut out, "aindusdb_vector_operations_total", &labels, &minutes, |m| {
            per_step * load(m)
        });
    }
    out.push_str(
        "# HELP aindusdb_veritas_calculations VERITAS calculations.\n# TYPE aindusdb_veritas_calculations counter\n",
    );
    for (level, per_step) in LEVELS {
        let labels = format!(r#"{job},verification_level="{level}",status="success""#);
        counter(
            &mut out,
            "aindusdb_veritas_calculations_total",
            &labels,
            &minutes,
            |_| per_step,
        );
    }

    out.push_str("# HELP aindusdb_veritas_confidence_score Mean confidence (synthetic).\n# TYPE aindusdb_veritas_confidence_score gauge\n");
    gauge(&mut out, "aindusdb_veritas_confidence_score", job, &minutes, |m| {
        format!("{}", (900 + wave(m.k, m.n, 50.0)) as f64 / 1000.0)
    });
    out.push_str("# HELP aindusdb_active_connections Active connections.\n# TYPE aindusdb_active_connections gauge\n");
    gauge(&mut out, "aindusdb_active_connections", job, &minutes, |m| {
        (40 + wave(m.k, m.n, 30.0)).to_string()
    });
    out.push_str("# HELP aindusdb_memory_usage_bytes Memory usage.\n# TYPE aindusdb_memory_usage_bytes gauge\n");
    for (component, base, amplitude) in MEMORY {
        let labels = format!(r#"{job},component="{component}""#);
        gauge(&mut out, "aindusdb_memory_usage_bytes", &labels, &minutes, |m| {
            (base + wave(m.k, m.n, amplitude as f64)).to_string()
        });
    }
    out.push_str("# EOF\n");
    out
}

/// A histogram family: per step `per_thousand(m)` × bucket counts, and a sum of
/// `sum_per_unit` seconds per bucket-total unit.
fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    buckets: &[(&str, u64)],
    minutes: &[Minute],
    units: impl Fn(&Minute) -> u64,
    sum_per_unit: u64,
) {
    let _ = writeln!(out, "# HELP {name} Duration (synthetic).\n# TYPE {name} histogram");
    for (le, count) in buckets {
        counter(
            out,
            &format!("{name}_bucket"),
            &format!(r#"{labels},le="{le}""#),
            minutes,
            |m| count * units(m),
        );
    }
    let total = buckets.last().map(|b| b.1).unwrap_or(0);
    counter(out, &format!("{name}_count"), labels, minutes, |m| total * units(m));
    counter(out, &format!("{name}_sum"), labels, minutes, |m| {
        sum_per_unit * units(m)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_prometheus() {
        assert!((quantile(0.95, &LATENCY_BUCKETS) - (0.1 + 0.4 * 350.0 / 360.0)).abs() < 1e-12);
        assert!((quantile(0.99, &LATENCY_BUCKETS) - 1.75).abs() < 1e-12);
        assert!((quantile(0.90, &PROOF_BUCKETS) - 1.9375).abs() < 1e-12);
    }

    #[test]
    fn the_wave_sums_to_zero_and_starts_at_zero() {
        for n in [1380, 1440, 1500] {
            assert_eq!((0..n).map(|k| wave(k, n, 4.0)).sum::<i64>(), 0, "n={n}");
            assert_eq!(wave(0, n, 4.0), 0);
        }
    }

    #[test]
    fn an_ordinary_day_lies_within_its_week_and_the_unusual_one_does_not() {
        let range = |f: fn(&DayShape) -> f64| {
            let values: Vec<f64> = WEEK.iter().map(f).collect();
            (
                values.iter().copied().fold(f64::INFINITY, f64::min),
                values.iter().copied().fold(0.0, f64::max),
            )
        };
        let down = |d: &DayShape| d.down_minutes as f64;
        for (f, name) in [
            (DayShape::requests_per_second as fn(&DayShape) -> f64, "requests"),
            (DayShape::error_ratio, "errors"),
            (down, "downtime"),
        ] {
            let (lo, hi) = range(f);
            assert!(lo <= f(&REPORT_DAY) && f(&REPORT_DAY) <= hi, "{name}");
        }
        let (_, hi) = range(DayShape::error_ratio);
        assert!(UNUSUAL_DAY.error_ratio() > 4.0 * hi);
        assert_eq!(UNUSUAL_DAY.base, REPORT_DAY.base, "the load stays ordinary");
    }

    #[test]
    fn dst_days_have_their_real_length() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let short = truth(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(), tz);
        let long = truth(NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(), tz);
        assert_eq!(short.day_seconds, 23 * 3600);
        assert_eq!(long.day_seconds, 25 * 3600);
        assert!((long.uptime - (1.0 - 1.0 / 1500.0)).abs() < 1e-12);
    }

    #[test]
    fn output_ends_with_eof_and_counters_rise() {
        let text = openmetrics(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(), chrono_tz::UTC);
        assert!(text.ends_with("# EOF\n"));
        let errors: Vec<u64> = text
            .lines()
            .filter(|l| l.starts_with("aindusdb_requests_total") && l.contains("error"))
            .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(errors.len(), 8 * 1440);
        assert!(errors.windows(2).all(|w| w[0] <= w[1]));
    }
}
