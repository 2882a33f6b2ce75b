//! Elasticsearch / OpenSearch client: only APIs both share (ES 7/8, OpenSearch 1/2).

use std::collections::BTreeMap;

use reqwest::Method;
use serde::Deserialize;

use super::http::{HttpClient, HttpError};
use crate::config::HttpEndpoint;

#[derive(Clone, Debug)]
pub struct SearchClient {
    http: HttpClient,
}

impl SearchClient {
    pub fn new(endpoint: &HttpEndpoint) -> Result<Self, HttpError> {
        Ok(Self {
            http: HttpClient::new(endpoint)?,
        })
    }

    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// `GET /`: distribution and version, e.g. `opensearch 2.19.6`.
    pub async fn info(&self) -> Result<String, HttpError> {
        Ok(self.cluster().await?.engine())
    }

    /// `GET /`: the cluster's name, UUID, distribution and version.
    pub async fn cluster(&self) -> Result<ClusterInfo, HttpError> {
        self.http.json(self.http.request(Method::GET, "/"), "/").await
    }
}

/// What `GET /` says about the cluster.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClusterInfo {
    #[serde(default)]
    pub cluster_name: String,
    #[serde(default)]
    pub cluster_uuid: String,
    pub version: EngineVersion,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EngineVersion {
    pub number: String,
    #[serde(default)]
    pub distribution: Option<String>,
}

impl ClusterInfo {
    /// `opensearch 2.19.6`, `elasticsearch 8.15.0`.
    pub fn engine(&self) -> String {
        format!(
            "{} {}",
            self.version.distribution.as_deref().unwrap_or("elasticsearch"),
            self.version.number
        )
    }
}

/// The `_shards` header of a search or count: a failed or missing shard means the answer
/// is partial, and a partial answer must never lead to a delete.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Shards {
    pub total: u64,
    pub successful: u64,
    #[serde(default)]
    pub failed: u64,
}

/// A search or count that not every shard answered.
#[derive(Debug, thiserror::Error)]
#[error("{what}: only {successful} of {total} shards answered ({failed} failed): the answer is partial")]
pub struct PartialAnswer {
    pub what: String,
    pub total: u64,
    pub successful: u64,
    pub failed: u64,
}

impl Shards {
    pub fn check(&self, what: &str) -> Result<(), PartialAnswer> {
        if self.failed > 0 || self.successful < self.total {
            return Err(PartialAnswer {
                what: what.to_string(),
                total: self.total,
                successful: self.successful,
                failed: self.failed,
            });
        }
        Ok(())
    }
}

/// One row of `GET _cat/indices?format=json`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct CatIndex {
    pub index: String,
    /// `open` or `close`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub health: Option<String>,
    /// Null for closed indices.
    #[serde(rename = "docs.count", default, deserialize_with = "number_text")]
    pub docs_count: Option<u64>,
    #[serde(rename = "store.size", default, deserialize_with = "number_text")]
    pub store_size: Option<u64>,
    /// Milliseconds since the epoch.
    #[serde(rename = "creation.date", default, deserialize_with = "number_text")]
    pub creation_date: Option<u64>,
}

impl CatIndex {
    pub fn is_closed(&self) -> bool {
        self.status.as_deref() == Some("close")
    }
}

/// `_cat` answers numbers as strings (or null for closed indices).
fn number_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(serde_json::Value::String(text)) => text.parse().ok(),
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        _ => None,
    })
}

/// One row of `GET _cat/shards?format=json`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct CatShard {
    pub index: String,
    pub shard: String,
    /// `p` or `r`.
    pub prirep: String,
    /// `STARTED`, `RELOCATING`, `INITIALIZING`, `UNASSIGNED`.
    pub state: String,
    /// Node name (for a relocating shard: `from -> ip id to`); none when unassigned.
    #[serde(default)]
    pub node: Option<String>,
}

/// A node's name, roles and attributes (`GET _nodes`).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct NodeInfo {
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// One page of a scroll: the raw hits and the id of the next page.
#[derive(Debug, Deserialize)]
pub struct ScrollPage {
    #[serde(rename = "_scroll_id", default)]
    pub scroll_id: Option<String>,
    #[serde(rename = "_shards", default)]
    pub shards: Option<Shards>,
    pub hits: ScrollHits,
}

#[derive(Debug, Deserialize)]
pub struct ScrollHits {
    pub hits: Vec<Hit>,
}

/// A document as the search API returns it; `_source` kept byte for byte.
#[derive(Debug, Deserialize)]
pub struct Hit {
    #[serde(rename = "_id")]
    pub id: String,
    /// A custom routing value the document was indexed with.
    #[serde(rename = "_routing", default)]
    pub routing: Option<String>,
    #[serde(rename = "_source")]
    pub source: Option<Box<serde_json::value::RawValue>>,
}

mod many;
pub use self::many::{index_list, plain_name};
pub use super::percent::path_segment;

/// The smallest and largest value of a field, as the engine formats them.
pub type MinMax = (Option<serde_json::Value>, Option<serde_json::Value>);

fn min_max_aggs(field: &str) -> serde_json::Value {
    serde_json::json!({"min": {"min": {"field": field}}, "max": {"max": {"field": field}}})
}

/// The `min` and `max` aggregations under `aggs`: `value_as_string` (dates) or `value`.
fn min_max_in(aggs: &serde_json::Value) -> MinMax {
    let pick = |name: &str| {
        let agg = &aggs[name];
        agg.get("value_as_string")
            .cloned()
            .or_else(|| agg.get("value").cloned())
            .filter(|v| !v.is_null())
    };
    (pick("min"), pick("max"))
}

/// Flat settings of an index (`{"index.number_of_shards": "1", ...}`).
pub type Settings = serde_json::Map<String, serde_json::Value>;

/// The APIs below exist with the same shape in Elasticsearch 7/8 and OpenSearch 1/2. Known
/// differences are handled where they matter: ES 8 rejects `include_type_name` (never sent),
/// ES 8 answers `_cat` the same, `_doc`-sorted scrolls and sliced scrolls are common to all.
impl SearchClient {
    async fn json_value(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, HttpError> {
        let mut request = self.http.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.http.json(request, path).await
    }

    /// Indices whose names start with `prefix` (open and closed), sizes in bytes.
    pub async fn cat_indices(&self, prefix: &str) -> Result<Vec<CatIndex>, HttpError> {
        let path = format!(
            "/_cat/indices/{}*?format=json&bytes=b&expand_wildcards=all&h=index,status,health,docs.count,store.size,creation.date",
            path_segment(prefix)
        );
        let request = self.http.request(Method::GET, &path);
        self.http.json(request, &path).await
    }

    /// Flat settings of every index matching `prefix*` (one call for a whole plan).
    pub async fn settings_all(&self, prefix: &str) -> Result<BTreeMap<String, Settings>, HttpError> {
        let path = format!(
            "/{}*/_settings?flat_settings=true&expand_wildcards=all",
            path_segment(prefix)
        );
        self.settings_at(&path).await
    }

    async fn settings_at(&self, path: &str) -> Result<BTreeMap<String, Settings>, HttpError> {
        let value = self.json_value(Method::GET, path, None).await?;
        let mut out = BTreeMap::new();
        for (index, body) in value.as_object().into_iter().flatten() {
            if let Some(settings) = body.get("settings").and_then(|v| v.as_object()) {
                out.insert(index.clone(), settings.clone());
            }
        }
        Ok(out)
    }

    pub async fn put_settings(&self, index: &str, settings: &serde_json::Value) -> Result<(), HttpError> {
        self.put_settings_of(&[index.to_string()], settings).await
    }

    /// `POST /<index>/_forcemerge?max_num_segments=n` (waits for the merge to finish).
    pub async fn forcemerge(&self, index: &str, max_num_segments: u32) -> Result<(), HttpError> {
        let path = format!(
            "/{}/_forcemerge?max_num_segments={max_num_segments}",
            path_segment(index)
        );
        self.json_value(Method::POST, &path, None).await.map(|_| ())
    }

    pub async fn refresh(&self, index: &str) -> Result<(), HttpError> {
        let path = format!("/{}/_refresh", path_segment(index));
        self.json_value(Method::POST, &path, None).await.map(|_| ())
    }

    /// The smallest and largest value of `field` in `index` (min/max aggregations), each as
    /// the engine formats it (`value_as_string` for dates), `None` when the index has none.
    pub async fn min_max(&self, index: &str, field: &str) -> Result<MinMax, HttpError> {
        let path = format!("/{}/_search?allow_partial_search_results=false", path_segment(index));
        let body = serde_json::json!({"size": 0, "aggs": min_max_aggs(field)});
        let value = self.json_value(Method::POST, &path, Some(&body)).await?;
        Ok(min_max_in(&value["aggregations"]))
    }

    /// Exact document count (`_count`, no query); an error when a shard did not answer.
    pub async fn count(&self, index: &str) -> Result<u64, HttpError> {
        let path = format!("/{}/_count", path_segment(index));
        let value = self.json_value(Method::GET, &path, None).await?;
        let decode = |message: String| HttpError::Decode {
            url: self.http.shown_url(&path),
            message,
        };
        let shards: Shards =
            serde_json::from_value(value["_shards"].clone()).map_err(|_| decode(format!("no _shards in {value}")))?;
        shards
            .check(&format!("_count of {index}"))
            .map_err(|e| decode(e.to_string()))?;
        value["count"]
            .as_u64()
            .ok_or_else(|| decode(format!("no count in {value}")))
    }

    /// The write index (newest backing index) of data stream `name`.
    pub async fn data_stream_write_index(&self, name: &str) -> Result<String, HttpError> {
        let path = format!("/_data_stream/{}", path_segment(name));
        let value = self.json_value(Method::GET, &path, None).await?;
        value["data_streams"][0]["indices"]
            .as_array()
            .and_then(|indices| indices.last())
            .and_then(|last| last["index_name"].as_str())
            .map(str::to_string)
            .ok_or_else(|| HttpError::Decode {
                url: self.http.shown_url(&path),
                message: format!("no backing index of data stream {name} in {value}"),
            })
    }

    /// Shard copies of every index matching `prefix*`.
    pub async fn cat_shards(&self, prefix: &str) -> Result<Vec<CatShard>, HttpError> {
        let path = format!(
            "/_cat/shards/{}*?format=json&h=index,shard,prirep,state,node",
            path_segment(prefix)
        );
        let request = self.http.request(Method::GET, &path);
        self.http.json(request, &path).await
    }

    /// Every node, by name.
    pub async fn nodes(&self) -> Result<std::collections::BTreeMap<String, NodeInfo>, HttpError> {
        #[derive(Deserialize)]
        struct Nodes {
            #[serde(default)]
            nodes: std::collections::BTreeMap<String, NodeInfo>,
        }
        let path = "/_nodes?filter_path=nodes.*.name,nodes.*.roles,nodes.*.attributes";
        let nodes: Nodes = self.http.json(self.http.request(Method::GET, path), path).await?;
        Ok(nodes.nodes.into_values().map(|n| (n.name.clone(), n)).collect())
    }

    /// Why shard 0 (primary) of `index` is where it is: the allocation explain API's reason,
    /// in one line.
    pub async fn allocation_explain(&self, index: &str) -> Result<String, HttpError> {
        let path = "/_cluster/allocation/explain";
        let body = serde_json::json!({"index": index, "shard": 0, "primary": true});
        let value = self.json_value(Method::POST, path, Some(&body)).await?;
        let mut reasons = Vec::new();
        for key in ["explanation", "allocate_explanation"] {
            if let Some(text) = value[key].as_str() {
                reasons.push(text.to_string());
            }
        }
        for decision in value["node_allocation_decisions"].as_array().into_iter().flatten() {
            for decider in decision["deciders"].as_array().into_iter().flatten() {
                if decider["decision"] == "NO"
                    && let Some(text) = decider["explanation"].as_str()
                {
                    reasons.push(format!("{}: {text}", decision["node_name"].as_str().unwrap_or("?")));
                }
            }
        }
        reasons.dedup();
        Ok(if reasons.is_empty() {
            "no reason given by the allocation explain API".into()
        } else {
            reasons.join("; ")
        })
    }

    /// Mappings of every index matching `prefix*`, by index (one call for a whole plan).
    pub async fn mappings_all(&self, prefix: &str) -> Result<BTreeMap<String, serde_json::Value>, HttpError> {
        self.mappings_at(&format!("/{}*/_mapping?expand_wildcards=all", path_segment(prefix)))
            .await
    }

    async fn mappings_at(&self, path: &str) -> Result<BTreeMap<String, serde_json::Value>, HttpError> {
        let value = self.json_value(Method::GET, path, None).await?;
        let mut out = BTreeMap::new();
        if let serde_json::Value::Object(map) = value {
            for (index, mut body) in map {
                out.insert(index, body["mappings"].take());
            }
        }
        Ok(out)
    }

    pub async fn exists(&self, index: &str) -> Result<bool, HttpError> {
        let path = format!("/{}", path_segment(index));
        let request = self.http.request(Method::HEAD, &path);
        match self.http.send(request, &path).await {
            Ok(_) => Ok(true),
            Err(error) if error.status() == Some(reqwest::StatusCode::NOT_FOUND) => Ok(false),
            Err(error) => Err(error),
        }
    }

    pub async fn create_index(&self, index: &str, body: &serde_json::Value) -> Result<(), HttpError> {
        let path = format!("/{}", path_segment(index));
        self.json_value(Method::PUT, &path, Some(body)).await.map(|_| ())
    }

    /// First page of a scroll sorted by `_doc` (the cheapest order), optionally one slice.
    pub async fn scroll_start(
        &self,
        index: &str,
        size: usize,
        keep_alive: &str,
        slice: Option<(u32, u32)>,
    ) -> Result<ScrollPage, HttpError> {
        let path = format!(
            "/{}/_search?scroll={keep_alive}&allow_partial_search_results=false",
            path_segment(index)
        );
        let mut body = serde_json::json!({"size": size, "sort": ["_doc"], "query": {"match_all": {}}});
        if let Some((id, max)) = slice.filter(|(_, max)| *max > 1) {
            body["slice"] = serde_json::json!({"id": id, "max": max});
        }
        let request = self.http.request(Method::POST, &path).json(&body);
        self.http.json(request, &path).await
    }

    pub async fn scroll_next(&self, scroll_id: &str, keep_alive: &str) -> Result<ScrollPage, HttpError> {
        let path = "/_search/scroll";
        let body = serde_json::json!({"scroll": keep_alive, "scroll_id": scroll_id});
        let request = self.http.request(Method::POST, path).json(&body);
        self.http.json(request, path).await
    }

    /// Frees a scroll context; errors are ignored by callers (contexts also time out).
    pub async fn clear_scroll(&self, scroll_id: &str) -> Result<(), HttpError> {
        let path = "/_search/scroll";
        let body = serde_json::json!({"scroll_id": [scroll_id]});
        let request = self.http.request(Method::DELETE, path).json(&body);
        self.http.send(request, path).await.map(|_| ())
    }

    /// `POST /_bulk` with an NDJSON body: which items were refused for load (429, to be
    /// sent again), how many failed for good, and the first such error.
    pub async fn bulk(&self, index: &str, body: bytes::Bytes) -> Result<BulkResult, HttpError> {
        let path = format!("/{}/_bulk", path_segment(index));
        let request = self
            .http
            .request(Method::POST, &path)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        let value: serde_json::Value = self.http.json(request, &path).await?;
        let mut result = BulkResult::default();
        if value["errors"] != serde_json::Value::Bool(true) {
            return Ok(result);
        }
        for (position, item) in value["items"].as_array().into_iter().flatten().enumerate() {
            let Some(action) = item.as_object().and_then(|o| o.values().next()) else {
                continue;
            };
            let Some(error) = action.get("error") else { continue };
            if action["status"].as_u64() == Some(429) {
                result.throttled.push(position);
            } else {
                result.failed += 1;
                if result.first_error.is_none() {
                    result.first_error = Some(error.to_string());
                }
            }
        }
        Ok(result)
    }
}

/// The answer of one `_bulk` request.
#[derive(Debug, Default)]
pub struct BulkResult {
    /// Positions of items refused with 429 (the cluster is busy): send them again.
    pub throttled: Vec<usize>,
    /// Items that failed for another reason.
    pub failed: u64,
    pub first_error: Option<String>,
}
