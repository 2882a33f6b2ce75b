//! log-retention loses nothing: each test builds a case that lost data (or could) before,
//! on the real OpenSearch node and the real S3 server, and checks afterwards that every
//! document is still in the cluster or in an archive that `almanac restore` brings back.

mod log_retention_common;
mod support;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log_retention_common::{Os, S3, jobs_toml, log_docs, unique};
use serde_json::{Value, json};
use support::proxy::Proxy;
use support::{PrivateServer, Workspace, harness_env};

const NOW: &str = "2026-11-25T06:00:00Z";

/// Raw HTTP to the search node, for documents the `Os` helper cannot write as-is.
fn http(method: reqwest::Method, url: &str, body: Option<(&str, Vec<u8>)>) -> (u16, Value) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut request = client.request(method, url);
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn put_doc(os: &Os, index: &str, id: &str, routing: Option<&str>, raw: &str) {
    let routing = routing.map(|r| format!("&routing={r}")).unwrap_or_default();
    let (status, body) = http(
        reqwest::Method::PUT,
        &format!("{}/{index}/_doc/{id}?refresh=true{routing}", os.url),
        Some(("application/json", raw.as_bytes().to_vec())),
    );
    assert!(status < 300, "index {id}: {status} {body}");
}

/// Every document with its routing: `_id` → (`_routing`, `_source`).
fn docs_with_routing(os: &Os, index: &str) -> std::collections::BTreeMap<String, (Value, Value)> {
    http(reqwest::Method::POST, &format!("{}/{index}/_refresh", os.url), None);
    let (_, page) = http(
        reqwest::Method::POST,
        &format!("{}/{index}/_search", os.url),
        Some(("application/json", json!({"size": 100}).to_string().into_bytes())),
    );
    page["hits"]["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|h| {
            (
                h["_id"].as_str().unwrap().to_string(),
                (h["_routing"].clone(), h["_source"].clone()),
            )
        })
        .collect()
}

/// Writes one object to the test S3 server.
fn s3_put(bucket: &str, key: &str, body: Vec<u8>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(harness_env("ALMANAC_TEST_S3_URL"))
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    runtime
        .block_on(client.put_object().bucket(bucket).key(key).body(body.into()).send())
        .expect("put object");
}

fn setup(tag: &str) -> (Os, S3, Workspace, String, String) {
    setup_with(tag, "")
}

/// Rewrites the job with `extra` settings.
fn rewrite(workspace: &Workspace, s3: &S3, pattern: &str, extra: &str) {
    workspace.write(
        "jobs.toml",
        &jobs_toml(
            &Os::shared().url,
            &harness_env("ALMANAC_TEST_S3_URL"),
            &s3.bucket,
            "p",
            pattern,
            extra,
        ),
    );
}

fn setup_with(tag: &str, extra: &str) -> (Os, S3, Workspace, String, String) {
    let os = Os::shared();
    let bucket = format!("{tag}-b");
    let s3 = S3::shared(&bucket);
    let pattern = format!("{tag}-s-%Y.%m.%d");
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        &jobs_toml(
            &os.url,
            &harness_env("ALMANAC_TEST_S3_URL"),
            &bucket,
            "p",
            &pattern,
            extra,
        ),
    );
    let cold = format!("{tag}-s-2026.09.01");
    (os, s3, workspace, pattern, cold)
}

const RUN: &[&str] = &["run", "logs", "--now", NOW, "--allow-clock-skew"];

/// Tests that load the shared node hard (tens of thousands of documents, a private node) take
/// turns, so that one does not push another into the node's indexing-pressure limits.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn pretty_printed_and_routed_documents_restore_identically() {
    let tag = unique("");
    let (os, s3, workspace, _, index) = setup(&tag);
    let (status, body) = http(
        reqwest::Method::PUT,
        &format!("{}/{index}", os.url),
        Some((
            "application/json",
            json!({"settings": {"number_of_shards": 2, "number_of_replicas": 0}})
                .to_string()
                .into_bytes(),
        )),
    );
    assert!(status < 300, "{body}");
    put_doc(
        &os,
        &index,
        "pretty",
        None,
        "{\n  \"msg\": \"pretty\",\r\n\t\"n\": [1,\n 2]\n}",
    );
    put_doc(
        &os,
        &index,
        "escapes",
        None,
        "{\"msg\":\"line\\nbreak \\\"q\\\" \u{2028} \u{2029} tab\\t\"}",
    );
    put_doc(&os, &index, "routed", Some("tenant-7"), "{\n\"msg\": \"routed\"\n}");
    let before = docs_with_routing(&os, &index);
    assert_eq!(before.len(), 3);

    workspace.almanac(RUN, &[]).expect_code(0);
    assert!(!os.exists(&index), "archived and deleted");
    for (key, _, _) in s3.list(&format!("p/{index}/")) {
        if key.ends_with(".ndjson.gz") {
            let bytes = s3.get(&key).unwrap();
            let lines = log_retention_common::part_lines(&bytes);
            assert!(!lines.is_empty(), "every line of {key} parses as JSON");
        }
    }
    let restored = workspace.almanac(&["restore", &index], &[]);
    restored.expect_code(0);
    let after = docs_with_routing(&os, &index);
    assert_eq!(after, before, "same ids, routing and sources after restore");
    let (_, got) = http(
        reqwest::Method::GET,
        &format!("{}/{index}/_doc/routed?routing=tenant-7", os.url),
        None,
    );
    assert_eq!(
        got["found"],
        json!(true),
        "the routed document is found with its routing: {got}"
    );
}

#[test]
fn an_index_recreated_under_an_archived_name_is_never_deleted() {
    let tag = unique("");
    let (os, s3, workspace, _, index) = setup(&tag);
    let first = log_docs(40, "first");
    os.create(&index, &first);
    workspace.almanac(RUN, &[]).expect_code(0);
    assert!(!os.exists(&index));
    let manifest_key = format!("p/{index}/manifest.json");
    let manifest_before = s3.get(&manifest_key).unwrap();
    let manifest: Value = serde_json::from_slice(&manifest_before).unwrap();
    assert!(manifest["index_uuid"].is_string(), "{manifest}");
    assert_eq!(manifest["job"], json!("logs"));

    // A new index under the same name, same number of documents: only its UUID differs.
    let second = log_docs(40, "second");
    os.create(&index, &second);
    let run = workspace.almanac(RUN, &[]);
    run.expect_code(1);
    let all = format!("{}{}", run.stdout(), run.stderr());
    assert!(all.contains("another index of that name"), "{}", run.describe());
    assert!(!all.contains("delete the archive"), "never advises deleting an archive");
    assert!(os.exists(&index), "the new index is kept");
    assert_eq!(os.all_docs(&index), second, "the new index is intact");
    assert_eq!(
        s3.get(&manifest_key).unwrap(),
        manifest_before,
        "the archive is untouched"
    );
    // And the archive still restores the first index.
    workspace
        .almanac(&["restore", &index, "--as", &format!("{tag}-check")], &[])
        .expect_code(0);
    assert_eq!(os.all_docs(&format!("{tag}-check")), first);
}

#[test]
fn a_clock_ten_years_ahead_deletes_nothing() {
    let tag = unique("");
    // Archives live 100 years here: ten years on, the index is due for archiving and delete.
    let (os, s3, workspace, _, index) = setup_with(&tag, "expire_after = \"36500d\"\n");
    let docs = log_docs(30, "clock");
    os.create(&index, &docs);
    let ahead = (chrono::Utc::now() + chrono::Duration::days(3652)).to_rfc3339();
    let run = workspace.almanac(&["run", "logs", "--now", &ahead], &[]);
    run.expect_code(2);
    assert!(run.stderr().contains("--allow-clock-skew"), "{}", run.describe());
    let env_run = workspace.almanac(&["run", "logs"], &[("ALMANAC_NOW", ahead.as_str())]);
    env_run.expect_code(2);
    assert!(os.exists(&index), "index kept");
    assert_eq!(os.all_docs(&index), docs);
    assert!(s3.list("p/").is_empty(), "nothing written: {:?}", s3.list("p/"));
    // Looking is always allowed.
    workspace
        .almanac(&["run", "logs", "--now", &ahead, "--dry-run"], &[])
        .expect_code(0);
}

#[test]
fn two_jobs_on_one_prefix_and_an_empty_prefix_are_refused() {
    let workspace = Workspace::new();
    let base = jobs_toml(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "b",
        "shared",
        "a-%Y.%m.%d",
        "",
    );
    workspace.write(
        "jobs.toml",
        &format!(
            "{base}\n[jobs.other]\nkind = \"log-retention\"\nschedule = \"0 0 3 * * *\"\npattern = \"b-%Y.%m.%d\"\n"
        ),
    );
    let run = workspace.almanac(&["validate"], &[]);
    run.expect_code(2);
    assert!(run.stderr().contains("jobs.toml:"), "{}", run.describe());
    assert!(
        run.stderr().contains("both archive under s3://b/shared"),
        "{}",
        run.describe()
    );

    workspace.write(
        "jobs.toml",
        &format!(
            "{base}\n[jobs.other]\nkind = \"log-retention\"\nschedule = \"0 0 3 * * *\"\npattern = \"b-%Y.%m.%d\"\nprefix = \"other\"\n"
        ),
    );
    workspace.almanac(&["validate"], &[]).expect_code(0);

    workspace.write(
        "jobs.toml",
        &jobs_toml("http://127.0.0.1:1", "http://127.0.0.1:2", "b", "", "a-%Y.%m.%d", ""),
    );
    let run = workspace.almanac(&["validate"], &[]);
    run.expect_code(2);
    assert!(run.stderr().contains("non-empty archive prefix"), "{}", run.describe());
}

#[test]
fn only_this_jobs_archives_are_aged() {
    let tag = unique("");
    let (os, s3, workspace, _, _) = setup(&tag);
    // An old archive of this job, one of another job, and a folder outside the pattern.
    let ours = format!("{tag}-s-2018.01.01");
    let theirs = format!("{tag}-s-2018.01.02");
    os.create(&ours, &log_docs(5, "ours"));
    os.create(&theirs, &log_docs(5, "theirs"));
    workspace
        .almanac(
            &["run", "logs", "--now", "2018-03-01T06:00:00Z", "--allow-clock-skew"],
            &[],
        )
        .expect_code(0);
    let key = format!("p/{theirs}/manifest.json");
    let mut manifest: Value = serde_json::from_slice(&s3.get(&key).unwrap()).unwrap();
    manifest["job"] = json!("someone-else");
    s3_put(&s3.bucket, &key, serde_json::to_vec(&manifest).unwrap());
    s3_put(&s3.bucket, "p/notes/readme.txt", b"not an archive".to_vec());

    let run = workspace.almanac(
        &["run", "logs", "--now", NOW, "--output", "json", "--allow-clock-skew"],
        &[],
    );
    run.expect_code(0);
    assert!(s3.get(&format!("p/{ours}/manifest.json")).is_none(), "ours expired");
    assert!(s3.get(&key).is_some(), "the other job's archive is left alone");
    assert!(s3.get("p/notes/readme.txt").is_some(), "a foreign folder is left alone");
    let dry = workspace.almanac(&["run", "logs", "--now", NOW, "--dry-run"], &[]);
    assert!(
        dry.stdout().contains("archive of job someone-else"),
        "{}",
        dry.describe()
    );
    assert!(dry.stdout().contains("notes"), "{}", dry.describe());
}

#[test]
fn an_archive_younger_than_its_tiers_is_not_expired() {
    let tag = unique("");
    // First archived by a job whose archives live 100 years ...
    let (os, s3, workspace, pattern, _) = setup_with(&tag, "expire_after = \"36500d\"\n");
    // A name dated 2018 archived "now": by its name it is past expiry, by its archive not.
    let index = format!("{tag}-s-2018.01.01");
    os.create(&index, &log_docs(5, "young"));
    workspace.almanac(RUN, &[]).expect_code(0);
    assert!(!os.exists(&index));
    // ... then the job is set back to 7 years.
    rewrite(&workspace, &s3, &pattern, "");
    let run = workspace.almanac(RUN, &[]);
    run.expect_code(1);
    assert!(
        format!("{}{}", run.stdout(), run.stderr()).contains("archive younger than"),
        "{}",
        run.describe()
    );
    assert!(s3.get(&format!("p/{index}/manifest.json")).is_some(), "kept");
}

/// Waits for a child and returns its exit code, its peak RSS in KiB and its output. The peak
/// is the kernel's VmHWM of the child's own address space, read every few milliseconds until
/// it exits (wait4's ru_maxrss would count the test process too: a spawned child's maxrss
/// includes the parent's RSS at the moment of the spawn).
fn wait_with_rss(mut child: std::process::Child) -> (i32, u64, String) {
    use std::io::Read as _;
    let pid = child.id();
    let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let mut peak = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = format!("{}\n{}", out.join().unwrap(), err.join().unwrap());
    (status.code().unwrap_or(-1), peak, output)
}

#[test]
fn a_20_mb_document_archives_and_restores_in_bounded_memory() {
    let _turn = heavy();
    let tag = unique("");
    let (os, s3, workspace, _, index) = setup(&tag);
    let mut docs = log_docs(3000, "big");
    docs.insert(
        "huge".into(),
        json!({"@timestamp": "2026-09-01T12:00:00Z", "level": "INFO", "message": "y".repeat(20 << 20)}),
    );
    os.create(&index, &docs);
    let config = workspace.path().join("jobs.toml");
    let child = support::almanac()
        .args(["--config", config.to_str().unwrap()])
        .args(RUN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, rss_kib, output) = wait_with_rss(child);
    assert_eq!(code, 0, "{output}");
    eprintln!("archive peak RSS {} MiB", rss_kib / 1024);
    assert!(
        rss_kib < 128 * 1024,
        "archive peak RSS {} MiB ≥ 128 MiB",
        rss_kib / 1024
    );
    assert!(s3.get(&format!("p/{index}/manifest.json")).is_some());
    let child = support::almanac()
        .args(["--config", config.to_str().unwrap(), "restore", &index])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, rss_kib, output) = wait_with_rss(child);
    assert_eq!(code, 0, "{output}");
    eprintln!("restore peak RSS {} MiB", rss_kib / 1024);
    if rss_kib >= 128 * 1024 {
        eprintln!("{output}");
    }
    assert!(
        rss_kib < 128 * 1024,
        "restore peak RSS {} MiB ≥ 128 MiB",
        rss_kib / 1024
    );
    assert_eq!(os.all_docs(&index), docs);
}

#[test]
fn sigterm_mid_export_aborts_every_upload_and_keeps_the_index() {
    let _turn = heavy();
    let tag = unique("");
    let (os, s3, workspace, pattern, index) = setup(&tag);
    let docs = log_docs(60_000, "term");
    os.create(&index, &docs);
    // Four slices, small chunks: several multipart uploads are open at once.
    workspace.write(
        "jobs.toml",
        &jobs_toml(
            &os.url,
            &harness_env("ALMANAC_TEST_S3_URL"),
            &s3.bucket,
            "p",
            &pattern,
            "slices = 4\nscroll_size = 100\nchunk_bytes = 5242880\ncompression_level = 9\n",
        ),
    );
    let config = workspace.path().join("jobs.toml");
    let child = support::almanac()
        .args(["--config", config.to_str().unwrap()])
        .args(RUN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while s3.uploads("p/") == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "the export never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let signalled = Instant::now();
    let output = child.wait_with_output().unwrap();
    let stopped_in = signalled.elapsed();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        stopped_in < Duration::from_secs(10),
        "stopped in {stopped_in:?}\n{text}"
    );
    assert_eq!(s3.uploads("p/"), 0, "every multipart upload aborted\n{text}");
    assert!(s3.get("p/.almanac-lock.json").is_none(), "lock released\n{text}");
    assert!(s3.get(&format!("p/{index}/manifest.json")).is_none(), "no manifest");
    assert!(os.exists(&index), "index kept");
    assert_eq!(os.setting(&index, "index.blocks.write"), None, "write block lifted");
    assert_eq!(os.count(&index), docs.len() as u64, "every document still there");
}

#[test]
fn restore_resends_documents_refused_with_429_and_validates_its_target() {
    let _turn = heavy();
    let tag = unique("");
    // Eight slices: eight parts, restored eight at a time.
    let (os, _s3, workspace, pattern, index) = setup_with(&tag, "slices = 8\n");
    let docs = log_docs(20_000, "busy");
    os.create(&index, &docs);
    workspace.almanac(RUN, &[]).expect_code(0);

    // A node with one write thread and a queue of one: parallel bulks get 429s.
    let busy = PrivateServer::start(
        "opensearch",
        &[(
            "ALMANAC_OPENSEARCH_SETTINGS",
            "thread_pool.write.size=1 thread_pool.write.queue_size=1",
        )],
    );
    let busy_url = busy.get("ALMANAC_TEST_OPENSEARCH_URL").to_string();
    let s3_url = harness_env("ALMANAC_TEST_S3_URL");
    let bucket = format!("{tag}-b");
    workspace.write(
        "jobs.toml",
        &jobs_toml(
            &busy_url,
            &s3_url,
            &bucket,
            "p",
            &pattern,
            "restore_parallel = 8\nrestore_bulk_docs = 100\npart_max_bytes = 5242880\n",
        ),
    );
    let bad = workspace.almanac(&["restore", &index, "--as", "Bad Name"], &[]);
    bad.expect_code(2);
    assert!(bad.stderr().contains("lowercase"), "{}", bad.describe());
    let in_pattern = format!("{tag}-s-2026.10.01");
    let refused = workspace.almanac(&["restore", &index, "--as", &in_pattern], &[]);
    refused.expect_code(2);
    assert!(refused.stderr().contains("--force"), "{}", refused.describe());

    let restored = workspace.almanac(&["restore", &index], &[]);
    restored.expect_code(0);
    assert!(
        restored.stderr().contains("refused with 429"),
        "the busy node refused some bulk items, and they were sent again\n{}",
        restored.describe()
    );
    let busy_os = Os::new(&busy_url);
    assert_eq!(busy_os.all_docs(&index), docs, "every document restored");
}

/// A proxy in front of the S3 server that drops every `If-None-Match` request header, as an
/// S3-compatible server that ignores it would. Runs until the test ends.
fn s3_ignoring_if_none_match(upstream: &str) -> String {
    Proxy::start(upstream, Arc::new(|_, _| {}), Some("if-none-match")).url
}

#[test]
fn an_s3_server_ignoring_if_none_match_is_refused() {
    let tag = unique("");
    let (os, s3, workspace, pattern, index) = setup(&tag);
    let docs = log_docs(20, "inm");
    os.create(&index, &docs);
    let proxy = s3_ignoring_if_none_match(&harness_env("ALMANAC_TEST_S3_URL"));
    workspace.write("jobs.toml", &jobs_toml(&os.url, &proxy, &s3.bucket, "p", &pattern, ""));
    let run = workspace.almanac(RUN, &[]);
    run.expect_code(1);
    assert!(
        run.stderr().contains("does not honour If-None-Match"),
        "{}",
        run.describe()
    );
    assert!(os.exists(&index), "index kept");
    assert_eq!(os.all_docs(&index), docs, "index intact");
    assert!(s3.list("p/").is_empty(), "nothing left in S3: {:?}", s3.list("p/"));
}

#[test]
fn two_runs_racing_for_an_expired_lock_archive_once() {
    let tag = unique("");
    let (os, s3, workspace, _, _) = setup(&tag);
    let indices: Vec<String> = ["2026.09.01", "2026.09.02"]
        .iter()
        .map(|d| format!("{tag}-s-{d}"))
        .collect();
    let docs = log_docs(2000, "race");
    for index in &indices {
        os.create(index, &docs);
    }
    // A lock left by a crashed run, expired an hour ago.
    let expired = json!({"job": "logs", "run_id": "crashed", "host": "gone",
        "expires_at": chrono::Utc::now().timestamp() - 3600});
    s3_put(&s3.bucket, "p/.almanac-lock.json", expired.to_string().into_bytes());
    let config = workspace.path().join("jobs.toml");
    let spawn = || {
        support::almanac()
            .args(["--config", config.to_str().unwrap()])
            .args(RUN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outputs: Vec<_> = [a, b].into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let texts: Vec<String> = outputs
        .iter()
        .map(|o| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .collect();
    let winners = outputs.iter().filter(|o| o.status.code() == Some(0)).count();
    assert!(winners >= 1, "one run wins\n{}", texts.join("\n"));
    for (output, text) in outputs.iter().zip(&texts) {
        assert!(
            output.status.code() == Some(0) || text.contains("holds"),
            "a run that lost, lost on the lock only\n{text}"
        );
    }
    assert!(s3.get("p/.almanac-lock.json").is_none(), "the lock is released");
    for index in &indices {
        assert!(!os.exists(index));
        let manifest: Value = serde_json::from_slice(&s3.get(&format!("p/{index}/manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["doc_count"].as_u64(), Some(docs.len() as u64));
    }
    // The data is intact: every index restores.
    for index in &indices {
        workspace.almanac(&["restore", index], &[]).expect_code(0);
        assert_eq!(os.all_docs(index), docs);
    }
}
