//! Prometheus remote-write client (protocol 0.1.0: protobuf `WriteRequest`, snappy block
//! compression) for Prometheus' receiver and VictoriaMetrics' `/api/v1/write`, typed errors.

use std::collections::BTreeMap;

use bytes::Bytes;
use reqwest::Method;

use crate::clients::error::Transience;
use crate::clients::http::{HttpClient, HttpError};

/// `prometheus.WriteRequest` (remote.proto; field 3, metadata, is not sent).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name, samples in time order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`. The proto says `string`; `bytes` has the same encoding and lets the
/// rollups of one series share their label values (a clone is a reference count).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(bytes = "bytes", tag = "1")]
    pub name: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `prometheus.Sample`: value and milliseconds since the epoch.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

impl TimeSeries {
    /// One series from a label map (`__name__` included); a `BTreeMap` keeps them sorted.
    pub fn new(labels: &BTreeMap<String, String>, samples: Vec<Sample>) -> Self {
        Self {
            labels: labels
                .iter()
                .map(|(name, value)| Label {
                    name: Bytes::copy_from_slice(name.as_bytes()),
                    value: Bytes::copy_from_slice(value.as_bytes()),
                })
                .collect(),
            samples,
        }
    }
}

const NAME: &str = "__name__";

/// The labels of a series but its name, converted once, for several series that differ only
/// by name (the rollups of one raw series).
#[derive(Debug, Clone)]
pub struct LabelSet {
    /// Sorted by name, without `__name__`.
    rest: Vec<Label>,
    /// Where `__name__` goes to keep the order.
    at: usize,
}

impl LabelSet {
    pub fn new(labels: &BTreeMap<String, String>) -> Self {
        let rest: Vec<Label> = labels
            .iter()
            .filter(|(name, _)| name.as_str() != NAME)
            .map(|(name, value)| Label {
                name: Bytes::copy_from_slice(name.as_bytes()),
                value: Bytes::copy_from_slice(value.as_bytes()),
            })
            .collect();
        let at = rest.partition_point(|l| l.name.as_ref() < NAME.as_bytes());
        Self { rest, at }
    }

    /// The series named `name` with these labels.
    pub fn series(&self, name: Bytes, samples: Vec<Sample>) -> TimeSeries {
        let mut labels = Vec::with_capacity(self.rest.len() + 1);
        labels.extend_from_slice(&self.rest[..self.at]);
        labels.push(Label {
            name: Bytes::from_static(NAME.as_bytes()),
            value: name,
        });
        labels.extend_from_slice(&self.rest[self.at..]);
        TimeSeries { labels, samples }
    }
}

/// Which server receives the samples: it decides what a refusal means and which setting fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    Prometheus,
    VictoriaMetrics,
}

/// A failed remote write.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error(transparent)]
    Http(HttpError),
    /// The receiver refused samples older than it accepts (a retry gets the same answer).
    #[error("{url} refused samples as too old ({message}): {hint}")]
    TooOld {
        url: String,
        message: String,
        hint: &'static str,
    },
    /// Prometheus without `--web.enable-remote-write-receiver`.
    #[error("{url} does not accept remote write ({message}): start Prometheus with --web.enable-remote-write-receiver")]
    NotEnabled { url: String, message: String },
    /// Any other refusal of the request itself (bad labels, a duplicate sample with another value).
    #[error("{url} refused the samples ({status}): {message}")]
    Refused { url: String, status: u16, message: String },
}

impl Transience for RemoteWriteError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Http(error) => error.is_transient(),
            Self::TooOld { .. } | Self::NotEnabled { .. } | Self::Refused { .. } => false,
        }
    }
}

/// The setting that makes a receiver accept old samples, for the `TooOld` message.
pub fn too_old_hint(receiver: Receiver) -> &'static str {
    match receiver {
        Receiver::Prometheus => {
            "Prometheus accepts samples older than its head block only with an out-of-order window: \
             set `storage: tsdb: out_of_order_time_window` in its configuration file to at least the age \
             of the oldest window to write (e.g. 30d), and check --storage.tsdb.retention.time"
        }
        Receiver::VictoriaMetrics => {
            "VictoriaMetrics keeps samples within -retentionPeriod only: raise -retentionPeriod above the age \
             of the oldest window to write"
        }
    }
}

/// Classifies a refusal from its status and body (the receivers answer in plain text).
pub fn classify(receiver: Receiver, url: String, status: u16, body: &str) -> RemoteWriteError {
    let message = body.trim().to_string();
    let lower = message.to_ascii_lowercase();
    let old = [
        "out of bounds",
        "too old",
        "out of order",
        "outside the retention",
        "retention",
    ];
    if status == 404 || lower.contains("remote write receiver needs to be enabled") {
        RemoteWriteError::NotEnabled { url, message }
    } else if status == 400 && old.iter().any(|needle| lower.contains(needle)) {
        RemoteWriteError::TooOld {
            url,
            message,
            hint: too_old_hint(receiver),
        }
    } else {
        RemoteWriteError::Refused { url, status, message }
    }
}

/// Sends `WriteRequest`s to `<base>/api/v1/write`.
#[derive(Clone, Debug)]
pub struct RemoteWriteClient {
    http: HttpClient,
    receiver: Receiver,
}

const PATH: &str = "api/v1/write";

impl RemoteWriteClient {
    pub fn new(http: HttpClient, receiver: Receiver) -> Self {
        Self { http, receiver }
    }

    pub fn receiver(&self) -> Receiver {
        self.receiver
    }

    /// The write URL without credentials, for messages.
    pub fn shown_url(&self) -> String {
        self.http.shown_url(PATH)
    }

    /// Encodes, compresses and sends one request; returns the compressed body size.
    pub async fn write(&self, request: &WriteRequest) -> Result<usize, RemoteWriteError> {
        let body = encode(request);
        let size = body.len();
        let builder = self
            .http
            .request(Method::POST, PATH)
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body);
        match self.http.send(builder, PATH).await {
            Ok(_) => Ok(size),
            Err(HttpError::Status { url, status, body, .. }) if status.is_client_error() => {
                Err(classify(self.receiver, url, status.as_u16(), &body))
            }
            Err(error) => Err(RemoteWriteError::Http(error)),
        }
    }
}

/// Protobuf encoding, then snappy's raw block format (not the framed one), as remote write
/// and remote read ask.
pub fn encode(request: &impl prost::Message) -> Vec<u8> {
    let bytes = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&bytes)
        .expect("snappy compresses any input below 4 GiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_protobuf_and_snappy() {
        let labels = BTreeMap::from([
            ("__name__".to_string(), "up:1h_avg".to_string()),
            ("job".to_string(), "x".to_string()),
        ]);
        let request = WriteRequest {
            timeseries: vec![TimeSeries::new(
                &labels,
                vec![Sample {
                    value: 0.5,
                    timestamp: 1_700_003_599_999,
                }],
            )],
        };
        let body = encode(&request);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let decoded: WriteRequest = prost::Message::decode(raw.as_slice()).unwrap();
        assert_eq!(decoded, request);
        assert_eq!(decoded.timeseries[0].labels[0].name, "__name__");
        // The same series through a LabelSet; `__name__` keeps its sorted place.
        let set = LabelSet::new(&labels);
        let again = set.series(Bytes::from_static(b"up:1h_avg"), request.timeseries[0].samples.clone());
        assert_eq!(again, request.timeseries[0]);
        let odd = BTreeMap::from([
            ("Zone".to_string(), "z".to_string()),
            ("__name__".to_string(), "x".to_string()),
            ("a".to_string(), "y".to_string()),
        ]);
        assert_eq!(
            LabelSet::new(&odd).series(Bytes::from_static(b"x"), Vec::new()),
            TimeSeries::new(&odd, Vec::new())
        );
        // Field numbers of remote.proto: timeseries=1; labels=1, samples=2; value=1 (double), timestamp=2.
        let bytes = prost::Message::encode_to_vec(&request);
        assert_eq!(bytes[0], 0x0a, "WriteRequest.timeseries is field 1, length-delimited");
    }

    #[test]
    fn refusals_name_the_setting_that_fixes_them() {
        let url = "http://p:9090/api/v1/write".to_string();
        let error = classify(Receiver::Prometheus, url.clone(), 400, "out of bounds\n");
        assert!(matches!(error, RemoteWriteError::TooOld { .. }));
        assert!(error.to_string().contains("out_of_order_time_window"), "{error}");
        assert!(!error.is_transient());
        let error = classify(Receiver::Prometheus, url.clone(), 400, "too old sample");
        assert!(error.to_string().contains("out_of_order_time_window"), "{error}");
        let error = classify(
            Receiver::VictoriaMetrics,
            url.clone(),
            400,
            "samples outside the retention",
        );
        assert!(error.to_string().contains("-retentionPeriod"), "{error}");
        let error = classify(
            Receiver::Prometheus,
            url.clone(),
            404,
            "remote write receiver needs to be enabled with --web.enable-remote-write-receiver",
        );
        assert!(matches!(error, RemoteWriteError::NotEnabled { .. }));
        let error = classify(Receiver::Prometheus, url, 400, "duplicate sample for timestamp");
        assert!(matches!(error, RemoteWriteError::Refused { status: 400, .. }));
    }
}
