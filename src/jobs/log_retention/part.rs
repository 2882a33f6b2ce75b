//! One archive part being written: NDJSON lines gzip-compressed in batches, hashed (sha-256,
//! per-chunk MD5), checked line by line on the blocking pool, and uploaded chunk by chunk.

use std::collections::VecDeque;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use md5::Md5;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tracing::warn;

use super::Settings;
use super::export::{ExportedPart, IN_FLIGHT, fatal, hex, multipart_etag};
use super::manifest::{self, Part};
use super::ndjson::{self, PartChecker};
use crate::clients::s3::{ArchiveStore, MultipartUpload, S3Error};
use crate::jobs::JobError;

/// Counts the uncompressed bytes going into the encoder.
struct CountingWriter<'a, W> {
    inner: &'a mut W,
    written: u64,
}

impl<W: std::io::Write> std::io::Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One part object being compressed and uploaded chunk by chunk. Every chunk also goes to a
/// checker on the blocking pool that decompresses and parses it, in parallel with the upload.
pub(super) struct PartWriter {
    pub(super) name: String,
    pub(super) key: String,
    pub(super) upload: MultipartUpload,
    pub(super) encoder: GzEncoder<Vec<u8>>,
    pub(super) sha: Sha256,
    md5s: Vec<[u8; 16]>,
    pub(super) chunk: usize,
    pub(super) size: u64,
    pub(super) raw: u64,
    pub(super) docs: u64,
    pub(super) next_number: i32,
    pub(super) in_flight: VecDeque<JoinHandle<Result<aws_sdk_s3::types::CompletedPart, S3Error>>>,
    pub(super) done: Vec<aws_sdk_s3::types::CompletedPart>,
    pub(super) checker_tx: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>,
    pub(super) checker: Option<JoinHandle<Result<u64, String>>>,
    /// Lines not yet given to the compressor.
    pub(super) lines: Vec<u8>,
}

/// Lines are handed to the compressor in batches of about this many bytes.
const LINES_BATCH: usize = 128 << 10;
/// A `_source` above this is written straight into the compressor.
const BIG_SOURCE: usize = 1 << 20;

impl PartWriter {
    pub(super) async fn start(
        store: &ArchiveStore,
        index: &str,
        name: String,
        settings: &Settings,
    ) -> Result<Self, JobError> {
        let key = manifest::part_key(store, index, &name);
        let upload = MultipartUpload::start(store, &key).await?;
        let (checker_tx, mut checker_rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(IN_FLIGHT);
        let checker = tokio::task::spawn_blocking(move || {
            let mut checker = PartChecker::default();
            while let Some(chunk) = checker_rx.blocking_recv() {
                checker.update(&chunk)?;
            }
            checker.finish()
        });
        Ok(Self {
            name,
            key,
            upload,
            encoder: GzEncoder::new(
                Vec::with_capacity(settings.chunk_bytes + (64 << 10)),
                Compression::new(settings.compression_level),
            ),
            sha: Sha256::new(),
            md5s: Vec::new(),
            chunk: settings.chunk_bytes,
            size: 0,
            raw: 0,
            docs: 0,
            next_number: 1,
            in_flight: VecDeque::new(),
            done: Vec::new(),
            checker_tx: Some(checker_tx),
            checker: Some(checker),
            lines: Vec::with_capacity(LINES_BATCH + (16 << 10)),
        })
    }

    /// Adds a document's line. Lines are gathered and compressed 128 KiB at a time (one
    /// deflate call per line costs more than the line); a big document (over 1 MiB) goes
    /// straight into the compressor, without a copy of it.
    pub(super) fn write_doc(&mut self, id: &str, routing: Option<&str>, source: &[u8]) -> Result<(), JobError> {
        if source.len() > BIG_SOURCE {
            self.flush_lines()?;
            let mut counting = CountingWriter {
                inner: &mut self.encoder,
                written: 0,
            };
            ndjson::write_line(&mut counting, id, routing, source).map_err(JobError::fatal)?;
            self.raw += counting.written;
            return Ok(());
        }
        let before = self.lines.len();
        ndjson::push_line(&mut self.lines, id, routing, source).map_err(JobError::fatal)?;
        self.raw += (self.lines.len() - before) as u64;
        if self.lines.len() >= LINES_BATCH {
            self.flush_lines()?;
        }
        Ok(())
    }

    pub(super) fn flush_lines(&mut self) -> Result<(), JobError> {
        if !self.lines.is_empty() {
            self.encoder.write_all(&self.lines).map_err(JobError::fatal)?;
            self.lines.clear();
        }
        Ok(())
    }

    pub(super) fn pending(&self) -> usize {
        self.encoder.get_ref().len()
    }

    pub(super) async fn flush_ready(&mut self) -> Result<(), JobError> {
        self.flush_lines()?;
        if self.pending() >= self.chunk {
            let data = std::mem::replace(self.encoder.get_mut(), Vec::with_capacity(self.chunk + (64 << 10)));
            self.send(data).await?;
        }
        Ok(())
    }

    pub(super) async fn send(&mut self, data: Vec<u8>) -> Result<(), JobError> {
        self.sha.update(&data);
        self.md5s.push(Md5::digest(&data).into());
        self.size += data.len() as u64;
        let data = bytes::Bytes::from(data);
        if let Some(tx) = &self.checker_tx
            && tx.send(data.clone()).await.is_err()
        {
            // The checker stopped early: it has found a bad line; `finish` reports it.
            self.checker_tx = None;
        }
        while self.in_flight.len() >= IN_FLIGHT {
            self.wait_one().await?;
        }
        let number = self.next_number;
        self.next_number += 1;
        self.in_flight
            .push_back(tokio::spawn(self.upload.upload_part(number, data)));
        Ok(())
    }

    pub(super) async fn wait_one(&mut self) -> Result<(), JobError> {
        if let Some(handle) = self.in_flight.pop_front() {
            let part = handle.await.map_err(|e| fatal(format!("upload task failed: {e}")))??;
            self.done.push(part);
        }
        Ok(())
    }

    pub(super) async fn finish(mut self) -> Result<ExportedPart, JobError> {
        if let Err(error) = self.flush_lines() {
            self.abort().await;
            return Err(error);
        }
        let encoder = std::mem::replace(&mut self.encoder, GzEncoder::new(Vec::new(), Compression::fast()));
        let data = encoder.finish().map_err(JobError::fatal)?;
        let result = async {
            self.send(data).await?;
            while !self.in_flight.is_empty() {
                self.wait_one().await?;
            }
            self.checker_tx = None;
            let checked = match self.checker.take() {
                Some(handle) => handle.await.map_err(|e| fatal(format!("part checker failed: {e}")))?,
                None => Err("part checker missing".into()),
            };
            match checked {
                Ok(lines) if lines == self.docs => Ok(()),
                Ok(lines) => Err(fatal(format!(
                    "{}: {lines} lines written for {} documents; index kept",
                    self.key, self.docs
                ))),
                Err(error) => Err(fatal(format!(
                    "{}: the part would not restore ({error}); index kept",
                    self.key
                ))),
            }
        }
        .await;
        if let Err(error) = result {
            self.abort().await;
            return Err(error);
        }
        let part = Part {
            name: self.name.clone(),
            docs: self.docs,
            size: self.size,
            sha256: hex(&self.sha.clone().finalize()),
            raw_bytes: self.raw,
        };
        let expected_etag = multipart_etag(&self.md5s);
        self.upload.complete(std::mem::take(&mut self.done)).await?;
        Ok(ExportedPart { part, expected_etag })
    }

    pub(super) async fn abort(mut self) {
        for handle in &self.in_flight {
            handle.abort();
        }
        self.checker_tx = None;
        if let Some(checker) = self.checker.take() {
            checker.abort();
        }
        if let Err(error) = self.upload.abort().await {
            warn!(message = "cannot abort a multipart upload (the next run will)", %error);
        }
    }
}
