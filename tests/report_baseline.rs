//! The report against its week and almanac's own runs on a Prometheus backfilled with 8 days and
//! almanac_job_* series: baselines, "unusual" only on a day made so, the maintenance section.

mod support;

use std::fmt::Write as _;
use std::path::Path;

use almanac::jobs::report::synth::{self, Scenario, WEEK};
use chrono::{DateTime, NaiveDate};
use support::{Workspace, only_file};

const TZ: &str = "Europe/Paris";

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
}

fn at(text: &str) -> f64 {
    DateTime::parse_from_rfc3339(text).unwrap().timestamp() as f64
}

/// almanac_job_* series as `serve` or the Pushgateway exposes them, scraped every minute for
/// the four hours before the report runs (08:00 UTC the day after): `tsdb-maintenance`
/// succeeded last night, `log-retention` failed and last succeeded the night before.
fn almanac_metrics() -> String {
    let gauges: [(&str, &[(&str, f64)]); 5] = [
        (
            "almanac_job_last_success_timestamp_seconds",
            &[
                ("job_name=\"tsdb-maintenance\"", at("2026-11-25T02:41:07Z")),
                ("job_name=\"log-retention\"", at("2026-11-24T01:12:00Z")),
            ],
        ),
        (
            "almanac_job_last_run_timestamp_seconds",
            &[
                ("job_name=\"tsdb-maintenance\"", at("2026-11-25T02:41:07Z")),
                ("job_name=\"log-retention\"", at("2026-11-25T01:20:00Z")),
            ],
        ),
        (
            "almanac_job_last_outcome",
            &[
                ("job_name=\"tsdb-maintenance\",outcome=\"success\"", 1.0),
                ("job_name=\"tsdb-maintenance\",outcome=\"failed\"", 0.0),
                ("job_name=\"log-retention\",outcome=\"success\"", 0.0),
                ("job_name=\"log-retention\",outcome=\"failed\"", 1.0),
            ],
        ),
        (
            "almanac_job_duration_seconds",
            &[
                ("job_name=\"tsdb-maintenance\"", 671.2),
                ("job_name=\"log-retention\"", 1200.0),
            ],
        ),
        (
            "almanac_job_outcome_count",
            &[("job_name=\"tsdb-maintenance\",count=\"series_deleted\"", 1234.0)],
        ),
    ];
    let from = at("2026-11-25T04:00:00Z") as i64;
    let mut out = String::new();
    for (name, series) in gauges {
        writeln!(out, "# TYPE {name} gauge").unwrap();
        for (labels, value) in series {
            for t in (from..from + 4 * 3600).step_by(60) {
                writeln!(out, "{name}{{job=\"almanac\",{labels}}} {value} {t}").unwrap();
            }
        }
    }
    out
}

/// A private Prometheus holding the 8 days of `scenario` (and almanac's metrics if asked).
fn prometheus(scenario: Scenario, with_almanac: bool) -> (support::PrivateServer, tempfile::TempDir) {
    let mut seed = synth::openmetrics_of(date(), TZ.parse().unwrap(), scenario);
    if with_almanac {
        seed.truncate(seed.len() - "# EOF\n".len());
        seed.push_str(&almanac_metrics());
        seed.push_str("# EOF\n");
    }
    support::seeded_prometheus(&seed)
}

/// The daily report and three maintenance jobs (noop: no server needed), with `extra` keys.
fn jobs_toml(prometheus: &str, out: &Path, extra: &str) -> String {
    format!(
        r#"
[prometheus]
url = "{prometheus}"
timeout = "20s"

[jobs.daily-report]
kind = "report"
schedule = "0 0 7 * * *"
timezone = "{TZ}"
retries = 0
out_dir = "{out}"
to = ["team@example.com"]
{extra}

[jobs.tsdb-maintenance]
kind = "noop"
schedule = "0 30 3 * * *"
timezone = "{TZ}"

[jobs.log-retention]
kind = "noop"
schedule = "0 0 2 * * *"
timezone = "{TZ}"

[jobs.rollup]
kind = "noop"
schedule = "0 0 4 * * *"
timezone = "{TZ}"
"#,
        out = out.display()
    )
}

/// Runs the report for the day (at 08:00 UTC the day after) and returns its text and HTML.
fn report(prometheus: &support::PrivateServer, extra: &str) -> (String, String) {
    let ws = Workspace::new();
    let out = ws.path().join("out");
    ws.write(
        "jobs.toml",
        &jobs_toml(prometheus.get("ALMANAC_TEST_PROMETHEUS_URL"), &out, extra),
    );
    let now = format!("{}T08:00:00Z", date().succ_opt().unwrap());
    let run = ws.almanac(
        &["run", "daily-report", "--date", &date().to_string(), "--now", &now],
        &[],
    );
    run.expect_code(0);
    let raw = std::fs::read(only_file(&out, "eml")).unwrap();
    let mail = mailparse::parse_mail(&raw).unwrap();
    // The body's lines end in CRLF.
    let text = mail.subparts[0].get_body().unwrap().replace("\r\n", "\n");
    let html = mail.subparts[1].subparts[0].get_body().unwrap();
    (text, html)
}

/// The lines of the text part's panel `title` (up to the next blank line).
fn panel<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(title))
        .unwrap_or_else(|| panic!("no panel {title:?}\n{text}"));
    lines[start..].iter().take_while(|l| !l.is_empty()).copied().collect()
}

fn percent(ratio: f64) -> String {
    format!("{:.2} %", ratio * 100.0)
}

/// The median of the week's values.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
fn an_ordinary_day_shows_its_week_and_nothing_unusual_and_maintenance_from_metrics() {
    let (prometheus, _seed) = prometheus(Scenario::Ordinary, true);
    let (text, html) = report(&prometheus, "");
    let errors: Vec<f64> = WEEK.iter().map(|d| d.error_ratio()).collect();
    let error_rate = panel(&text, "Error rate").join("\n");
    for expected in [
        format!("last Tuesday: {}", percent(WEEK[6].error_ratio())),
        format!("7-day median: {}", percent(median(errors.clone()))),
        format!(
            "7-day range: {} – {}",
            percent(errors.iter().copied().fold(1.0, f64::min)),
            percent(errors.iter().copied().fold(0.0, f64::max))
        ),
        "+0.10 pt (↑ 25.0 %) vs day before".to_string(),
    ] {
        assert!(error_rate.contains(&expected), "{expected:?} not in\n{error_rate}");
    }
    let requests = panel(&text, "Requests per second").join("\n");
    let rates: Vec<f64> = WEEK.iter().map(|d| d.requests_per_second()).collect();
    let range = format!(
        "7-day range: {:.2}/s – {:.2}/s",
        rates.iter().copied().fold(f64::INFINITY, f64::min),
        rates.iter().copied().fold(0.0, f64::max)
    );
    assert!(requests.contains(&range), "{range} not in\n{requests}");
    assert!(
        requests.contains(&format!("7-day median: {:.2}/s", median(rates))),
        "{requests}"
    );
    assert!(!text.contains("[unusual]") && !html.contains(">unusual<"), "{text}");
    assert!(!text.lines().nth(3).unwrap().contains("unusual"), "the summary: {text}");
    // Charts are drawn over the week's band.
    assert!(html.contains("shaded: lowest to highest of the previous 7 days"));

    let maintenance = &text[text.find("== Maintenance ==").expect("a maintenance section")..];
    for expected in [
        "tsdb-maintenance (noop) [success] Last run: 2026-11-25 03:41:07 CET · Duration: 11 min 11 s",
        "Counts: series_deleted 1,234",
        "log-retention (noop) [failed] Last run: 2026-11-25 02:20:00 CET · Duration: 20 min 00 s",
        "!! no success since the run due 2026-11-25 02:00:00 CET",
        "rollup (noop) [n/a]",
        "no run recorded",
        "schedule 0 30 3 * * * (Europe/Paris)",
    ] {
        assert!(maintenance.contains(expected), "{expected:?} not in\n{maintenance}");
    }
    let tsdb = maintenance
        .split("\n\n")
        .find(|block| block.contains("tsdb-maintenance"))
        .unwrap();
    assert!(!tsdb.contains("!!"), "succeeded since its last due run\n{tsdb}");
    assert!(text.contains("1 maintenance job late"), "{text}");
}

#[test]
fn a_day_made_unusual_is_flagged_in_its_rows_and_the_summary_and_metrics_absent_say_so() {
    let (prometheus, _seed) = prometheus(Scenario::Unusual, false);
    let (text, _) = report(&prometheus, "");
    let truth = synth::truth_of(date(), TZ.parse().unwrap(), Scenario::Unusual);
    let error_rate = panel(&text, "Error rate").join("\n");
    assert!(
        error_rate.contains(&format!("{} [unusual]", percent(truth.error_ratio))),
        "{error_rate}"
    );
    let uptime = panel(&text, "Uptime").join("\n");
    assert!(
        uptime.contains(&format!("{} [unusual]", percent(truth.uptime))),
        "{uptime}"
    );
    let requests = panel(&text, "Requests per second").join("\n");
    assert!(!requests.contains("[unusual]"), "the load was ordinary\n{requests}");
    // Uptime, success ratio and error rate; nothing else moved.
    assert!(text.contains(" · 3 unusual"), "{text}");
    let maintenance = &text[text.find("== Maintenance ==").unwrap()..];
    assert!(
        maintenance.contains("Prometheus holds no run metrics of almanac"),
        "{maintenance}"
    );

    // Compared with the day before only: no week, no verdict.
    let (text, _) = report(&prometheus, "compare = [\"day\"]\nmaintenance = false");
    assert!(
        !text.contains("unusual") && !text.contains("7-day"),
        "no word of the week\n{text}"
    );
    assert!(!text.contains("== Maintenance =="), "{text}");
}
