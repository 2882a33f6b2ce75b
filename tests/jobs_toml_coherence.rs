//! The shipped jobs.toml is coherent: no tsdb-retention rule deletes what a report panel or SLO
//! reads inside its window before the report ran, nor raw data the rollup job still reads.

mod support;

use std::str::FromStr;

use almanac::config::HumanDuration;
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
        for slo in job.get("slos").or(defaults.get("slos")).unwrap().as_array().unwrap() {
            for reference in references(slo["sli"].as_str().unwrap()) {
                let what = format!("{name}: SLO {:?}", slo["name"].as_str().unwrap());
                out.push(Need {
                    reference,
                    hours: hours(slo["window"].as_str().unwrap()) + margin,
                    what,
                    retain_only: false,
                });
            }
        }
    }
    // The rollup job reads raw samples back to `lookback` (+ the baseline hour) on its first run
    // and when catching up: of the report's metrics, those its rules select.
    let read: Vec<Reference> = out.iter().map(|n| n.reference.clone()).collect();
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
            .any(|c| c.contains("aindusdb_request_duration_seconds_bucket") && c.contains("API latency")),
        "{found:#?}"
    );
    let refs = references(
        r#"histogram_quantile(0.95, sum by (le) (rate(x_bucket{job="a"}[$__interval]))) / on(job) y or vector(0)"#,
    );
    let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["x_bucket", "y"]);
}
