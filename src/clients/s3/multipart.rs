//! Multipart uploads: one fed chunk by chunk while an index is exported, and the listing and
//! abort of uploads a killed run left behind.

use super::{ArchiveStore, S3Error};

impl ArchiveStore {
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
