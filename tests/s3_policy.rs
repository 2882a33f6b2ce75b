//! The IAM policy `deploy/privileges/s3-archive-policy.json` is enough for a log-retention job,
//! and is really enforced (issue #13).
//!
//! Each test starts a private moto with IAM enforced (`scripts/harness/svc/s3` with
//! `ALMANAC_S3_IAM_POLICY`, see `scripts/harness/s3_iam.py`): the buckets the policy names exist,
//! almanac signs with the key of a user whose only policy is that file, and moto checks every
//! request's action and resource against it. The search node is the harness' Elasticsearch 8
//! (or the first engine of `ALMANAC_TEST_SEARCH_ENGINES` if it is not selected).
//!
//! moto does not evaluate `Condition` (only `StringEquals` is implemented, and S3 requests give
//! it no context values: the `s3:prefix` condition always passes), maps HeadBucket to
//! `s3:HeadBucket` (AWS: `s3:ListBucket`), and checks only `s3:PutObject` on the target of a
//! CopyObject/UploadPartCopy (AWS also `s3:GetObject` on the source). So the server also
//! records every request (method, URI, signing key, `x-amz-*`/`If-*` headers, status), and
//! [`policy_violations`] evaluates each of the policy user's requests as AWS would (action per
//! operation, resource, `s3:prefix`, the source of a copy, and the `s3:ListBucket` that decides
//! between 404 and 403 for a missing key): one request the policy would refuse on AWS fails
//! the test.
//!
//! Negative controls: the same run under the policy without `s3:PutObject`, or with the objects
//! outside the job's prefix, fails with 403 AccessDenied and leaves the index as it was; and the
//! evaluator refuses requests the policy does not allow.

mod log_retention_common;
mod support;

use std::collections::{BTreeMap, BTreeSet};

use log_retention_common::{Engine, Os, docs_diff, engines, jobs_toml, log_docs, part_lines, unique};
use serde_json::{Value, json};
use support::{PrivateServer, Workspace};

const POLICY: &str = "deploy/privileges/s3-archive-policy.json";
const NOW: &str = "2026-11-25T06:00:00Z";
/// Far enough for every archive to be past `expire_after` (7 y) and to have existed
/// `expire_after - cold_after`.
const FAR_FUTURE: &str = "2040-01-01T06:00:00Z";

fn policy() -> Value {
    let path = support::repo().join(POLICY);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn as_list(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().map(|v| v.as_str().expect("a string")).collect(),
        Value::Null => Vec::new(),
        other => panic!("expected a string or a list of strings: {other}"),
    }
}

/// The bucket and prefix the policy grants objects in (`arn:aws:s3:::<bucket>/<prefix>/*`):
/// the job uses exactly these.
fn bucket_and_prefix(policy: &Value) -> (String, String) {
    let mut found = BTreeSet::new();
    for statement in policy["Statement"].as_array().expect("Statement list") {
        for resource in as_list(&statement["Resource"]) {
            if let Some(object) = resource.strip_prefix("arn:aws:s3:::")
                && let Some((bucket, rest)) = object.split_once('/')
            {
                let prefix = rest.strip_suffix("/*").expect("object resources end in /*");
                found.insert((bucket.to_string(), prefix.to_string()));
            }
        }
    }
    assert_eq!(found.len(), 1, "one bucket/prefix for objects in {POLICY}: {found:?}");
    found.into_iter().next().unwrap()
}

/// The search engine of these tests: Elasticsearch 8 if selected, else the first selected.
fn engine() -> Engine {
    let selected = engines();
    if selected.contains(&Engine::Elasticsearch8) {
        Engine::Elasticsearch8
    } else {
        *selected.first().expect("ALMANAC_TEST_SEARCH_ENGINES selects no engine")
    }
}

/// A private moto enforcing `policy` (written to a temporary file).
fn moto_with(policy: &Value) -> (PrivateServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    std::fs::write(&path, serde_json::to_string_pretty(policy).unwrap()).unwrap();
    let server = PrivateServer::start("s3", &[("ALMANAC_S3_IAM_POLICY", path.to_str().unwrap())]);
    (server, dir)
}

/// The moto admin (Allow * on *), to set up and inspect what almanac did.
struct Admin {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Admin {
    fn new(server: &PrivateServer, bucket: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(server.get("ALMANAC_TEST_S3_URL"))
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                server.get("ALMANAC_TEST_S3_ADMIN_ACCESS_KEY"),
                server.get("ALMANAC_TEST_S3_ADMIN_SECRET_KEY"),
                None,
                None,
                "moto admin",
            ))
            .build();
        Self {
            runtime,
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: bucket.to_string(),
        }
    }

    /// (key, size, storage class) of every object under `prefix`.
    fn list(&self, prefix: &str) -> Vec<(String, u64, String)> {
        let output = self
            .runtime
            .block_on(self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).send())
            .expect("admin list");
        output
            .contents()
            .iter()
            .map(|o| {
                (
                    o.key().unwrap().to_string(),
                    o.size().unwrap_or(0) as u64,
                    o.storage_class()
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_else(|| "STANDARD".into()),
                )
            })
            .collect()
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let output = self
            .runtime
            .block_on(self.client.get_object().bucket(&self.bucket).key(key).send())
            .ok()?;
        Some(self.runtime.block_on(output.body.collect()).unwrap().to_vec())
    }

    fn put(&self, key: &str, body: &[u8]) {
        self.runtime
            .block_on(
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .body(body.to_vec().into())
                    .send(),
            )
            .expect("admin put");
    }

    /// Starts a multipart upload and leaves it open (what a killed run leaves).
    fn dangling_upload(&self, key: &str) {
        self.runtime
            .block_on(
                self.client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .send(),
            )
            .expect("admin create multipart upload");
    }

    fn uploads(&self, prefix: &str) -> usize {
        self.runtime
            .block_on(
                self.client
                    .list_multipart_uploads()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    .send(),
            )
            .expect("admin list uploads")
            .uploads()
            .len()
    }
}

/// jobs.toml of one log-retention job `logs` on `bucket`/`prefix`, signed with the key of the
/// user whose only policy is the one under test.
fn policy_jobs_toml(server: &PrivateServer, os: &Os, bucket: &str, prefix: &str, pattern: &str, extra: &str) -> String {
    let text = jobs_toml(
        &os.url,
        server.get("ALMANAC_TEST_S3_URL"),
        bucket,
        prefix,
        pattern,
        extra,
    );
    let credentials = "access_key_id = \"testing\"\nsecret_access_key = \"testing\"";
    assert!(text.contains(credentials), "jobs_toml changed its credentials: {text}");
    text.replace(
        credentials,
        &format!(
            "access_key_id = \"{}\"\nsecret_access_key = \"{}\"",
            server.get("ALMANAC_TEST_S3_POLICY_ACCESS_KEY"),
            server.get("ALMANAC_TEST_S3_POLICY_SECRET_KEY")
        ),
    )
}

fn report(run: &support::Run) -> Value {
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}\n{}", run.describe()))
}

#[test]
fn a_full_log_retention_cycle_needs_exactly_the_policy() {
    let policy = policy();
    let (bucket, prefix) = bucket_and_prefix(&policy);
    let (server, _policy_dir) = moto_with(&policy);
    let admin = Admin::new(&server, &bucket);
    let engine = engine();
    let os = Os::for_engine(engine);
    eprintln!("[s3_policy] {engine}, s3://{bucket}/{prefix}/ under {POLICY}");

    let tag = unique("pol");
    let base = format!("{tag}-logs-");
    let pattern = format!("{base}%Y.%m.%d");
    let cold = format!("{base}2026.09.01"); // archived, STANDARD
    let old = format!("{base}2025.06.01"); // archived, then copied to GLACIER
    let lc = format!("{base}2025.03.01"); // archived by the run with transition = "lifecycle"
    let cold_docs = log_docs(600, "cold");
    let old_docs = log_docs(250, "old");
    let lc_docs = log_docs(40, "lc");
    os.create(&cold, &cold_docs);
    os.create(&old, &old_docs);

    // What a killed run leaves in the cold index's folder: an open multipart upload and a part
    // without a manifest. The run aborts the one and deletes the other.
    let leftover = format!("{prefix}/{cold}/part-009-00000.ndjson.gz");
    admin.put(&leftover, b"leftover of a killed run");
    admin.dangling_upload(&format!("{prefix}/{cold}/part-000-00000.ndjson.gz"));
    assert_eq!(admin.uploads(&format!("{prefix}/{cold}/")), 1);

    let workspace = Workspace::new();
    let copy_config = policy_jobs_toml(&server, &os, &bucket, &prefix, &pattern, "");
    workspace.write("jobs.toml", &copy_config);

    // 0. `validate --connect` reaches the bucket with these rights alone (a listing under the
    // prefix, not HeadBucket, which the prefix condition refuses on AWS).
    workspace.almanac(&["validate", "--connect"], &[]).expect_code(0);

    // 1. Archive (and move the year-old archive to GLACIER with CopyObject).
    let run = workspace.almanac(
        &["run", "logs", "--now", NOW, "--allow-clock-skew", "--output", "json"],
        &[],
    );
    run.expect_code(0);
    assert_eq!(
        report(&run)["counts"]["indices_archived"],
        json!(2),
        "{}",
        run.describe()
    );
    for (index, docs) in [(&cold, &cold_docs), (&old, &old_docs)] {
        assert!(!os.exists(index), "{index} deleted after its archive was verified");
        let manifest: Value = serde_json::from_slice(
            &admin
                .get(&format!("{prefix}/{index}/manifest.json"))
                .unwrap_or_else(|| panic!("manifest of {index}")),
        )
        .unwrap();
        assert_eq!(manifest["doc_count"], json!(docs.len()), "doc_count of {index}");
    }
    let mut archived = BTreeMap::new();
    for (key, _, class) in admin.list(&format!("{prefix}/{cold}/part-")) {
        assert_eq!(class, "STANDARD", "{key}");
        for line in part_lines(&admin.get(&key).unwrap()) {
            archived.insert(line["_id"].as_str().unwrap().to_string(), line["_source"].clone());
        }
    }
    assert!(
        archived == cold_docs,
        "every document of {cold} in its parts: {}",
        docs_diff(&archived, &cold_docs)
    );
    assert!(admin.get(&leftover).is_none(), "the leftover part was deleted");
    assert_eq!(
        admin.uploads(&format!("{prefix}/")),
        0,
        "the dangling upload was aborted"
    );
    let old_parts = admin.list(&format!("{prefix}/{old}/part-"));
    assert!(!old_parts.is_empty(), "parts of {old}");
    for (key, _, class) in &old_parts {
        assert_eq!(class, "GLACIER", "{key} moved to GLACIER");
    }

    // 2. The same job with transition = "lifecycle" reads the bucket's lifecycle rules.
    os.create(&lc, &lc_docs);
    let lifecycle = Workspace::new();
    lifecycle.write(
        "jobs.toml",
        &policy_jobs_toml(&server, &os, &bucket, &prefix, &pattern, "transition = \"lifecycle\"\n"),
    );
    let run = lifecycle.almanac(
        &["run", "logs", "--now", NOW, "--allow-clock-skew", "--output", "json"],
        &[],
    );
    run.expect_code(0);
    assert!(
        run.stdout().contains("no enabled lifecycle rule"),
        "the lifecycle rules were read: {}",
        run.describe()
    );
    assert!(!os.exists(&lc), "{lc} archived");

    // 3. Restore: from STANDARD, and from GLACIER (RestoreObject; moto restores at once).
    let cold_back = format!("{tag}-restored-cold");
    let old_back = format!("{tag}-restored-old");
    workspace
        .almanac(&["restore", &cold, "--as", &cold_back], &[])
        .expect_code(0);
    workspace
        .almanac(&["restore", &old, "--as", &old_back], &[])
        .expect_code(0);
    for (index, docs) in [(&cold_back, &cold_docs), (&old_back, &old_docs)] {
        let got = os.all_docs(index);
        assert!(got == *docs, "{index} restored identically: {}", docs_diff(&got, docs));
    }

    // 4. Expire every archive.
    let run = workspace.almanac(
        &[
            "run",
            "logs",
            "--now",
            FAR_FUTURE,
            "--allow-clock-skew",
            "--output",
            "json",
        ],
        &[],
    );
    run.expect_code(0);
    assert_eq!(
        report(&run)["counts"]["archives_expired"],
        json!(3),
        "{}",
        run.describe()
    );
    let left = admin.list(&format!("{prefix}/"));
    assert!(left.is_empty(), "nothing left under {prefix}/: {left:?}");
    assert_eq!(
        os.count(&cold_back),
        cold_docs.len() as u64,
        "restored indices untouched"
    );

    // 5. Every request almanac made, as AWS would judge it.
    let requests = recorded(&server);
    let key = server.get("ALMANAC_TEST_S3_POLICY_ACCESS_KEY");
    let ours: Vec<&Request> = requests.iter().filter(|r| r.access_key == key).collect();
    assert!(
        ours.len() > 20,
        "the request log records almanac's requests: {}",
        ours.len()
    );
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut actions = BTreeSet::new();
    for request in &ours {
        if let Ok((operation, needs)) = classify(request) {
            *seen.entry(operation.to_string()).or_default() += 1;
            actions.extend(needs.into_iter().map(|n| n.action));
        }
    }
    eprintln!("[s3_policy] {} requests of the policy user:", ours.len());
    for (operation, count) in &seen {
        eprintln!("[s3_policy]   {count:>4}  {operation}");
    }
    let violations = policy_violations(&policy, &ours);
    assert!(
        violations.is_empty(),
        "requests {POLICY} would not allow on AWS:\n{}",
        violations.join("\n")
    );
    // Least privilege: every action the policy grants was needed by the cycle.
    let granted: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| as_list(&s["Action"]))
        .map(str::to_string)
        .collect();
    assert_eq!(actions, granted, "actions used by the cycle vs granted by {POLICY}");
    delete_indices(&os, &[&cold_back, &old_back]);
}

/// Removes what a test left on the shared search node.
fn delete_indices(os: &Os, indices: &[&str]) {
    let client = reqwest::blocking::Client::new();
    for index in indices {
        let response = client
            .delete(format!("{}/{index}", os.url))
            .send()
            .unwrap_or_else(|e| panic!("delete {index}: {e}"));
        assert!(response.status().is_success(), "delete {index}: {}", response.status());
    }
}

#[test]
fn without_put_object_the_run_fails_with_403_and_loses_nothing() {
    let mut policy = policy();
    let mut removed = false;
    for statement in policy["Statement"].as_array_mut().unwrap() {
        if let Some(actions) = statement["Action"].as_array_mut() {
            let before = actions.len();
            actions.retain(|a| a != "s3:PutObject");
            removed |= actions.len() != before;
        }
    }
    assert!(removed, "{POLICY} grants s3:PutObject");
    refused(&policy, "no s3:PutObject");
}

#[test]
fn objects_outside_the_policy_prefix_are_refused() {
    let mut policy = policy();
    let (bucket, prefix) = bucket_and_prefix(&policy);
    let elsewhere = format!("arn:aws:s3:::{bucket}/{prefix}-elsewhere/*");
    for statement in policy["Statement"].as_array_mut().unwrap() {
        let resources = statement["Resource"].clone();
        if as_list(&resources).iter().any(|r| r.contains('/')) {
            statement["Resource"] = json!(elsewhere);
        }
    }
    refused(&policy, "objects granted outside the job's prefix");
}

/// The cycle's first run under `policy` (the real one, minus something the job needs): exit
/// non-zero naming 403/AccessDenied, the index still in the cluster with every document, no
/// archive written.
fn refused(weakened: &Value, what: &str) {
    let (bucket, prefix) = bucket_and_prefix(&policy());
    let (server, _policy_dir) = moto_with(weakened);
    let admin = Admin::new(&server, &bucket);
    let os = Os::for_engine(engine());
    let tag = unique("neg");
    let pattern = format!("{tag}-logs-%Y.%m.%d");
    let index = format!("{tag}-logs-2026.09.01");
    let docs = log_docs(50, "neg");
    os.create(&index, &docs);
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        &policy_jobs_toml(&server, &os, &bucket, &prefix, &pattern, ""),
    );
    let run = workspace.almanac(&["run", "logs", "--now", NOW, "--allow-clock-skew"], &[]);
    assert_ne!(run.code(), 0, "{what}: the run must fail\n{}", run.describe());
    let text = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        text.contains("AccessDenied"),
        "{what}: a permission error\n{}",
        run.describe()
    );
    assert!(os.exists(&index), "{what}: {index} still in the cluster");
    let got = os.all_docs(&index);
    assert!(got == docs, "{what}: {index} intact: {}", docs_diff(&got, &docs));
    assert_eq!(
        os.setting(&index, "index.blocks.write"),
        None,
        "{what}: {index} left writable"
    );
    assert!(
        admin.get(&format!("{prefix}/{index}/manifest.json")).is_none(),
        "{what}: no archive"
    );
    let denied = recorded(&server)
        .iter()
        .filter(|r| r.access_key == server.get("ALMANAC_TEST_S3_POLICY_ACCESS_KEY") && r.status == 403)
        .count();
    assert!(denied > 0, "{what}: moto refused a request of the policy user");
    delete_indices(&os, &[&index]);
}

/// The fallback check refuses what the policy does not allow (so a failure of the cycle's
/// check is possible), and allows what the cycle does.
#[test]
fn the_request_check_refuses_what_the_policy_does_not_allow() {
    let policy = policy();
    let (bucket, prefix) = bucket_and_prefix(&policy);
    let request = |method: &str, uri: &str, headers: &[(&str, &str)], status: u16| Request {
        method: method.into(),
        uri: uri.into(),
        access_key: "AKIA".into(),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        status,
    };
    let enc = prefix.replace('/', "%2F");
    let copy_inside = format!("{bucket}/{prefix}/i/p.gz");
    let copy_outside = format!("/{bucket}/other/p.gz");
    let allowed = [
        request("GET", &format!("/{bucket}/?list-type=2&prefix={enc}%2F"), &[], 200),
        request("GET", &format!("/{bucket}/?uploads&prefix={enc}%2Fi%2F"), &[], 200),
        request("GET", &format!("/{bucket}?lifecycle"), &[], 404),
        request(
            "PUT",
            &format!("/{bucket}/{prefix}/i/m.json?x-id=PutObject"),
            &[("if-none-match", "*")],
            200,
        ),
        request("GET", &format!("/{bucket}/{prefix}/i/manifest.json"), &[], 404),
        request(
            "PUT",
            &format!("/{bucket}/{prefix}/i/p.gz"),
            &[("x-amz-copy-source", copy_inside.as_str())],
            200,
        ),
        request("POST", &format!("/{bucket}/{prefix}/i/p.gz?restore"), &[], 202),
        request("DELETE", &format!("/{bucket}/{prefix}/i/p.gz?uploadId=x"), &[], 204),
    ];
    for r in &allowed {
        assert_eq!(policy_violations(&policy, &[r]), Vec::<String>::new(), "{r:?}");
    }
    let refused = [
        // ListBucket outside the prefix condition (moto ignores conditions).
        request("GET", &format!("/{bucket}/?list-type=2"), &[], 200),
        request("GET", &format!("/{bucket}/?list-type=2&prefix=other%2F"), &[], 200),
        request("GET", &format!("/{bucket}/?list-type=2&prefix={enc}-x%2F"), &[], 200),
        // The prefix without its slash would also match `aindusdb/logs-other/...`.
        request("GET", &format!("/{bucket}/?list-type=2&prefix={enc}"), &[], 200),
        // HeadBucket is s3:ListBucket without s3:prefix.
        request("HEAD", &format!("/{bucket}/"), &[], 200),
        // Objects outside the prefix, another bucket.
        request("PUT", &format!("/{bucket}/other/x?x-id=PutObject"), &[], 200),
        request("GET", &format!("/other-bucket/{prefix}/x"), &[], 200),
        // A copy whose source is outside the prefix (moto checks only the target).
        request(
            "PUT",
            &format!("/{bucket}/{prefix}/i/p.gz"),
            &[("x-amz-copy-source", copy_outside.as_str())],
            200,
        ),
        // A missing key outside the listable prefix: AWS answers 403, not 404.
        request("HEAD", &format!("/{bucket}/other/manifest.json"), &[], 404),
        // Not granted at all.
        request("GET", &format!("/{bucket}/{prefix}/i/p.gz?tagging"), &[], 200),
        request(
            "PUT",
            &format!("/{bucket}/{prefix}/i/p.gz"),
            &[("x-amz-acl", "public-read")],
            200,
        ),
        // Denied by the server.
        request("GET", &format!("/{bucket}/{prefix}/i/p.gz"), &[], 403),
        // Unknown to the check: refused rather than guessed.
        request("POST", &format!("/{bucket}/?delete"), &[], 200),
    ];
    for r in &refused {
        assert!(!policy_violations(&policy, &[r]).is_empty(), "{r:?} must be refused");
    }

    // The 404 of a missing key needs s3:ListBucket with s3:prefix = the key.
    let narrow = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}"),
         "Condition": {"StringLike": {"s3:prefix": [format!("{prefix}/*")]}}},
    ]});
    let get = |key: &str, status| request("GET", &format!("/{bucket}/{key}"), &[], status);
    assert!(policy_violations(&narrow, &[&get("other/x", 200)]).is_empty());
    assert!(policy_violations(&narrow, &[&get(&format!("{prefix}/x"), 404)]).is_empty());
    let outside = policy_violations(&narrow, &[&get("other/x", 404)]);
    assert_eq!(outside.len(), 1, "{outside:?}");
    assert!(outside[0].contains("s3:ListBucket"), "{outside:?}");
}

/// One request as the server recorded it (scripts/harness/s3_iam.py).
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Path and query as sent (percent-encoded).
    uri: String,
    access_key: String,
    /// `x-amz-*` and `If-*` headers, lowercase names.
    headers: BTreeMap<String, String>,
    status: u16,
}

fn recorded(server: &PrivateServer) -> Vec<Request> {
    let path = server.get("ALMANAC_TEST_S3_REQUEST_LOG");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}: {e}: {line}"));
            Request {
                method: v["method"].as_str().unwrap_or_default().to_string(),
                uri: v["uri"].as_str().unwrap_or_default().to_string(),
                access_key: v["access_key"].as_str().unwrap_or_default().to_string(),
                headers: v["headers"]
                    .as_object()
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                status: v["status"].as_u64().unwrap_or(0) as u16,
            }
        })
        .collect()
}

/// One permission a request needs on AWS: the action, the resource ARN, and the `s3:prefix`
/// context value where AWS sets one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Need {
    action: String,
    resource: String,
    prefix: Option<String>,
}

fn need(action: &str, resource: String, prefix: Option<String>) -> Need {
    Need {
        action: action.to_string(),
        resource,
        prefix,
    }
}

fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The S3 operation a request is and what AWS requires for it (the S3 API reference's
/// "Permissions" of each operation). Path-style requests only; anything not known is an error,
/// never a guess.
fn classify(request: &Request) -> Result<(&'static str, Vec<Need>), String> {
    let (path, query) = request.uri.split_once('?').unwrap_or((&request.uri, ""));
    let query: BTreeMap<String, String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect();
    let has = |name: &str| query.contains_key(name);
    let header = |name: &str| request.headers.get(name).map(String::as_str);
    let path = path.strip_prefix('/').ok_or("not a path")?;
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        return Err("a request without a bucket".into());
    }
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let method = request.method.as_str();
    if key.is_empty() {
        // Bucket subresources that change what the request is.
        let special = [
            "uploads",
            "lifecycle",
            "location",
            "versions",
            "delete",
            "acl",
            "policy",
            "tagging",
        ];
        let subresource = special.iter().copied().find(|s| has(s));
        return match (method, subresource) {
            // HeadBucket: s3:ListBucket, with no s3:prefix in the request.
            ("HEAD", None) => Ok(("HeadBucket", vec![need("s3:ListBucket", bucket_arn, None)])),
            ("GET", None) => {
                let operation = if query.get("list-type").map(String::as_str) == Some("2") {
                    "ListObjectsV2"
                } else {
                    "ListObjects"
                };
                Ok((
                    operation,
                    vec![need("s3:ListBucket", bucket_arn, query.get("prefix").cloned())],
                ))
            }
            ("GET", Some("uploads")) => Ok((
                "ListMultipartUploads",
                vec![need("s3:ListBucketMultipartUploads", bucket_arn, None)],
            )),
            ("GET", Some("lifecycle")) => Ok((
                "GetBucketLifecycleConfiguration",
                vec![need("s3:GetLifecycleConfiguration", bucket_arn, None)],
            )),
            ("GET", Some("location")) => Ok((
                "GetBucketLocation",
                vec![need("s3:GetBucketLocation", bucket_arn, None)],
            )),
            _ => Err(format!(
                "bucket operation {method} {subresource:?} is not known to this check"
            )),
        };
    }
    let key = percent_decode(key, false);
    let object_arn = format!("arn:aws:s3:::{bucket}/{key}");
    let mut needs = Vec::new();
    // A 404 for a missing key needs s3:ListBucket, evaluated with s3:prefix = the key (else AWS
    // answers 403): see ceph/ceph#68577, kopia/kopia#3072.
    let missing = |needs: &mut Vec<Need>| {
        if request.status == 404 {
            needs.push(need("s3:ListBucket", bucket_arn.clone(), Some(key.clone())));
        }
    };
    let extras = |needs: &mut Vec<Need>| {
        if header("x-amz-acl").is_some() || request.headers.keys().any(|h| h.starts_with("x-amz-grant-")) {
            needs.push(need("s3:PutObjectAcl", object_arn.clone(), None));
        }
        if header("x-amz-tagging").is_some() {
            needs.push(need("s3:PutObjectTagging", object_arn.clone(), None));
        }
    };
    let unknown_sub = [
        "acl",
        "tagging",
        "retention",
        "legal-hold",
        "attributes",
        "torrent",
        "select",
    ];
    if let Some(sub) = unknown_sub.iter().find(|s| has(s)) {
        return Err(format!("object operation {method} ?{sub} is not known to this check"));
    }
    if has("versionId") {
        return Err(format!("{method} of an object version is not known to this check"));
    }
    let operation = match method {
        "GET" if has("uploadId") => {
            needs.push(need("s3:ListMultipartUploadParts", object_arn.clone(), None));
            "ListParts"
        }
        "GET" => {
            needs.push(need("s3:GetObject", object_arn.clone(), None));
            missing(&mut needs);
            "GetObject"
        }
        "HEAD" => {
            needs.push(need("s3:GetObject", object_arn.clone(), None));
            missing(&mut needs);
            "HeadObject"
        }
        "PUT" => {
            needs.push(need("s3:PutObject", object_arn.clone(), None));
            extras(&mut needs);
            if let Some(source) = header("x-amz-copy-source") {
                let source = percent_decode(source, false);
                let source = source.trim_start_matches('/');
                if source.contains("?versionId=") {
                    return Err("a copy of an object version is not known to this check".into());
                }
                needs.push(need("s3:GetObject", format!("arn:aws:s3:::{source}"), None));
                if has("uploadId") {
                    "UploadPartCopy"
                } else {
                    "CopyObject"
                }
            } else if has("uploadId") {
                "UploadPart"
            } else {
                "PutObject"
            }
        }
        "POST" if has("uploads") => {
            needs.push(need("s3:PutObject", object_arn.clone(), None));
            extras(&mut needs);
            "CreateMultipartUpload"
        }
        "POST" if has("uploadId") => {
            needs.push(need("s3:PutObject", object_arn.clone(), None));
            "CompleteMultipartUpload"
        }
        "POST" if has("restore") => {
            needs.push(need("s3:RestoreObject", object_arn.clone(), None));
            "RestoreObject"
        }
        "DELETE" if has("uploadId") => {
            needs.push(need("s3:AbortMultipartUpload", object_arn.clone(), None));
            "AbortMultipartUpload"
        }
        "DELETE" => {
            needs.push(need("s3:DeleteObject", object_arn.clone(), None));
            "DeleteObject"
        }
        _ => {
            return Err(format!(
                "object operation {method} {:?} is not known to this check",
                query.keys()
            ));
        }
    };
    Ok((operation, needs))
}

/// Every request of `requests` that the policy would refuse on AWS (or that the server refused),
/// described.
fn policy_violations(policy: &Value, requests: &[&Request]) -> Vec<String> {
    let mut out = Vec::new();
    for request in requests {
        let what = format!("{} {} -> {}", request.method, request.uri, request.status);
        if request.status == 403 {
            out.push(format!("{what}: refused by the server"));
            continue;
        }
        match classify(request) {
            Err(why) => out.push(format!("{what}: {why}")),
            Ok((operation, needs)) => {
                for need in needs {
                    if !allows(policy, &need) {
                        out.push(format!("{what}: {operation} needs {need:?}"));
                    }
                }
            }
        }
    }
    out
}

/// IAM's evaluation of one identity policy for one permission: an explicit Deny wins, else one
/// Allow whose action, resource and conditions match. Elements this check does not implement
/// fail loudly rather than being skipped.
fn allows(policy: &Value, need: &Need) -> bool {
    let mut allowed = false;
    for statement in policy["Statement"].as_array().expect("Statement list") {
        for unsupported in ["NotAction", "NotResource", "Principal", "NotPrincipal"] {
            assert!(
                statement.get(unsupported).is_none(),
                "{unsupported} is not implemented by this check: extend it"
            );
        }
        let action = as_list(&statement["Action"])
            .iter()
            .any(|a| glob(&a.to_ascii_lowercase(), &need.action.to_ascii_lowercase()));
        let resource = as_list(&statement["Resource"]).iter().any(|r| glob(r, &need.resource));
        if !(action && resource && conditions_hold(&statement["Condition"], need)) {
            continue;
        }
        match statement["Effect"].as_str() {
            Some("Deny") => return false,
            Some("Allow") => allowed = true,
            other => panic!("Effect {other:?}"),
        }
    }
    allowed
}

fn conditions_hold(conditions: &Value, need: &Need) -> bool {
    let Some(conditions) = conditions.as_object() else {
        return true;
    };
    conditions.iter().all(|(operator, block)| {
        let (base, if_exists) = match operator.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (operator.as_str(), false),
        };
        block
            .as_object()
            .expect("condition block")
            .iter()
            .all(|(key, expected)| {
                assert!(
                    key.eq_ignore_ascii_case("s3:prefix"),
                    "condition key {key} is not implemented by this check: extend it"
                );
                let expected = as_list(expected);
                let negated = base.starts_with("StringNot");
                // A key absent from the request: no match (true for the negated operators and
                // with IfExists), as IAM does.
                let Some(actual) = &need.prefix else {
                    return if_exists || negated;
                };
                let hit = match base {
                    "StringEquals" | "StringNotEquals" => expected.iter().any(|e| e == actual),
                    "StringLike" | "StringNotLike" => expected.iter().any(|e| glob(e, actual)),
                    other => panic!("condition operator {other} is not implemented by this check: extend it"),
                };
                hit != negated
            })
    })
}

/// IAM wildcards: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // reach[j]: pattern[..i] matches text[..j].
    let mut reach = vec![false; t.len() + 1];
    reach[0] = true;
    for c in &p {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            next[j] = match c {
                '*' => reach[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && reach[j - 1],
                c => j > 0 && reach[j - 1] && t[j - 1] == *c,
            };
        }
        reach = next;
    }
    reach[t.len()]
}
