//! Unit tests of the pure plan: rows and `delete_series` requests from scanned series, the
//! look-back window, and block estimates from a listed or an estimated block layout.

use std::collections::BTreeMap;

use super::*;
use crate::jobs::tsdb_retention::decide::Batcher;

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn settings(toml: &str) -> Settings {
    let settings: Settings = toml::from_str(toml).unwrap();
    settings.validate().unwrap();
    settings
}

const RULES: &str = r#"
max_series_per_run = 4
max_request_bytes = 1024

[[rules]]
stale = '{job="k"}'
after = "2d"

[[rules]]
retain = '{__name__=~".+_bucket"}'
keep = "7d"

[[rules]]
retain = 'never'
keep = "7d"
"#;

fn prometheus() -> Server {
    Server::Prometheus {
        retention_seconds: Some(15 * 86_400),
        admin_api: true,
        max_block_seconds: None,
    }
}

fn metric(name: &str, series: u64, end: DateTime<Utc>) -> MetricPlan {
    let labels: Labels = BTreeMap::from([("__name__".to_string(), name.to_string())]);
    MetricPlan {
        metric: name.into(),
        series,
        start: t("2026-01-01T00:00:00Z"),
        end,
        sample: vec![labels],
    }
}

/// Stale rule: `n` stale series of `up`, each with a long exact selector.
fn scans(n: usize, now: DateTime<Utc>) -> Vec<Scanned> {
    let mut batcher = Batcher::new(1024, RESERVED, None);
    for i in 0..n {
        batcher.push(format!("{{__name__=\"up\",job=\"k\",pod=\"{i}-{}\"}}", "x".repeat(200)));
    }
    let exact = batcher.finish();
    vec![
        Scanned {
            metrics: vec![metric("up", n as u64, now - Duration::days(2))],
            exact,
        },
        Scanned {
            metrics: vec![
                metric("a_bucket", 2, now - Duration::days(7)),
                metric("b_bucket", 1, now - Duration::days(7)),
            ],
            exact: Batches::default(),
        },
        Scanned::default(),
    ]
}

fn gathered(server: Server, scans: Vec<Scanned>, layout: Option<BlockLayout>) -> Gathered {
    Gathered {
        server,
        window_start: t("2026-01-01T00:00:00Z"),
        scans,
        layout,
        warnings: vec!["w".into()],
    }
}

#[test]
fn rules_become_rows_and_batched_requests() {
    let now = t("2026-01-16T00:00:00Z");
    let settings = settings(RULES);
    let plan = build(&settings, now, gathered(prometheus(), scans(5, now), None));
    assert_eq!(plan.rules.len(), 3);
    assert_eq!(
        (plan.rules[0].series, plan.rules[1].series, plan.rules[2].series),
        (5, 3, 0)
    );
    assert_eq!(plan.rules[0].action, Action::Stale);
    assert_eq!(plan.rules[1].selector, r#"{__name__=~".+_bucket"}"#);
    assert_eq!(plan.rules[0].end, t("2026-01-14T00:00:00Z"));
    assert_eq!(plan.rules[1].end, t("2026-01-09T00:00:00Z"));
    assert_eq!(plan.total_series, 8);
    assert!(plan.over_limit, "8 > max_series_per_run = 4");
    assert_eq!(plan.warnings, vec!["w".to_string()]);

    // 5 selectors of ~300 bytes encoded, 1024 bytes a request: 3 + 2; the retain rule one
    // request with its own selector; the empty retain rule none.
    let shape: Vec<(usize, usize, u64)> = plan
        .requests
        .iter()
        .map(|r| (r.rule, r.matchers.len(), r.series))
        .collect();
    assert_eq!(shape, vec![(0, 3, 3), (0, 2, 2), (1, 1, 3)]);
    assert_eq!(plan.delete_requests, 3);
    assert_eq!(
        plan.requests[2].matchers,
        vec![r#"{__name__=~".+_bucket"}"#.to_string()]
    );
    assert!(plan.requests.iter().all(|r| r.start == plan.window_start));
    assert_eq!(plan.requests[2].end, plan.rules[1].end);
    assert!(plan.clean_tombstones);

    let text = plan.render_text();
    assert!(text.contains("OVER THE LIMIT"), "{text}");
    assert!(text.contains("a_bucket{}") && text.contains("#2"), "{text}");
}

#[test]
fn within_the_limit_on_victoria_metrics() {
    let now = t("2026-01-16T00:00:00Z");
    let settings = settings(&RULES.replace("max_series_per_run = 4", "max_series_per_run = 8"));
    let server = Server::VictoriaMetrics {
        retention_seconds: None,
    };
    assert!(!needs_block_layout(&server, &scans(1, now)));
    let plan = build(&settings, now, gathered(server, scans(5, now), None));
    assert!(!plan.over_limit);
    assert!(!plan.clean_tombstones, "VictoriaMetrics has no tombstones to clean");
    assert_eq!(plan.blocks.source, "not_applicable");
    assert_eq!(plan.blocks.count, None);
}

#[test]
fn blocks_are_counted_when_listed() {
    let now = t("2026-01-16T00:00:00Z");
    let ms = |text: &str| t(text).timestamp_millis();
    let block = |from: &str, to: &str| BlockMeta {
        min_time: ms(from),
        max_time: ms(to),
    };
    let layout = BlockLayout {
        head: Some((ms("2026-01-15T00:00:00Z"), ms("2026-01-16T00:00:00Z"))),
        listed: Some(vec![
            block("2026-01-01T00:00:00Z", "2026-01-08T00:00:00Z"),
            block("2026-01-08T00:00:00Z", "2026-01-13T00:00:00Z"),
            block("2026-01-13T00:00:00Z", "2026-01-15T00:00:00Z"),
        ]),
    };
    let plan = build(
        &settings(RULES),
        now,
        gathered(prometheus(), scans(1, now), Some(layout)),
    );
    assert_eq!(plan.blocks.source, "listed");
    // Stale up to the 14th: three blocks; retain up to the 9th: two; the empty rule none.
    assert_eq!(plan.blocks.count, Some(3));
    let per_rule: Vec<Option<u64>> = plan.rules.iter().map(|r| r.blocks).collect();
    assert_eq!(per_rule, vec![Some(3), Some(2), None]);
}

#[test]
fn blocks_are_estimated_when_not_listed() {
    let now = t("2026-01-16T00:00:00Z");
    let head = HeadStats {
        num_series: 10,
        min_time: t("2026-01-15T00:00:00Z").timestamp_millis(),
        max_time: now.timestamp_millis(),
    };
    let layout = BlockLayout::new(head, None);
    let plan = build(
        &settings(RULES),
        now,
        gathered(prometheus(), scans(1, now), Some(layout)),
    );
    assert_eq!(plan.blocks.source, "estimated");
    // 36h blocks (10% of 15 days) from the 1st to the 14th: ceil(13d / 1.5d) = 9.
    assert_eq!(plan.blocks.count, Some(9));
    assert!(plan.blocks.note.contains("36h"), "{}", plan.blocks.note);

    // An empty head (min > max) is no head.
    let empty = HeadStats {
        num_series: 0,
        min_time: i64::MAX,
        max_time: i64::MIN,
    };
    assert_eq!(BlockLayout::new(empty, None).head, None);
}

#[test]
fn nothing_to_delete_needs_no_layout() {
    let now = t("2026-01-16T00:00:00Z");
    let empty = vec![Scanned::default(), Scanned::default(), Scanned::default()];
    assert!(!needs_block_layout(&prometheus(), &empty));
    assert!(needs_block_layout(&prometheus(), &scans(1, now)));
    let plan = build(&settings(RULES), now, gathered(prometheus(), empty, None));
    assert_eq!((plan.total_series, plan.delete_requests), (0, 0));
    assert_eq!(plan.blocks.count, Some(0));
    assert_eq!(plan.blocks.note, "nothing to delete");
}

#[test]
fn the_window_reaches_back_the_lookback_or_the_retention() {
    let now = t("2026-01-31T00:00:00Z");
    let days = |d: i64| now - Duration::days(d);
    assert_eq!(window_start(now, None, &prometheus()), days(15));
    let lookback = Some(HumanDuration::from_days(3));
    assert_eq!(window_start(now, lookback, &prometheus()), days(3));
    let unknown = Server::Prometheus {
        retention_seconds: None,
        admin_api: true,
        max_block_seconds: None,
    };
    assert_eq!(window_start(now, None, &unknown), days(15));
    let vm = Server::VictoriaMetrics {
        retention_seconds: None,
    };
    assert_eq!(window_start(now, None, &vm), days(31));
    let forever = Some(HumanDuration::from_days(365 * 100));
    assert_eq!(
        window_start(now, forever, &prometheus()),
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1)
    );
}
