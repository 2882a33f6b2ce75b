//! The shipped jobs.toml is coherent: no tsdb-retention rule deletes what a report panel or SLO
//! reads inside its window before the report ran, nor raw data the rollup job still reads.

mod support;

use std::str::FromStr;

use almanac::config::HumanDuration;
use almanac::jobs::report::slo_parts::{self, Source};
use almanac::jobs::tsdb_retention::Selector;
use almanac::jobs::tsdb_retention::decide::{MatchOp, Matcher};
use toml::Value;

/// A metric a query reads: its name and the labels it fixes with `=`.
#[derive(Debug, Clone)]
struct Reference {
    name: String,
    fixed: Vec<(String, String)>,
}

/// Metric references of a PromQL expression (names followed by `{`, `[` or an operator; not
/// functions, keywords, label lists of `by (...)`, strings or durations).
fn references(query: &str) -> Vec<Reference> {
    const KEYWORDS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];
    const OPERATORS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    let chars: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_until = |from: usize, close: char| {
        let mut j = from;
        while j < chars.len() && chars[j] != close {
            j += 1;
        }
        j + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i = skip_until(i + 1, c);
        } else if c == '[' {
            i = skip_until(i + 1, ']');
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let follows = chars.get(next).copied();
            if KEYWORDS.contains(&word.as_str()) {
                if follows == Some('(') {
                    i = skip_until(next + 1, ')');
                }
            } else if OPERATORS.contains(&word.as_str()) || follows == Some('(') {
                // a function or a binary operator
            } else if follows == Some('{') {
                let end = skip_until(next + 1, '}');
                let text: String = chars[start..end].iter().collect();
                let selector = Selector::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                out.push(reference(&selector));
                i = end;
            } else {
                out.push(Reference {
                    name: word,
                    fixed: Vec::new(),
                });
            }
        } else {
            i += 1;
        }
    }
    out
}

fn reference(selector: &Selector) -> Reference {
    let fixed: Vec<(String, String)> = selector
        .matchers
        .iter()
        .filter(|m| m.op == MatchOp::Eq)
        .map(|m| (m.label.clone(), m.value.clone()))
        .collect();
    let name = fixed
        .iter()
        .find(|(l, _)| l == "__name__")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    Reference { name, fixed }
}

fn matches(matcher: &Matcher, value: &str) -> bool {
    let regex = || {
        regex_lite::Regex::new(&format!("^(?:{})$", matcher.value))
            .unwrap()
            .is_match(value)
    };
    match matcher.op {
        MatchOp::Eq => matcher.value == value,
        MatchOp::Ne => matcher.value != value,
        MatchOp::Re => regex(),
        MatchOp::Nre => !regex(),
    }
}

/// Whether a rule's selector may select series of `reference`: not when one of its matchers
/// contradicts a label the reference fixes (its name included).
fn may_select(rule: &Selector, reference: &Reference) -> bool {
    let mut fixed = reference.fixed.clone();
    fixed.push(("__name__".into(), reference.name.clone()));
    rule.matchers.iter().all(|m| {
        fixed
            .iter()
            .filter(|(label, _)| *label == m.label)
            .all(|(_, value)| matches(m, value))
    })
}

fn hours(text: &str) -> f64 {
    HumanDuration::from_str(text).unwrap().as_std().as_secs_f64() / 3600.0
}

/// What must survive: a reference, for how long back from its window's end, and why.
struct Need {
    reference: Reference,
    hours: f64,
    what: String,
    /// Only `retain` rules matter (the rollup job: a stale rule removes series that ended
    /// `after` ago, which a catch-up after longer downtime then misses; docs/tsdb-rollup.md).
    retain_only: bool,
}

/// The expressions of an SLO and how many hours before its window's end each reads: `sli`
/// the whole window; events split as the report splits them (`slo_parts::split`, with its
/// margin): the rollup expressions back to the window's start, the raw ones back to the
/// boundary (or the whole window when nothing is split), and the day (25 h at most).
fn slo_reads<'a>(slo: &'a Value, report_raw_retention: Option<&str>) -> Vec<(&'a str, f64)> {
    let window = hours(slo["window"].as_str().unwrap());
    if let Some(sli) = slo.get("sli").and_then(Value::as_str) {
        return vec![(sli, window)];
    }
    let text = |key: &str| slo.get(key).and_then(Value::as_str);
    let rollups = [text("good_rollup"), text("total_rollup")];
    let retention = slo
        .get("raw_retention")
        .and_then(Value::as_str)
        .or(report_raw_retention)
        .map(|r| chrono::Duration::seconds((hours(r) * 3600.0) as i64));
    // A Paris day ending at 23:00 UTC.
    let end = chrono::DateTime::parse_from_rfc3339("2026-11-24T23:00:00Z")
        .unwrap()
        .to_utc();
    let start = end - chrono::Duration::seconds((window * 3600.0) as i64);
    let parts = slo_parts::split(start, end, retention, rollups.iter().all(Option::is_some));
    let mut out = Vec::new();
    for part in parts {
        let back = (end - part.start).num_seconds() as f64 / 3600.0;
        let exprs = match part.source {
            Source::Raw => [text("good"), text("total")],
            Source::Rollup => rollups,
        };
        out.extend(exprs.into_iter().flatten().map(|e| (e, back)));
    }
    out.extend([text("good"), text("total")].into_iter().flatten().map(|e| (e, 25.0)));
    out
}

/// The aggregates a tsdb-rollup rule writes for metric `name` (without metadata: its
/// `aggregates`, its `type`, or the name's suffix, as docs/tsdb-rollup.md says).
fn rule_aggregates(rule: &Value, name: &str) -> Vec<String> {
    if let Some(list) = rule.get("aggregates").and_then(Value::as_array) {
        return list.iter().map(|a| a.as_str().unwrap().to_string()).collect();
    }
    let kind = match rule.get("type").and_then(Value::as_str) {
        Some("histogram") if name.ends_with("_bucket") => "bucket",
        Some("histogram" | "counter") => "counter",
        Some(_) => "gauge",
        None if name.ends_with("_bucket") => "bucket",
        None if ["_total", "_sum", "_count"].iter().any(|s| name.ends_with(s)) => "counter",
        None => "gauge",
    };
    let list: &[&str] = match kind {
        "bucket" => &["increase"],
        "counter" => &["increase", "rate"],
        _ => &["avg", "min", "max", "count"],
    };
    list.iter().map(|a| a.to_string()).collect()
}

/// Rollup series (`<metric>:1h_<aggregate>`) a report reads that no tsdb-rollup job writes: the
/// first rule selecting the metric (the one that writes it) must have the aggregate, and the
/// job the `1h` tier.
fn unwritten_rollups(text: &str) -> Vec<String> {
    let config: toml::Table = toml::from_str(text).unwrap();
    let jobs = config["jobs"].as_table().unwrap();
    let rollup_jobs: Vec<&Value> = jobs
        .values()
        .filter(|j| j["kind"].as_str() == Some("tsdb-rollup"))
        .filter(|j| {
            j.get("tiers")
                .and_then(Value::as_array)
                .is_none_or(|t| t.iter().any(|t| t.as_str() == Some("1h")))
        })
        .collect();
    let mut out = Vec::new();
    for need in needs(jobs) {
        let Some((metric, aggregate)) = need.reference.name.split_once(":1h_") else {
            continue;
        };
        let raw = Reference {
            name: metric.to_string(),
            fixed: need
                .reference
                .fixed
                .iter()
                .filter(|(label, _)| label != "__name__")
                .cloned()
                .collect(),
        };
        let written = rollup_jobs.iter().any(|job| {
            job["rules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|rule| may_select(&Selector::parse(rule["selector"].as_str().unwrap()).unwrap(), &raw))
                .is_some_and(|rule| rule_aggregates(rule, metric).iter().any(|a| a == aggregate))
        });
        if !written {
            out.push(format!(
                "{} reads {} that no tsdb-rollup rule writes",
                need.what, need.reference.name
            ));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn needs(jobs: &toml::Table) -> Vec<Need> {
    let defaults: Value =
        toml::from_str(&std::fs::read_to_string(support::repo().join("src/jobs/report/defaults.toml")).unwrap())
            .unwrap();
    let mut out = Vec::new();
    for (name, job) in jobs.iter().filter(|(_, j)| j["kind"].as_str() == Some("report")) {
        // The report runs `hour` hours after its day ends (one more on a DST day); a
        // deletion before then must stop short of the window's start.
        let schedule = job["schedule"].as_str().unwrap();
        let hour: f64 = schedule.split_whitespace().nth(2).unwrap().parse().unwrap();
        let margin = hour + 1.0;
        let sections = job.get("sections").or(defaults.get("sections")).unwrap();
        for panel in sections
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["panels"].as_array().unwrap())
        {
            for key in ["query", "chart"] {
                if let Some(query) = panel.get(key).and_then(Value::as_str) {
                    for reference in references(query) {
                        let what = format!("{name}: panel {:?}", panel["title"].as_str().unwrap());
                        out.push(Need {
                            reference,
                            hours: 25.0 + margin,
                            what,
                            retain_only: false,
                        });
                    }
                }
            }
        }
        let raw_retention = job.get("raw_retention").and_then(Value::as_str);
        for slo in job.get("slos").or(defaults.get("slos")).unwrap().as_array().unwrap() {
            let what = format!("{name}: SLO {:?}", slo["name"].as_str().unwrap());
            // Each expression and how far before the window's end it reads.
            for (expr, back) in slo_reads(slo, raw_retention) {
                for reference in references(expr) {
                    out.push(Need {
                        reference,
                        hours: back + margin,
                        what: what.clone(),
                        retain_only: false,
                    });
                }
            }
        }
    }
    // The rollup job reads raw samples back to `lookback` (+ the baseline hour) on its first run
    // and when catching up: of the report's metrics, those its rules select.
    let read: Vec<Reference> = out
        .iter()
        .map(|n| n.reference.clone())
        .filter(|r| !r.name.contains(':'))
        .collect();
    for (name, job) in jobs.iter().filter(|(_, j)| j["kind"].as_str() == Some("tsdb-rollup")) {
        let lookback = job.get("lookback").and_then(Value::as_str).unwrap_or("15d");
        for rule in job["rules"].as_array().unwrap() {
            let selector = Selector::parse(rule["selector"].as_str().unwrap()).unwrap();
            let selected: Vec<&Reference> = read.iter().filter(|r| may_select(&selector, r)).collect();
            assert!(
                !selected.is_empty(),
                "{name}: rule {selector} selects no metric the report reads"
            );
            for reference in selected {
                let what = format!("{name}: rule {selector}");
                out.push(Need {
                    reference: reference.clone(),
                    hours: hours(lookback) + 1.0,
                    what,
                    retain_only: true,
                });
            }
        }
    }
    out
}

/// Every (rule, need) pair where the rule may delete data the need reads.
fn conflicts(text: &str) -> Vec<String> {
    let config: toml::Table = toml::from_str(text).unwrap();
    let jobs = config["jobs"].as_table().unwrap();
    let needs = needs(jobs);
    assert!(needs.len() > 20, "the report's queries were found: {}", needs.len());
    let mut out = Vec::new();
    for (name, job) in jobs
        .iter()
        .filter(|(_, j)| j["kind"].as_str() == Some("tsdb-retention"))
    {
        for (i, rule) in job["rules"].as_array().unwrap().iter().enumerate() {
            let (selector, keep) = match (rule.get("retain"), rule.get("stale")) {
                (Some(s), _) => (s, rule["keep"].as_str().unwrap()),
                (None, Some(s)) => (s, rule["after"].as_str().unwrap()),
                _ => panic!("{name}.rules[{i}]"),
            };
            let selector = Selector::parse(selector.as_str().unwrap()).unwrap();
            let stale = rule.get("stale").is_some();
            let relevant = needs.iter().filter(|n| !(stale && n.retain_only));
            for need in relevant.filter(|n| may_select(&selector, &n.reference)) {
                if hours(keep) < need.hours {
                    out.push(format!(
                        "{name}.rules[{i}] ({selector}, {keep}) deletes {} that {} reads over {}h",
                        need.reference.name, need.what, need.hours
                    ));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn shipped_jobs_toml_deletes_nothing_the_report_or_the_rollups_read() {
    let text = std::fs::read_to_string(support::repo().join("jobs.toml")).unwrap();
    let found = conflicts(&text);
    assert!(found.is_empty(), "{found:#?}");
    let unwritten = unwritten_rollups(&text);
    assert!(unwritten.is_empty(), "{unwritten:#?}");
}

/// The shipped file with `from` replaced by `to` (which must be there once).
fn shipped_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(support::repo().join("jobs.toml")).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in jobs.toml");
    text.replace(from, to)
}

#[test]
fn the_check_follows_the_rollup_and_raw_parts_of_the_slo_windows() {
    // The SLOs read rollups back to their window's start: 30 days of `:1h_*` are too few (the
    // report runs hours after its day ends).
    let short = shipped_with(
        "retain = '{__name__=~\".+:1h_.+\"}'\nkeep = \"31d\"",
        "retain = '{__name__=~\".+:1h_.+\"}'\nkeep = \"30d\"",
    );
    let found = conflicts(&short);
    for name in [
        "up:1h_sum",
        "up:1h_count",
        "aindusdb_request_duration_seconds_count:1h_increase",
    ] {
        assert!(
            found.iter().any(|c| c.contains(name) && c.contains("SLO")),
            "{name}: {found:#?}"
        );
    }
    // A report assuming 16 days of raw data reads raw series the 15-day rule deleted.
    let long = shipped_with("raw_retention = \"15d\"", "raw_retention = \"16d\"");
    let found = conflicts(&long);
    assert!(
        found
            .iter()
            .any(|c| c.contains("aindusdb_request_duration_seconds_bucket ") && c.contains("Latence de l'API")),
        "{found:#?}"
    );
    // Without `raw_retention` the 30-day windows are read raw: 15 days are too few.
    let unsplit = shipped_with("raw_retention = \"15d\"\n", "");
    let found = conflicts(&unsplit);
    assert!(
        found
            .iter()
            .any(|c| c.contains("deletes up ") && c.contains("Disponibilité de l'API")),
        "{found:#?}"
    );
    // The SLOs read `up:1h_sum`: a rule for `up` without `sum` does not write it.
    let no_sum = shipped_with(
        "aggregates = [\"avg\", \"min\", \"max\", \"count\", \"sum\"]",
        "type = \"gauge\"",
    );
    let unwritten = unwritten_rollups(&no_sum);
    assert_eq!(unwritten.len(), 1, "{unwritten:#?}");
    assert!(unwritten[0].contains("up:1h_sum"), "{unwritten:#?}");
}

#[test]
fn the_check_finds_the_old_incoherence() {
    // The rules shipped before the tiers: buckets 7 days, read by a 30-day SLO.
    let text = std::fs::read_to_string(support::repo().join("jobs.toml")).unwrap();
    let start = text.find("[[jobs.tsdb-maintenance.rules]]").unwrap();
    let old = format!(
        "{}[[jobs.tsdb-maintenance.rules]]\nstale = '{{job=\"kubernetes-pods\"}}'\nafter = \"2d\"\n\
         [[jobs.tsdb-maintenance.rules]]\nretain = '{{__name__=~\".+_bucket\"}}'\nkeep = \"7d\"\n",
        &text[..start]
    );
    let found = conflicts(&old);
    assert!(
        found
            .iter()
            .any(|c| c.contains("aindusdb_request_duration_seconds_bucket") && c.contains("Latence de l'API")),
        "{found:#?}"
    );
    let refs = references(
        r#"histogram_quantile(0.95, sum by (le) (rate(x_bucket{job="a"}[$__interval]))) / on(job) y or vector(0)"#,
    );
    let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["x_bucket", "y"]);
}
