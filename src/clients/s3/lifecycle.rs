//! The bucket's lifecycle rules, read once into plain values: which prefix each covers,
//! its transitions, and whether it aborts abandoned multipart uploads.

use super::{ArchiveStore, S3Error};

/// One lifecycle rule of the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRule {
    /// The key prefix the rule filters on (empty: the whole bucket).
    pub prefix: String,
    pub enabled: bool,
    /// (days, storage class) of each transition.
    pub transitions: Vec<(i32, String)>,
    /// Whether it aborts incomplete multipart uploads.
    pub aborts_incomplete_uploads: bool,
}

impl LifecycleRule {
    /// Whether the rule is on and applies to keys under `prefix`.
    pub fn covers(&self, prefix: &str) -> bool {
        self.enabled && prefix.starts_with(self.prefix.as_str())
    }
}

impl ArchiveStore {
    /// The bucket's lifecycle rules; no configuration at all is an empty list.
    pub async fn lifecycle_rules(&self) -> Result<Vec<LifecycleRule>, S3Error> {
        match self
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(output) => Ok(output
                .rules()
                .iter()
                .map(|rule| {
                    #[allow(deprecated)]
                    let prefix = rule
                        .filter()
                        .and_then(|f| f.prefix().map(str::to_string))
                        .or_else(|| rule.prefix().map(str::to_string))
                        .unwrap_or_default();
                    LifecycleRule {
                        prefix,
                        enabled: rule.status().as_str() == "Enabled",
                        transitions: rule
                            .transitions()
                            .iter()
                            .map(|t| {
                                (
                                    t.days().unwrap_or(0),
                                    t.storage_class().map(|c| c.as_str().to_string()).unwrap_or_default(),
                                )
                            })
                            .collect(),
                        aborts_incomplete_uploads: rule.abort_incomplete_multipart_upload().is_some(),
                    }
                })
                .collect()),
            Err(error) => {
                let error = self.err("GetBucketLifecycleConfiguration", "", error);
                if error.status == Some(404) {
                    Ok(Vec::new())
                } else {
                    Err(error)
                }
            }
        }
    }
}
