//! Multi-index requests (`GET|PUT|POST|DELETE /a,b,c/...`): one request, and for updates
//! one cluster-state change, for a list of explicit index names; never a wildcard.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use super::{MinMax, SearchClient, Settings, min_max_aggs, min_max_in, path_segment};
use crate::clients::http::HttpError;

/// Whether `name` means exactly one index in a comma list: not empty, no wildcard, comma,
/// date math or exclusion, not `_all` (names the cluster lists never have these).
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.starts_with(['-', '_', '+'])
        && !name.contains(['*', '?', ',', '<', '>'])
}

/// `a,b,c` for a multi-index path: each name encoded as a path segment, commas between.
pub fn index_list(names: &[String]) -> String {
    let encoded: Vec<String> = names.iter().map(|name| path_segment(name)).collect();
    encoded.join(",")
}

impl SearchClient {
    /// `/a,b,c<rest>`, or an error naming the first name that is not one plain index.
    fn list_path(&self, names: &[String], rest: &str) -> Result<String, HttpError> {
        if let Some(bad) = names.iter().find(|name| !plain_name(name)) {
            return Err(HttpError::Setup {
                url: self.http.shown_url("/"),
                message: format!("refusing a multi-index request: {bad:?} is not one plain index name"),
            });
        }
        Ok(format!("/{}{rest}", index_list(names)))
    }

    /// Flat settings of the named indices, by index. A name that does not exist is left out
    /// (`ignore_unavailable`), never an error for the others; only the names asked for are
    /// returned; no names, no request.
    pub async fn settings_of(&self, names: &[String]) -> Result<BTreeMap<String, Settings>, HttpError> {
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let path = self.list_path(names, "/_settings?flat_settings=true&ignore_unavailable=true")?;
        let mut found = self.settings_at(&path).await?;
        found.retain(|index, _| names.contains(index));
        Ok(found)
    }

    /// One settings update of the named indices (one cluster-state change). Strict: a missing
    /// name fails the whole request and changes nothing.
    pub async fn put_settings_of(&self, names: &[String], settings: &serde_json::Value) -> Result<(), HttpError> {
        if names.is_empty() {
            return Ok(());
        }
        let path = self.list_path(names, "/_settings")?;
        self.json_value(Method::PUT, &path, Some(settings)).await.map(|_| ())
    }

    /// Mappings of the named indices, by index (`ignore_unavailable`, only the names asked
    /// for); no names, no request.
    pub async fn mappings_of(&self, names: &[String]) -> Result<BTreeMap<String, serde_json::Value>, HttpError> {
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let path = self.list_path(names, "/_mapping?ignore_unavailable=true")?;
        let mut found = self.mappings_at(&path).await?;
        found.retain(|index, _| names.contains(index));
        Ok(found)
    }

    /// One refresh of the named indices (`ignore_unavailable`); no names, no request.
    pub async fn refresh_of(&self, names: &[String]) -> Result<(), HttpError> {
        if names.is_empty() {
            return Ok(());
        }
        let path = self.list_path(names, "/_refresh?ignore_unavailable=true")?;
        self.json_value(Method::POST, &path, None).await.map(|_| ())
    }

    /// [`SearchClient::min_max`] of `field` in each of the named indices, by one search (a
    /// terms aggregation on `_index`, no partial answer); an index without documents is absent.
    pub async fn min_max_of(&self, names: &[String], field: &str) -> Result<BTreeMap<String, MinMax>, HttpError> {
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let path = self.list_path(names, "/_search?allow_partial_search_results=false")?;
        let by_index = json!({"terms": {"field": "_index", "size": names.len()}, "aggs": min_max_aggs(field)});
        let body = json!({"size": 0, "aggs": {"by_index": by_index}});
        let value = self.json_value(Method::POST, &path, Some(&body)).await?;
        let mut out = BTreeMap::new();
        for bucket in value["aggregations"]["by_index"]["buckets"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(index) = bucket["key"].as_str().filter(|i| names.iter().any(|n| n == i)) {
                out.insert(index.to_string(), min_max_in(bucket));
            }
        }
        Ok(out)
    }

    /// `DELETE /a,b,c`, strict: a missing name fails the request and deletes nothing (no
    /// `ignore_unavailable`), so an answer never hides a partial delete; callers still read
    /// afterwards which indices are gone. No names, no request.
    pub async fn delete_indices(&self, names: &[String]) -> Result<(), HttpError> {
        if names.is_empty() {
            return Ok(());
        }
        let path = self.list_path(names, "")?;
        self.json_value(Method::DELETE, &path, None).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_go_into_a_list() {
        for name in ["logs-2026.09.01", ".ds-logs-aindusdb-default-2026.09.01-000001", "a+b"] {
            assert!(plain_name(name), "{name}");
        }
        for name in [
            "",
            "*",
            "logs-*",
            "a,b",
            "-logs",
            "_all",
            "+x",
            "<logs-{now/d}>",
            "a?",
            "..",
            ".",
        ] {
            assert!(!plain_name(name), "{name}");
        }
    }

    #[test]
    fn lists_encode_each_name_and_keep_the_commas() {
        let names = ["logs-2026.09.01".to_string(), "a+b".to_string()];
        assert_eq!(index_list(&names), "logs-2026.09.01,a%2Bb");
    }
}
