"""Removing a benchmark's evidence bucket: the evidence service creates it with Object
Lock and puts a legal hold on every master, so each version's hold is lifted first."""

from __future__ import annotations

from contextlib import suppress

from minio import Minio
from minio.error import S3Error


def s3_client(env: dict[str, str]) -> Minio:
    return Minio(
        env["SHOPWATCH_S3_ENDPOINT"],
        access_key=env["SHOPWATCH_S3_ACCESS_KEY"],
        secret_key=env["SHOPWATCH_S3_SECRET_KEY"],
        secure=env.get("SHOPWATCH_S3_SECURE", "false") == "true",
        region="us-east-1",
    )


def remove_bucket(s3: Minio, bucket: str) -> None:
    """Every object version, then the bucket; a bucket that was never made is fine."""
    with suppress(S3Error):
        if not s3.bucket_exists(bucket):
            return
        for found in s3.list_objects(bucket, recursive=True, include_version=True):
            name, version = found.object_name or "", found.version_id
            with suppress(S3Error):
                s3.disable_object_legal_hold(bucket, name, version_id=version)
            with suppress(S3Error):
                s3.remove_object(bucket, name, version_id=version)
        s3.remove_bucket(bucket)
