//! log-retention with many indices in one run (issue #16): write blocks by group and deletes
//! by batch, on the real search nodes (behind a recording proxy) and the real S3 server.
//!
//! Engine matrix: every test runs once per engine of `ALMANAC_TEST_SEARCH_ENGINES` (default
//! OpenSearch 2.19, Elasticsearch 8.15 and 7.17: the multi-index requests are what differs).
//! Each run archives 12 small indices with `index_concurrency = 4`: every index must end up
//! archived, verified in S3 and deleted, or, when it changed after its archive, kept alone.

mod log_retention_common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log_retention_common::{
    Engine, Os, S3, call, docs_diff, engines, jobs_toml, log_docs, part_lines, run_matrix, unique,
};
use serde_json::{Value, json};
use support::proxy::{Hook, Proxy};
use support::{Workspace, harness_env};

const NOW: &str = "2026-11-25T06:00:00Z";
const RUN: &[&str] = &["run", "logs", "--now", NOW, "--allow-clock-skew"];

/// The index names of a multi-index path (`/a,b,c/_settings?...` → a, b, c).
fn names_in(path: &str) -> Vec<String> {
    let first = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    first.split(',').filter(|n| !n.is_empty()).map(str::to_string).collect()
}

/// DELETE requests of indices (not of scroll contexts), as lists of names.
fn index_deletes(proxy: &Proxy) -> Vec<Vec<String>> {
    proxy
        .requests("DELETE")
        .iter()
        .filter(|p| !p.starts_with("/_search"))
        .map(|p| names_in(p))
        .collect()
}

/// 12 indices of the run (dates 2026.09.01..12), each with its own number of documents.
fn load(os: &Os, tag: &str) -> Vec<(String, BTreeMap<String, Value>)> {
    (1..=12)
        .map(|day| {
            let index = format!("{tag}-m-2026.09.{day:02}");
            let docs = log_docs(20 + day, &format!("many{day}"));
            os.create(&index, &docs);
            (index, docs)
        })
        .collect()
}

fn workspace(proxy: &Proxy, bucket: &str, tag: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        &jobs_toml(
            &proxy.url,
            &harness_env("ALMANAC_TEST_S3_URL"),
            bucket,
            "p",
            &format!("{tag}-m-%Y.%m.%d"),
            "index_concurrency = 4\nmax_indices_per_run = 50\n",
        ),
    );
    workspace
}

/// Every line of every part of `index`'s archive, checked against the manifest and `docs`.
fn check_archive(s3: &S3, engine: Engine, index: &str, docs: &BTreeMap<String, Value>) {
    let manifest: Value = serde_json::from_slice(
        &s3.get(&format!("p/{index}/manifest.json"))
            .unwrap_or_else(|| panic!("{engine}: no manifest of {index}")),
    )
    .unwrap();
    assert_eq!(
        manifest["doc_count"].as_u64(),
        Some(docs.len() as u64),
        "{engine}: {index}"
    );
    let mut archived = BTreeMap::new();
    for part in manifest["parts"].as_array().unwrap() {
        let key = format!("p/{index}/{}", part["name"].as_str().unwrap());
        let lines = part_lines(&s3.get(&key).unwrap_or_else(|| panic!("{engine}: no part {key}")));
        assert_eq!(
            lines.len() as u64,
            part["docs"].as_u64().unwrap(),
            "{engine}: lines of {key}"
        );
        for line in lines {
            archived.insert(line["_id"].as_str().unwrap().to_string(), line["_source"].clone());
        }
    }
    assert!(
        archived == *docs,
        "{engine}: archive of {index}: {}",
        docs_diff(&archived, docs)
    );
}

#[test]
fn many_indices_are_blocked_by_group_and_deleted_by_batch() {
    run_matrix(
        "many_indices_are_blocked_by_group_and_deleted_by_batch",
        &engines(),
        many_case,
    );
}

fn many_case(engine: Engine) {
    let os = Os::for_engine(engine);
    let tag = unique(engine.short());
    let bucket = format!("{tag}-b");
    let s3 = S3::shared(&bucket);
    let indices = load(&os, &tag);
    // The first index DELETE is held back 3 s: indices verified meanwhile must wait for the
    // next one, together.
    let held = Arc::new(Mutex::new(false));
    let hook: Hook = Arc::new(move |method, path| {
        if method == "DELETE" && !path.starts_with("/_search") && !std::mem::replace(&mut *held.lock().unwrap(), true) {
            std::thread::sleep(Duration::from_secs(3));
        }
    });
    let proxy = Proxy::start(&os.url, hook, None);
    let run = workspace(&proxy, &bucket, &tag).almanac(RUN, &[]);
    run.expect_code(0);
    for (index, docs) in &indices {
        assert!(!os.exists(index), "{engine}: {index} deleted\n{}", run.describe());
        check_archive(&s3, engine, index, docs);
        // The time range, read for the whole group by one search, is this index's own.
        let manifest: Value = serde_json::from_slice(&s3.get(&format!("p/{index}/manifest.json")).unwrap()).unwrap();
        let range = &manifest["time_range"];
        assert_eq!(
            range["min"],
            json!("2026-01-01T00:00:00.000Z"),
            "{engine}: {index}: {range}"
        );
        let last = format!("2026-01-01T00:00:{:02}.000Z", docs.len() - 1);
        assert_eq!(range["max"], json!(last), "{engine}: {index}: {range}");
    }
    let all: BTreeSet<String> = indices.iter().map(|(i, _)| i.clone()).collect();
    // One write block for the whole group (12 short names fit one list).
    let blocks: Vec<Vec<String>> = proxy
        .requests("PUT")
        .iter()
        .filter(|p| p.contains("/_settings"))
        .map(|p| names_in(p))
        .collect();
    assert_eq!(blocks.len(), 1, "{engine}: one settings update: {blocks:?}");
    assert_eq!(blocks[0].iter().cloned().collect::<BTreeSet<_>>(), all, "{engine}");
    // Deletes: each index named exactly once, explicitly, in fewer requests than indices.
    let deletes = index_deletes(&proxy);
    let named: Vec<&String> = deletes.iter().flatten().collect();
    assert_eq!(named.len(), all.len(), "{engine}: each index deleted once: {deletes:?}");
    assert_eq!(named.into_iter().cloned().collect::<BTreeSet<_>>(), all, "{engine}");
    assert!(deletes.len() < all.len(), "{engine}: deletes coalesced: {deletes:?}");
    assert!(deletes.iter().any(|d| d.len() >= 2), "{engine}: {deletes:?}");
    let text = run.stderr();
    assert!(
        text.contains("index group write-blocked"),
        "{engine}: {}",
        run.describe()
    );
    assert!(
        text.contains("indices re-checked and deleted"),
        "{engine}: {}",
        run.describe()
    );
    eprintln!(
        "{engine}: deletes by request: {:?}",
        deletes.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

#[test]
fn an_index_changed_after_its_archive_is_kept_and_the_others_are_deleted() {
    run_matrix(
        "an_index_changed_after_its_archive_is_kept_and_the_others_are_deleted",
        &engines(),
        changed_case,
    );
}

/// How a target index is changed right before its re-check.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Change {
    /// Block lifted, one document added, block set again: only `_count` differs.
    DocumentAdded,
    /// Block lifted, nothing else.
    Unblocked,
    /// Deleted and created again with the same documents: only the UUID differs.
    Replaced,
}

fn changed_case(engine: Engine) {
    let os = Os::for_engine(engine);
    let tag = unique(engine.short());
    let bucket = format!("{tag}-b");
    let s3 = Arc::new(S3::shared(&bucket));
    let indices = load(&os, &tag);
    let targets: BTreeMap<String, Change> = [
        (2, Change::DocumentAdded),
        (6, Change::Unblocked),
        (9, Change::Replaced),
    ]
    .into_iter()
    .map(|(at, change)| (indices[at].0.clone(), change))
    .collect();
    let docs_of: BTreeMap<String, BTreeMap<String, Value>> = indices.iter().cloned().collect();
    // A target is changed when almanac first reads its settings after its manifest exists:
    // that is the re-read right before the delete, after the archive was verified.
    let changed: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let hook: Hook = {
        let (s3, targets, changed, url) = (s3.clone(), targets.clone(), changed.clone(), os.url.clone());
        let docs_of = docs_of.clone();
        Arc::new(move |method, path| {
            if method != "GET" || !path.contains("/_settings") {
                return;
            }
            let mut changed = changed.lock().unwrap();
            for index in names_in(path) {
                let Some(change) = targets.get(&index) else { continue };
                if changed.contains(&index) || s3.get(&format!("p/{index}/manifest.json")).is_none() {
                    continue;
                }
                change_index(&url, &index, *change, &docs_of[&index]);
                changed.insert(index);
            }
        })
    };
    let proxy = Proxy::start(&os.url, hook, None);
    let run = workspace(&proxy, &bucket, &tag).almanac(RUN, &[]);
    run.expect_code(1);
    let text = format!("{}{}", run.stdout(), run.stderr());
    assert_eq!(
        changed.lock().unwrap().len(),
        targets.len(),
        "{engine}: every target changed after its archive\n{}",
        run.describe()
    );
    for (index, docs) in &indices {
        check_archive(&s3, engine, index, docs);
        let Some(change) = targets.get(index) else {
            assert!(!os.exists(index), "{engine}: {index} deleted\n{}", run.describe());
            continue;
        };
        assert!(
            os.exists(index),
            "{engine}: {index} ({change:?}) kept\n{}",
            run.describe()
        );
        let expected = match change {
            Change::DocumentAdded => format!("{index}: {} documents now, {} archived", docs.len() + 1, docs.len()),
            Change::Unblocked => format!("{index}: the write block was removed during the run"),
            Change::Replaced => format!("{index}: the archive is of another index of that name"),
        };
        assert!(text.contains(&expected), "{engine}: {expected:?}\n{}", run.describe());
        assert_eq!(
            os.setting(index, "index.blocks.write"),
            None,
            "{engine}: {index}: the block this run set is lifted"
        );
        let extra = usize::from(*change == Change::DocumentAdded);
        assert_eq!(os.count(index), (docs.len() + extra) as u64, "{engine}: {index} intact");
    }
    for list in index_deletes(&proxy) {
        for index in &list {
            assert!(
                !targets.contains_key(index),
                "{engine}: {index} was sent for delete: {list:?}"
            );
        }
    }
    assert!(
        !text.contains("delete the archive"),
        "never advises deleting an archive"
    );
}

fn change_index(url: &str, index: &str, change: Change, docs: &BTreeMap<String, Value>) {
    let settings = format!("{url}/{index}/_settings");
    match change {
        Change::DocumentAdded => {
            call(
                reqwest::Method::PUT,
                &settings,
                Some(json!({"index.blocks.write": null})),
            );
            call(
                reqwest::Method::PUT,
                &format!("{url}/{index}/_doc/late?refresh=true"),
                Some(json!({"@timestamp": "2026-09-01T23:59:59Z", "message": "written after the archive"})),
            );
            call(
                reqwest::Method::PUT,
                &settings,
                Some(json!({"index.blocks.write": true})),
            );
        }
        Change::Unblocked => {
            call(
                reqwest::Method::PUT,
                &settings,
                Some(json!({"index.blocks.write": null})),
            );
        }
        Change::Replaced => {
            call(reqwest::Method::DELETE, &format!("{url}/{index}"), None);
            Os::new(url).create(index, docs);
        }
    }
}
