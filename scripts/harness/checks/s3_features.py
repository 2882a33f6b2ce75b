#!/usr/bin/env python3
"""Check which S3 features the harness S3 server (moto) supports.

Run with the harness venv after `scripts/harness/up s3` and sourcing the env:
    .harness/venv/bin/python scripts/harness/checks/s3_features.py
Prints one line per feature (OK / FAIL + reason); exits 1 if any failed.
"""
import os
import sys
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

url = os.environ["ALMANAC_TEST_S3_URL"]
s3 = boto3.client(
    "s3",
    endpoint_url=url,
    aws_access_key_id=os.environ.get("ALMANAC_TEST_S3_ACCESS_KEY", "testing"),
    aws_secret_access_key=os.environ.get("ALMANAC_TEST_S3_SECRET_KEY", "testing"),
    region_name=os.environ.get("ALMANAC_TEST_S3_REGION", "us-east-1"),
    config=Config(s3={"addressing_style": "path"}),
)
bucket = "almanac-check-" + uuid.uuid4().hex[:8]
results = []


def check(name):
    def deco(fn):
        try:
            detail = fn()
            results.append((name, True, detail or ""))
        except Exception as e:  # noqa: BLE001
            results.append((name, False, f"{type(e).__name__}: {e}"))
        return fn
    return deco


@check("CreateBucket")
def _():
    s3.create_bucket(Bucket=bucket)


@check("multipart upload (2 parts, 5 MiB + 1 KiB)")
def _():
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp/obj")
    p1 = s3.upload_part(Bucket=bucket, Key="mp/obj", UploadId=up["UploadId"], PartNumber=1, Body=b"a" * (5 << 20))
    p2 = s3.upload_part(Bucket=bucket, Key="mp/obj", UploadId=up["UploadId"], PartNumber=2, Body=b"b" * 1024)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp/obj", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"ETag": p1["ETag"], "PartNumber": 1}, {"ETag": p2["ETag"], "PartNumber": 2}]})
    h = s3.head_object(Bucket=bucket, Key="mp/obj")
    assert h["ContentLength"] == (5 << 20) + 1024, h["ContentLength"]
    return f"ETag {h['ETag']}"


@check("AbortMultipartUpload + ListMultipartUploads")
def _():
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp/aborted")
    assert any(u["UploadId"] == up["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))
    s3.abort_multipart_upload(Bucket=bucket, Key="mp/aborted", UploadId=up["UploadId"])


for sc in ("GLACIER", "DEEP_ARCHIVE"):
    @check(f"CopyObject StorageClass={sc}")
    def _(sc=sc):
        s3.put_object(Bucket=bucket, Key=f"src-{sc}", Body=b"hello")
        s3.copy_object(Bucket=bucket, Key=f"src-{sc}", CopySource={"Bucket": bucket, "Key": f"src-{sc}"},
                       StorageClass=sc, MetadataDirective="COPY")
        h = s3.head_object(Bucket=bucket, Key=f"src-{sc}")
        assert h.get("StorageClass") == sc, h.get("StorageClass")
        try:
            s3.get_object(Bucket=bucket, Key=f"src-{sc}")
            return "StorageClass set; GET of archived object NOT refused"
        except ClientError as e:
            return f"StorageClass set; GET refused with {e.response['Error']['Code']}"

    @check(f"RestoreObject ({sc})")
    def _(sc=sc):
        r = s3.restore_object(Bucket=bucket, Key=f"src-{sc}", RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}})
        h = s3.head_object(Bucket=bucket, Key=f"src-{sc}")
        body = s3.get_object(Bucket=bucket, Key=f"src-{sc}")["Body"].read()
        assert body == b"hello"
        return f"status {r['ResponseMetadata']['HTTPStatusCode']}, head Restore={h.get('Restore')!r}"


@check("PutObject StorageClass=DEEP_ARCHIVE (direct)")
def _():
    s3.put_object(Bucket=bucket, Key="direct-da", Body=b"x", StorageClass="DEEP_ARCHIVE")
    return "ListObjectsV2 StorageClass=" + [o for o in s3.list_objects_v2(Bucket=bucket, Prefix="direct-da")["Contents"]][0]["StorageClass"]


@check("Put/GetBucketLifecycleConfiguration")
def _():
    rules = [{"ID": "archive", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
              "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}, {"Days": 180, "StorageClass": "DEEP_ARCHIVE"}],
              "Expiration": {"Days": 3650}}]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert got[0]["ID"] == "archive" and len(got[0]["Transitions"]) == 2, got
    return "round-trips (rules are stored, not executed)"


@check("conditional PutObject If-None-Match: * (second write must fail 412)")
def _():
    s3.put_object(Bucket=bucket, Key="cond", Body=b"1", IfNoneMatch="*")
    try:
        s3.put_object(Bucket=bucket, Key="cond", Body=b"2", IfNoneMatch="*")
    except ClientError as e:
        code = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert code == 412, code
        return f"second write refused: {code} {e.response['Error']['Code']}"
    raise AssertionError("second write succeeded (If-None-Match ignored)")


@check("conditional PutObject If-Match: <etag>")
def _():
    etag = s3.head_object(Bucket=bucket, Key="cond")["ETag"]
    s3.put_object(Bucket=bucket, Key="cond", Body=b"3", IfMatch=etag)
    try:
        s3.put_object(Bucket=bucket, Key="cond", Body=b"4", IfMatch=etag)
    except ClientError as e:
        return f"stale etag refused: {e.response['ResponseMetadata']['HTTPStatusCode']}"
    raise AssertionError("stale If-Match accepted")


@check("conditional CompleteMultipartUpload If-None-Match: *")
def _():
    up = s3.create_multipart_upload(Bucket=bucket, Key="cond")
    p1 = s3.upload_part(Bucket=bucket, Key="cond", UploadId=up["UploadId"], PartNumber=1, Body=b"z")
    try:
        s3.complete_multipart_upload(Bucket=bucket, Key="cond", UploadId=up["UploadId"], IfNoneMatch="*",
                                     MultipartUpload={"Parts": [{"ETag": p1["ETag"], "PartNumber": 1}]})
    except ClientError as e:
        return f"refused: {e.response['ResponseMetadata']['HTTPStatusCode']}"
    raise AssertionError("complete over existing key accepted")


@check("ListObjectsV2 pagination + DeleteObjects")
def _():
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"page/{i}", Body=b"p")
    keys, token = [], None
    while True:
        kw = {"Bucket": bucket, "Prefix": "page/", "MaxKeys": 2}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        keys += [o["Key"] for o in r.get("Contents", [])]
        if not r.get("IsTruncated"):
            break
        token = r["NextContinuationToken"]
    assert len(keys) == 5, keys
    d = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert len(d.get("Deleted", [])) == 5


import moto  # noqa: E402

print(f"moto {moto.__version__}, boto3 {boto3.__version__}, endpoint {url}")
bad = 0
for name, ok, detail in results:
    print(f"{'OK  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
    bad += not ok
sys.exit(1 if bad else 0)
