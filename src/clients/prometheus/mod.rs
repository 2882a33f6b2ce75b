//! Prometheus HTTP API client: instant and range queries, the series API and build info,
//! with typed results. Also speaks to VictoriaMetrics, which serves the same API.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;

pub mod admin;
pub mod raw;
pub mod remote_read;
pub mod series;
pub mod xor;

use super::http::{HttpClient, HttpError};
use crate::clients::error::Transience;
use crate::config::HttpEndpoint;

/// A failed Prometheus call.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The API answered `status: error` (bad PromQL, query timeout, ...).
    #[error("Prometheus rejected the query ({kind}): {message}")]
    Api { kind: String, message: String },
    #[error("unexpected result type {0:?}")]
    ResultType(String),
}

impl Transience for PrometheusError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Http(error) => error.is_transient(),
            // Query timeouts and overloads may pass; bad queries do not.
            Self::Api { kind, .. } => matches!(kind.as_str(), "timeout" | "canceled" | "unavailable" | "internal"),
            Self::ResultType(_) => false,
        }
    }
}

/// A label set: metric name (as `__name__`) and labels.
pub type Labels = BTreeMap<String, String>;

/// One series of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub time: f64,
    pub value: f64,
}

/// One series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    /// (unix seconds, value); values may be NaN or infinite.
    pub points: Vec<(f64, f64)>,
}

/// The answer envelope of the Prometheus HTTP API.
#[derive(Deserialize)]
pub(super) struct Envelope<T> {
    pub(super) status: String,
    pub(super) data: Option<T>,
    #[serde(rename = "errorType", default)]
    pub(super) error_type: String,
    #[serde(default)]
    pub(super) error: String,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct RawInstant {
    #[serde(default)]
    metric: Labels,
    value: (f64, String),
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(default)]
    metric: Labels,
    values: Vec<(f64, String)>,
}

/// Parses a Prometheus sample value (`"1.5"`, `"NaN"`, `"+Inf"`).
pub fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => text.parse().unwrap_or(f64::NAN),
    }
}

/// Seconds since the epoch with millisecond precision, as the API takes them.
pub fn api_time(time: DateTime<Utc>) -> String {
    format!("{:.3}", time.timestamp_millis() as f64 / 1000.0)
}

#[derive(Clone, Debug)]
pub struct PrometheusClient {
    http: HttpClient,
}

impl PrometheusClient {
    pub fn new(endpoint: &HttpEndpoint) -> Result<Self, PrometheusError> {
        Ok(Self {
            http: HttpClient::new(endpoint)?,
        })
    }

    pub fn from_http(http: HttpClient) -> Self {
        Self { http }
    }

    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// A link to the expression browser showing `expr` over `[start, end]`.
    pub fn graph_link(&self, expr: &str, end: DateTime<Utc>, range_hours: u32) -> String {
        let mut url = self.http.url("graph");
        url.query_pairs_mut()
            .append_pair("g0.expr", expr)
            .append_pair("g0.tab", "0")
            .append_pair("g0.range_input", &format!("{range_hours}h"))
            .append_pair("g0.end_input", &end.format("%Y-%m-%d %H:%M:%S").to_string());
        let _ = url.set_password(None);
        let _ = url.set_username("");
        url.to_string()
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
    ) -> Result<T, PrometheusError> {
        api_call(&self.http, method, path, form).await
    }

    /// Instant query at `time`. Scalars come back as one sample with no labels.
    pub async fn query(&self, expr: &str, time: DateTime<Utc>) -> Result<Vec<Sample>, PrometheusError> {
        let data: QueryData = self
            .call(
                Method::POST,
                "api/v1/query",
                &[("query", expr.to_string()), ("time", api_time(time))],
            )
            .await?;
        match data.result_type.as_str() {
            "vector" => {
                let raw: Vec<RawInstant> =
                    serde_json::from_value(data.result).map_err(|e| PrometheusError::ResultType(e.to_string()))?;
                Ok(raw
                    .into_iter()
                    .map(|r| Sample {
                        labels: r.metric,
                        time: r.value.0,
                        value: parse_value(&r.value.1),
                    })
                    .collect())
            }
            "scalar" => {
                let (time, value): (f64, String) =
                    serde_json::from_value(data.result).map_err(|e| PrometheusError::ResultType(e.to_string()))?;
                Ok(vec![Sample {
                    labels: Labels::new(),
                    time,
                    value: parse_value(&value),
                }])
            }
            other => Err(PrometheusError::ResultType(other.to_string())),
        }
    }

    /// Range query over `[start, end]` every `step_seconds`.
    pub async fn query_range(
        &self,
        expr: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step_seconds: u64,
    ) -> Result<Vec<RangeSeries>, PrometheusError> {
        let form = [
            ("query", expr.to_string()),
            ("start", api_time(start)),
            ("end", api_time(end)),
            ("step", step_seconds.to_string()),
        ];
        let data: QueryData = self.call(Method::POST, "api/v1/query_range", &form).await?;
        if data.result_type != "matrix" {
            return Err(PrometheusError::ResultType(data.result_type));
        }
        let raw: Vec<RawRange> =
            serde_json::from_value(data.result).map_err(|e| PrometheusError::ResultType(e.to_string()))?;
        Ok(raw
            .into_iter()
            .map(|r| RangeSeries {
                labels: r.metric,
                points: r.values.into_iter().map(|(t, v)| (t, parse_value(&v))).collect(),
            })
            .collect())
    }

    /// Label sets of the series matching any of `matchers` with samples in `[start, end]`.
    pub async fn series(
        &self,
        matchers: &[String],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Labels>, PrometheusError> {
        let mut form: Vec<(&str, String)> = matchers.iter().map(|m| ("match[]", m.clone())).collect();
        form.push(("start", api_time(start)));
        form.push(("end", api_time(end)));
        self.call(Method::POST, "api/v1/series", &form).await
    }

    /// Values of label `name` (e.g. `__name__`) over `[start, end]`, optionally restricted by matchers.
    pub async fn label_values(
        &self,
        name: &str,
        matchers: &[String],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<String>, PrometheusError> {
        let mut form: Vec<(&str, String)> = matchers.iter().map(|m| ("match[]", m.clone())).collect();
        form.push(("start", api_time(start)));
        form.push(("end", api_time(end)));
        self.call(Method::GET, &format!("api/v1/label/{name}/values"), &form)
            .await
    }

    /// The server's version (`/api/v1/status/buildinfo`); VictoriaMetrics answers too.
    pub async fn build_info(&self) -> Result<String, PrometheusError> {
        #[derive(Deserialize)]
        struct BuildInfo {
            #[serde(default)]
            version: String,
        }
        let info: BuildInfo = self.call(Method::GET, "api/v1/status/buildinfo", &[]).await?;
        Ok(if info.version.is_empty() {
            "unknown".into()
        } else {
            info.version
        })
    }
}

/// One HTTP API call (`GET` with a query string, `POST` with a form) decoded from the
/// `{status, data, errorType, error}` envelope every Prometheus-compatible server answers.
/// Bad queries (400/422) and overloads (503) carry that envelope too: its message is kept.
pub(super) async fn api_call<T: serde::de::DeserializeOwned>(
    http: &HttpClient,
    method: Method,
    path: &str,
    form: &[(&str, String)],
) -> Result<T, PrometheusError> {
    let (bytes, url) = api_body(http, method, path, form).await?;
    decode_envelope(&bytes, url)
}

/// The body of a successful HTTP API call, with the URL to name in errors.
pub(super) async fn api_body(
    http: &HttpClient,
    method: Method,
    path: &str,
    form: &[(&str, String)],
) -> Result<(bytes::Bytes, String), PrometheusError> {
    let request = http.request(method.clone(), path);
    let request = if method == Method::GET {
        request.query(form)
    } else {
        request.form(form)
    };
    let response = match http.send(request, path).await {
        Ok(response) => response,
        Err(HttpError::Status {
            body,
            status,
            url,
            hint,
        }) if matches!(status.as_u16(), 400 | 422 | 503) => {
            return Err(match serde_json::from_str::<Envelope<serde_json::Value>>(&body) {
                Ok(envelope) => PrometheusError::Api {
                    kind: envelope.error_type,
                    message: envelope.error,
                },
                Err(_) => HttpError::Status {
                    body,
                    status,
                    url,
                    hint,
                }
                .into(),
            });
        }
        Err(error) => return Err(error.into()),
    };
    let url = http.shown_url(path);
    let bytes = response
        .bytes()
        .await
        .map_err(|e| http.transport_error(url.clone(), e))?;
    Ok((bytes, url))
}

/// The `data` of an answer's envelope; `T` may borrow from `bytes`.
pub(super) fn decode_envelope<'a, T: Deserialize<'a>>(bytes: &'a [u8], url: String) -> Result<T, PrometheusError> {
    let envelope: Envelope<T> = serde_json::from_slice(bytes).map_err(|e| HttpError::Decode {
        url: url.clone(),
        message: e.to_string(),
    })?;
    if envelope.status != "success" {
        return Err(PrometheusError::Api {
            kind: envelope.error_type,
            message: envelope.error,
        });
    }
    envelope.data.ok_or_else(|| {
        HttpError::Decode {
            url,
            message: "no data in a success answer".into(),
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_like_prometheus_prints_them() {
        assert_eq!(parse_value("1.5"), 1.5);
        assert!(parse_value("NaN").is_nan());
        assert_eq!(parse_value("+Inf"), f64::INFINITY);
        assert_eq!(parse_value("-Inf"), f64::NEG_INFINITY);
    }

    #[test]
    fn times_have_millisecond_precision() {
        let time = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        assert_eq!(api_time(time), "1700000000.123");
    }
}
