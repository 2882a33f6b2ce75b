//! The TSDB admin API of Prometheus and VictoriaMetrics: server flavour and retention,
//! head/block information, `delete_series` and `clean_tombstones`, with clear errors.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Envelope, api_time};
use crate::clients::error::Transience;
use crate::clients::http::{HttpClient, HttpError, truncate};
use crate::config::HumanDuration;

/// A failed admin call.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("the TSDB admin API of {url} is disabled ({detail}): start Prometheus with --web.enable-admin-api")]
    Disabled { url: String, detail: String },
    #[error("{url} refused the admin call: {message}")]
    Api { url: String, message: String },
}

impl Transience for AdminError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Http(error) => error.is_transient(),
            Self::Disabled { .. } | Self::Api { .. } => false,
        }
    }
}

/// Which server speaks the Prometheus API, and what it says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "flavour", rename_all = "snake_case")]
pub enum Server {
    Prometheus {
        /// `--storage.tsdb.retention.time` (None: size-based or unparsable).
        retention_seconds: Option<u64>,
        admin_api: bool,
        /// `--storage.tsdb.max-block-duration`, when shown.
        max_block_seconds: Option<u64>,
    },
    VictoriaMetrics {
        /// `-retentionPeriod`.
        retention_seconds: Option<u64>,
    },
}

impl Server {
    pub fn retention_seconds(&self) -> Option<u64> {
        match self {
            Self::Prometheus { retention_seconds, .. } | Self::VictoriaMetrics { retention_seconds } => {
                *retention_seconds
            }
        }
    }
    pub fn is_victoria_metrics(&self) -> bool {
        matches!(self, Self::VictoriaMetrics { .. })
    }
}

/// Head block statistics from `/api/v1/status/tsdb` (milliseconds).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HeadStats {
    pub num_series: u64,
    pub min_time: i64,
    pub max_time: i64,
}

/// One persisted block, when the server lists them (`/api/v1/status/tsdb/blocks`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BlockMeta {
    #[serde(rename = "minTime")]
    pub min_time: i64,
    #[serde(rename = "maxTime")]
    pub max_time: i64,
}

/// Admin calls on one server; auth, CA and base URL come from its `HttpClient`.
#[derive(Clone, Debug)]
pub struct AdminClient {
    http: HttpClient,
}

impl AdminClient {
    pub fn new(http: HttpClient) -> Self {
        Self { http }
    }

    /// Tells Prometheus (`/api/v1/status/flags`) from VictoriaMetrics (`/flags`).
    pub async fn detect(&self) -> Result<Server, AdminError> {
        let path = "api/v1/status/flags";
        match self.get_json::<BTreeMap<String, String>>(path).await {
            Ok(flags) => {
                let retention = flags
                    .get("storage.tsdb.retention.time")
                    .or_else(|| flags.get("storage.tsdb.retention"))
                    .and_then(|v| parse_prometheus_duration(v))
                    .map(|s| if s == 0 { 15 * 86_400 } else { s });
                return Ok(Server::Prometheus {
                    retention_seconds: retention,
                    admin_api: flags.get("web.enable-admin-api").is_none_or(|v| v == "true"),
                    max_block_seconds: flags
                        .get("storage.tsdb.max-block-duration")
                        .and_then(|v| parse_prometheus_duration(v)),
                });
            }
            Err(AdminError::Http(HttpError::Status { status, .. })) if status.is_client_error() => {}
            Err(error) => return Err(error),
        }
        // VictoriaMetrics refuses that path (400) but lists its flags as text on /flags.
        let response = self.http.send(self.http.request(Method::GET, "flags"), "flags").await?;
        let text = response
            .text()
            .await
            .map_err(|e| self.http.transport_error(self.http.shown_url("flags"), e))?;
        if !text.contains("-retentionPeriod") {
            return Err(AdminError::Api {
                url: self.http.shown_url(path),
                message: "neither Prometheus nor VictoriaMetrics (no flags at /api/v1/status/flags or /flags)".into(),
            });
        }
        let retention = text
            .lines()
            .find_map(|line| line.trim().strip_prefix("-retentionPeriod="))
            .and_then(|v| parse_vm_retention(v.trim_matches('"')));
        Ok(Server::VictoriaMetrics {
            retention_seconds: retention,
        })
    }

    /// Whether Prometheus' loaded configuration (`/api/v1/status/config`) sets
    /// `global.external_labels` (which remote read adds to every series it answers).
    pub async fn has_external_labels(&self) -> Result<bool, AdminError> {
        #[derive(Deserialize)]
        struct Config {
            yaml: String,
        }
        let config: Config = self.get_json("api/v1/status/config").await?;
        Ok(yaml_has_external_labels(&config.yaml))
    }

    /// Head statistics (Prometheus only).
    pub async fn head_stats(&self) -> Result<HeadStats, AdminError> {
        #[derive(Deserialize)]
        struct Status {
            #[serde(rename = "headStats")]
            head: Head,
        }
        #[derive(Deserialize)]
        struct Head {
            #[serde(rename = "numSeries")]
            num_series: u64,
            #[serde(rename = "minTime")]
            min_time: i64,
            #[serde(rename = "maxTime")]
            max_time: i64,
        }
        let status: Status = self.get_json("api/v1/status/tsdb").await?;
        Ok(HeadStats {
            num_series: status.head.num_series,
            min_time: status.head.min_time,
            max_time: status.head.max_time,
        })
    }

    /// Persisted blocks, if this server version lists them over HTTP (None otherwise:
    /// Prometheus 2.x does not).
    pub async fn blocks(&self) -> Result<Option<Vec<BlockMeta>>, AdminError> {
        #[derive(Deserialize)]
        struct Blocks {
            blocks: Vec<BlockMeta>,
        }
        match self.get_json::<Blocks>("api/v1/status/tsdb/blocks").await {
            Ok(blocks) => Ok(Some(blocks.blocks)),
            Err(AdminError::Http(HttpError::Status { status, .. })) if status.is_client_error() => Ok(None),
            Err(AdminError::Http(HttpError::Decode { .. })) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `POST /api/v1/admin/tsdb/delete_series` with form-encoded `match[]` (start/end optional;
    /// VictoriaMetrics ignores them and deletes whole series).
    pub async fn delete_series(
        &self,
        matchers: &[String],
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<(), AdminError> {
        let mut form: Vec<(&str, String)> = matchers.iter().map(|m| ("match[]", m.clone())).collect();
        if let Some(start) = start {
            form.push(("start", api_time(start)));
        }
        if let Some(end) = end {
            form.push(("end", api_time(end)));
        }
        let path = "api/v1/admin/tsdb/delete_series";
        self.post(path, &form, None).await
    }

    /// `POST /api/v1/admin/tsdb/clean_tombstones`: rewrites tombstoned blocks; can take long.
    pub async fn clean_tombstones(&self, timeout: Duration) -> Result<(), AdminError> {
        self.post("api/v1/admin/tsdb/clean_tombstones", &[], Some(timeout))
            .await
    }

    async fn post(&self, path: &str, form: &[(&str, String)], timeout: Option<Duration>) -> Result<(), AdminError> {
        let mut request = self.http.request(Method::POST, path).form(form);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        match self.http.send(request, path).await {
            Ok(_) => Ok(()),
            Err(error) => Err(self.classify(path, error)),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, AdminError> {
        let envelope: Envelope<T> = self.http.json(self.http.request(Method::GET, path), path).await?;
        if envelope.status != "success" {
            return Err(AdminError::Api {
                url: self.http.shown_url(path),
                message: envelope.error,
            });
        }
        envelope.data.ok_or_else(|| {
            AdminError::Http(HttpError::Decode {
                url: self.http.shown_url(path),
                message: "no data in a success answer".into(),
            })
        })
    }

    /// Prometheus answers a disabled admin API with 503 "admin APIs disabled" (and older or
    /// proxied setups with 404): both become `Disabled`, which is not retried.
    fn classify(&self, path: &str, error: HttpError) -> AdminError {
        let url = self.http.shown_url(path);
        match &error {
            HttpError::Status { status, body, .. }
                if body.contains("admin APIs disabled") || status.as_u16() == 404 =>
            {
                AdminError::Disabled {
                    url,
                    detail: format!("{status}: {}", truncate(body, 120)),
                }
            }
            HttpError::Status { status, body, .. } if status.is_client_error() => AdminError::Api {
                url,
                message: format!("{status}: {}", truncate(body, 300)),
            },
            _ => AdminError::Http(error),
        }
    }
}

/// Prometheus durations (`15d`, `1y`, `2w`, `1h30m`, `0s`), in whole seconds; the grammar is
/// the one jobs.toml uses.
pub fn parse_prometheus_duration(text: &str) -> Option<u64> {
    text.parse::<HumanDuration>().ok().map(|d| d.as_std().as_secs())
}

/// Whether the configuration Prometheus prints (Go YAML: two-space indents, empty fields
/// omitted) has an `external_labels` entry in its `global` section.
pub fn yaml_has_external_labels(yaml: &str) -> bool {
    let mut in_global = false;
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_global = line.trim_end() == "global:";
        } else if in_global && line.trim_start().starts_with("external_labels:") {
            let indent = line.len() - line.trim_start().len();
            let value = line.trim_start()["external_labels:".len()..].trim();
            // `external_labels: {}` is an empty map.
            return indent == 2 && value != "{}";
        }
    }
    false
}

/// VictoriaMetrics `-retentionPeriod`: a bare number counts months (31 days).
pub fn parse_vm_retention(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(months) = text.parse::<f64>() {
        return Some((months * 31.0 * 86_400.0) as u64);
    }
    parse_prometheus_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_labels_are_found_in_the_global_section_only() {
        let with = "global:\n  scrape_interval: 1m\n  external_labels:\n    cluster: eu-1\n    replica: \"0\"\nscrape_configs:\n- job_name: x\n";
        assert!(yaml_has_external_labels(with));
        let without = "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs:\n- job_name: x\n  external_labels:\n";
        assert!(!yaml_has_external_labels(without));
        assert!(!yaml_has_external_labels("global:\n  external_labels: {}\n"));
        assert!(!yaml_has_external_labels(""));
    }

    #[test]
    fn durations_parse_like_the_servers() {
        assert_eq!(parse_prometheus_duration("15d"), Some(15 * 86_400));
        assert_eq!(parse_prometheus_duration("3650d"), Some(3650 * 86_400));
        assert_eq!(parse_prometheus_duration("1h30m"), Some(5_400));
        assert_eq!(parse_prometheus_duration("0s"), Some(0));
        assert_eq!(parse_prometheus_duration("500ms"), Some(0));
        assert_eq!(parse_prometheus_duration("x"), None);
        assert_eq!(parse_prometheus_duration("12"), None);
        assert_eq!(parse_vm_retention("1"), Some(31 * 86_400));
        assert_eq!(parse_vm_retention("100y"), Some(100 * 365 * 86_400));
    }
}
