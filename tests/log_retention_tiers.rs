//! log-retention end to end on the real search nodes and the real S3 server: indices in
//! every tier relative to a fixed `--now`, the dry-run plan, a run, and restores.
//!
//! Engine matrix: every test runs once per engine of `ALMANAC_TEST_SEARCH_ENGINES` (comma list
//! of `opensearch,elasticsearch,elasticsearch7`, default all three; see
//! `log_retention_common::engines`), with index and bucket names unique per engine; a failure
//! names the engine(s). Both tests of this file are the smoke subset that also runs on
//! Elasticsearch 7.17 (they take seconds); tests/log_retention_faults.rs runs on OpenSearch and
//! Elasticsearch 8 only (`ALMANAC_TEST_ES7_FULL=1` adds 7.17), to keep `./scripts/test` short on
//! 2 cores. `archive_on_elasticsearch8_restores_into_other_engines` archives on
//! Elasticsearch 8 and restores into each other selected engine.

mod log_retention_common;
mod support;

use log_retention_common::{Engine, Os, S3, docs_diff, engines, jobs_toml, log_docs, part_lines, run_matrix, unique};
use serde_json::{Value, json};
use support::{Workspace, harness_env};

const NOW: &str = "2026-11-25T06:00:00Z";

#[test]
fn indices_move_through_every_tier_and_restore_identically() {
    run_matrix(
        "indices_move_through_every_tier_and_restore_identically",
        &engines(),
        every_tier_case,
    );
}

fn every_tier_case(engine: Engine) {
    let os = Os::for_engine(engine);
    let tag = unique(engine.short());
    let bucket = format!("{tag}-bucket");
    let s3 = S3::shared(&bucket);
    let prefix = "archives/logs";
    let base = format!("{tag}-logs-");
    let pattern = format!("{base}%Y.%m.%d");
    let name = |date: &str| format!("{base}{date}");

    let hot = name("2026.11.23");
    let warm = name("2026.11.10");
    let cold = name("2026.09.01");
    let zero = name("2026.08.15");
    let closed = name("2026.08.01");
    let old = name("2025.06.01");
    let expired = name("2018.01.01");
    let odd = [name("2026.02.30"), format!("{cold}-restored"), name("2026.9.1")];

    let mut cold_docs = log_docs(1500, "cold");
    // A huge document (6 MiB of text) crosses the multipart chunk size by itself.
    cold_docs.insert(
        "huge".into(),
        json!({"@timestamp": "2026-09-01T12:00:00Z", "level": "INFO", "message": "x".repeat(6 << 20)}),
    );
    let old_docs = log_docs(700, "old");
    let expired_docs = log_docs(50, "expired");
    for (index, docs) in [
        (&hot, log_docs(20, "hot")),
        (&warm, log_docs(300, "warm")),
        (&cold, cold_docs.clone()),
        (&zero, Default::default()),
        (&closed, log_docs(10, "closed")),
        (&old, old_docs.clone()),
        (&expired, expired_docs),
    ] {
        os.create(index, &docs);
    }
    for index in &odd {
        os.create(index, &log_docs(5, "odd"));
    }
    os.close(&closed);

    let workspace = Workspace::new();
    let s3_url = harness_env("ALMANAC_TEST_S3_URL");
    workspace.write(
        "jobs.toml",
        // Three indices at once: the tiers and every check hold under concurrency.
        &jobs_toml(
            &os.url,
            &s3_url,
            &bucket,
            prefix,
            &pattern,
            "chunk_bytes = 5242880\nindex_concurrency = 3\n",
        ),
    );

    // The expired index is archived first by a run "in 2018", so that it exists only in S3 later.
    workspace
        .almanac(
            &[
                "run",
                "logs",
                "--now",
                "2018-03-01T06:00:00Z",
                "--force",
                "--allow-clock-skew",
            ],
            &[],
        )
        .expect_code(0);
    assert!(!os.exists(&expired), "{engine}: archived in the 2018 run");
    assert!(
        s3.get(&format!("{prefix}/{expired}/manifest.json")).is_some(),
        "{engine}: manifest of {expired}"
    );
    assert!(
        os.exists(&cold),
        "{engine}: 2018 run: the cold index of 2026 is in the future, untouched"
    );

    // Dry run: the plan, nothing changed.
    let dry = workspace.almanac(&["run", "logs", "--now", NOW, "--dry-run", "--output", "json"], &[]);
    dry.expect_code(0);
    let plan: Value =
        serde_json::from_str(&dry.stdout()).unwrap_or_else(|e| panic!("{engine}: {e}\n{}", dry.describe()));
    let action = |index: &str| -> Value {
        plan["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["index"] == index)
            .unwrap_or_else(|| panic!("{engine}: {index} not in plan: {plan}"))["action"]
            .clone()
    };
    assert_eq!(plan["index_concurrency"], json!(3), "{engine}");
    assert_eq!(action(&hot), json!("none"), "{engine}: plan of {hot}");
    assert_eq!(action(&warm), json!("warm"), "{engine}: plan of {warm}");
    assert_eq!(
        action(&cold),
        json!({"archive": {"then_transition": false}}),
        "{engine}: plan of {cold}"
    );
    assert_eq!(
        action(&zero),
        json!({"archive": {"then_transition": false}}),
        "{engine}: plan of {zero}"
    );
    assert_eq!(action(&closed), json!({"skip": "closed"}), "{engine}: plan of {closed}");
    assert_eq!(
        action(&old),
        json!({"archive": {"then_transition": true}}),
        "{engine}: plan of {old}"
    );
    assert_eq!(action(&expired), json!("expire"), "{engine}: plan of {expired}");
    let skipped: Vec<String> = serde_json::from_value(plan["skipped"].clone()).unwrap();
    for index in &odd {
        assert!(skipped.contains(index), "{engine}: {index} skipped: {skipped:?}");
    }
    let text = workspace.almanac(&["run", "logs", "--now", NOW, "--dry-run"], &[]);
    text.expect_code(0);
    assert!(
        text.stdout().contains("TIER NOW → TARGET"),
        "{engine}: {}",
        text.describe()
    );
    assert!(text.stdout().contains("hot → cold"), "{engine}: {}", text.describe());
    assert!(
        os.exists(&cold) && os.setting(&warm, "index.blocks.write").is_none(),
        "{engine}: dry run changed nothing"
    );

    // The run.
    let run = workspace.almanac(
        &["run", "logs", "--now", NOW, "--output", "json", "--allow-clock-skew"],
        &[],
    );
    run.expect_code(0);
    let report: Value =
        serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{engine}: {e}\n{}", run.describe()));
    assert_eq!(
        report["counts"]["indices_archived"],
        json!(3),
        "{engine}: {}",
        run.describe()
    );
    assert_eq!(
        report["counts"]["archives_expired"],
        json!(1),
        "{engine}: {}",
        run.describe()
    );

    // Hot untouched, warm settings applied.
    assert_eq!(os.count(&hot), 20, "{engine}: hot untouched");
    assert_eq!(os.setting(&hot, "index.blocks.write"), None, "{engine}: hot writable");
    // warm_method = "auto": data tiers where nodes have the data_warm role (Elasticsearch),
    // the box_type attribute elsewhere (OpenSearch).
    let (key, value) = match engine {
        Engine::OpenSearch => ("index.routing.allocation.require.box_type", "warm"),
        _ => (
            "index.routing.allocation.include._tier_preference",
            "data_warm,data_hot",
        ),
    };
    assert_eq!(
        os.setting(&warm, key).as_deref(),
        Some(value),
        "{engine}: warm allocation"
    );
    assert_eq!(
        os.setting(&warm, "index.blocks.write").as_deref(),
        Some("true"),
        "{engine}: warm write block"
    );
    assert_eq!(os.count(&warm), 300, "{engine}: warm docs");
    // Odd names and the closed index left alone.
    for index in odd.iter().chain([&closed]) {
        assert!(os.exists(index), "{engine}: {index} kept");
    }

    // Cold: gone from the cluster, in S3 with a valid manifest whose parts hold every document.
    for (index, docs) in [(&cold, &cold_docs), (&old, &old_docs)] {
        assert!(!os.exists(index), "{engine}: {index} deleted after archiving");
        let manifest: Value =
            serde_json::from_slice(&s3.get(&format!("{prefix}/{index}/manifest.json")).expect("manifest"))
                .unwrap_or_else(|e| panic!("{engine}: manifest of {index}: {e}"));
        assert_eq!(
            manifest["doc_count"],
            json!(docs.len()),
            "{engine}: doc_count of {index}"
        );
        assert_eq!(manifest["index"], json!(index), "{engine}: manifest index");
        assert!(
            manifest["mappings"]["properties"]["@timestamp"].is_object(),
            "{engine}: mappings in {manifest}"
        );
        let mut seen = 0;
        for part in manifest["parts"].as_array().unwrap() {
            let key = format!("{prefix}/{index}/{}", part["name"].as_str().unwrap());
            let listed = s3.list(&key);
            assert_eq!(listed.len(), 1, "{engine}: {key}");
            assert_eq!(listed[0].1, part["size"].as_u64().unwrap(), "{engine}: size of {key}");
            if index == &cold {
                let lines = part_lines(&s3.get(&key).unwrap());
                assert_eq!(
                    lines.len() as u64,
                    part["docs"].as_u64().unwrap(),
                    "{engine}: docs of {key}"
                );
                for line in lines {
                    assert_eq!(
                        &line["_source"],
                        &docs[line["_id"].as_str().unwrap()],
                        "{engine}: _source of {} in {key}",
                        line["_id"]
                    );
                    seen += 1;
                }
            } else {
                assert_eq!(listed[0].2, "GLACIER", "{engine}: archive tier part {key} in Glacier");
            }
        }
        if index == &cold {
            assert_eq!(seen, docs.len(), "{engine}: every document of {index} in its parts");
        }
    }
    let zero_manifest: Value =
        serde_json::from_slice(&s3.get(&format!("{prefix}/{zero}/manifest.json")).expect("manifest")).unwrap();
    assert_eq!(zero_manifest["doc_count"], json!(0), "{engine}: empty index archived");
    assert!(!os.exists(&zero), "{engine}: {zero} deleted after archiving");
    // Expired: manifest and parts gone.
    assert!(
        s3.list(&format!("{prefix}/{expired}/")).is_empty(),
        "{engine}: expired archive deleted"
    );
    assert_eq!(s3.uploads(prefix), 0, "{engine}: no dangling multipart upload");
    assert!(
        s3.list(&format!("{prefix}/.almanac-lock.json")).is_empty(),
        "{engine}: lock released"
    );

    // A second run has nothing left to do.
    let again = workspace.almanac(
        &["run", "logs", "--now", NOW, "--output", "json", "--allow-clock-skew"],
        &[],
    );
    again.expect_code(0);
    assert!(
        again.stdout().contains("nothing to do"),
        "{engine}: {}",
        again.describe()
    );

    // Restore: every _id with an identical _source; from Glacier too (the server restores at once).
    workspace.almanac(&["restore", &cold], &[]).expect_code(0);
    let docs = os.all_docs(&cold);
    assert!(
        docs == cold_docs,
        "{engine}: {cold} restored identically: {}",
        docs_diff(&docs, &cold_docs)
    );
    let back = format!("{old}-back");
    let restored = workspace.almanac(&["restore", &old, "--as", &back], &[]);
    restored.expect_code(0);
    let docs = os.all_docs(&back);
    assert!(
        docs == old_docs,
        "{engine}: {old} restored identically as {back}: {}",
        docs_diff(&docs, &old_docs)
    );
    workspace.almanac(&["restore", &zero], &[]).expect_code(0);
    assert_eq!(os.count(&zero), 0, "{engine}: {zero} restored empty");
    // Restoring over an existing index is refused; an unknown archive is a usage error.
    workspace.almanac(&["restore", &cold], &[]).expect_code(2);
    workspace.almanac(&["restore", &name("2001.01.01")], &[]).expect_code(2);
}

#[test]
fn lifecycle_transition_is_checked_not_done() {
    run_matrix("lifecycle_transition_is_checked_not_done", &engines(), lifecycle_case);
}

fn lifecycle_case(engine: Engine) {
    let os = Os::for_engine(engine);
    let tag = unique(engine.short());
    let bucket = format!("{tag}-lc");
    let s3 = S3::shared(&bucket);
    let pattern = format!("{tag}-lc-%Y.%m.%d");
    let index = format!("{tag}-lc-2025.01.10");
    os.create(&index, &log_docs(30, "lc"));
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        &jobs_toml(
            &os.url,
            &harness_env("ALMANAC_TEST_S3_URL"),
            &bucket,
            "p",
            &pattern,
            "transition = \"lifecycle\"\n",
        ),
    );
    let run = workspace.almanac(
        &["run", "logs", "--now", NOW, "--output", "json", "--allow-clock-skew"],
        &[],
    );
    run.expect_code(0);
    assert!(
        run.stdout().contains("no enabled lifecycle rule"),
        "{engine}: {}",
        run.describe()
    );
    let parts = s3.list(&format!("p/{index}/part-"));
    assert!(!parts.is_empty(), "{engine}: {index} archived");
    assert!(
        parts.iter().all(|(_, _, class)| class == "STANDARD"),
        "{engine}: {parts:?}"
    );
}

/// Archives an index on Elasticsearch 8 and restores it with `almanac restore` into each other
/// selected engine (a jobs.toml whose [search] is that engine, same bucket and prefix): the
/// archive format does not depend on the engine that wrote it.
#[test]
fn archive_on_elasticsearch8_restores_into_other_engines() {
    let selected = engines();
    if !selected.contains(&Engine::Elasticsearch8) {
        eprintln!("[matrix] cross-engine restore: Elasticsearch 8 not selected, nothing to do");
        return;
    }
    let source = Os::for_engine(Engine::Elasticsearch8);
    let tag = unique("x");
    let bucket = format!("{tag}-bucket");
    let s3 = S3::shared(&bucket);
    let s3_url = harness_env("ALMANAC_TEST_S3_URL");
    let pattern = format!("{tag}-x-%Y.%m.%d");
    let index = format!("{tag}-x-2026.09.01");
    let docs = log_docs(500, "cross");
    source.create(&index, &docs);
    let archiver = Workspace::new();
    archiver.write(
        "jobs.toml",
        &jobs_toml(&source.url, &s3_url, &bucket, "p", &pattern, ""),
    );
    archiver
        .almanac(&["run", "logs", "--now", NOW, "--allow-clock-skew"], &[])
        .expect_code(0);
    assert!(
        !source.exists(&index),
        "{}: {index} archived and deleted",
        Engine::Elasticsearch8
    );
    assert!(
        s3.get(&format!("p/{index}/manifest.json")).is_some(),
        "manifest of {index}"
    );

    let targets: Vec<Engine> = selected.into_iter().filter(|&e| e != Engine::Elasticsearch8).collect();
    run_matrix(
        "archive_on_elasticsearch8_restores_into_other_engines",
        &targets,
        |engine| {
            let target = Os::for_engine(engine);
            let restorer = Workspace::new();
            restorer.write(
                "jobs.toml",
                &jobs_toml(&target.url, &s3_url, &bucket, "p", &pattern, ""),
            );
            // Unique per target: the target nodes are shared by every test.
            let restored = format!("{index}-{}", engine.short());
            restorer
                .almanac(&["restore", &index, "--as", &restored], &[])
                .expect_code(0);
            let got = target.all_docs(&restored);
            assert!(
                got == docs,
                "{engine}: {index} archived on {} restored identically as {restored}: {}",
                Engine::Elasticsearch8,
                docs_diff(&got, &docs)
            );
        },
    );
}
