//! S3 client for log archives (aws-sdk-s3), built from `[s3]`: static or default-chain
//! credentials, custom endpoint for S3-compatible servers.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;

use crate::config::S3Config;
use crate::jobs::Transience;

/// A failed S3 call, with the operation and key it was about.
#[derive(Debug, thiserror::Error)]
#[error("S3 {operation} {target}: {message}")]
pub struct S3Error {
    pub operation: &'static str,
    pub target: String,
    pub message: String,
    pub transient: bool,
    /// HTTP status, when the server answered.
    pub status: Option<u16>,
}

impl Transience for S3Error {
    fn is_transient(&self) -> bool {
        self.transient
    }
}

impl S3Error {
    /// Classifies an SDK error: no answer, 5xx, throttling → transient.
    pub fn from_sdk<E>(
        operation: &'static str,
        target: impl Into<String>,
        error: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        use aws_sdk_s3::error::SdkError;
        let status = error.raw_response().map(|response| response.status().as_u16());
        let transient = match &error {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(_) => status.is_some_and(|s| s >= 500 || s == 429),
            _ => false,
        };
        Self {
            operation,
            target: target.into(),
            message: DisplayErrorContext(&error).to_string(),
            transient,
            status,
        }
    }
}

/// The bucket and prefix archives live under.
#[derive(Clone, Debug)]
pub struct ArchiveStore {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    pub prefix: String,
}

impl ArchiveStore {
    pub async fn new(config: &S3Config) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(config.region.clone()));
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(id, secret.expose(), None, None, "jobs.toml"));
        }
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint.0.as_str().trim_end_matches('/'));
        }
        let shared = loader.load().await;
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .operation_attempt_timeout(config.timeout.as_std())
            .build();
        let s3_config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.force_path_style.unwrap_or(config.endpoint.is_some()))
            .timeout_config(timeouts)
            // Our own sha-256 per part is the integrity check; extra CRC trailers are not
            // understood by every S3-compatible server.
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(s3_config),
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
        }
    }

    /// `prefix` + `key`, with exactly one `/` between them.
    pub fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{}", self.prefix.trim_end_matches('/'), key.trim_start_matches('/'))
        }
    }

    pub async fn head_bucket(&self) -> Result<(), S3Error> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| S3Error::from_sdk("HeadBucket", &self.bucket, e))
    }
}
