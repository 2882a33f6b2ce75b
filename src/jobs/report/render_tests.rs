//! Unit tests of the rendered email: with every catalogue text marked, no other text shows (an
//! untranslated string fails); French shows no English and back; the HTML needs no `<style>`.

use chrono::{DateTime, Duration, Utc};

use crate::clients::prometheus::{Labels, RangeSeries, Sample};
use crate::config::TimeZoneName;
use crate::jobs::report::Settings;
use crate::jobs::report::assemble::{Answers, Charts, Run, assemble_in};
use crate::jobs::report::chart::{Chart, Line};
use crate::jobs::report::locale::{Catalogue, placeholders};
use crate::jobs::report::maintenance::{MaintenanceJob, Metric};
use crate::jobs::report::plan::{self, Probed, Purpose};
use crate::jobs::report::query::QueryResult;
use crate::jobs::report::render::ReportView;

/// Every name the configuration and the data bring in (not the catalogue's business).
const NAMES: [&str; 24] = [
    "Zulu Board",
    "Yankee Section",
    "Xray Errors",
    "Whiskey words",
    "Victor Requests",
    "Uniform Memory",
    "Tango Broken",
    "Sierra Availability",
    "Romeo target",
    "november",
    "kilo",
    "lima",
    "mike",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "juliet-job",
    "golf-job",
    "hotel-job",
    "india-job",
    "tsdb-retention",
    "foxtrot_deleted",
    "daily",
];

const SETTINGS: &str = r#"
to = ["ops@example.com"]
title = "Zulu Board"
compare = ["day", "week"]

[[sections]]
title = "Yankee Section"

[[sections.panels]]
title = "Xray Errors"
description = "Whiskey words"
query = 'errors'
chart = 'errors_chart'
unit = "percent"
thresholds = { warn = 0.01, critical = 0.05 }

[[sections.panels]]
title = "Victor Requests"
query = 'requests'
unit = "per_second"

[[sections.panels]]
title = "Uniform Memory"
query = 'memory'
legend = '{{component}}'
unit = "bytes"

[[sections.panels]]
title = "Tango Broken"
query = 'broken'

[[slos]]
name = "Sierra Availability"
description = "Romeo target"
objective = 0.999
window = "30d"
sli = 'sli'
"#;

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn one(value: f64) -> QueryResult {
    QueryResult::Instant(vec![Sample {
        labels: Labels::new(),
        time: 0.0,
        value,
    }])
}

fn labelled(pairs: &[(&str, &str, f64)]) -> QueryResult {
    QueryResult::Instant(
        pairs
            .iter()
            .map(|(k, v, value)| Sample {
                labels: [(k.to_string(), v.to_string())].into_iter().collect(),
                time: 0.0,
                value: *value,
            })
            .collect(),
    )
}

fn job(name: &str, enabled: bool) -> MaintenanceJob {
    MaintenanceJob {
        name: name.into(),
        kind: "tsdb-retention".into(),
        schedule: "0 0 2 * * *".parse().unwrap(),
        timezone: TimeZoneName(chrono_tz::Europe::Paris),
        timeout: std::time::Duration::from_secs(3600),
        enabled,
    }
}

/// The daily report in `catalogue`'s language.
fn report(catalogue: &'static Catalogue) -> ReportView {
    report_of(catalogue, "day")
}

/// The report of `period` (`day`, `week`, `month`) holding 2026-11-24, in `catalogue`'s language.
fn report_of(catalogue: &'static Catalogue, period: &str) -> ReportView {
    let with_period = format!("period = \"{period}\"\n{SETTINGS}");
    let settings: Settings = toml::from_str(&with_period).unwrap();
    settings.validate().unwrap();
    let tz = chrono_tz::Europe::Paris;
    let now = t("2026-11-25T06:00:00Z");
    let probed = Probed {
        url: "http://prometheus:9090".into(),
        version: "3.1.0".into(),
    };
    let mut plan = plan::build(&settings, "2026-11-24".parse().unwrap(), tz, probed, "files".into());
    let jobs = vec![
        job("juliet-job", true),
        job("golf-job", true),
        job("hotel-job", true),
        job("india-job", false),
    ];
    plan::extend(&mut plan, &settings, tz, now, jobs);
    let components = ["kilo", "lima", "mike", "november", "oscar", "papa", "quebec"];
    let memory = |scale: f64| {
        let pairs: Vec<(&str, &str, f64)> = components
            .iter()
            .enumerate()
            .map(|(i, c)| ("component", *c, scale * (i + 1) as f64 * 1024f64.powi(3)))
            .collect();
        labelled(&pairs)
    };
    let hourly = |from: DateTime<Utc>, hours: i64, value: f64| RangeSeries {
        labels: Labels::new(),
        points: (0..hours)
            .map(|h| {
                (
                    (from + Duration::hours(h)).timestamp() as f64,
                    value + (h % 5) as f64 * 0.001,
                )
            })
            .collect(),
    };
    let at = |text: &str| t(text).timestamp() as f64;
    let by_job =
        |values: &[(&str, f64)]| labelled(&values.iter().map(|(j, v)| ("job_name", *j, *v)).collect::<Vec<_>>());
    let specs = plan::all_specs(&settings, &plan);
    let results: Vec<QueryResult> = specs
        .iter()
        .map(|o| match (o.section, o.index, o.purpose) {
            (Some(0), 0, Purpose::Stat) => one(0.03),
            (Some(0), 0, Purpose::PreviousStat) => one(0.004),
            (Some(0), 0, Purpose::EarlierStat(n)) => one(0.004 + 0.0005 * (n % 3) as f64),
            (Some(0), 0, Purpose::Chart) => QueryResult::Range(vec![hourly(plan.start, 24, 0.03)]),
            (Some(0), 0, Purpose::ChartWeek) => QueryResult::Range(vec![hourly(plan.week[6][0], 24 * 7, 0.005)]),
            (Some(0), 1, Purpose::Stat) => one(100.0),
            (Some(0), 1, Purpose::PreviousStat) => one(83.0),
            (Some(0), 1, Purpose::EarlierStat(n)) => one(90.0 + n as f64 * 3.0),
            (Some(0), 2, Purpose::Stat) => memory(1.0),
            (Some(0), 2, _) => memory(0.99),
            (Some(0), 3, Purpose::Stat) => QueryResult::Instant(Vec::new()),
            (Some(0), 3, _) => QueryResult::Failed("down".into()),
            (None, 0, Purpose::SloWindow) => one(0.9995),
            (None, 0, Purpose::SloDay) => one(0.997),
            (None, 0, Purpose::Maintenance(Metric::LastSuccess)) => by_job(&[
                ("juliet-job", at("2026-11-25T01:05:00Z")),
                ("golf-job", at("2026-11-23T01:05:00Z")),
            ]),
            (None, 0, Purpose::Maintenance(Metric::LastRun)) => by_job(&[
                ("juliet-job", at("2026-11-25T01:05:00Z")),
                ("golf-job", at("2026-11-25T01:03:00Z")),
            ]),
            (None, 0, Purpose::Maintenance(Metric::Outcome)) => QueryResult::Instant(
                [("juliet-job", "success"), ("golf-job", "failed")]
                    .iter()
                    .map(|(j, o)| Sample {
                        labels: [("job_name", *j), ("outcome", *o)]
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        time: 0.0,
                        value: 1.0,
                    })
                    .collect(),
            ),
            (None, 0, Purpose::Maintenance(Metric::Duration)) => by_job(&[("juliet-job", 312.5), ("golf-job", 4.2)]),
            (None, 0, Purpose::Maintenance(Metric::Counts)) => QueryResult::Instant(vec![Sample {
                labels: [("job_name", "juliet-job"), ("count", "foxtrot_deleted")]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                time: 0.0,
                value: 1234567.0,
            }]),
            other => panic!("unexpected query {other:?}"),
        })
        .collect();
    let mut charts = Charts::new();
    let line = Line {
        name: String::new(),
        color: "#0969da",
        points: vec![(plan.start.timestamp() as f64, 0.03)],
    };
    let drawn = Chart {
        png: b"\x89PNG".to_vec(),
        width: 1200,
        height: 400,
        lines: vec![line],
    };
    charts.insert((0, 0), Ok(Some(drawn)));
    let run = Run {
        job: "daily",
        run_id: "run-1",
        now,
        tz,
    };
    let link = |expr: &str, _: DateTime<Utc>, hours: u32| format!("http://prometheus:9090/graph?{expr}&{hours}h");
    let answers = Answers::new(&specs, &results);
    assemble_in(&settings, &plan, run, &answers, charts, &link, catalogue).view
}

/// The text a reader sees in an HTML document: text outside tags, `alt` texts, entities decoded.
fn visible(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('>').expect("a closed tag") + open;
        if let Some(alt) = rest[open..close].split("alt=\"").nth(1) {
            out.push(' ');
            out.push_str(alt.split('"').next().unwrap());
            out.push(' ');
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    let mut decoded = String::new();
    let mut rest = out.as_str();
    while let Some(amp) = rest.find('&') {
        decoded.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').expect("an entity") + amp;
        let entity = &rest[amp + 1..semi];
        decoded.push(match entity {
            "nbsp" => '\u{a0}',
            "middot" => '·',
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            _ => entity
                .strip_prefix('#')
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(char::from_u32)
                .unwrap_or_else(|| panic!("entity &{entity};")),
        });
        rest = &rest[semi + 1..];
    }
    decoded.push_str(rest);
    decoded
}

/// `text` without what is between the marks, the configured names and the URLs.
fn unmarked(text: &str) -> String {
    let mut kept = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '⟦' => depth += 1,
            '⟧' => depth = depth.saturating_sub(1),
            c if depth == 0 => kept.push(c),
            _ => {}
        }
    }
    let mut names = NAMES.to_vec();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        kept = kept.replace(name, " ");
    }
    kept.split_whitespace()
        .filter(|word| !word.starts_with("http://"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn every_fixed_text_of_both_parts_comes_from_the_catalogue() {
    let marked: &'static Catalogue = Box::leak(Box::new(Catalogue::english().marked("⟦", "⟧")));
    for period in ["day", "week", "month"] {
        let view = report_of(marked, period);
        for (part, text) in [("HTML", visible(&view.html().unwrap())), ("text", view.text().unwrap())] {
            let rest = unmarked(&text);
            let letters: String = rest.chars().filter(|c| c.is_alphabetic()).collect();
            assert!(
                letters.is_empty(),
                "{period}, {part} part: untranslated text in {rest:?}\n{text}"
            );
        }
        assert!(view.subject.starts_with('⟦'), "{}", view.subject);
    }
}

#[test]
fn weekly_and_monthly_reports_name_their_period_in_both_languages() {
    let en = Catalogue::english();
    let fr = Catalogue::get("fr").unwrap();
    for (catalogue, period, expected) in [
        (
            en,
            "week",
            [
                "week of 23 November 2026",
                "vs previous week",
                "Changes compare with the previous week.",
                "No 7-day baseline",
            ],
        ),
        (
            fr,
            "week",
            [
                "semaine du 23 novembre 2026",
                "par rapport à la semaine précédente",
                "la semaine précédente.",
                "Pas de référence sur 7 jours",
            ],
        ),
        (
            en,
            "month",
            [
                "November 2026",
                "vs previous month",
                "Changes compare with the previous month.",
                "(720 h)",
            ],
        ),
        (
            fr,
            "month",
            [
                "novembre 2026",
                "par rapport au mois précédent",
                "au mois précédent.",
                "01/11/2026 00:00 → 01/12/2026 00:00",
            ],
        ),
    ] {
        let view = report_of(catalogue, period);
        let (html, text) = (visible(&view.html().unwrap()), view.text().unwrap());
        for expected in expected {
            assert!(
                html.contains(expected) && text.contains(expected),
                "{expected:?} missing in\n{text}"
            );
        }
        assert!(view.subject.contains(expected[0]), "{}", view.subject);
        for day_words in [
            "vs day before",
            "par rapport à la veille",
            "7-day median",
            "médiane sur 7 jours",
            "Tuesday",
            "mardi",
        ] {
            assert!(!text.contains(day_words), "{period}: {day_words:?} in\n{text}");
        }
    }
}

/// The literal words of a catalogue text, placeholders aside.
fn fragments(text: &str) -> Vec<String> {
    let mut rest = text.to_string();
    for placeholder in placeholders(text) {
        rest = rest.replace(&format!("{{{placeholder}}}"), "\u{0}");
    }
    rest.split('\u{0}')
        .map(|f| f.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
        .filter(|f| f.chars().filter(|c| c.is_alphabetic()).count() >= 4)
        .collect()
}

/// Whether `text` holds `words` as whole words (not inside a longer word).
fn has_words(text: &str, words: &str) -> bool {
    text.match_indices(words).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + words.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[test]
fn french_shows_no_english_and_english_no_french() {
    let en = Catalogue::english();
    let fr = Catalogue::get("fr").unwrap();
    let english = report(en);
    let french = report(fr);
    let weekly = [report_of(fr, "week"), report_of(en, "week")];
    let monthly = [report_of(fr, "month"), report_of(en, "month")];
    let cases = [
        (&french, en, fr),
        (&english, fr, en),
        (&weekly[0], en, fr),
        (&weekly[1], fr, en),
    ];
    for (view, other, this) in cases.into_iter().chain([(&monthly[0], en, fr), (&monthly[1], fr, en)]) {
        let shown = format!(
            "{}\n{}\n{}",
            visible(&view.html().unwrap()),
            view.text().unwrap(),
            view.subject
        );
        for (key, text) in &other.messages {
            let own = this.messages.get(key.strip_suffix(".plural").unwrap_or(key)).unwrap();
            for fragment in fragments(text).into_iter().filter(|f| !own.contains(f.as_str())) {
                assert!(
                    !has_words(&shown, &fragment),
                    "{key}: {fragment:?} in the {} report",
                    this.lang
                );
            }
        }
        for name in other.date.weekdays.iter().chain(&other.date.months) {
            assert!(!has_words(&shown, name), "{name} in the {} report", this.lang);
        }
    }
    let html = visible(&french.html().unwrap());
    for expected in [
        "mardi 24 novembre 2026",
        "3,00\u{202f}%",
        "+2,60\u{a0}pt",
        "mardi dernier",
        "inhabituel",
        "Gio",
        "1\u{202f}234\u{202f}567",
        "aucun succès depuis l'exécution prévue le 25/11/2026 02:00:00 CET",
    ] {
        assert!(html.contains(expected), "{expected:?} missing in\n{html}");
    }
    assert!(french.html().unwrap().contains("<html lang=\"fr\">"));
    assert!(french.summary.contains("1 inhabituel"), "{}", french.summary);
    assert!(
        english.summary.contains("1 maintenance job late"),
        "{}",
        english.summary
    );
    assert!(visible(&english.html().unwrap()).contains("+2.60 pt (↑ 650.0 %)"));
}

#[test]
fn the_html_needs_no_style_block() {
    let html = report(Catalogue::english()).html().unwrap();
    let lower = html.to_ascii_lowercase();
    for needs_a_stylesheet in ["<style", "<link", " class=", " id=", "@media", "@import"] {
        assert!(
            !lower.contains(needs_a_stylesheet),
            "{needs_a_stylesheet:?} in the HTML"
        );
    }
    // Layout that mail clients drop or ignore inline: columns come from tables.
    for css in ["display:flex", "display:grid", "float:", "position:", "var(--"] {
        assert!(!lower.contains(css), "{css:?} in the HTML");
    }
    for element in ["<div", "<span", "<td", "<th", "<table", "<img", "<a "] {
        for tag in lower.split(element).skip(1) {
            let tag = &tag[..tag.find('>').unwrap()];
            assert!(!tag.contains("class") && !tag.contains(" id"), "{element}{tag}>");
        }
    }
    assert!(lower.matches("<table role=\"presentation\"").count() >= 10);
}
