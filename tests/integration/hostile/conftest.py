"""Fixtures of the hostile-input tests (helpers are in `support.py`)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import pytest
from minio import Minio
from minio.error import S3Error


@pytest.fixture(scope="module")
def evidence_bucket(stack_env: Any) -> Iterator[str]:
    """A bucket for this module's evidence service, emptied and removed afterwards."""
    bucket = f"t-hostile-{secrets.token_hex(4)}"
    yield bucket
    client = Minio(
        stack_env.s3_endpoint,
        access_key=stack_env.s3_access_key,
        secret_key=stack_env.s3_secret_key,
        secure=stack_env.s3_secure,
    )
    with suppress(S3Error):
        for found in client.list_objects(bucket, recursive=True, include_version=True):
            name = found.object_name or ""
            with suppress(S3Error):
                client.disable_object_legal_hold(bucket, name, found.version_id)
            with suppress(S3Error):
                client.remove_object(bucket, name, found.version_id)
        client.remove_bucket(bucket)
