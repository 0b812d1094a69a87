"""S3 client factory (the `minio` SDK, which talks to any S3 server)."""

from __future__ import annotations

from urllib.parse import urlsplit

from minio import Minio

from shopwatch.runtime.settings import RuntimeSettings


def minio_client(settings: RuntimeSettings) -> Minio:
    """A client for `settings.s3_endpoint`.

    The endpoint may be given as `host:port` (with `s3_secure` choosing TLS) or as a URL,
    whose scheme then decides: the local stack writes URLs, deployments often host:port.
    """
    endpoint, secure = settings.s3_endpoint, settings.s3_secure
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        endpoint, secure = parts.netloc, parts.scheme == "https"
    return Minio(
        endpoint,
        access_key=settings.s3_access_key or None,
        secret_key=settings.s3_secret_key.get_secret_value() or None,
        secure=secure,
        region=settings.s3_region,
    )
