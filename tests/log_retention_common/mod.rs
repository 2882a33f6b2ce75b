//! Helpers of the log-retention integration tests: the real OpenSearch node (blocking HTTP),
//! the real S3 server (aws-sdk-s3 on a private runtime), unique names and jobs.toml text.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{Value, json};

pub fn unique(tag: &str) -> String {
    format!("t{}{tag}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// A blocking client of one OpenSearch node.
pub struct Os {
    pub url: String,
    http: reqwest::blocking::Client,
}

impl Os {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_string(),
            http: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    pub fn shared() -> Self {
        Self::new(&super::support::harness_env("ALMANAC_TEST_OPENSEARCH_URL"))
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().expect("opensearch request");
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
        assert!(status < 300, "create {index}: {status} {body}");
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
            .unwrap();
        let value: Value = response.json().unwrap();
        assert_eq!(
            value["errors"],
            json!(false),
            "bulk errors: {}",
            value.to_string().chars().take(500).collect::<String>()
        );
    }

    pub fn exists(&self, index: &str) -> bool {
        let response = self.http.head(format!("{}/{index}", self.url)).send().unwrap();
        response.status().is_success()
    }

    pub fn close(&self, index: &str) {
        let (status, body) = self.call(reqwest::Method::POST, &format!("/{index}/_close"), None);
        assert!(status < 300, "{body}");
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
            .unwrap_or_else(|| panic!("count {index}: {body}"))
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
