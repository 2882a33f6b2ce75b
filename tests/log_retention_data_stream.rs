//! A data stream through the tiers on the real Elasticsearch 8 node: its old backing indices
//! are archived and deleted, the write index is never touched, and an archived backing index
//! restores as a plain index with every document.

mod log_retention_common;
mod support;

use log_retention_common::{Os, S3, call, jobs_toml, unique};
use serde_json::{Value, json};
use support::{Workspace, harness_env};

/// Appends `n` documents to the stream (`create` is the only op a data stream takes).
fn append(url: &str, stream: &str, n: usize, generation: usize) -> Vec<Value> {
    let mut body = String::new();
    let mut sources = Vec::new();
    for i in 0..n {
        let source = json!({"@timestamp": format!("2026-11-2{}T10:00:{:02}Z", generation, i % 60),
            "message": format!("gen {generation} line {i}"), "n": i});
        body.push_str("{\"create\":{}}\n");
        body.push_str(&source.to_string());
        body.push('\n');
        sources.push(source);
    }
    let response: Value = reqwest::blocking::Client::new()
        .post(format!("{url}/{stream}/_bulk?refresh=true"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(response["errors"], json!(false), "{response}");
    sources
}

fn backing_indices(url: &str, stream: &str) -> Vec<String> {
    let value = call(reqwest::Method::GET, &format!("{url}/_data_stream/{stream}"), None);
    value["data_streams"][0]["indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index_name"].as_str().unwrap().to_string())
        .collect()
}

fn sorted_sources(os: &Os, index: &str) -> Vec<String> {
    let mut all: Vec<String> = os.all_docs(index).into_values().map(|v| v.to_string()).collect();
    all.sort();
    all
}

#[test]
fn old_backing_indices_are_archived_the_write_index_is_kept_and_restores_are_plain() {
    let url = harness_env("ALMANAC_TEST_ELASTICSEARCH_URL");
    let os = Os::new(&url);
    let tag = unique("");
    let stream = format!("{tag}-ds");
    call(
        reqwest::Method::PUT,
        &format!("{url}/_index_template/{tag}-tpl"),
        Some(
            json!({"index_patterns": [format!("{stream}*")], "data_stream": {}, "priority": 500,
            "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                "mappings": {"properties": {"@timestamp": {"type": "date"}, "message": {"type": "text"}}}}}),
        ),
    );
    let first = append(&url, &stream, 120, 1);
    call(reqwest::Method::POST, &format!("{url}/{stream}/_rollover"), None);
    append(&url, &stream, 40, 2);
    call(reqwest::Method::POST, &format!("{url}/{stream}/_rollover"), None);
    append(&url, &stream, 10, 3);
    let backing = backing_indices(&url, &stream);
    assert_eq!(backing.len(), 3, "{backing:?}");
    let write_index = backing[2].clone();
    let mut expected_first: Vec<String> = first.iter().map(Value::to_string).collect();
    expected_first.sort();
    assert_eq!(sorted_sources(&os, &backing[0]), expected_first);

    let bucket = format!("{tag}-b");
    let s3 = S3::shared(&bucket);
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        &jobs_toml(
            &url,
            &harness_env("ALMANAC_TEST_S3_URL"),
            &bucket,
            "p",
            "unused-%Y.%m.%d",
            &format!("data_stream = \"{stream}\"\n"),
        ),
    );
    // Forty days on: every backing index is past the warm tier, due for the archive.
    let later = (chrono::Utc::now() + chrono::Duration::days(40)).to_rfc3339();
    let dry = workspace.almanac(&["run", "logs", "--now", &later, "--dry-run", "--output", "json"], &[]);
    dry.expect_code(0);
    let plan: Value = serde_json::from_str(&dry.stdout()).unwrap();
    assert_eq!(plan["write_index"], json!(write_index), "{plan}");
    let rows: Vec<&str> = plan["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_str().unwrap())
        .collect();
    assert_eq!(rows, [backing[0].as_str(), backing[1].as_str()], "{plan}");

    workspace
        .almanac(&["run", "logs", "--now", &later, "--allow-clock-skew"], &[])
        .expect_code(0);
    assert_eq!(
        backing_indices(&url, &stream),
        std::slice::from_ref(&write_index),
        "only the write index is left"
    );
    assert_eq!(os.count(&write_index), 10, "the write index is untouched");
    for index in &backing[..2] {
        let manifest: Value = serde_json::from_slice(&s3.get(&format!("p/{index}/manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["job"], "logs");
    }

    let restored = workspace.almanac(&["restore", &backing[0]], &[]);
    restored.expect_code(0);
    let plain = format!("restored-{}", backing[0].trim_start_matches(".ds-"));
    assert!(restored.stdout().contains(&plain), "{}", restored.describe());
    assert_eq!(
        sorted_sources(&os, &plain),
        expected_first,
        "every document of generation 1"
    );
}
