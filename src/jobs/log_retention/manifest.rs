//! `manifest.json`: the last object of an archive, written only once every part is uploaded.
//! Its presence means "complete"; verification checks each part against it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::clients::s3::ArchiveStore;
use crate::jobs::JobError;

pub const MANIFEST: &str = "manifest.json";
pub const FORMAT: u32 = 1;
/// What each line of a part holds.
pub const LINE_FORMAT: &str = "ndjson: {\"_id\": string, \"_routing\"?: string, \"_source\": object}";

/// One part object: gzip NDJSON, one `{"_id":..,"_source":..}` per line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Part {
    /// File name inside the index folder.
    pub name: String,
    pub docs: u64,
    /// Compressed size in bytes (the object's size).
    pub size: u64,
    /// sha-256 of the object's bytes, hex.
    pub sha256: String,
    /// Uncompressed NDJSON bytes.
    pub raw_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimeRange {
    pub field: String,
    pub min: Option<serde_json::Value>,
    pub max: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub index: String,
    /// The date the job aged the index by.
    pub date: NaiveDate,
    pub doc_count: u64,
    pub parts: Vec<Part>,
    pub mappings: serde_json::Value,
    /// Flat index settings as they were (restore drops the ones an index cannot be created with).
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub time_range: Option<TimeRange>,
    pub compression: String,
    pub line_format: String,
    pub archived_at: DateTime<Utc>,
    pub run_id: String,
    pub tool: String,
    /// `distribution version` of the cluster exported from.
    pub source_cluster: String,
    /// The archived index's `index.uuid`: a later index of the same name is another index.
    /// Absent in archives written before almanac recorded it.
    #[serde(default)]
    pub index_uuid: Option<String>,
    #[serde(default)]
    pub cluster_uuid: Option<String>,
    #[serde(default)]
    pub cluster_name: Option<String>,
    /// The job that wrote the archive: only that job transitions and expires it.
    #[serde(default)]
    pub job: Option<String>,
    /// That job's index pattern.
    #[serde(default)]
    pub pattern: Option<String>,
}

impl Manifest {
    /// Internal consistency: counts add up.
    pub fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("manifest format {} is not {FORMAT}", self.format));
        }
        let sum: u64 = self.parts.iter().map(|p| p.docs).sum();
        if sum != self.doc_count {
            return Err(format!("parts hold {sum} documents, manifest says {}", self.doc_count));
        }
        Ok(())
    }
}

pub fn key(store: &ArchiveStore, index: &str) -> String {
    store.key(&format!("{index}/{MANIFEST}"))
}

pub fn part_key(store: &ArchiveStore, index: &str, name: &str) -> String {
    store.key(&format!("{index}/{name}"))
}

pub async fn read(store: &ArchiveStore, index: &str) -> Result<Option<Manifest>, JobError> {
    let key = key(store, index);
    let Some(bytes) = store.get_small(&key).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| JobError::fatal(anyhow::anyhow!("s3://{}/{key}: invalid manifest: {e}", store.bucket)))
}

/// Writes the manifest unless one exists (`If-None-Match: *`). Ok(false): another run's is there.
pub async fn write_if_absent(store: &ArchiveStore, manifest: &Manifest) -> Result<bool, JobError> {
    let body = serde_json::to_vec_pretty(manifest).map_err(JobError::fatal)?;
    Ok(store.put(&key(store, &manifest.index), body.into(), true).await?)
}
