//! Raw samples (an instant query of a range selector answers a matrix of stored samples) and
//! metric metadata, decoded straight into compact points: millions of samples per call.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::{Labels, PrometheusError, api_call, api_time, parse_value};
use crate::clients::http::HttpClient;

/// One series' stored samples: (milliseconds since the epoch, value), in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSeries {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// A `[seconds, "value"]` pair read without an intermediate JSON tree.
struct Point(i64, f64);

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PointVisitor;
        impl<'de> Visitor<'de> for PointVisitor {
            type Value = Point;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [time, \"value\"] pair")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Point, A::Error> {
                let time: f64 = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let value: Value = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                Ok(Point((time * 1000.0).round() as i64, value.0))
            }
        }
        deserializer.deserialize_seq(PointVisitor)
    }
}

/// A sample value as the API writes it (`"1.5"`, `"NaN"`, `"+Inf"`).
struct Value(f64);

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl Visitor<'_> for ValueVisitor {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sample value as a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Value, E> {
                Ok(Value(parse_value(text)))
            }
        }
        deserializer.deserialize_str(ValueVisitor)
    }
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    metric: Labels,
    #[serde(default)]
    values: Vec<Point>,
}

#[derive(Deserialize)]
struct Matrix {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: Vec<Series>,
}

#[derive(Deserialize)]
struct MetadataEntry {
    #[serde(rename = "type", default)]
    kind: String,
}

/// Raw-sample and metadata calls on one server (Prometheus or VictoriaMetrics).
#[derive(Clone, Debug)]
pub struct RawClient {
    http: HttpClient,
}

impl RawClient {
    pub fn new(http: HttpClient) -> Self {
        Self { http }
    }

    pub(super) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The stored samples of `selector` in (at − range_seconds, at] (Prometheus 2 also
    /// includes a sample at exactly at − range): `selector[<range>s]` evaluated at `at`.
    pub async fn samples(
        &self,
        selector: &str,
        range_seconds: i64,
        at: DateTime<Utc>,
    ) -> Result<Vec<RawSeries>, PrometheusError> {
        let form = [
            ("query", format!("{selector}[{range_seconds}s]")),
            ("time", api_time(at)),
        ];
        let matrix: Matrix = self.call(Method::POST, "api/v1/query", &form).await?;
        if matrix.result_type != "matrix" {
            return Err(PrometheusError::ResultType(matrix.result_type));
        }
        Ok(matrix
            .result
            .into_iter()
            .map(|s| RawSeries {
                labels: s.metric,
                points: s.values.into_iter().map(|Point(t, v)| (t, v)).collect(),
            })
            .collect())
    }

    /// Metric name → type (`counter`, `gauge`, `histogram`, `summary`, ...) from
    /// `/api/v1/metadata`; the first type listed wins when targets disagree.
    pub async fn metadata(&self) -> Result<BTreeMap<String, String>, PrometheusError> {
        let data: BTreeMap<String, Vec<MetadataEntry>> = self.call(Method::GET, "api/v1/metadata", &[]).await?;
        Ok(data
            .into_iter()
            .filter_map(|(name, entries)| entries.into_iter().next().map(|e| (name, e.kind)))
            .collect())
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
    ) -> Result<T, PrometheusError> {
        api_call(&self.http, method, path, form).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_decode_into_millisecond_points() {
        let body = r#"{"resultType":"matrix","result":[{"metric":{"__name__":"x","a":"q\"b"},
            "values":[[1700000000.123,"1.5"],[1700000015,"NaN"],[1700000030,"+Inf"]]}]}"#;
        let matrix: Matrix = serde_json::from_str(body).unwrap();
        let series = &matrix.result[0];
        assert_eq!(series.metric["a"], "q\"b");
        let points: Vec<(i64, f64)> = series.values.iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(points[0], (1_700_000_000_123, 1.5));
        assert!(points[1].1.is_nan());
        assert_eq!(points[2], (1_700_000_030_000, f64::INFINITY));
    }
}
