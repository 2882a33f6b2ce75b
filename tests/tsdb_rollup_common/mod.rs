//! The data of the tsdb-rollup tests and the rollups expected from it, computed here from the
//! documented rules (independently of almanac's code), plus reading rollups back from a server.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use serde_json::Value;

pub type Labels = BTreeMap<String, String>;

/// One raw series: labels (with `__name__`), (unix seconds, value) in time order, its kind.
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
    /// `gauge`, `counter`, `bucket`, or an explicit aggregate list for the override rule.
    pub aggregates: &'static [&'static str],
}

pub const GAUGE: &[&str] = &["avg", "count", "max", "min"];
pub const COUNTER: &[&str] = &["increase", "rate"];
pub const BUCKET: &[&str] = &["increase"];
/// The `_sum` series is selected by a rule with `aggregates = ["increase", "max", "sum"]`.
pub const OVERRIDE: &[&str] = &["increase", "max", "sum"];

pub fn utc(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text).unwrap().timestamp()
}

/// Paris midnight of a date (unix seconds), computed with chrono-tz directly.
pub fn paris_midnight(y: i32, m: u32, d: u32) -> i64 {
    Paris.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap().timestamp()
}

fn labels(name: &str, extra: &[(&str, &str)]) -> Labels {
    let mut map: Labels = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    map.insert("__name__".into(), name.into());
    map
}

/// Every minute over [from, to): gauges, a counter with a reset, a classic histogram.
pub fn data(p: &str, from: i64, to: i64, reset_at: i64, gap: (i64, i64)) -> Vec<Series> {
    let minutes: Vec<i64> = (0..).map(|i| from + 60 * i).take_while(|t| *t < to).collect();
    let gauge_a = minutes
        .iter()
        .map(|t| (*t, ((t / 60) % 17) as f64 + 0.25 * ((t / 3600) % 3) as f64))
        .collect();
    let gauge_b = minutes
        .iter()
        .filter(|t| !(gap.0..gap.1).contains(*t))
        .map(|t| (*t, ((t / 60) % 5) as f64 * 1.5 - 2.0))
        .collect();
    let mut counter = Vec::new();
    let mut value = 1000.0;
    for (i, t) in minutes.iter().enumerate() {
        value = if *t == reset_at {
            3.0
        } else {
            value + (i % 5 + 1) as f64
        };
        counter.push((*t, value));
    }
    let cumulative = |per_minute: f64| -> Vec<(i64, f64)> {
        minutes
            .iter()
            .enumerate()
            .map(|(i, t)| (*t, per_minute * (i + i / 7) as f64))
            .collect()
    };
    let hist = format!("{p}_latency_seconds");
    vec![
        Series {
            labels: labels(&format!("{p}_temp"), &[("host", "a")]),
            points: gauge_a,
            aggregates: GAUGE,
        },
        Series {
            labels: labels(&format!("{p}_temp"), &[("host", "b")]),
            points: gauge_b,
            aggregates: GAUGE,
        },
        Series {
            labels: labels(&format!("{p}_requests_total"), &[("host", "a"), ("job", "api")]),
            points: counter,
            aggregates: COUNTER,
        },
        Series {
            labels: labels(&format!("{hist}_bucket"), &[("le", "0.1")]),
            points: cumulative(1.0),
            aggregates: BUCKET,
        },
        Series {
            labels: labels(&format!("{hist}_bucket"), &[("le", "0.5")]),
            points: cumulative(2.0),
            aggregates: BUCKET,
        },
        Series {
            labels: labels(&format!("{hist}_bucket"), &[("le", "+Inf")]),
            points: cumulative(3.0),
            aggregates: BUCKET,
        },
        Series {
            labels: labels(&format!("{hist}_count"), &[]),
            points: cumulative(3.0),
            aggregates: COUNTER,
        },
        Series {
            labels: labels(&format!("{hist}_sum"), &[]),
            points: cumulative(0.4),
            aggregates: OVERRIDE,
        },
    ]
}

/// The rules of the test jobs: everything by name suffix, the `_sum` with an override.
pub fn rules(job: &str, p: &str) -> String {
    format!(
        "[[jobs.{job}.rules]]\nselector = '{{__name__=~\"{p}_.+\",__name__!=\"{p}_latency_seconds_sum\"}}'\n\
         [[jobs.{job}.rules]]\nselector = '{p}_latency_seconds_sum'\naggregates = [\"increase\", \"max\", \"sum\"]\n"
    )
}

fn label_text(labels: &Labels) -> String {
    labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(",")
}

/// OpenMetrics for promtool (every family typed `unknown`: only the samples matter).
pub fn openmetrics(series: &[Series]) -> String {
    let mut by_name: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
    for s in series {
        by_name.entry(&s.labels["__name__"]).or_default().push(s);
    }
    let mut out = String::new();
    for (name, group) in by_name {
        let _ = writeln!(out, "# TYPE {name} unknown");
        for s in group {
            let labels = label_text(&s.labels);
            for (t, v) in &s.points {
                let _ = writeln!(out, "{name}{{{labels}}} {v} {t}");
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// VictoriaMetrics' JSON-lines import format.
pub fn vm_import(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        let values: Vec<f64> = s.points.iter().map(|p| p.1).collect();
        let times: Vec<i64> = s.points.iter().map(|p| p.0 * 1000).collect();
        let line = serde_json::json!({"metric": s.labels, "values": values, "timestamps": times});
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// Key of one rollup sample: name, other labels, timestamp (ms).
pub type Key = (String, String, i64);

/// The rollups of `series` over `windows` (tier `1h`/`1d`), by the documented rules: samples in
/// [start, end); counter baseline = the last sample in [start − 1h, start); a drop is a reset.
pub fn expected(series: &[Series], windows: &[(i64, i64)], tier: &str) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for s in series {
        for &(start, end) in windows {
            let inside: Vec<f64> = s
                .points
                .iter()
                .filter(|p| p.0 >= start && p.0 < end)
                .map(|p| p.1)
                .collect();
            if inside.is_empty() {
                continue;
            }
            let baseline = s
                .points
                .iter()
                .rev()
                .find(|p| p.0 >= start - 3600 && p.0 < start)
                .map(|p| p.1);
            let mut increase = 0.0;
            let mut previous = baseline;
            for v in &inside {
                if let Some(prev) = previous {
                    increase += if *v >= prev { v - prev } else { *v };
                }
                previous = Some(*v);
            }
            for aggregate in s.aggregates {
                let value = match *aggregate {
                    "avg" => inside.iter().sum::<f64>() / inside.len() as f64,
                    "min" => inside.iter().copied().fold(f64::INFINITY, f64::min),
                    "max" => inside.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    "sum" => inside.iter().sum(),
                    "count" => inside.len() as f64,
                    "increase" => increase,
                    "rate" => increase / (end - start) as f64,
                    other => panic!("{other}"),
                };
                let name = format!("{}:{tier}_{aggregate}", s.labels["__name__"]);
                out.insert((name, label_text(&s.labels), end * 1000 - 1), value);
            }
        }
    }
    out
}

/// Hour windows [from, to) and the Paris days between two dates (inclusive, exclusive).
pub fn hours(from: i64, to: i64) -> Vec<(i64, i64)> {
    (0..)
        .map(|i| from + 3600 * i)
        .take_while(|t| t + 3600 <= to)
        .map(|t| (t, t + 3600))
        .collect()
}

pub fn paris_days(first: NaiveDate, last: NaiveDate) -> Vec<(i64, i64)> {
    let at = |d: NaiveDate| paris_midnight(d.year(), d.month(), d.day());
    let mut days = Vec::new();
    let mut day = first;
    while day < last {
        let next = day.succ_opt().unwrap();
        days.push((at(day), at(next)));
        day = next;
    }
    days
}

/// Every stored sample of the rollup series of prefix `p` (`<p>_...:1h_...`, `:1d_`) up to `at`.
pub fn stored_rollups(url: &str, p: &str, at: i64) -> BTreeMap<Key, f64> {
    let body: Value = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/query"))
        .form(&[
            ("query", format!("{{__name__=~\"{p}_.+:1[hd]_.+\"}}[400d]")),
            ("time", at.to_string()),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["status"], "success", "{body}");
    let mut out = BTreeMap::new();
    for series in body["data"]["result"].as_array().unwrap() {
        let labels: Labels = serde_json::from_value(series["metric"].clone()).unwrap();
        for point in series["values"].as_array().unwrap() {
            let ms = (point[0].as_f64().unwrap() * 1000.0).round() as i64;
            let value: f64 = point[1].as_str().unwrap().parse().unwrap();
            out.insert((labels["__name__"].clone(), label_text(&labels), ms), value);
        }
    }
    out
}

/// Asserts two rollup sets hold the same samples (values within 1e-9, relative).
#[track_caller]
pub fn assert_same(stored: &BTreeMap<Key, f64>, expected: &BTreeMap<Key, f64>) {
    let missing: Vec<&Key> = expected.keys().filter(|k| !stored.contains_key(*k)).take(5).collect();
    let extra: Vec<&Key> = stored.keys().filter(|k| !expected.contains_key(*k)).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} stored, {} expected; missing e.g. {missing:?}; unexpected e.g. {extra:?}",
        stored.len(),
        expected.len()
    );
    for (key, want) in expected {
        let got = stored[key];
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{key:?}: stored {got}, expected {want}"
        );
    }
}

/// `--now` as RFC 3339.
pub fn rfc3339(secs: i64) -> String {
    (DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(secs)).to_rfc3339()
}
