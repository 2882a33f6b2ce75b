//! S3 client for log archives (aws-sdk-s3), built from `[s3]`: static or default-chain
//! credentials, custom endpoint for S3-compatible servers.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;

use crate::clients::error::Transience;

mod classes;
mod lifecycle;
mod multipart;
pub use self::lifecycle::LifecycleRule;
pub use self::multipart::MultipartUpload;
use crate::config::S3Config;

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
        // DisplayErrorContext is the chain of causes followed by the Debug form of the whole
        // error in parentheses: keep the chain, each cause once.
        let mut message = DisplayErrorContext(&error).to_string();
        if let Some(chain) = message.strip_suffix(&format!(" ({error:?})")) {
            message = chain.to_string();
        }
        // A certificate the client does not trust stays untrusted: not retried.
        let tls = matches!(error, SdkError::DispatchFailure(_)) && crate::clients::http::is_tls_failure(&message);
        if tls {
            message.push_str(" (check the server's certificate; set ca_file in [s3] to the CA that signed it)");
        }
        let transient = !tls
            && match &error {
                SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
                SdkError::ServiceError(_) => status.is_some_and(|s| s >= 500 || s == 429),
                _ => false,
            };
        Self {
            operation,
            target: target.into(),
            message,
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
    /// A client for `[s3]`; fails only on an unusable `ca_file`.
    pub async fn new(config: &S3Config) -> Result<Self, S3Error> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(config.region.clone()));
        let tls = crate::config::TlsFiles {
            ca_file: config.ca_file.clone(),
            ..Default::default()
        };
        let setup_error = |message: String| S3Error {
            operation: "setup",
            target: config.bucket.clone(),
            message,
            transient: false,
            status: None,
        };
        if let Some(pem) = crate::clients::tls::ca_pem(&tls).map_err(|e| setup_error(e.to_string()))? {
            use aws_smithy_http_client::tls;
            // The system's roots plus the configured CA, as for the other HTTP clients.
            let trust = tls::TrustStore::default().with_pem_certificate(pem);
            let context = tls::TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .map_err(|e| setup_error(format!("ca_file: {e}")))?;
            let http = aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
                .tls_context(context)
                .build_https();
            loader = loader.http_client(http);
        }
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
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(s3_config),
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
        })
    }

    /// `prefix` + `key`, with exactly one `/` between them.
    pub fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{}", self.prefix.trim_end_matches('/'), key.trim_start_matches('/'))
        }
    }

    /// Whether the archive prefix can be listed: the reachability check. A listing under
    /// the prefix, not `HeadBucket`, which a policy scoped to the prefix refuses.
    pub async fn check_listable(&self) -> Result<(), S3Error> {
        let prefix = self.key("");
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .max_keys(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| S3Error::from_sdk("ListObjectsV2", format!("s3://{}/{prefix}", self.bucket), e))
    }
}

/// The precondition of a conditional write.
#[derive(Debug, Clone, Copy)]
pub enum Condition<'a> {
    /// The object must not exist (`If-None-Match: *`).
    Absent,
    /// The object must be at this ETag (`If-Match`).
    Matches(&'a str),
}

/// An object as a listing or HEAD shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// `STANDARD`, `GLACIER`, `DEEP_ARCHIVE`, ... (absent means STANDARD).
    pub storage_class: String,
    /// HEAD only: the `x-amz-restore` header (`ongoing-request="false", expiry-date=...`).
    pub restore: Option<String>,
    /// The object's ETag (quotes included, as S3 sends it).
    pub etag: Option<String>,
}

impl ObjectInfo {
    /// Whether a GET would be refused until the object is restored.
    pub fn is_frozen(&self) -> bool {
        matches!(self.storage_class.as_str(), "GLACIER" | "DEEP_ARCHIVE")
            && !self
                .restore
                .as_deref()
                .is_some_and(|r| r.contains("ongoing-request=\"false\""))
    }
}

/// Copies larger than this go through UploadPartCopy (S3's CopyObject limit is 5 GiB).
pub const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;
const COPY_PART: u64 = 512 * 1024 * 1024;

fn class_of(class: Option<&str>) -> String {
    class.filter(|c| !c.is_empty()).unwrap_or("STANDARD").to_string()
}

impl ArchiveStore {
    fn err<E>(
        &self,
        operation: &'static str,
        key: &str,
        error: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> S3Error
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        S3Error::from_sdk(operation, format!("s3://{}/{key}", self.bucket), error)
    }

    /// PutObject; with `only_if_absent`, sends `If-None-Match: *` and answers Ok(false) when
    /// the object already exists (412) instead of overwriting it.
    pub async fn put(&self, key: &str, body: bytes::Bytes, only_if_absent: bool) -> Result<bool, S3Error> {
        let mut request = self.client.put_object().bucket(&self.bucket).key(key).body(body.into());
        if only_if_absent {
            request = request.if_none_match("*");
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) => {
                let error = self.err("PutObject", key, error);
                if only_if_absent && matches!(error.status, Some(412) | Some(409)) {
                    Ok(false)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// PutObject under a precondition: `If-None-Match: *` (create only) or `If-Match: <etag>`
    /// (replace only that version). Some(new ETag) when written, None when the precondition
    /// failed (412, or 409 for a concurrent conditional write).
    pub async fn put_if(
        &self,
        key: &str,
        body: bytes::Bytes,
        condition: Condition<'_>,
    ) -> Result<Option<String>, S3Error> {
        let mut request = self.client.put_object().bucket(&self.bucket).key(key).body(body.into());
        request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Matches(etag) => request.if_match(etag),
        };
        match request.send().await {
            Ok(output) => Ok(Some(output.e_tag().unwrap_or_default().to_string())),
            Err(error) => {
                let error = self.err("PutObject", key, error);
                if matches!(error.status, Some(412) | Some(409)) {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// DeleteObject only if the object is still at `etag`; false when it is not.
    pub async fn delete_if(&self, key: &str, etag: &str) -> Result<bool, S3Error> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .if_match(etag)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(error) => {
                let error = self.err("DeleteObject", key, error);
                if matches!(error.status, Some(412) | Some(409) | Some(404)) {
                    Ok(false)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// A small object with its ETag. None if missing.
    pub async fn get_versioned(&self, key: &str) -> Result<Option<(bytes::Bytes, String)>, S3Error> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => {
                let etag = output.e_tag().unwrap_or_default().to_string();
                let data = output.body.collect().await.map_err(|e| S3Error {
                    operation: "GetObject",
                    target: format!("s3://{}/{key}", self.bucket),
                    message: e.to_string(),
                    transient: true,
                    status: None,
                })?;
                Ok(Some((data.into_bytes(), etag)))
            }
            Err(error) => {
                let error = self.err("GetObject", key, error);
                if error.status == Some(404) {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// The whole object in memory (manifests, locks: small objects only). None if missing.
    pub async fn get_small(&self, key: &str) -> Result<Option<bytes::Bytes>, S3Error> {
        Ok(self.get_versioned(key).await?.map(|(data, _)| data))
    }

    /// A streaming body for a large object.
    pub async fn get_stream(&self, key: &str) -> Result<aws_sdk_s3::primitives::ByteStream, S3Error> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|output| output.body)
            .map_err(|e| self.err("GetObject", key, e))
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, S3Error> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => Ok(Some(ObjectInfo {
                key: key.to_string(),
                size: output.content_length().unwrap_or(0).max(0) as u64,
                storage_class: class_of(output.storage_class().map(|c| c.as_str())),
                restore: output.restore().map(str::to_string),
                etag: output.e_tag().map(str::to_string),
            })),
            Err(error) => {
                let error = self.err("HeadObject", key, error);
                if error.status == Some(404) {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// Every object under `prefix` (paginated).
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, S3Error> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let output = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.err("ListObjectsV2", prefix, e))?;
            for object in output.contents() {
                out.push(ObjectInfo {
                    key: object.key().unwrap_or_default().to_string(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    storage_class: class_of(object.storage_class().map(|c| c.as_str())),
                    restore: None,
                    etag: object.e_tag().map(str::to_string),
                });
            }
            match output.next_continuation_token() {
                Some(next) if output.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => return Ok(out),
            }
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), S3Error> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("DeleteObject", key, e))
    }
}
