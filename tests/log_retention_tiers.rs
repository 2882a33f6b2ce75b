//! log-retention end to end on the real OpenSearch node and the real S3 server: indices in
//! every tier relative to a fixed `--now`, the dry-run plan, a run, and restores.

mod log_retention_common;
mod support;

use log_retention_common::{Os, S3, jobs_toml, log_docs, part_lines, unique};
use serde_json::{Value, json};
use support::{Workspace, harness_env};

const NOW: &str = "2026-11-25T06:00:00Z";

#[test]
fn indices_move_through_every_tier_and_restore_identically() {
    let os = Os::shared();
    let tag = unique("");
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
        &jobs_toml(&os.url, &s3_url, &bucket, prefix, &pattern, "chunk_bytes = 5242880\n"),
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
    assert!(!os.exists(&expired), "archived in the 2018 run");
    assert!(s3.get(&format!("{prefix}/{expired}/manifest.json")).is_some());
    assert!(
        os.exists(&cold),
        "2018 run: the cold index of 2026 is in the future, untouched"
    );

    // Dry run: the plan, nothing changed.
    let dry = workspace.almanac(&["run", "logs", "--now", NOW, "--dry-run", "--output", "json"], &[]);
    dry.expect_code(0);
    let plan: Value = serde_json::from_str(&dry.stdout()).unwrap_or_else(|e| panic!("{e}\n{}", dry.describe()));
    let action = |index: &str| -> Value {
        plan["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["index"] == index)
            .unwrap_or_else(|| panic!("{index} not in plan: {plan}"))["action"]
            .clone()
    };
    assert_eq!(action(&hot), json!("none"));
    assert_eq!(action(&warm), json!("warm"));
    assert_eq!(action(&cold), json!({"archive": {"then_transition": false}}));
    assert_eq!(action(&zero), json!({"archive": {"then_transition": false}}));
    assert_eq!(action(&closed), json!({"skip": "closed"}));
    assert_eq!(action(&old), json!({"archive": {"then_transition": true}}));
    assert_eq!(action(&expired), json!("expire"));
    let skipped: Vec<String> = serde_json::from_value(plan["skipped"].clone()).unwrap();
    for index in &odd {
        assert!(skipped.contains(index), "{index} skipped: {skipped:?}");
    }
    let text = workspace.almanac(&["run", "logs", "--now", NOW, "--dry-run"], &[]);
    text.expect_code(0);
    assert!(text.stdout().contains("TIER NOW → TARGET"), "{}", text.describe());
    assert!(text.stdout().contains("hot → cold"), "{}", text.describe());
    assert!(
        os.exists(&cold) && os.setting(&warm, "index.blocks.write").is_none(),
        "dry run changed nothing"
    );

    // The run.
    let run = workspace.almanac(
        &["run", "logs", "--now", NOW, "--output", "json", "--allow-clock-skew"],
        &[],
    );
    run.expect_code(0);
    let report: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(report["counts"]["indices_archived"], json!(3), "{}", run.describe());
    assert_eq!(report["counts"]["archives_expired"], json!(1), "{}", run.describe());

    // Hot untouched, warm settings applied.
    assert_eq!(os.count(&hot), 20);
    assert_eq!(os.setting(&hot, "index.blocks.write"), None);
    assert_eq!(
        os.setting(&warm, "index.routing.allocation.require.box_type")
            .as_deref(),
        Some("warm")
    );
    assert_eq!(os.setting(&warm, "index.blocks.write").as_deref(), Some("true"));
    assert_eq!(os.count(&warm), 300);
    // Odd names and the closed index left alone.
    for index in odd.iter().chain([&closed]) {
        assert!(os.exists(index), "{index} kept");
    }

    // Cold: gone from the cluster, in S3 with a valid manifest whose parts hold every document.
    for (index, docs) in [(&cold, &cold_docs), (&old, &old_docs)] {
        assert!(!os.exists(index), "{index} deleted after archiving");
        let manifest: Value =
            serde_json::from_slice(&s3.get(&format!("{prefix}/{index}/manifest.json")).expect("manifest")).unwrap();
        assert_eq!(manifest["doc_count"], json!(docs.len()));
        assert_eq!(manifest["index"], json!(index));
        assert!(
            manifest["mappings"]["properties"]["@timestamp"].is_object(),
            "{manifest}"
        );
        let mut seen = 0;
        for part in manifest["parts"].as_array().unwrap() {
            let key = format!("{prefix}/{index}/{}", part["name"].as_str().unwrap());
            let listed = s3.list(&key);
            assert_eq!(listed.len(), 1, "{key}");
            assert_eq!(listed[0].1, part["size"].as_u64().unwrap());
            if index == &cold {
                let lines = part_lines(&s3.get(&key).unwrap());
                assert_eq!(lines.len() as u64, part["docs"].as_u64().unwrap());
                for line in lines {
                    assert_eq!(&line["_source"], &docs[line["_id"].as_str().unwrap()]);
                    seen += 1;
                }
            } else {
                assert_eq!(listed[0].2, "GLACIER", "archive tier part {key} in Glacier");
            }
        }
        if index == &cold {
            assert_eq!(seen, docs.len());
        }
    }
    let zero_manifest: Value =
        serde_json::from_slice(&s3.get(&format!("{prefix}/{zero}/manifest.json")).unwrap()).unwrap();
    assert_eq!(zero_manifest["doc_count"], json!(0));
    assert!(!os.exists(&zero));
    // Expired: manifest and parts gone.
    assert!(s3.list(&format!("{prefix}/{expired}/")).is_empty());
    assert_eq!(s3.uploads(prefix), 0, "no dangling multipart upload");
    assert!(
        s3.list(&format!("{prefix}/.almanac-lock.json")).is_empty(),
        "lock released"
    );

    // A second run has nothing left to do.
    let again = workspace.almanac(
        &["run", "logs", "--now", NOW, "--output", "json", "--allow-clock-skew"],
        &[],
    );
    again.expect_code(0);
    assert!(again.stdout().contains("nothing to do"), "{}", again.describe());

    // Restore: every _id with an identical _source; from Glacier too (the server restores at once).
    workspace.almanac(&["restore", &cold], &[]).expect_code(0);
    assert_eq!(os.all_docs(&cold), cold_docs);
    let back = format!("{old}-back");
    let restored = workspace.almanac(&["restore", &old, "--as", &back], &[]);
    restored.expect_code(0);
    assert_eq!(os.all_docs(&back), old_docs);
    workspace.almanac(&["restore", &zero], &[]).expect_code(0);
    assert_eq!(os.count(&zero), 0);
    // Restoring over an existing index is refused; an unknown archive is a usage error.
    workspace.almanac(&["restore", &cold], &[]).expect_code(2);
    workspace.almanac(&["restore", &name("2001.01.01")], &[]).expect_code(2);
}

#[test]
fn lifecycle_transition_is_checked_not_done() {
    let os = Os::shared();
    let tag = unique("");
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
    assert!(run.stdout().contains("no enabled lifecycle rule"), "{}", run.describe());
    let parts = s3.list(&format!("p/{index}/part-"));
    assert!(!parts.is_empty());
    assert!(parts.iter().all(|(_, _, class)| class == "STANDARD"), "{parts:?}");
}
