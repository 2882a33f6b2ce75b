//! Unit tests of the pure assembly from hand-made query results: panels and stat rows, a failed
//! panel, a breached threshold, a burning SLO, no data, the overall status and the subject.

use super::*;
use crate::clients::prometheus::{Labels, RangeSeries};
use crate::jobs::report::chart::Line;
use crate::jobs::report::plan::{self, Probed};

fn settings() -> Settings {
    let settings: Settings = toml::from_str(
        r#"
to = ["ops@example.com"]
title = "Daily"
subject = "{title} {date}: {status}"

[[sections]]
title = "Errors"

[[sections.panels]]
title = "Error rate"
query = 'errors'
chart = 'errors_over_time'
unit = "percent"
thresholds = { warn = 0.001, critical = 0.01 }

[[sections.panels]]
title = "Requests"
query = 'requests'
legend = "{{op}}"

[[slos]]
name = "Availability"
objective = 0.999
window = "30d"
sli = 'sli[$__range]'
"#,
    )
    .unwrap();
    settings.validate().unwrap();
    settings
}

fn plan(settings: &Settings) -> Plan {
    let probed = Probed {
        url: "http://prometheus:9090".into(),
        version: "3.1.0".into(),
    };
    let day = "2026-11-24".parse().unwrap();
    plan::build(settings, day, chrono_tz::UTC, probed, "files".into())
}

fn run() -> Run<'static> {
    Run {
        job: "daily",
        run_id: "run-1",
        now: DateTime::parse_from_rfc3339("2026-11-25T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        tz: chrono_tz::UTC,
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn one(value: f64) -> QueryResult {
    QueryResult::Instant(vec![Sample {
        labels: Labels::new(),
        time: 0.0,
        value,
    }])
}

fn by_op(values: &[(&str, f64)]) -> QueryResult {
    QueryResult::Instant(
        values
            .iter()
            .map(|(op, value)| Sample {
                labels: labels(&[("op", op)]),
                time: 0.0,
                value: *value,
            })
            .collect(),
    )
}

fn drawn() -> Chart {
    Chart {
        png: b"\x89PNG".to_vec(),
        width: 1200,
        height: 400,
        lines: vec![Line {
            name: String::new(),
            color: "#0969da",
            points: vec![(0.0, 0.0)],
        }],
    }
}

/// A healthy day: errors at 0.05 %, three operations, SLO at 99.95 % over the window and
/// 99.99 % over the day; the chart drawn.
struct Day {
    errors: QueryResult,
    errors_before: QueryResult,
    chart: QueryResult,
    requests: QueryResult,
    window: QueryResult,
    day: QueryResult,
    drawn: Option<Result<Option<Chart>, ChartError>>,
}

impl Default for Day {
    fn default() -> Self {
        Self {
            errors: one(0.0005),
            errors_before: one(0.00025),
            chart: QueryResult::Range(vec![RangeSeries {
                labels: Labels::new(),
                points: vec![(0.0, 0.0005)],
            }]),
            requests: by_op(&[("read", 100.0), ("write", 300.0), ("delete", 5.0)]),
            window: one(0.9995),
            day: one(0.9999),
            drawn: Some(Ok(Some(drawn()))),
        }
    }
}

impl Day {
    fn assemble(self, settings: &Settings) -> Built {
        let plan = plan(settings);
        let specs = plan::specs(settings, plan.days());
        let results: Vec<QueryResult> = specs
            .iter()
            .map(|o| match (o.section, o.index, o.purpose) {
                (Some(0), 0, Purpose::Stat) => self.errors.clone(),
                (Some(0), 0, Purpose::PreviousStat) => self.errors_before.clone(),
                (Some(0), 0, Purpose::Chart) => self.chart.clone(),
                (Some(0), 1, Purpose::Stat) => self.requests.clone(),
                (Some(0), 1, Purpose::PreviousStat) => QueryResult::Failed("not needed".into()),
                (None, 0, Purpose::SloWindow) => self.window.clone(),
                (None, 0, Purpose::SloDay) => self.day.clone(),
                other => panic!("unexpected query {other:?}"),
            })
            .collect();
        let mut charts = Charts::new();
        if let Some(drawn) = self.drawn {
            charts.insert((0, 0), drawn);
        }
        let link = |expr: &str, _: DateTime<Utc>, hours: u32| format!("graph?{expr}&{hours}h");
        assemble(settings, &plan, run(), &Answers::new(&specs, &results), charts, &link)
    }
}

#[test]
fn a_healthy_day_has_every_panel_and_an_ok_subject() {
    let built = Day::default().assemble(&settings());
    assert_eq!((built.panels, built.failed_panels), (3, 0));
    assert!(built.problems.is_empty());
    let view = &built.view;
    assert_eq!(view.subject, "Daily 2026-11-24: OK");
    assert_eq!(view.status, Level::Ok);
    assert_eq!(view.summary, "2 OK · 0 warning · 0 critical");
    assert_eq!(view.day, "Tuesday 24 November 2026");
    assert_eq!(view.period, "2026-11-24 00:00 → 2026-11-25 00:00 UTC (24 h)");
    assert_eq!(view.generated_at, "2026-11-25 06:00:00 UTC");

    let errors = &view.sections[0].panels[0];
    assert_eq!(errors.level, Level::Ok);
    assert_eq!(errors.rows.len(), 1);
    assert_eq!(
        (errors.rows[0].label.as_str(), errors.rows[0].value.as_str()),
        ("", "0.05 %")
    );
    assert_eq!(errors.rows[0].change, "↑ 100.0 %");
    assert_eq!(errors.link, "graph?errors&24h", "the stat's query is the panel's link");
    let chart = errors.chart.as_ref().expect("a chart");
    assert_eq!(chart.cid, "daily-2026-11-24-01-error-rate.png");
    assert_eq!(chart.alt, "Chart: Error rate over 2026-11-24");
    assert_eq!(built.images.len(), 1);
    assert_eq!(built.images[0].cid, chart.cid);

    let requests = &view.sections[0].panels[1];
    assert_eq!(requests.level, Level::Info, "no thresholds: neutral");
    let rows: Vec<(&str, &str)> = requests
        .rows
        .iter()
        .map(|r| (r.label.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(rows, [("write", "300"), ("read", "100"), ("delete", "5")]);

    let slo = &view.slos[0];
    assert_eq!(slo.level, Level::Ok);
    assert_eq!(slo.compliance, "99.950 %");
    assert_eq!(slo.budget_left, "50.0 %");
    assert_eq!(slo.burn_rate, "0.10×");
    assert_eq!(slo.link, "graph?sli[720h]&720h");
}

#[test]
fn a_breached_threshold_makes_the_report_critical() {
    let built = Day {
        errors: one(0.02),
        ..Day::default()
    }
    .assemble(&settings());
    let errors = &built.view.sections[0].panels[0];
    assert_eq!(errors.rows[0].level, Level::Critical);
    assert_eq!(errors.level, Level::Critical);
    assert_eq!(built.view.status, Level::Critical);
    assert_eq!(built.view.subject, "Daily 2026-11-24: CRITICAL");
    assert_eq!(built.view.summary, "1 OK · 0 warning · 1 critical");
    assert_eq!(built.failed_panels, 0, "a breach is not missing data");
}

#[test]
fn a_failed_panel_says_why_and_the_report_is_incomplete() {
    let built = Day {
        errors: QueryResult::Failed("Prometheus rejected the query (bad_data): parse error".into()),
        drawn: Some(Err(ChartError::Draw("out of memory".into()))),
        ..Day::default()
    }
    .assemble(&settings());
    let errors = &built.view.sections[0].panels[0];
    let problem = "no data: Prometheus rejected the query (bad_data): parse error; chart drawing failed: out of memory";
    assert_eq!(errors.problem.as_deref(), Some(problem));
    assert_eq!(errors.level, Level::NoData);
    assert!(errors.chart.is_none() && built.images.is_empty());
    assert_eq!(built.failed_panels, 1);
    assert_eq!(built.problems, [format!("Errors / Error rate: {problem}")]);
    assert_eq!(built.view.subject, "Daily 2026-11-24: INCOMPLETE");
    assert_eq!(built.view.summary, "1 OK · 0 warning · 0 critical · 1 without data");
}

#[test]
fn no_series_and_nothing_to_chart_are_no_data() {
    let built = Day {
        errors: QueryResult::Instant(Vec::new()),
        drawn: Some(Ok(None)),
        ..Day::default()
    }
    .assemble(&settings());
    assert_eq!(
        built.view.sections[0].panels[0].problem.as_deref(),
        Some("no data: the query returned no series; no samples to chart over the day")
    );
    // A chart result without a drawing (the task never ran) is "nothing to chart" too.
    let built = Day {
        drawn: None,
        ..Day::default()
    }
    .assemble(&settings());
    assert_eq!(
        built.view.sections[0].panels[0].problem.as_deref(),
        Some("no data: no samples to chart over the day")
    );
}

#[test]
fn a_burning_slo_warns_and_a_missed_one_is_critical() {
    // 99.95 % over the window (half the budget left) but the day at 99.7 %: 3× the pace.
    let built = Day {
        day: one(0.997),
        ..Day::default()
    }
    .assemble(&settings());
    let slo = &built.view.slos[0];
    assert_eq!(slo.level, Level::Warning);
    assert_eq!(slo.burn_rate, "3.00×");
    assert_eq!(built.view.subject, "Daily 2026-11-24: WARNING");

    let built = Day {
        window: one(0.997),
        day: one(0.99),
        ..Day::default()
    }
    .assemble(&settings());
    let slo = &built.view.slos[0];
    assert_eq!((slo.level, slo.budget_left.as_str()), (Level::Critical, "exhausted"));
    assert_eq!(built.view.status, Level::Critical);
}

#[test]
fn an_slo_without_data_is_a_failed_panel() {
    let built = Day {
        day: QueryResult::Instant(Vec::new()),
        ..Day::default()
    }
    .assemble(&settings());
    let slo = &built.view.slos[0];
    assert_eq!(slo.level, Level::NoData);
    assert_eq!(slo.compliance, "n/a");
    assert_eq!(
        slo.problem.as_deref(),
        Some("no data: the SLI query returned no series")
    );
    assert_eq!(built.failed_panels, 1);
    assert_eq!(
        built.problems,
        ["SLO Availability: no data: the SLI query returned no series"]
    );
    assert_eq!(built.view.subject, "Daily 2026-11-24: INCOMPLETE");
}

#[test]
fn a_breach_with_missing_data_says_both() {
    let built = Day {
        errors: one(0.005),
        window: QueryResult::Failed("query timed out after 30s".into()),
        ..Day::default()
    }
    .assemble(&settings());
    assert_eq!(built.view.subject, "Daily 2026-11-24: WARNING (incomplete)");
    assert_eq!(built.view.status, Level::Warning);
}

#[test]
fn only_failures_of_queries_that_matter_stop_the_report() {
    let settings = settings();
    let plan = plan(&settings);
    let specs = plan::specs(&settings, plan.days());
    // Every query failed but the day-before stats: nothing worth sending.
    let results: Vec<QueryResult> = specs
        .iter()
        .map(|o| match o.purpose {
            Purpose::PreviousStat => one(1.0),
            _ => QueryResult::Failed(format!("down ({})", o.owner)),
        })
        .collect();
    let answers = Answers::new(&specs, &results);
    assert_eq!(answers.all_failed(), Some("down (Errors / Error rate)"));
    assert_eq!(answers.failed(), specs.len() - 2);
    // One answer that matters is enough to send.
    let mut results = results;
    results[0] = one(0.0);
    assert_eq!(Answers::new(&specs, &results).all_failed(), None);
    // No query at all is not a failure.
    assert_eq!(Answers::new(&[], &[]).all_failed(), None);
}

#[test]
fn stat_rows_fold_beyond_top_and_compare_with_the_day_before() {
    let panel: PanelSettings = toml::from_str("title = 'Ops'\nlegend = '{{op}}'").unwrap();
    let QueryResult::Instant(today) = by_op(&[("a", 10.0), ("b", 40.0), ("c", 30.0), ("d", 20.0)]) else {
        unreachable!()
    };
    let QueryResult::Instant(before) = by_op(&[("a", 5.0), ("b", 40.0)]) else {
        unreachable!()
    };
    let rows = stat_rows(&today, Some(&before), &panel, 2);
    let shown: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.label.as_str(), r.value.as_str(), r.change.as_str()))
        .collect();
    assert_eq!(
        shown,
        [("b", "40", "→ 0 %"), ("c", "30", ""), ("other (2)", "30", "")],
        "a missing day-before value leaves the other row without a change"
    );
    // Exactly one more than `top` is shown as it is, not as "other (1)".
    assert_eq!(stat_rows(&today, None, &panel, 3).len(), 4);
    let nan = [Sample {
        labels: Labels::new(),
        time: 0.0,
        value: f64::NAN,
    }];
    assert_eq!(stat_rows(&nan, None, &panel, 5)[0].level, Level::NoData);
}

#[test]
fn overall_status_ignores_neutral_panels() {
    let status = overall(&[], &[], 0);
    assert_eq!((status.level, status.text.as_str()), (Level::Ok, "OK"));
    assert_eq!(status.summary, "0 OK · 0 warning · 0 critical");
    assert_eq!(overall(&[], &[], 2).text, "INCOMPLETE");
}

#[test]
fn subjects_fill_their_placeholders() {
    let mut settings = settings();
    settings.0.subject = "[{status}] {title} for {date} ({title})".into();
    let day = "2026-11-24".parse().unwrap();
    assert_eq!(
        subject(&settings, day, "CRITICAL"),
        "[CRITICAL] Daily for 2026-11-24 (Daily)"
    );
    assert_eq!(slug("Latency p95 (ms) / search"), "latency-p95-ms-search");
    assert_eq!(slug("Requêtes par seconde"), "requetes-par-seconde");
    assert_eq!(slug("Mémoire par composant — œuvre"), "memoire-par-composant-oeuvre");
}
