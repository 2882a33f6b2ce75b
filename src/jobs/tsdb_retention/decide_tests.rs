//! Unit tests of the pure TSDB maintenance decisions: selector round trips, escaping,
//! exact label-set selectors, stale detection and batching.

use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn selectors_parse_and_render_back() {
    let s = Selector::parse(r#"{job="kubernetes-pods"}"#).unwrap();
    assert_eq!(s.render(), r#"{job="kubernetes-pods"}"#);
    let s = Selector::parse(r#"{__name__=~".+_bucket"}"#).unwrap();
    assert_eq!(s.render(), r#"{__name__=~".+_bucket"}"#);
    let s = Selector::parse(r#"http_requests_total{ code != "200" , path=~'/a.*' }"#).unwrap();
    assert_eq!(
        s.render(),
        r#"{__name__="http_requests_total",code!="200",path=~"/a.*"}"#
    );
    assert_eq!(s.metric_name(), Some("http_requests_total"));
    let s = Selector::parse("up").unwrap();
    assert_eq!(s.render(), r#"{__name__="up"}"#);
}

#[test]
fn selector_escapes_round_trip() {
    let s = Selector::parse(r#"{a="q\"b\\n\nü\u00e9"}"#).unwrap();
    assert_eq!(s.matchers[0].value, "q\"b\\n\nüé");
    assert_eq!(Selector::parse(&s.render()).unwrap(), s);
    let raw = Selector::parse(r#"{a=`x\d+`}"#).unwrap();
    assert_eq!(raw.matchers[0].value, r"x\d+");
}

#[test]
fn bad_selectors_are_refused() {
    for bad in [
        "",
        "{",
        r#"{job="x""#,
        r#"{job=x}"#,
        r#"{job~"x"}"#,
        r#"{job="x"} extra"#,
        r#"{job=""}"#,
        r#"{job=~".*"}"#,
        r#"{job="\q"}"#,
        "{}",
    ] {
        assert!(Selector::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn for_metric_replaces_a_fixed_name_and_keeps_regexes() {
    let s = Selector::parse(r#"{__name__=~".+_bucket",job="a"}"#).unwrap();
    assert_eq!(
        s.for_metric("x_bucket").render(),
        r#"{__name__="x_bucket",__name__=~".+_bucket",job="a"}"#
    );
    let s = Selector::parse(r#"up{job="a"}"#).unwrap();
    assert_eq!(s.for_metric("up").render(), r#"{__name__="up",job="a"}"#);
}

#[test]
fn escape_handles_quotes_backslashes_newlines_controls_and_unicode() {
    assert_eq!(escape(r#"a"b"#), r#"a\"b"#);
    assert_eq!(escape(r"C:\dir\"), r"C:\\dir\\");
    assert_eq!(escape("l1\nl2\r\t"), r"l1\nl2\r\t");
    assert_eq!(escape("\u{1}"), r"\u0001");
    assert_eq!(escape("日本語 ünïcødé 🚀"), "日本語 ünïcødé 🚀");
    // What we render, we parse back to the same value.
    let value = "x\"\\\n\u{7f}é🚀'`";
    let s = Selector::parse(&format!("{{a=\"{}\"}}", escape(value))).unwrap();
    assert_eq!(s.matchers[0].value, value);
}

#[test]
fn exact_selector_pins_absent_labels_to_empty() {
    let all: BTreeSet<String> = ["__name__", "a", "b", "pod"].iter().map(|s| s.to_string()).collect();
    let l = labels(&[("__name__", "m"), ("a", "1\"")]);
    assert_eq!(exact_selector(&l, &all), r#"{__name__="m",a="1\"",b="",pod=""}"#);
    let parsed = Selector::parse(&exact_selector(&l, &all)).unwrap();
    assert_eq!(parsed.matchers.len(), 4);
}

#[test]
fn stale_is_whole_minus_recent() {
    let live = labels(&[("__name__", "m"), ("pod", "a")]);
    let dead = labels(&[("__name__", "m"), ("pod", "b")]);
    let revived = labels(&[("__name__", "m"), ("pod", "c")]);
    let recent: HashSet<u64> = [fingerprint(&live), fingerprint(&revived)].into_iter().collect();
    let stale = stale_series(vec![live, dead.clone(), revived], &recent);
    assert_eq!(stale, vec![dead]);
}

#[test]
fn fingerprints_distinguish_label_sets() {
    let a = labels(&[("a", "1"), ("b", "2")]);
    let b = labels(&[("a", "12"), ("b", "")]);
    let c = labels(&[("a", "1"), ("b", "2")]);
    assert_ne!(fingerprint(&a), fingerprint(&b));
    assert_eq!(fingerprint(&a), fingerprint(&c));
}

#[test]
fn label_names_are_the_union() {
    let sets = [labels(&[("a", "1")]), labels(&[("b", "1"), ("a", "2")])];
    let names: Vec<String> = label_names(&sets).into_iter().collect();
    assert_eq!(names, vec!["a", "b"]);
}

#[test]
fn form_length_matches_urlencoding() {
    assert_eq!(form_encoded_len("abc"), 3);
    assert_eq!(form_encoded_len("a b"), 3);
    assert_eq!(form_encoded_len("{"), 3);
    assert_eq!(form_encoded_len("é"), 6);
}

#[test]
fn batches_stay_under_the_limit_and_keep_everything_in_order() {
    let selectors: Vec<String> = (0..100).map(|i| format!("{{pod=\"p{i:03}\"}}")).collect();
    let batches = batches(selectors.clone(), 300, 40);
    assert!(batches.len() > 1);
    for batch in &batches {
        let size: usize = 40 + batch.iter().map(|s| 13 + form_encoded_len(s)).sum::<usize>();
        assert!(size <= 300, "batch of {size} bytes");
    }
    let flat: Vec<String> = batches.into_iter().flatten().collect();
    assert_eq!(flat, selectors);
}

#[test]
fn an_oversized_selector_gets_its_own_batch() {
    let big = format!("{{a=\"{}\"}}", "x".repeat(500));
    let out = batches(vec!["{a=\"1\"}".into(), big.clone(), "{a=\"2\"}".into()], 100, 0);
    assert_eq!(
        out,
        vec![vec!["{a=\"1\"}".to_string()], vec![big], vec!["{a=\"2\"}".to_string()]]
    );
    assert!(batches(vec![], 100, 0).is_empty());
}

#[test]
fn a_counting_batcher_counts_the_groups_it_would_have_kept() {
    let selectors: Vec<String> = (0..1000).map(|i| format!("{{pod=\"p{i:04}\"}}")).collect();
    let kept = batches(selectors.clone(), 300, 40);
    // Dry run: nothing kept, same number of requests.
    let mut counting = Batcher::new(300, 40, Some(0));
    // Run under a limit of 500 series: kept until the 501st, then only counted.
    let mut limited = Batcher::new(300, 40, Some(500));
    let mut exact = Batcher::new(300, 40, Some(1000));
    for selector in &selectors {
        counting.push(selector.clone());
        limited.push(selector.clone());
        exact.push(selector.clone());
    }
    let (counting, limited, exact) = (counting.finish(), limited.finish(), exact.finish());
    assert!(kept.len() > 10);
    for counted in [&counting, &limited] {
        assert_eq!(counted.count, kept.len());
        assert!(!counted.complete);
        assert!(counted.groups.is_empty());
    }
    assert!(exact.complete);
    assert_eq!(exact.count, kept.len());
    assert_eq!(exact.groups, kept);
    assert!(Batcher::new(300, 40, Some(0)).finish().complete);
}

#[test]
fn block_estimates() {
    let h = 3_600_000;
    // Range entirely in persisted blocks of 24h.
    assert_eq!(estimate_blocks(0, 48 * h - 1, Some((100 * h, 102 * h)), 24 * h), 2);
    // Range reaching the head: head + persisted blocks before it.
    assert_eq!(estimate_blocks(0, 101 * h, Some((96 * h, 102 * h)), 24 * h), 5);
    // No head (empty): only persisted blocks.
    assert_eq!(estimate_blocks(0, 24 * h - 1, None, 24 * h), 1);
    assert_eq!(estimate_blocks(10, 5, None, 24 * h), 0);
}

#[test]
fn label_names_outside_the_classic_set_are_quoted() {
    assert_eq!(label_name("pod"), "pod");
    assert_eq!(label_name("_a1"), "_a1");
    assert_eq!(label_name("service.name"), "\"service.name\"");
    assert_eq!(label_name("1st"), "\"1st\"");
    assert_eq!(label_name("a\"b"), "\"a\\\"b\"");
    let mut l = Labels::new();
    l.insert("__name__".into(), "m".into());
    l.insert("k8s.pod".into(), "p".into());
    let all: std::collections::BTreeSet<String> = ["k8s.pod".to_string()].into();
    assert_eq!(exact_selector(&l, &all), r#"{__name__="m","k8s.pod"="p"}"#);
}
