//! Unit tests of the rollup plan: windows on DST days (23 h / 25 h), watermarks, bounds,
//! hours to fetch, metric kinds from metadata and suffixes, the target retention check.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::*;
use crate::jobs::tsdb_rollup::settings::Rule;

const PARIS: Tz = chrono_tz::Europe::Paris;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn windows(tier: Tier, watermark: Option<&str>, now: &str, max: usize) -> TierPlan {
    tier_windows(
        tier,
        watermark.map(at),
        at(now),
        Duration::days(15),
        Duration::minutes(5),
        max,
        PARIS,
    )
}

#[test]
fn days_follow_the_zone_23_and_25_hours_on_dst_days() {
    let plan = windows(Tier::Day, Some("2026-03-27T23:00:00Z"), "2026-03-31T01:00:00Z", 10);
    let hours: Vec<i64> = plan.windows.iter().map(|w| w.seconds() / 3600).collect();
    // Paris midnights: 28 Mar (UTC+1), 29 Mar is the 23 h day, 30 Mar (UTC+2).
    assert_eq!(hours, vec![24, 23, 24]);
    assert_eq!(plan.windows[1].start, at("2026-03-28T23:00:00Z"));
    assert_eq!(plan.windows[1].end, at("2026-03-29T22:00:00Z"));
    let plan = windows(Tier::Day, Some("2026-10-24T22:00:00Z"), "2026-10-26T20:00:00Z", 10);
    let hours: Vec<i64> = plan.windows.iter().map(|w| w.seconds() / 3600).collect();
    assert_eq!(hours, vec![25], "26 Oct ends at 23:00Z, after now − delay");
    assert_eq!(plan.windows[0].end, at("2026-10-25T23:00:00Z"));
}

#[test]
fn hours_start_after_the_watermark_end_before_now_minus_delay_and_are_bounded() {
    let plan = windows(Tier::Hour, Some("2026-10-25T00:00:00Z"), "2026-10-25T03:04:00Z", 10);
    let starts: Vec<String> = plan
        .windows
        .iter()
        .map(|w| w.start.format("%H:%M").to_string())
        .collect();
    // 03:00 ends at 04:00 > now − 5m; 02:00 ends at 03:00 ≤ 02:59.
    assert_eq!(starts, vec!["00:00", "01:00"]);
    let plan = windows(Tier::Hour, Some("2026-10-25T00:00:00Z"), "2026-10-25T03:06:00Z", 2);
    assert_eq!(plan.windows.len(), 2);
    assert_eq!(plan.pending, 1);
    // A rerun at the same time after the last window: nothing.
    let plan = windows(Tier::Hour, Some("2026-10-25T03:00:00Z"), "2026-10-25T03:06:00Z", 2);
    assert!(plan.windows.is_empty() && plan.pending == 0);
    // No watermark: from the first whole hour after now − lookback.
    let plan = windows(Tier::Hour, None, "2026-10-25T03:06:00Z", 1000);
    assert_eq!(plan.windows[0].start, at("2026-10-10T04:00:00Z"));
    assert_eq!(plan.windows.len(), 15 * 24 - 1);
    // A watermark older than the lookback: from now − lookback, the span in between reported.
    let plan = windows(Tier::Hour, Some("2026-09-01T00:00:00Z"), "2026-10-25T03:06:00Z", 1000);
    assert_eq!(plan.windows[0].start, at("2026-10-10T04:00:00Z"));
    let skipped = plan.skipped.unwrap();
    assert_eq!(
        (skipped.start, skipped.end),
        (at("2026-09-01T00:00:00Z"), at("2026-10-10T04:00:00Z"))
    );
    assert!(
        windows(Tier::Hour, Some("2026-10-20T00:00:00Z"), "2026-10-25T03:06:00Z", 9)
            .skipped
            .is_none()
    );
    // Half-hour zones: hours on the local grid.
    let kolkata: Tz = chrono_tz::Asia::Kolkata;
    assert_eq!(
        hour_floor(at("2026-10-25T03:06:00Z"), kolkata),
        at("2026-10-25T02:30:00Z")
    );
}

#[test]
fn each_hour_is_fetched_once_and_days_close_on_their_last_hour() {
    let hours = windows(Tier::Hour, Some("2026-10-25T20:00:00Z"), "2026-10-26T01:00:00Z", 5).windows;
    let days = windows(Tier::Day, Some("2026-10-24T22:00:00Z"), "2026-10-26T01:00:00Z", 5).windows;
    let all = chunks(&hours, &days);
    // The 25 h day (22:00Z → 23:00Z next day) plus the hour 23:00Z after it.
    assert_eq!(all.len(), 25 + 1);
    assert!(all.windows(2).all(|p| p[0].window.end == p[1].window.start));
    assert_eq!(all.iter().filter(|c| c.closes_day).count(), 1);
    assert!(all[24].closes_day && all[24].window.end == at("2026-10-25T23:00:00Z"));
    assert_eq!(all.iter().filter(|c| c.hour).count(), 4);
    assert!(all[22].hour && all[22].day == Some(0), "20:00Z is in both tiers");
    assert!(all[25].hour && all[25].day.is_none());
}

#[test]
fn kinds_come_from_the_rule_then_metadata_then_suffixes() {
    let metadata = BTreeMap::from([
        ("http_latency_seconds".to_string(), "histogram".to_string()),
        ("jobs_done".to_string(), "counter".to_string()),
        ("queue_total".to_string(), "gauge".to_string()),
        ("rpc_seconds".to_string(), "summary".to_string()),
    ]);
    assert_eq!(kind_of("http_latency_seconds_bucket", None, &metadata), Kind::Bucket);
    assert_eq!(kind_of("http_latency_seconds_count", None, &metadata), Kind::Counter);
    assert_eq!(kind_of("jobs_done_total", None, &metadata), Kind::Counter);
    assert_eq!(
        kind_of("queue_total", None, &metadata),
        Kind::Gauge,
        "metadata beats the suffix"
    );
    assert_eq!(kind_of("rpc_seconds", None, &metadata), Kind::Gauge);
    assert_eq!(kind_of("rpc_seconds_sum", None, &metadata), Kind::Counter);
    assert_eq!(kind_of("unknown_total", None, &metadata), Kind::Counter);
    assert_eq!(kind_of("other_bucket", None, &metadata), Kind::Bucket);
    assert_eq!(kind_of("temperature", None, &metadata), Kind::Gauge);
    assert_eq!(
        kind_of("queue_total", Some(MetricType::Counter), &metadata),
        Kind::Counter
    );
    let rule: Rule = toml::from_str("selector = 'x'\naggregates = [\"max\", \"avg\", \"max\"]").unwrap();
    assert_eq!(
        aggregates_for("x", &rule, &metadata),
        vec![Aggregate::Avg, Aggregate::Max]
    );
    assert_eq!(
        rollup_name("x_bucket", Tier::Day, Aggregate::Increase),
        "x_bucket:1d_increase"
    );
    // Rollups keep their labels: a rule's selector never picks them (or the watermark) up again.
    assert_eq!(
        source_selector(&rule.selector),
        r#"{__name__="x",__name__=~"[^:]+",__name__!="almanac_rollup_watermark"}"#
    );
    let count = count_rule(
        0,
        &toml::from_str("selector = '{job=\"a\"}'").unwrap(),
        &[
            BTreeMap::from([("t".to_string(), 3), ("r_total".to_string(), 2)]),
            BTreeMap::from([("t".to_string(), 4)]),
        ],
        &metadata,
    );
    assert_eq!(count.samples, 3 * 4 + 2 * 2 + 4 * 4);
    assert_eq!(count.metrics["t"], 4);
}

#[test]
fn windows_older_than_the_target_keeps_are_refused() {
    let plan = windows(Tier::Day, Some("2026-10-20T22:00:00Z"), "2026-10-27T01:00:00Z", 10);
    let now = at("2026-10-27T01:00:00Z");
    assert!(check_retention(std::slice::from_ref(&plan), now, None, "-retentionPeriod").is_ok());
    assert!(check_retention(std::slice::from_ref(&plan), now, Some(30 * 86_400), "-retentionPeriod").is_ok());
    let error = check_retention(&[plan], now, Some(3 * 86_400), "-retentionPeriod").unwrap_err();
    assert!(error.to_string().contains("-retentionPeriod"), "{error}");
    assert!(error.to_string().contains("2026-10-21T22:00:00+00:00"), "{error}");
}

#[test]
fn settings_have_defaults_and_refuse_contradictions() {
    use crate::jobs::tsdb_rollup::settings::Settings;
    let parse = |text: &str| toml::from_str::<Settings>(text).unwrap();
    let settings = parse("[[rules]]\nselector = '{job=\"a\"}'");
    settings.validate().unwrap();
    assert_eq!(settings.tiers, vec![Tier::Hour, Tier::Day]);
    assert_eq!(
        (settings.max_windows_per_run, settings.lookback.to_string()),
        (168, "15d".to_string())
    );
    let error = parse("rules = []").validate().unwrap_err();
    assert_eq!(error.path.to_string(), "rules");
    let error = parse("[[rules]]\nselector = 'x'\ntype = \"gauge\"\naggregates = [\"avg\"]")
        .validate()
        .unwrap_err();
    assert_eq!(error.path.to_string(), "rules[0].aggregates");
    let error = parse("lookback = \"2h\"\n[[rules]]\nselector = 'x'")
        .validate()
        .unwrap_err();
    assert_eq!(error.path.to_string(), "lookback");
    assert!(toml::from_str::<Settings>("[[rules]]\nselector = 'x'\naggregates = [\"p99\"]").is_err());
    assert!(toml::from_str::<Settings>("tiers = [\"5m\"]\n[[rules]]\nselector = 'x'").is_err());
}
