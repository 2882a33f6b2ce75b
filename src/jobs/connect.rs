//! The clients a job builds from jobs.toml's connection sections, one function per server, so
//! every job (and `almanac restore`) says the same thing when a section is missing.

use super::{Config, JobError};
use crate::clients::prometheus::PrometheusClient;
use crate::clients::s3::ArchiveStore;
use crate::clients::search::SearchClient;

fn missing(section: &str) -> JobError {
    // The loader refuses a job whose kind needs a missing section; this is the backstop.
    JobError::Usage(format!("[{section}] is missing from the configuration"))
}

pub fn prometheus(config: &Config) -> Result<PrometheusClient, JobError> {
    let endpoint = config.prometheus.as_ref().ok_or_else(|| missing("prometheus"))?;
    Ok(PrometheusClient::new(endpoint)?)
}

pub fn search(config: &Config) -> Result<SearchClient, JobError> {
    let endpoint = config.search.as_ref().ok_or_else(|| missing("search"))?;
    Ok(SearchClient::new(endpoint)?)
}

/// The archive store, its prefix set by `prefix_of` from `[s3]` (a job's own prefix).
pub async fn archive(
    config: &Config,
    prefix_of: impl FnOnce(&crate::config::S3Config) -> String,
) -> Result<ArchiveStore, JobError> {
    let s3 = config.s3.as_ref().ok_or_else(|| missing("s3"))?;
    let mut store = ArchiveStore::new(s3).await?;
    store.prefix = prefix_of(s3);
    Ok(store)
}
