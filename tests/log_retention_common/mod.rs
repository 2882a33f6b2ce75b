//! Helpers of the log-retention integration tests: the real search nodes (blocking HTTP), the
//! real S3 server (aws-sdk-s3 on a private runtime), unique names and jobs.toml text.
//!
//! The search engine is a test matrix: [`Engine`] is one of the harness' nodes (OpenSearch 2.19,
//! Elasticsearch 8.15, Elasticsearch 7.17) and [`engines`] the ones selected by
//! `ALMANAC_TEST_SEARCH_ENGINES` (comma list of `opensearch,elasticsearch,elasticsearch7`,
//! default all three). [`run_matrix`] runs one test case per engine and names every engine that
//! failed. [`Os::shared`] stays the shared OpenSearch node.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use serde_json::{Value, json};

pub use super::support::unique;

/// One search engine of the test matrix: a node the harness starts (`scripts/harness/svc/<service>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    OpenSearch,
    Elasticsearch8,
    Elasticsearch7,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::OpenSearch, Engine::Elasticsearch8, Engine::Elasticsearch7];

    /// The variable the harness exports with the node's URL.
    pub fn env_var(self) -> &'static str {
        match self {
            Engine::OpenSearch => "ALMANAC_TEST_OPENSEARCH_URL",
            Engine::Elasticsearch8 => "ALMANAC_TEST_ELASTICSEARCH_URL",
            Engine::Elasticsearch7 => "ALMANAC_TEST_ELASTICSEARCH7_URL",
        }
    }

    /// The harness service (`scripts/harness/svc/<service>`), also its name in
    /// `ALMANAC_TEST_SEARCH_ENGINES`.
    pub fn service(self) -> &'static str {
        match self {
            Engine::OpenSearch => "opensearch",
            Engine::Elasticsearch8 => "elasticsearch",
            Engine::Elasticsearch7 => "elasticsearch7",
        }
    }

    /// Human label for messages.
    pub fn label(self) -> &'static str {
        match self {
            Engine::OpenSearch => "OpenSearch 2.19",
            Engine::Elasticsearch8 => "Elasticsearch 8.15",
            Engine::Elasticsearch7 => "Elasticsearch 7.17",
        }
    }

    /// Short lowercase tag for index and bucket names.
    pub fn short(self) -> &'static str {
        match self {
            Engine::OpenSearch => "os",
            Engine::Elasticsearch8 => "es8",
            Engine::Elasticsearch7 => "es7",
        }
    }

    /// The URL of the shared node the harness started.
    pub fn url(self) -> String {
        super::support::harness_env(self.env_var())
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The engines selected by `ALMANAC_TEST_SEARCH_ENGINES` (comma list of service names:
/// `opensearch,elasticsearch,elasticsearch7`; unset or empty: all three). An unknown name is a
/// failure, not a silent skip.
/// A JSON call to the search node that must succeed; its answer (or null).
pub fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
    let client = reqwest::blocking::Client::new();
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().unwrap();
    let status = response.status();
    let value: Value = response.json().unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {value}");
    value
}

pub fn engines() -> Vec<Engine> {
    let list = std::env::var("ALMANAC_TEST_SEARCH_ENGINES").unwrap_or_default();
    if list.trim().is_empty() {
        return Engine::ALL.to_vec();
    }
    let mut selected = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let engine = Engine::ALL
            .into_iter()
            .find(|e| e.service() == name)
            .unwrap_or_else(|| {
                panic!(
                    "ALMANAC_TEST_SEARCH_ENGINES: unknown engine {name:?} (known: opensearch, elasticsearch, \
                     elasticsearch7)"
                )
            });
        if !selected.contains(&engine) {
            selected.push(engine);
        }
    }
    selected
}

/// The selected engines that run the full set of log-retention tests: OpenSearch and
/// Elasticsearch 8. Elasticsearch 7.17 runs a smoke subset only (the tests that call
/// [`engines`]), unless `ALMANAC_TEST_ES7_FULL=1`.
pub fn full_set_engines() -> Vec<Engine> {
    let es7_full = std::env::var("ALMANAC_TEST_ES7_FULL").is_ok_and(|v| v == "1");
    engines()
        .into_iter()
        .filter(|&e| e != Engine::Elasticsearch7 || es7_full)
        .collect()
}

/// Runs `case` once per engine of `engines`, in order, each engine even after another one
/// failed; then fails naming every engine that failed with its panic message. Prints the time
/// taken on each engine (visible with `--nocapture`).
pub fn run_matrix(test: &str, engines: &[Engine], case: impl Fn(Engine)) {
    if engines.is_empty() {
        eprintln!("[matrix] {test}: no selected engine runs this test (ALMANAC_TEST_SEARCH_ENGINES)");
    }
    let mut failures = Vec::new();
    for &engine in engines {
        let start = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| case(engine)));
        let took = start.elapsed().as_secs_f64();
        match result {
            Ok(()) => eprintln!("[matrix] {test} on {engine}: ok in {took:.1}s"),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(non-string panic)".into());
                eprintln!("[matrix] {test} on {engine}: FAILED in {took:.1}s");
                failures.push(format!("--- on {engine} ---\n{message}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{test} failed on {} of {} engine(s):\n{}",
        failures.len(),
        engines.len(),
        failures.join("\n")
    );
}

/// A blocking client of one search node (OpenSearch or Elasticsearch).
pub struct Os {
    pub url: String,
    /// The engine, for messages ("search node" when built from a bare URL).
    pub label: String,
    http: reqwest::blocking::Client,
}

impl Os {
    pub fn new(url: &str) -> Self {
        Self::labelled(url, "search node")
    }

    fn labelled(url: &str, label: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_string(),
            label: label.to_string(),
            http: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    /// The shared OpenSearch node of the harness.
    pub fn shared() -> Self {
        Self::for_engine(Engine::OpenSearch)
    }

    /// The shared node of `engine` the harness started.
    pub fn for_engine(engine: Engine) -> Self {
        Self::labelled(&engine.url(), engine.label())
    }

    /// A node of `engine` at `url` (e.g. a private server).
    pub fn at(engine: Engine, url: &str) -> Self {
        Self::labelled(url, engine.label())
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .unwrap_or_else(|e| panic!("{} request {path}: {e}", self.label));
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Creates `index` (1 shard) holding `docs`, refreshed.
    pub fn create(&self, index: &str, docs: &BTreeMap<String, Value>) {
        let (status, body) = self.call(
            reqwest::Method::PUT,
            &format!("/{index}"),
            Some(json!({"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                "mappings": {"properties": {"@timestamp": {"type": "date"}, "level": {"type": "keyword"}}}})),
        );
        assert!(status < 300, "{}: create {index}: {status} {body}", self.label);
        let mut batch = String::new();
        let mut n = 0;
        for (id, source) in docs {
            batch.push_str(&json!({"index": {"_id": id}}).to_string());
            batch.push('\n');
            batch.push_str(&source.to_string());
            batch.push('\n');
            n += 1;
            if n % 5000 == 0 || batch.len() > 20 << 20 {
                self.bulk(index, std::mem::take(&mut batch));
            }
        }
        if !batch.is_empty() {
            self.bulk(index, batch);
        }
        self.call(reqwest::Method::POST, &format!("/{index}/_refresh"), None);
    }

    fn bulk(&self, index: &str, body: String) {
        let response = self
            .http
            .post(format!("{}/{index}/_bulk", self.url))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .unwrap_or_else(|e| panic!("{}: bulk into {index}: {e}", self.label));
        let value: Value = response
            .json()
            .unwrap_or_else(|e| panic!("{}: bulk into {index}: {e}", self.label));
        assert_eq!(
            value["errors"],
            json!(false),
            "{}: bulk errors: {}",
            self.label,
            value.to_string().chars().take(500).collect::<String>()
        );
    }

    pub fn exists(&self, index: &str) -> bool {
        let response = self
            .http
            .head(format!("{}/{index}", self.url))
            .send()
            .unwrap_or_else(|e| panic!("{}: HEAD {index}: {e}", self.label));
        response.status().is_success()
    }

    pub fn close(&self, index: &str) {
        let (status, body) = self.call(reqwest::Method::POST, &format!("/{index}/_close"), None);
        assert!(status < 300, "{}: close {index}: {status} {body}", self.label);
    }

    pub fn setting(&self, index: &str, key: &str) -> Option<String> {
        let (_, body) = self.call(
            reqwest::Method::GET,
            &format!("/{index}/_settings?flat_settings=true"),
            None,
        );
        body[index]["settings"][key].as_str().map(str::to_string)
    }

    pub fn count(&self, index: &str) -> u64 {
        self.call(reqwest::Method::POST, &format!("/{index}/_refresh"), None);
        let (_, body) = self.call(reqwest::Method::GET, &format!("/{index}/_count"), None);
        body["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: count {index}: {body}", self.label))
    }

    /// Every document of `index` by `_id` (scroll).
    pub fn all_docs(&self, index: &str) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        let (_, mut page) = self.call(
            reqwest::Method::POST,
            &format!("/{index}/_search?scroll=1m"),
            Some(json!({"size": 1000, "sort": ["_doc"]})),
        );
        loop {
            assert!(
                page.get("error").is_none(),
                "{}: scroll over {index}: {page}",
                self.label
            );
            let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
            if hits.is_empty() {
                break;
            }
            for hit in hits {
                out.insert(hit["_id"].as_str().unwrap().to_string(), hit["_source"].clone());
            }
            let id = page["_scroll_id"].clone();
            page = self
                .call(
                    reqwest::Method::POST,
                    "/_search/scroll",
                    Some(json!({"scroll": "1m", "scroll_id": id})),
                )
                .1;
        }
        out
    }
}

/// What differs between two document sets by `_id` (missing, extra, changed; a few ids each,
/// sources cut short): a readable failure message where `assert_eq!` would print megabytes.
pub fn docs_diff(actual: &BTreeMap<String, Value>, expected: &BTreeMap<String, Value>) -> String {
    let missing: Vec<&String> = expected.keys().filter(|id| !actual.contains_key(*id)).collect();
    let extra: Vec<&String> = actual.keys().filter(|id| !expected.contains_key(*id)).collect();
    let changed: Vec<String> = expected
        .iter()
        .filter_map(|(id, source)| {
            let got = actual.get(id)?;
            (got != source).then(|| {
                let cut = |v: &Value| v.to_string().chars().take(200).collect::<String>();
                format!("{id:?}: got {} expected {}", cut(got), cut(source))
            })
        })
        .collect();
    format!(
        "{} docs, expected {}; missing {} {:?}; extra {} {:?}; changed {} {:?}",
        actual.len(),
        expected.len(),
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(5).collect::<Vec<_>>(),
        changed.len(),
        changed.iter().take(3).collect::<Vec<_>>()
    )
}

/// Log-like documents with awkward ids and sources.
pub fn log_docs(n: usize, seed: &str) -> BTreeMap<String, Value> {
    let levels = ["INFO", "WARN", "ERROR", "DEBUG"];
    (0..n)
        .map(|i| {
            let id = match i % 7 {
                0 => format!("{seed}-{i}"),
                1 => format!("id with spaces/and \"quotes\" {i}"),
                2 => format!("ünïcødé-{i}-日本"),
                _ => format!("{i:08}"),
            };
            let source = json!({
                "@timestamp": format!("2026-01-01T{:02}:{:02}:{:02}Z", (i / 3600) % 24, (i / 60) % 60, i % 60),
                "level": levels[i % 4],
                "message": format!("request {i} handled in {} ms \\ tab\t newline\n end", i % 997),
                "service": {"name": "aindusdb-api", "pod": format!("api-{}", i % 5)},
                "tags": ["a", "b", i.to_string()],
                "latency": (i as f64) * 0.25,
                "ok": i % 3 != 0,
                "nothing": null,
            });
            (id, source)
        })
        .collect()
}

/// The S3 server through aws-sdk-s3, on its own runtime.
pub struct S3 {
    pub url: String,
    pub bucket: String,
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
}

impl S3 {
    pub fn new(url: &str, bucket: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(url)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        let s3 = Self {
            url: url.to_string(),
            bucket: bucket.to_string(),
            runtime,
            client,
        };
        s3.runtime
            .block_on(s3.client.create_bucket().bucket(bucket).send())
            .expect("create bucket");
        s3
    }

    pub fn shared(bucket: &str) -> Self {
        Self::new(&super::support::harness_env("ALMANAC_TEST_S3_URL"), bucket)
    }

    /// (key, size, storage class) of every object under `prefix`.
    pub fn list(&self, prefix: &str) -> Vec<(String, u64, String)> {
        let output = self
            .runtime
            .block_on(self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).send())
            .expect("list");
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

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let output = self
            .runtime
            .block_on(self.client.get_object().bucket(&self.bucket).key(key).send())
            .ok()?;
        Some(self.runtime.block_on(output.body.collect()).unwrap().to_vec())
    }

    pub fn uploads(&self, prefix: &str) -> usize {
        self.runtime
            .block_on(
                self.client
                    .list_multipart_uploads()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    .send(),
            )
            .map(|o| o.uploads().len())
            .unwrap_or(0)
    }
}

/// jobs.toml for one log-retention job named `logs`.
pub fn jobs_toml(os_url: &str, s3_url: &str, bucket: &str, prefix: &str, pattern: &str, extra: &str) -> String {
    format!(
        r#"
[search]
url = "{os_url}"
timeout = "120s"

[s3]
endpoint = "{s3_url}"
region = "us-east-1"
bucket = "{bucket}"
prefix = "{prefix}"
access_key_id = "testing"
secret_access_key = "testing"
timeout = "60s"

[jobs.logs]
kind = "log-retention"
schedule = "0 0 2 * * *"
pattern = "{pattern}"
warm_attribute = "box_type"
warm_value = "warm"
{extra}
"#
    )
}

/// Decompresses and parses every line of a part.
pub fn part_lines(bytes: &[u8]) -> Vec<Value> {
    use std::io::Read as _;
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}
