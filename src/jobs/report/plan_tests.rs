//! Unit tests of the pure plan: the report day and its refusal, the queries in their stable
//! order with `$__range`/`$__interval` expanded (DST days included), and the dry-run table.

use super::*;

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn d(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn settings() -> Settings {
    let settings: Settings = toml::from_str(
        r#"
to = ["ops@example.com"]
cc = ["boss@example.com"]
step = "5m"

[[sections]]
title = "Traffic"

[[sections.panels]]
title = "Requests"
query = 'sum(increase(req[$__range])) / $__range_s'
chart = 'sum(rate(req[$__interval]))'

[[sections.panels]]
title = "Heap"
chart = 'sum(heap)'

[[slos]]
name = "Availability"
objective = 0.999
window = "30d"
sli = 'avg_over_time(up[$__range])'
"#,
    )
    .unwrap();
    settings.validate().unwrap();
    settings
}

fn probed() -> Probed {
    Probed {
        url: "http://prometheus:9090".into(),
        version: "3.1.0".into(),
    }
}

#[test]
fn the_report_day_is_yesterday_in_the_job_time_zone() {
    let paris = chrono_tz::Europe::Paris;
    // 23:30 UTC on the 24th is already the 25th in Paris.
    assert_eq!(
        report_day(None, t("2026-11-24T23:30:00Z"), paris).unwrap(),
        d("2026-11-24")
    );
    assert_eq!(
        report_day(None, t("2026-11-24T22:30:00Z"), paris).unwrap(),
        d("2026-11-23")
    );
    assert_eq!(
        report_day(Some(d("2026-11-20")), t("2026-11-24T08:00:00Z"), paris).unwrap(),
        d("2026-11-20")
    );
}

#[test]
fn a_day_not_over_yet_is_a_usage_error() {
    let error = report_day(Some(d("2026-11-24")), t("2026-11-24T12:00:00Z"), chrono_tz::UTC).unwrap_err();
    match error {
        JobError::Usage(message) => assert!(message.contains("pass an earlier --date"), "{message}"),
        other => panic!("expected a usage error, got {other:?}"),
    }
}

#[test]
fn queries_come_in_a_stable_order_with_placeholders_expanded() {
    let plan = build(&settings(), d("2026-11-24"), chrono_tz::UTC, probed(), "files".into());
    let end = t("2026-11-25T00:00:00Z").timestamp();
    let rows: Vec<(&str, &str, &str)> = plan
        .queries
        .iter()
        .map(|q| (q.panel.as_str(), q.purpose, q.expr.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("Traffic / Requests", "stat", "sum(increase(req[24h])) / 86400"),
            (
                "Traffic / Requests",
                "stat, period before",
                "sum(increase(req[24h])) / 86400"
            ),
            ("Traffic / Requests", "chart", "sum(rate(req[5m]))"),
            ("Traffic / Heap", "chart", "sum(heap)"),
            ("SLO / Availability", "SLI over window", "avg_over_time(up[720h])"),
            ("SLO / Availability", "SLI over day", "avg_over_time(up[24h])"),
        ]
    );
    assert_eq!(plan.queries[0].time, Some(end));
    assert_eq!(
        plan.queries[1].time,
        Some(end - 86400),
        "the day before ends where the day starts"
    );
    assert_eq!(plan.queries[2].time, None);
    assert_eq!(plan.queries[2].range, Some([end - 86400, end, 300]));
    assert_eq!(plan.range, "24h");
    assert_eq!(plan.recipients, ["ops@example.com", "boss@example.com"]);
    assert_eq!(plan.prometheus_version, "3.1.0");
}

#[test]
fn dst_days_use_their_real_length_and_the_day_before_its_own() {
    // Clocks go forward in Paris on 2026-03-29: a 23 h day after a 24 h one.
    let plan = build(
        &settings(),
        d("2026-03-29"),
        chrono_tz::Europe::Paris,
        probed(),
        "files".into(),
    );
    assert_eq!(plan.range, "23h");
    assert_eq!((plan.end - plan.start).num_hours(), 23);
    assert_eq!((plan.prev_end - plan.prev_start).num_hours(), 24);
    assert_eq!(plan.prev_end, plan.start);
    assert_eq!(plan.queries[0].expr, "sum(increase(req[23h])) / 82800");
    assert_eq!(plan.queries[1].expr, "sum(increase(req[24h])) / 86400");
}

#[test]
fn chart_steps_become_promql_durations() {
    assert_eq!(step_duration(300), "5m");
    assert_eq!(step_duration(7200), "2h");
    assert_eq!(step_duration(45), "45s");
}

#[test]
fn delivery_without_smtp_names_the_output_directory() {
    assert_eq!(delivery(None, &settings()), "files in out/ (no [smtp] configured)");
}

#[test]
fn the_dry_run_text_lists_every_query() {
    let plan = build(
        &settings(),
        d("2026-11-24"),
        chrono_tz::UTC,
        probed(),
        "files in out/".into(),
    );
    let text = plan.render_text();
    assert!(
        text.starts_with("report for 2026-11-24 (2026-11-24T00:00:00+00:00 → 2026-11-25T00:00:00+00:00, range 24h)"),
        "{text}"
    );
    assert!(
        text.contains("delivery: files in out/ to ops@example.com, boss@example.com"),
        "{text}"
    );
    assert!(text.contains("SLI over window"), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains(" / ")).count(), 6, "{text}");
}

fn weekly(period: &str, compare: &str) -> Settings {
    let mut settings = settings();
    let extra: Settings = toml::from_str(&format!("to = ['a@b.c']\nperiod = '{period}'\ncompare = {compare}")).unwrap();
    settings.0.period = extra.period;
    settings.0.compare = extra.compare.clone();
    settings
}

#[test]
fn a_weekly_plan_spans_its_week_and_compares_with_the_week_before() {
    let paris = chrono_tz::Europe::Paris;
    // Any day of the week plans the week; this one ends on the day the clocks go back.
    let mut plan = build(
        &weekly("week", "['day', 'week']"),
        d("2026-10-22"),
        paris,
        probed(),
        "files".into(),
    );
    extend(
        &mut plan,
        &weekly("week", "['day', 'week']"),
        paris,
        t("2026-11-02T08:00:00Z"),
        Vec::new(),
    );
    assert_eq!((plan.period, plan.day), (Period::Week, d("2026-10-19")));
    assert_eq!(
        (plan.start, plan.end),
        (t("2026-10-18T22:00:00Z"), t("2026-10-25T23:00:00Z"))
    );
    assert_eq!(
        (plan.prev_start, plan.prev_end),
        (t("2026-10-11T22:00:00Z"), plan.start)
    );
    assert_eq!((plan.range.as_str(), plan.step), ("169h", 3600));
    assert!(plan.week.is_empty(), "no 7-day baseline for a week");
    let q = &plan.queries;
    assert_eq!(q.len(), 6, "no stats of earlier days, no chart band: {q:?}");
    assert_eq!(
        (q[0].expr.as_str(), q[0].time),
        ("sum(increase(req[169h])) / 608400", Some(plan.end.timestamp()))
    );
    assert_eq!(
        (q[1].expr.as_str(), q[1].time),
        ("sum(increase(req[168h])) / 604800", Some(plan.start.timestamp()))
    );
    assert_eq!(q[2].expr, "sum(rate(req[1h]))");
    assert_eq!(q[2].range, Some([plan.start.timestamp(), plan.end.timestamp(), 3600]));
    assert_eq!(q[5].expr, "avg_over_time(up[169h])", "the SLO over the period");
    assert!(
        plan.render_text().starts_with("report for the week of 2026-10-19 ("),
        "{}",
        plan.render_text()
    );
}

#[test]
fn a_monthly_plan_spans_its_calendar_month() {
    let paris = chrono_tz::Europe::Paris;
    let plan = build(
        &weekly("month", "['day']"),
        d("2026-10-31"),
        paris,
        probed(),
        "files".into(),
    );
    assert_eq!(plan.day, d("2026-10-01"));
    assert_eq!((plan.range.as_str(), plan.step), ("745h", 10_800));
    assert_eq!((plan.prev_end - plan.prev_start).num_hours(), 30 * 24);
    assert_eq!(plan.queries[0].expr, "sum(increase(req[745h])) / 2682000");
    let month = report_start(Period::Month, None, t("2026-11-01T08:00:00Z"), paris).unwrap();
    assert_eq!(month, d("2026-10-01"));
    let week = report_start(Period::Week, Some(d("2026-11-26")), t("2026-11-26T08:00:00Z"), paris);
    match week.unwrap_err() {
        JobError::Usage(message) => assert!(message.contains("the week of 2026-11-23"), "{message}"),
        other => panic!("expected a usage error, got {other:?}"),
    }
    assert_eq!(
        report_start(Period::Week, None, t("2026-11-26T08:00:00Z"), paris).unwrap(),
        d("2026-11-16")
    );
}
