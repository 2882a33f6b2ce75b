//! S3 client for log archives (aws-sdk-s3), built from `[s3]`: static or default-chain
//! credentials, custom endpoint for S3-compatible servers.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;

use crate::clients::error::Transience;

mod lifecycle;
pub use self::lifecycle::LifecycleRule;
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

    /// Rewrites an object in place with another storage class (multipart copy above 5 GiB).
    pub async fn set_storage_class(&self, key: &str, size: u64, class: &str) -> Result<(), S3Error> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective, StorageClass};
        let source = format!("{}/{}", self.bucket, encode_key(key));
        let class = StorageClass::from(class);
        if size <= MAX_SINGLE_COPY {
            return self
                .client
                .copy_object()
                .bucket(&self.bucket)
                .key(key)
                .copy_source(&source)
                .storage_class(class)
                .metadata_directive(MetadataDirective::Copy)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.err("CopyObject", key, e));
        }
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .storage_class(class)
            .send()
            .await
            .map_err(|e| self.err("CreateMultipartUpload", key, e))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_string();
        let mut parts = Vec::new();
        let mut start = 0;
        let mut number = 1;
        while start < size {
            let end = (start + COPY_PART).min(size) - 1;
            let result = self
                .client
                .upload_part_copy()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(number)
                .copy_source(&source)
                .copy_source_range(format!("bytes={start}-{end}"))
                .send()
                .await;
            let output = match result {
                Ok(output) => output,
                Err(error) => {
                    let _ = self.abort(key, &upload_id).await;
                    return Err(self.err("UploadPartCopy", key, error));
                }
            };
            let etag = output.copy_part_result().and_then(|r| r.e_tag()).unwrap_or_default();
            parts.push(CompletedPart::builder().part_number(number).e_tag(etag).build());
            start = end + 1;
            number += 1;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("CompleteMultipartUpload", key, e))
    }

    /// Multipart uploads started under `prefix` and never completed: (key, upload id), every
    /// page of the listing.
    pub async fn dangling_uploads(&self, prefix: &str) -> Result<Vec<(String, String)>, S3Error> {
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker) = (None, None);
        loop {
            let output = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| self.err("ListMultipartUploads", prefix, e))?;
            out.extend(
                output
                    .uploads()
                    .iter()
                    .filter_map(|u| Some((u.key()?.to_string(), u.upload_id()?.to_string()))),
            );
            match (output.is_truncated(), output.next_key_marker()) {
                (Some(true), Some(next)) if !next.is_empty() => {
                    key_marker = Some(next.to_string());
                    id_marker = output.next_upload_id_marker().map(str::to_string);
                }
                _ => return Ok(out),
            }
        }
    }

    pub async fn abort(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("AbortMultipartUpload", key, e))
    }

    /// Asks S3 to restore a Glacier object for `days` days (`tier`: Expedited, Standard, Bulk).
    /// A restore already in progress (409) is not an error.
    pub async fn request_restore(&self, key: &str, days: i32, tier: &str) -> Result<(), S3Error> {
        use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, Tier};
        let request =
            RestoreRequest::builder()
                .days(days)
                .glacier_job_parameters(GlacierJobParameters::builder().tier(Tier::from(tier)).build().map_err(
                    |e| S3Error {
                        operation: "RestoreObject",
                        target: key.to_string(),
                        message: e.to_string(),
                        transient: false,
                        status: None,
                    },
                )?)
                .build();
        match self
            .client
            .restore_object()
            .bucket(&self.bucket)
            .key(key)
            .restore_request(request)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                let error = self.err("RestoreObject", key, error);
                if error.status == Some(409) { Ok(()) } else { Err(error) }
            }
        }
    }
}

/// Percent-encodes a key for `x-amz-copy-source` (slashes kept).
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A multipart upload fed chunk by chunk; aborted by the caller on failure (or later as a
/// dangling upload). Each chunk must be ≥ 5 MiB except the last.
pub struct MultipartUpload {
    store: ArchiveStore,
    pub key: String,
    upload_id: String,
}

impl MultipartUpload {
    pub async fn start(store: &ArchiveStore, key: &str) -> Result<Self, S3Error> {
        let output = store
            .client
            .create_multipart_upload()
            .bucket(&store.bucket)
            .key(key)
            .content_type("application/gzip")
            .send()
            .await
            .map_err(|e| store.err("CreateMultipartUpload", key, e))?;
        Ok(Self {
            store: store.clone(),
            key: key.to_string(),
            upload_id: output.upload_id().unwrap_or_default().to_string(),
        })
    }

    /// Uploads chunk `number` (from 1); the returned part goes to `complete`.
    pub fn upload_part(
        &self,
        number: i32,
        body: bytes::Bytes,
    ) -> impl Future<Output = Result<aws_sdk_s3::types::CompletedPart, S3Error>> + Send + 'static + use<> {
        let store = self.store.clone();
        let key = self.key.clone();
        let upload_id = self.upload_id.clone();
        async move {
            let output = store
                .client
                .upload_part()
                .bucket(&store.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .part_number(number)
                .body(body.into())
                .send()
                .await
                .map_err(|e| store.err("UploadPart", &key, e))?;
            Ok(aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .set_e_tag(output.e_tag().map(str::to_string))
                .build())
        }
    }

    pub async fn complete(self, mut parts: Vec<aws_sdk_s3::types::CompletedPart>) -> Result<(), S3Error> {
        parts.sort_by_key(|p| p.part_number());
        let upload = aws_sdk_s3::types::CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        self.store
            .client
            .complete_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(upload)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.store.err("CompleteMultipartUpload", &self.key, e))
    }

    pub async fn abort(self) -> Result<(), S3Error> {
        self.store.abort(&self.key, &self.upload_id).await
    }
}
