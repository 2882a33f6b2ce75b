//! Weekly and monthly reports on a real Prometheus backfilled with two months of a gauge: the
//! week the clocks go back (169 h) and October (745 h) give the values computed here from the
//! backfilled samples, compared with the period before; the dry run shows the ranges.

mod support;

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use support::{Workspace, only_file};

const TZ: &str = "Europe/Paris";
/// Seconds between samples; each sits half a step off the grid, never on a period boundary.
const STEP: i64 = 300;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// The backfilled samples `(t, value)`: small integers, so sums are exact.
fn samples() -> Vec<(i64, f64)> {
    let (from, to) = (
        at("2026-08-30T00:00:00Z").timestamp(),
        at("2026-11-03T00:00:00Z").timestamp(),
    );
    (from / STEP..to / STEP)
        .map(|k| (k * STEP + STEP / 2, ((k * 7) % 13 + 1) as f64))
        .collect()
}

fn openmetrics() -> String {
    let mut out = String::from("# TYPE period_load gauge\n");
    for (t, v) in samples() {
        writeln!(out, "period_load{{job=\"period\"}} {v} {t}").unwrap();
    }
    out.push_str("# EOF\n");
    out
}

/// The number of samples and their sum in `[start, end)`, from the seed itself.
fn truth(start: &str, end: &str) -> (f64, f64) {
    let (start, end) = (at(start).timestamp(), at(end).timestamp());
    let inside: Vec<f64> = samples()
        .into_iter()
        .filter(|(t, _)| *t > start && *t < end)
        .map(|s| s.1)
        .collect();
    (inside.len() as f64, inside.iter().sum())
}

/// An integer as the report writes it: `group` between thousands.
fn grouped(value: f64, group: &str) -> String {
    let digits = format!("{value:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push_str(group);
        }
        out.push(c);
    }
    out
}

/// `↑ 0.60 %`: the relative change of `now` against `before`, `decimal` as the decimal mark.
fn change(now: f64, before: f64, decimal: &str, percent: &str) -> String {
    let pct = (now - before) / before * 100.0;
    let digits = if pct.abs() >= 10.0 { 1 } else { 2 };
    let arrow = if pct > 0.0 { "↑" } else { "↓" };
    format!(
        "{arrow} {}{percent}",
        format!("{:.*}", digits, pct.abs()).replace('.', decimal)
    )
}

fn jobs_toml(prometheus: &str, out: &Path, period: &str, locale: &str) -> String {
    format!(
        r#"
[prometheus]
url = "{prometheus}"
timeout = "20s"

[jobs.period-report]
kind = "report"
schedule = "0 0 7 * * 1"
timezone = "{TZ}"
retries = 0
out_dir = "{out}"
to = ["team@example.com"]
title = "Load"
period = "{period}"
locale = "{locale}"
maintenance = false
slos = []

[[jobs.period-report.sections]]
title = "Gauge"

[[jobs.period-report.sections.panels]]
title = "Samples"
query = 'count_over_time(period_load[$__range])'

[[jobs.period-report.sections.panels]]
title = "Load total"
query = 'sum_over_time(period_load[$__range])'
chart = 'avg_over_time(period_load[$__interval])'
"#,
        out = out.display()
    )
}

/// The text part and the HTML of the one .eml written to `out`.
fn written(out: &Path) -> (String, String, String) {
    let raw = std::fs::read(only_file(out, "eml")).unwrap();
    let mail = mailparse::parse_mail(&raw).unwrap();
    let subject = mail
        .headers
        .iter()
        .find(|h| h.get_key() == "Subject")
        .unwrap()
        .get_value();
    let text = mail.subparts[0].get_body().unwrap().replace("\r\n", "\n");
    let html = std::fs::read_to_string(only_file(out, "html")).unwrap();
    (subject, text, html)
}

#[test]
fn a_weekly_report_across_the_october_dst_change_spans_169_hours() {
    let (prometheus, _seed) = support::seeded_prometheus(&openmetrics());
    let ws = Workspace::new();
    let out = ws.path().join("out");
    let url = prometheus.get("ALMANAC_TEST_PROMETHEUS_URL");
    ws.write("jobs.toml", &jobs_toml(url, &out, "week", "en"));
    // Monday 19 → Monday 26 October in Paris; the clocks go back on Sunday the 25th.
    let (start, end, prev_start) = ("2026-10-18T22:00:00Z", "2026-10-25T23:00:00Z", "2026-10-11T22:00:00Z");

    // The dry run: any day of the week plans the whole week and its ranges.
    let dry = ws.almanac(
        &[
            "run",
            "period-report",
            "--dry-run",
            "--output",
            "json",
            "--date",
            "2026-10-22",
            "--now",
            "2026-11-02T08:00:00Z",
        ],
        &[],
    );
    dry.expect_code(0);
    let plan: serde_json::Value = serde_json::from_str(&dry.stdout())
        .or_else(|_| serde_json::from_str(dry.stdout().lines().last().unwrap_or("")))
        .unwrap_or_else(|e| panic!("{e}\n{}", dry.describe()));
    let plan = if plan.get("plan").is_some() {
        &plan["plan"]
    } else {
        &plan
    };
    assert_eq!(plan["period"], "week", "{plan}");
    assert_eq!(plan["day"], "2026-10-19");
    assert_eq!(plan["range"], "169h");
    let queries = plan["queries"].as_array().unwrap();
    let stat = &queries[0];
    assert_eq!(stat["expr"], "count_over_time(period_load[169h])");
    assert_eq!(stat["time"], at(end).timestamp());
    assert_eq!(
        queries[1]["expr"], "count_over_time(period_load[168h])",
        "the week before is 168 h"
    );
    assert_eq!(queries[1]["time"], at(start).timestamp());
    let chart = queries.iter().find(|q| q["purpose"] == "chart").unwrap();
    assert_eq!(
        chart["range"],
        serde_json::json!([at(start).timestamp(), at(end).timestamp(), 3600])
    );
    assert_eq!(chart["expr"], "avg_over_time(period_load[1h])");
    assert_eq!(queries.len(), 5, "no stat of days 2 to 7, no band: {queries:?}");

    // The real run: the last complete week at --now (Tuesday 27 October).
    let run = ws.almanac(&["run", "period-report", "--now", "2026-10-27T08:00:00Z"], &[]);
    run.expect_code(0);
    assert!(
        run.stdout().contains("report for the week of 2026-10-19 written to"),
        "{}",
        run.describe()
    );
    let (subject, text, html) = written(&out);
    let (count, sum) = truth(start, end);
    let (prev_count, prev_sum) = truth(prev_start, start);
    assert_eq!(
        count,
        169.0 * 3600.0 / STEP as f64,
        "the seed has 169 h of samples in the week"
    );
    assert_eq!(subject, "Load, week of 19 October 2026: OK");
    assert!(text.starts_with("Load — week of 19 October 2026\n"), "{text}");
    assert!(text.contains("(169 h)"), "{text}");
    for (panel, value, before) in [("Samples", count, prev_count), ("Load total", sum, prev_sum)] {
        let expected = format!(
            "{}  ({} vs previous week)",
            grouped(value, ","),
            change(value, before, ".", " %")
        );
        let block = &text[text.find(panel).unwrap()..];
        assert!(block.contains(&expected), "{panel}: {expected:?} not in\n{text}");
    }
    assert!(text.contains("Changes compare with the previous week."), "{text}");
    assert!(text.contains("No 7-day baseline"), "{text}");
    assert!(
        !text.contains("7-day median") && !text.contains("vs day before"),
        "{text}"
    );
    assert!(
        html.contains("alt=\"Chart: Load total over week of 19 October 2026"),
        "{html}"
    );
    let pngs = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png"))
        .count();
    assert_eq!(pngs, 1, "the week's chart");
    if let Ok(keep) = std::env::var("ALMANAC_TEST_KEEP_PNG") {
        std::fs::copy(only_file(&out, "png"), keep).unwrap();
    }
}

#[test]
fn a_monthly_report_in_french_covers_october_and_its_745_hours() {
    let (prometheus, _seed) = support::seeded_prometheus(&openmetrics());
    let ws = Workspace::new();
    let out = ws.path().join("out");
    let url = prometheus.get("ALMANAC_TEST_PROMETHEUS_URL");
    ws.write("jobs.toml", &jobs_toml(url, &out, "month", "fr"));
    let run = ws.almanac(&["run", "period-report", "--now", "2026-11-02T08:00:00Z"], &[]);
    run.expect_code(0);
    let (subject, text, _) = written(&out);
    let (start, end, prev_start) = ("2026-09-30T22:00:00Z", "2026-10-31T23:00:00Z", "2026-08-31T22:00:00Z");
    let (count, sum) = truth(start, end);
    let (prev_count, prev_sum) = truth(prev_start, start);
    assert_eq!(count, 745.0 * 3600.0 / STEP as f64);
    assert_eq!(subject, "Load, octobre 2026 : OK");
    assert!(text.contains("(745\u{a0}h)"), "{text}");
    for (panel, value, before) in [("Samples", count, prev_count), ("Load total", sum, prev_sum)] {
        let expected = format!(
            "{}  ({} par rapport au mois précédent)",
            grouped(value, "\u{202f}"),
            change(value, before, ",", "\u{202f}%")
        );
        let block = &text[text.find(panel).unwrap()..];
        assert!(block.contains(&expected), "{panel}: {expected:?} not in\n{text}");
    }
}
