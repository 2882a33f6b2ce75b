//! Storage classes of archived objects: the copy in place into a Glacier class (multipart
//! copy above 5 GiB) and the restore request that brings one back for a while.

use super::{ArchiveStore, COPY_PART, MAX_SINGLE_COPY, S3Error};

impl ArchiveStore {
    /// Rewrites an object in place with another storage class (multipart copy above 5 GiB).
    pub async fn set_storage_class(&self, key: &str, size: u64, class: &str) -> Result<(), S3Error> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective, StorageClass};
        let source = format!("{}/{}", self.bucket, crate::clients::percent::object_key(key));
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
