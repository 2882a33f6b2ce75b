//! Prometheus remote read (`/api/v1/read`, protocol 0.1.0) answered as streamed XOR chunks:
//! the stored samples of a selector, far cheaper for the server to send than JSON.

use std::collections::BTreeMap;

use bytes::{Buf, Bytes, BytesMut};
use reqwest::Method;

use super::raw::{RawClient, RawSeries};
use super::xor::{self, STALE_NAN};
use super::{Labels, PrometheusError};
use crate::clients::http::HttpError;

/// `prometheus.ReadRequest` (remote.proto).
#[derive(Clone, PartialEq, prost::Message)]
struct ReadRequest {
    #[prost(message, repeated, tag = "1")]
    queries: Vec<Query>,
    /// `ResponseType`: 1 = STREAMED_XOR_CHUNKS, the only one asked for.
    #[prost(int32, repeated, tag = "2")]
    accepted_response_types: Vec<i32>,
}

/// `prometheus.Query`: both bounds inclusive, in milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
struct Query {
    #[prost(int64, tag = "1")]
    start_timestamp_ms: i64,
    #[prost(int64, tag = "2")]
    end_timestamp_ms: i64,
    #[prost(message, repeated, tag = "3")]
    matchers: Vec<LabelMatcher>,
}

/// `prometheus.LabelMatcher`. Regexes are anchored by the server, as in PromQL.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LabelMatcher {
    /// 0 `=`, 1 `!=`, 2 `=~`, 3 `!~`.
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub value: String,
}

/// `prometheus.ChunkedReadResponse`: one frame of the stream. A series may continue in the
/// next frame; once another starts, the previous one is complete.
#[derive(Clone, PartialEq, prost::Message)]
struct ChunkedReadResponse {
    #[prost(message, repeated, tag = "1")]
    chunked_series: Vec<ChunkedSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ChunkedSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    chunks: Vec<Chunk>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Chunk {
    #[prost(int64, tag = "1")]
    min_time_ms: i64,
    #[prost(int64, tag = "2")]
    max_time_ms: i64,
    /// 1 = XOR (floats); 2 and 3 are native histograms.
    #[prost(int32, tag = "3")]
    encoding: i32,
    #[prost(bytes = "bytes", tag = "4")]
    data: Bytes,
}

const PATH: &str = "api/v1/read";
const STREAMED_XOR_CHUNKS: i32 = 1;
const XOR: i32 = 1;

impl RawClient {
    /// The stored float samples of the series `matchers` select with `start_ms <= t <= end_ms`,
    /// in time order, stale markers left out: what `selector[range]` answers, through remote
    /// read. Native-histogram chunks are skipped, as the JSON path skips histogram samples.
    pub async fn read(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<RawSeries>, PrometheusError> {
        let http = self.http();
        let url = http.shown_url(PATH);
        let request = ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: start_ms,
                end_timestamp_ms: end_ms,
                matchers: matchers.to_vec(),
            }],
            accepted_response_types: vec![STREAMED_XOR_CHUNKS],
        };
        let body = crate::clients::remote_write::encode(&request);
        let builder = http
            .request(Method::POST, PATH)
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .header("X-Prometheus-Remote-Read-Version", "0.1.0")
            .body(body);
        let mut response = http.send(builder, PATH).await?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let decode_error = |message: String| {
            PrometheusError::Http(HttpError::Decode {
                url: url.clone(),
                message,
            })
        };
        if !content_type.starts_with("application/x-streamed-protobuf") {
            return Err(decode_error(format!(
                "remote read answered {content_type:?}, not streamed chunks (Prometheus 2.13 or later streams \
                 them; set raw_read = \"query\" to use the query API instead)"
            )));
        }
        let mut series = SeriesBuilder::new(start_ms, end_ms);
        let mut buffer = BytesMut::new();
        while let Some(part) = response
            .chunk()
            .await
            .map_err(|e| PrometheusError::Http(http.transport_error(url.clone(), e)))?
        {
            buffer.extend_from_slice(&part);
            while let Some(frame) = next_frame(&mut buffer).map_err(decode_error)? {
                let message: ChunkedReadResponse =
                    prost::Message::decode(frame).map_err(|e| decode_error(format!("remote read frame: {e}")))?;
                for one in message.chunked_series {
                    series.push(one).map_err(|e| decode_error(e.to_string()))?;
                }
            }
        }
        if !buffer.is_empty() {
            return Err(decode_error(format!(
                "remote read stream ends inside a frame ({} bytes left)",
                buffer.len()
            )));
        }
        Ok(series.finish())
    }
}

/// Takes one complete frame (`uvarint length`, big-endian CRC-32C of the data, data) off the
/// front of `buffer`, if it holds one.
fn next_frame(buffer: &mut BytesMut) -> Result<Option<Bytes>, String> {
    let mut length = 0u64;
    let mut header = None;
    for (i, byte) in buffer.iter().take(10).enumerate() {
        length |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            header = Some(i + 1);
            break;
        }
    }
    let Some(varint) = header else {
        return if buffer.len() >= 10 {
            Err("remote read frame length is not a varint".into())
        } else {
            Ok(None)
        };
    };
    let length = usize::try_from(length).map_err(|_| "remote read frame too long".to_string())?;
    if buffer.len() < varint + 4 + length {
        return Ok(None);
    }
    buffer.advance(varint);
    let expected = buffer.get_u32();
    let data = buffer.split_to(length).freeze();
    let actual = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, &data) as u32;
    if actual != expected {
        return Err(format!(
            "remote read frame checksum mismatch ({actual:08x}, expected {expected:08x})"
        ));
    }
    Ok(Some(data))
}

/// Series as the frames give them: consecutive parts of one series merged, samples kept in
/// the asked range, stale markers dropped.
struct SeriesBuilder {
    start_ms: i64,
    end_ms: i64,
    done: Vec<RawSeries>,
    /// The series being read and its labels as sent (to recognise its next part).
    current: Option<(Vec<Label>, RawSeries)>,
}

impl SeriesBuilder {
    fn new(start_ms: i64, end_ms: i64) -> Self {
        Self {
            start_ms,
            end_ms,
            done: Vec::new(),
            current: None,
        }
    }

    fn push(&mut self, part: ChunkedSeries) -> Result<(), xor::ChunkError> {
        if self.current.as_ref().is_none_or(|(labels, _)| *labels != part.labels) {
            self.close();
            let labels: Labels = part
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect::<BTreeMap<_, _>>();
            self.current = Some((
                part.labels,
                RawSeries {
                    labels,
                    points: Vec::new(),
                },
            ));
        }
        let Some((_, series)) = self.current.as_mut() else {
            return Ok(());
        };
        let (start, end) = (self.start_ms, self.end_ms);
        for chunk in part.chunks {
            if chunk.encoding != XOR || chunk.max_time_ms < start || chunk.min_time_ms > end {
                continue;
            }
            xor::decode(&chunk.data, |t, bits| {
                if (start..=end).contains(&t) && bits != STALE_NAN {
                    series.points.push((t, f64::from_bits(bits)));
                }
            })?;
        }
        Ok(())
    }

    fn close(&mut self) {
        if let Some((_, mut series)) = self.current.take() {
            // Chunks come in time order and do not overlap; if a server ever sends otherwise,
            // the first sample at each time wins, as in the query API's merge.
            if series.points.windows(2).any(|w| w[0].0 >= w[1].0) {
                series.points.sort_by_key(|p| p.0);
                series.points.dedup_by_key(|p| p.0);
            }
            if !series.points.is_empty() {
                // Held for a group of hours: no growth slack.
                series.points.shrink_to_fit();
                self.done.push(series);
            }
        }
    }

    fn finish(mut self) -> Vec<RawSeries> {
        self.close();
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut length = data.len() as u64;
        loop {
            let byte = (length & 0x7f) as u8;
            length >>= 7;
            if length == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32;
        out.extend(crc.to_be_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn frames_are_cut_where_they_end_and_checked() {
        let body: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut stream = frame(&body);
        stream.extend(frame(b"second"));
        // Arriving a byte at a time, each frame comes out whole, once.
        let mut buffer = BytesMut::new();
        let mut frames = Vec::new();
        for byte in &stream {
            buffer.extend_from_slice(&[*byte]);
            while let Some(f) = next_frame(&mut buffer).unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames, vec![Bytes::from(body), Bytes::from_static(b"second")]);
        assert!(buffer.is_empty());

        let mut corrupt = frame(b"payload");
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        let mut buffer = BytesMut::from(&corrupt[..]);
        assert!(next_frame(&mut buffer).unwrap_err().contains("checksum"));
    }

    fn part(name: &str, chunks: Vec<Chunk>) -> ChunkedSeries {
        ChunkedSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: name.into(),
            }],
            chunks,
        }
    }

    fn xor_chunk(samples: &[(i64, f64)]) -> Chunk {
        Chunk {
            min_time_ms: samples[0].0,
            max_time_ms: samples[samples.len() - 1].0,
            encoding: XOR,
            data: Bytes::from(crate::clients::prometheus::xor::tests::encode(samples)),
        }
    }

    #[test]
    fn series_split_across_frames_are_merged_and_cut_to_the_range() {
        let mut builder = SeriesBuilder::new(100, 400);
        let stale = f64::from_bits(STALE_NAN);
        builder
            .push(part("a", vec![xor_chunk(&[(0, 1.0), (100, 2.0), (200, stale)])]))
            .unwrap();
        // The same series continued in the next frame, then a histogram chunk (skipped).
        builder
            .push(part("a", vec![xor_chunk(&[(300, 3.0), (400, 4.0), (500, 5.0)])]))
            .unwrap();
        let histogram = Chunk {
            encoding: 2,
            ..xor_chunk(&[(150, 9.0)])
        };
        builder.push(part("b", vec![histogram])).unwrap();
        builder.push(part("c", vec![xor_chunk(&[(250, 7.0)])])).unwrap();
        let series = builder.finish();
        let names: Vec<&str> = series.iter().map(|s| s.labels["__name__"].as_str()).collect();
        assert_eq!(names, ["a", "c"], "a series without float samples is left out");
        assert_eq!(series[0].points, vec![(100, 2.0), (300, 3.0), (400, 4.0)]);
        assert_eq!(series[1].points, vec![(250, 7.0)]);
    }

    #[test]
    fn overlapping_chunks_keep_one_sample_per_time_in_order() {
        let mut builder = SeriesBuilder::new(0, 1000);
        builder
            .push(part(
                "a",
                vec![xor_chunk(&[(10, 1.0), (30, 3.0)]), xor_chunk(&[(20, 2.0), (30, 3.0)])],
            ))
            .unwrap();
        assert_eq!(builder.finish()[0].points, vec![(10, 1.0), (20, 2.0), (30, 3.0)]);
    }

    #[test]
    fn a_corrupt_chunk_is_an_error() {
        let mut chunk = xor_chunk(&[(10, 1.0), (30, 3.0), (50, 4.0)]);
        chunk.data = chunk.data.slice(..chunk.data.len() - 1);
        assert!(SeriesBuilder::new(0, 100).push(part("a", vec![chunk])).is_err());
    }

    #[test]
    fn crc_is_castagnoli() {
        // The CRC-32C check value.
        assert_eq!(
            crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, b"123456789"),
            0xe306_9283
        );
    }
}
