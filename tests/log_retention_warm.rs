//! The warm step on two-node hot/warm clusters (`elasticsearch-tiers`: Elasticsearch 8.15 with
//! data tiers; `opensearch-tiers`: OpenSearch with a `box_type` attribute): the shard ends on
//! the warm node, and the plan reports where shards are (warm, or stuck with the reason).

mod log_retention_common;
mod support;

use std::time::{Duration, Instant};

use log_retention_common::{Os, S3, jobs_toml, log_docs, unique};
use serde_json::Value;
use support::{PrivateServer, Workspace, harness_env};

const NOW: &str = "2026-11-25T06:00:00Z";

/// The node holding the primary of `index` once no shard of it is moving.
fn settled_node(os_url: &str, index: &str) -> String {
    let client = reqwest::blocking::Client::new();
    let start = Instant::now();
    loop {
        let rows: Vec<Value> = client
            .get(format!(
                "{os_url}/_cat/shards/{index}?format=json&h=index,prirep,state,node"
            ))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if let Some(primary) = rows.iter().find(|r| r["prirep"] == "p")
            && primary["state"] == "STARTED"
        {
            return primary["node"].as_str().unwrap_or_default().to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{index} never settled: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until the primary of `index` is on `node`.
fn wait_on(os_url: &str, index: &str, node: &str) {
    let start = Instant::now();
    while settled_node(os_url, index) != node {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{index} not on {node}: on {}",
            settled_node(os_url, index)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn pin_hot(url: &str, index: &str) {
    let response = reqwest::blocking::Client::new()
        .put(format!("{url}/{index}/_settings"))
        .json(&serde_json::json!({"index.routing.allocation.require.box_type": "hot"}))
        .send()
        .unwrap();
    assert!(response.status().is_success());
}

fn plan_row(workspace: &Workspace, index: &str) -> Value {
    let dry = workspace.almanac(&["run", "logs", "--now", NOW, "--dry-run", "--output", "json"], &[]);
    dry.expect_code(0);
    let plan: Value = serde_json::from_str(&dry.stdout()).unwrap();
    plan["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["index"] == index)
        .cloned()
        .unwrap_or_else(|| panic!("{index} not in {plan}"))
}

fn warm_case(service: &str, url_var: &str, expect_method: &str) {
    let cluster = PrivateServer::start(service, &[]);
    let url = cluster.get(url_var).to_string();
    let os = Os::new(&url);
    let tag = unique("");
    let bucket = format!("{tag}-b");
    let _s3 = S3::shared(&bucket);
    let pattern = format!("{tag}-w-%Y.%m.%d");
    let index = format!("{tag}-w-2026.11.15");
    let docs = log_docs(200, "warm");
    os.create(&index, &docs);
    if expect_method == "attribute" {
        // As a hot/warm template would: new indices on hot nodes.
        pin_hot(&url, &index);
    }
    wait_on(&url, &index, "almanac-test-hot");
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        &jobs_toml(&url, &harness_env("ALMANAC_TEST_S3_URL"), &bucket, "p", &pattern, ""),
    );
    let dry = workspace.almanac(&["run", "logs", "--now", NOW, "--dry-run", "--output", "json"], &[]);
    dry.expect_code(0);
    let plan: Value = serde_json::from_str(&dry.stdout()).unwrap();
    assert_eq!(plan["warm_method"], expect_method, "{plan}");
    workspace.almanac(&["run", "logs", "--now", NOW], &[]).expect_code(0);
    wait_on(&url, &index, "almanac-test-warm");
    let row = plan_row(&workspace, &index);
    assert_eq!(row["placement"], "warm", "{row}");
    assert_eq!(row["tier_now"], "warm", "{row}");
    assert_eq!(os.all_docs(&index), docs, "{service}: documents intact after the move");

    // Asked to go where no node is: the shard stays, and the plan says so with the reason.
    let stuck = format!("{tag}-w-2026.11.16");
    os.create(&stuck, &log_docs(10, "stuck"));
    if expect_method == "attribute" {
        pin_hot(&url, &stuck);
    }
    wait_on(&url, &stuck, "almanac-test-hot");
    workspace.write(
        "jobs.toml",
        &jobs_toml(
            &url,
            &harness_env("ALMANAC_TEST_S3_URL"),
            &bucket,
            "p",
            &pattern,
            "warm_method = \"attribute\"\nforce_merge = false\n",
        )
        .replace("warm_value = \"warm\"", "warm_value = \"nowhere\""),
    );
    workspace.almanac(&["run", "logs", "--now", NOW], &[]).expect_code(0);
    let row = plan_row(&workspace, &stuck);
    assert_eq!(row["placement"], "stuck", "{row}");
    assert_eq!(row["action"], serde_json::json!({"skip": "stuck"}), "{row}");
    let run = workspace.almanac(&["run", "logs", "--now", NOW], &[]);
    run.expect_code(1);
    let all = format!("{}{}", run.stdout(), run.stderr());
    assert!(all.contains(&stuck) && all.contains("not moving"), "{}", run.describe());
    assert!(os.exists(&stuck));
}

#[test]
fn elasticsearch_data_tiers_move_the_shard_to_the_warm_node() {
    warm_case("elasticsearch-tiers", "ALMANAC_TEST_ELASTICSEARCH_TIERS_URL", "tier");
}

#[test]
fn opensearch_box_type_moves_the_shard_to_the_warm_node() {
    warm_case("opensearch-tiers", "ALMANAC_TEST_OPENSEARCH_TIERS_URL", "attribute");
}

/// Health of `index` from the cluster state (`_cluster/health`, answered by the master alone).
fn health(url: &str, index: &str) -> String {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    client
        .get(format!("{url}/_cluster/health/{index}"))
        .send()
        .and_then(|r| r.json::<Value>())
        .map(|v| v["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

fn wait_health(url: &str, index: &str, want: &[&str], limit: Duration) {
    let start = Instant::now();
    while !want.contains(&health(url, index).as_str()) {
        assert!(start.elapsed() < limit, "{index} not {want:?}: {}", health(url, index));
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_red_index_is_skipped_and_its_documents_survive() {
    let cluster = PrivateServer::start("opensearch-tiers", &[]);
    let url = cluster.get("ALMANAC_TEST_OPENSEARCH_TIERS_URL").to_string();
    let os = Os::new(&url);
    let tag = unique("");
    let bucket = format!("{tag}-b");
    let s3 = S3::shared(&bucket);
    let pattern = format!("{tag}-r-%Y.%m.%d");
    let index = format!("{tag}-r-2026.09.01");
    let docs = log_docs(300, "red");
    os.create(&index, &docs);
    let response = reqwest::blocking::Client::new()
        .put(format!("{url}/{index}/_settings"))
        .json(&serde_json::json!({"index.routing.allocation.require.box_type": "warm"}))
        .send()
        .unwrap();
    assert!(response.status().is_success());
    wait_on(&url, &index, "almanac-test-warm");
    // The warm node stops answering (SIGSTOP): once the cluster drops it, the primary is
    // unassigned and the index is red.
    let pids = std::fs::read_to_string(cluster.state.path().join("opensearch-tiers.pid")).unwrap();
    let warm_pid: i32 = pids.lines().nth(1).unwrap().trim().parse().unwrap();
    // SAFETY: signalling the warm node this test started.
    unsafe { libc::kill(warm_pid, libc::SIGSTOP) };
    let resume = scopeguard(warm_pid);
    wait_health(&url, &index, &["red"], Duration::from_secs(120));
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        &jobs_toml(&url, &harness_env("ALMANAC_TEST_S3_URL"), &bucket, "p", &pattern, ""),
    );
    let row = plan_row(&workspace, &index);
    assert_eq!(row["health"], "red", "{row}");
    assert_eq!(row["action"], serde_json::json!({"skip": "unhealthy"}), "{row}");
    let run = workspace.almanac(&["run", "logs", "--now", NOW, "--allow-clock-skew"], &[]);
    run.expect_code(1);
    assert!(
        format!("{}{}", run.stdout(), run.stderr()).contains("health red"),
        "{}",
        run.describe()
    );
    assert!(s3.list("p/").is_empty(), "nothing archived: {:?}", s3.list("p/"));
    // The node comes back: the index is green again with every document.
    drop(resume);
    wait_health(&url, &index, &["green", "yellow"], Duration::from_secs(120));
    assert_eq!(os.all_docs(&index), docs, "every document survived");
}

/// Sends SIGCONT to `pid` when dropped (also when the test fails).
fn scopeguard(pid: i32) -> impl Drop {
    struct Resume(i32);
    impl Drop for Resume {
        fn drop(&mut self) {
            // SAFETY: resuming the node this test stopped.
            unsafe { libc::kill(self.0, libc::SIGCONT) };
        }
    }
    Resume(pid)
}
