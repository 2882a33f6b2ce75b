//! The log-retention plan from plain data: which index goes where, what is held back and
//! why, which archives are this job's.

use chrono::TimeZone;
use serde_json::json;

use super::*;

const NOW: (i32, u32, u32) = (2026, 11, 25);

fn settings(extra: &str) -> Settings {
    toml::from_str(&format!("prefix = \"p\"\npattern = \"logs-%Y.%m.%d\"\n{extra}")).unwrap()
}

fn inputs() -> Inputs {
    Inputs {
        now: Utc.with_ymd_and_hms(NOW.0, NOW.1, NOW.2, 3, 0, 0).unwrap(),
        job: "logs".into(),
        ..Inputs::default()
    }
}

fn index(name: &str, health: &str) -> CatIndex {
    serde_json::from_value(json!({
        "index": name, "status": "open", "health": health, "docs.count": "10", "store.size": "1000"
    }))
    .unwrap()
}

fn manifest(index: &str, date: &str, job: Option<&str>, archived_at: &str) -> Manifest {
    serde_json::from_value(json!({
        "format": 1, "index": index, "date": date, "doc_count": 10, "parts": [],
        "mappings": {}, "settings": {}, "time_range": null, "compression": "gzip",
        "line_format": "x", "archived_at": archived_at, "run_id": "r", "tool": "almanac",
        "source_cluster": "opensearch 2", "job": job
    }))
    .unwrap()
}

fn archived(manifest: bool) -> ArchiveState {
    ArchiveState {
        manifest,
        parts: vec![crate::clients::s3::ObjectInfo {
            key: "k".into(),
            size: 7,
            storage_class: "STANDARD".into(),
            restore: None,
            etag: None,
        }],
    }
}

fn row<'a>(plan: &'a Plan, index: &str) -> &'a Row {
    plan.rows
        .iter()
        .find(|r| r.index == index)
        .unwrap_or_else(|| panic!("no row {index}: {plan:?}"))
}

#[test]
fn an_index_past_cold_after_is_archived_unless_it_is_red() {
    let mut inputs = inputs();
    inputs.indices = vec![index("logs-2026.09.01", "green"), index("logs-2026.09.02", "red")];
    let plan = build(&settings(""), &inputs);
    assert_eq!(
        row(&plan, "logs-2026.09.01").action,
        Action::Archive { then_transition: false }
    );
    let red = row(&plan, "logs-2026.09.02");
    assert_eq!(red.action, Action::Skip(SkipReason::Unhealthy));
    assert!(red.note.as_deref().unwrap().contains("health red"));
    assert!(plan_warnings(&plan).1, "a red index needs an operator");
}

#[test]
fn names_off_the_pattern_and_the_write_index_are_left_alone() {
    let mut inputs = inputs();
    inputs.indices = vec![index("logs-2026.09.01", "green"), index("logs-other", "green")];
    let plan = build(&settings(""), &inputs);
    assert_eq!(plan.skipped, ["logs-other"]);

    let mut stream = self::inputs();
    let mut backing = index(".ds-logs-app-2026.09.01-000001", "green");
    backing.creation_date = Some(1_756_684_800_000); // 2025-09-01
    let mut writing = index(".ds-logs-app-2026.11.20-000002", "green");
    writing.creation_date = Some(1_763_596_800_000);
    stream.indices = vec![backing, writing];
    stream.write_index = Some(".ds-logs-app-2026.11.20-000002".into());
    let stream_settings: Settings = toml::from_str("prefix = \"p\"\ndata_stream = \"logs-app\"").unwrap();
    let plan = build(&stream_settings, &stream);
    assert_eq!(plan.rows.len(), 1, "{plan:?}");
    assert_eq!(plan.rows[0].index, ".ds-logs-app-2026.09.01-000001");
}

#[test]
fn only_this_jobs_archives_are_aged() {
    let mut inputs = inputs();
    for name in [
        "logs-2019.01.01",
        "logs-2019.01.02",
        "logs-2019.01.03",
        "other-2019.01.01",
    ] {
        inputs.archived.insert(name.into(), archived(name != "logs-2019.01.03"));
    }
    let wanted = manifests_to_read(&settings(""), &inputs.indices, &inputs.archived);
    assert_eq!(wanted, ["logs-2019.01.01", "logs-2019.01.02"]);
    let at = "2019-02-15T00:00:00Z";
    inputs.manifests.insert(
        "logs-2019.01.01".into(),
        manifest("logs-2019.01.01", "2019-01-01", Some("logs"), at),
    );
    inputs.manifests.insert(
        "logs-2019.01.02".into(),
        manifest("logs-2019.01.02", "2019-01-02", Some("other"), at),
    );
    let plan = build(&settings(""), &inputs);
    assert_eq!(plan.rows.len(), 1, "{plan:?}");
    assert_eq!(row(&plan, "logs-2019.01.01").action, Action::Expire);
    assert_eq!(plan.incomplete_archives, ["logs-2019.01.03"]);
    let foreign: Vec<&str> = plan.foreign_archives.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(foreign, ["logs-2019.01.02", "other-2019.01.01"]);
}

#[test]
fn an_archive_younger_than_its_life_in_s3_is_kept() {
    let mut inputs = inputs();
    inputs.archived.insert("logs-2019.01.01".into(), archived(true));
    // Archived last month although its name says 2019 (a late backfill): kept.
    inputs.manifests.insert(
        "logs-2019.01.01".into(),
        manifest("logs-2019.01.01", "2019-01-01", Some("logs"), "2026-10-20T00:00:00Z"),
    );
    let plan = build(&settings(""), &inputs);
    assert_eq!(
        row(&plan, "logs-2019.01.01").action,
        Action::Skip(SkipReason::ArchiveTooYoung)
    );
}

#[test]
fn an_index_whose_source_would_not_come_back_is_kept_unless_allowed() {
    let mut inputs = inputs();
    inputs.indices = vec![index("logs-2026.09.01", "green")];
    inputs
        .mappings
        .insert("logs-2026.09.01".into(), json!({"_source": {"enabled": false}}));
    let plan = build(&settings(""), &inputs);
    assert_eq!(
        row(&plan, "logs-2026.09.01").action,
        Action::Skip(SkipReason::SourceNotArchivable)
    );
    let plan = build(&settings("allow_rebuilt_source = true"), &inputs);
    assert_eq!(
        row(&plan, "logs-2026.09.01").action,
        Action::Archive { then_transition: false }
    );
}

#[test]
fn a_warm_index_whose_shards_stay_on_hot_nodes_is_stuck() {
    let mut inputs = inputs();
    inputs.indices = vec![index("logs-2026.11.10", "green")];
    let flat = json!({"index.routing.allocation.require.box_type": "warm", "index.blocks.write": "true"});
    inputs
        .index_settings
        .insert("logs-2026.11.10".into(), flat.as_object().unwrap().clone());
    inputs.nodes.insert(
        "n1".into(),
        serde_json::from_value(json!({"name": "hot-1", "roles": ["data"], "attributes": {"box_type": "hot"}})).unwrap(),
    );
    inputs.shards = vec![
        serde_json::from_value(
            json!({"index": "logs-2026.11.10", "shard": "0", "prirep": "p", "state": "STARTED", "node": "hot-1"}),
        )
        .unwrap(),
    ];
    let plan = build(&settings("warm_method = \"attribute\""), &inputs);
    let stuck = row(&plan, "logs-2026.11.10");
    assert_eq!(stuck.placement, Some(Placement::Stuck));
    assert_eq!(stuck.action, Action::Skip(SkipReason::Stuck));
    assert!(stuck.note.as_deref().unwrap().contains("box_type: warm"), "{stuck:?}");
}

#[test]
fn max_indices_per_run_defers_the_rest_unless_forced() {
    let mut inputs = inputs();
    inputs.indices = (1..=3).map(|d| index(&format!("logs-2026.09.0{d}"), "green")).collect();
    let plan = build(&settings("max_indices_per_run = 2"), &inputs);
    assert_eq!(plan.deferred, 1);
    inputs.force = true;
    assert_eq!(build(&settings("max_indices_per_run = 2"), &inputs).deferred, 0);
}

#[test]
fn indices_at_once_follow_the_data_nodes_up_to_four() {
    let mut inputs = inputs();
    assert_eq!(build(&settings(""), &inputs).index_concurrency, 1, "no node listed");
    for n in 0..6 {
        inputs.nodes.insert(
            format!("n{n}"),
            serde_json::from_value(json!({"name": format!("d{n}"), "roles": ["data_hot"]})).unwrap(),
        );
    }
    inputs.nodes.insert(
        "m".into(),
        serde_json::from_value(json!({"name": "m", "roles": ["master"]})).unwrap(),
    );
    assert_eq!(build(&settings(""), &inputs).index_concurrency, 4);
    assert_eq!(build(&settings("index_concurrency = 2"), &inputs).index_concurrency, 2);
}
