"""The evidence bucket through the ``minio`` SDK: multipart sessions, presigned URLs,
write-once objects, legal holds.

minio 7.2 exposes CreateMultipartUpload, ListParts, UploadPart and
CompleteMultipartUpload only as private methods (``_create_multipart_upload``...);
they are used here and nowhere else, so an SDK upgrade that renames them breaks one
file. Everything is synchronous (urllib3); the service calls it via ``asyncio.to_thread``.

Write-once: a master is written exactly once, under a key unique to its evidence id.
Three layers keep it so: a HEAD before an upload session starts (refuse a key that
exists), ``If-None-Match: *`` on the completing write (S3 conditional writes; the server
refuses with 412 if the key exists), and, when the bucket has Object Lock, a legal hold
on the master so the server refuses overwrites and deletes until the hold is lifted
(only the retention sweep lifts it, right before deleting).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from minio import Minio
from minio.error import S3Error
from minio.helpers import md5sum_hash
from minio.xml import Element, SubElement, getbytes

from shopwatch.evidence.domain import MiB, UploadedPart

log = logging.getLogger(__name__)

SINGLE_PUT_MAX = 16 * MiB  # derivatives up to this size go in one PUT
_PART = 16 * MiB


class ObjectExists(Exception):
    """A write would have replaced an existing object: refused."""


class NoSuchUpload(Exception):
    """The multipart upload is unknown (completed, aborted or never started)."""


class StorageError(Exception):
    """S3 refused or failed in a way the caller cannot fix by changing the request."""


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str
    version_id: str | None = None


class S3EvidenceStore:
    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        presigner: Minio | None = None,
        conditional_writes: bool = True,
        object_lock: bool = True,
    ) -> None:
        self.client = client
        self.presigner = presigner or client
        self.bucket = bucket
        self.conditional_writes = conditional_writes
        self.want_object_lock = object_lock
        self.lock_enabled = False

    # --- bucket -------------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            try:
                self.client.make_bucket(self.bucket, object_lock=self.want_object_lock)
            except S3Error as exc:
                if exc.code == "BucketAlreadyOwnedByYou":
                    pass
                elif self.want_object_lock and exc.code in ("NotImplemented", "InvalidRequest"):
                    log.warning("S3 server has no Object Lock; bucket made without it")
                    self.client.make_bucket(self.bucket)
                else:
                    raise
        self.lock_enabled = self._object_lock_enabled()
        log.info(
            "evidence bucket %s ready (object lock %s, conditional writes %s)",
            self.bucket,
            "on" if self.lock_enabled else "off",
            "on" if self.conditional_writes else "off",
        )

    def _object_lock_enabled(self) -> bool:
        # minio's get_object_lock_config insists on a DefaultRetention element, which a
        # bucket with Object Lock but no default retention (ours) does not have.
        try:
            response = self.client._execute("GET", self.bucket, query_params={"object-lock": ""})
        except S3Error:
            return False
        return b"<ObjectLockEnabled>Enabled</ObjectLockEnabled>" in response.data

    # --- objects ------------------------------------------------------------------------

    def stat(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        try:
            found = self.client.stat_object(self.bucket, key, version_id=version_id)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NoSuchVersion", "ResourceNotFound"):
                return None
            raise
        return ObjectInfo(int(found.size or 0), str(found.etag or ""), found.version_id)

    def open(self, key: str, version_id: str | None = None) -> Readable:
        response: Any = self.client.get_object(self.bucket, key, version_id=version_id)
        return _Body(response)

    def presign_get(
        self, key: str, ttl: timedelta, *, version_id: str | None, download_name: str | None
    ) -> str:
        headers: dict[str, Any] = {}
        if download_name:
            headers["response-content-disposition"] = (
                f"attachment; filename=\"{download_name}\"; filename*=UTF-8''"
                + quote(download_name)
            )
        return self.presigner.presigned_get_object(
            self.bucket, key, expires=ttl, response_headers=headers, version_id=version_id
        )

    def presign_internal_get(self, key: str, ttl: timedelta, version_id: str | None) -> str:
        """A GET URL for the service's own media worker (signed for the internal endpoint)."""
        return self.client.presigned_get_object(
            self.bucket, key, expires=min(ttl, timedelta(days=7)), version_id=version_id
        )

    def remove(self, key: str, version_id: str | None = None) -> None:
        self.client.remove_object(self.bucket, key, version_id=version_id)

    def remove_prefix(self, prefix: str) -> int:
        removed = 0
        for found in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            if found.object_name:
                self.client.remove_object(self.bucket, found.object_name)
                removed += 1
        return removed

    def hold(self, key: str, version_id: str | None) -> bool:
        """A legal hold on the object; False when the bucket has no Object Lock."""
        if not self.lock_enabled:
            return False
        self.client.enable_object_legal_hold(self.bucket, key, version_id=version_id)
        return True

    def release(self, key: str, version_id: str | None) -> None:
        if self.lock_enabled:
            try:
                self.client.disable_object_legal_hold(self.bucket, key, version_id=version_id)
            except S3Error as exc:
                if exc.code not in ("NoSuchKey", "NoSuchObject", "NoSuchVersion"):
                    raise

    # --- multipart upload sessions --------------------------------------------------------

    def initiate(self, key: str, content_type: str) -> str:
        if self.stat(key) is not None:
            raise ObjectExists(key)
        return self.client._create_multipart_upload(
            self.bucket, key, {"Content-Type": content_type}
        )

    def presign_part(self, key: str, upload_id: str, number: int, ttl: timedelta) -> str:
        return self.presigner.get_presigned_url(
            "PUT",
            self.bucket,
            key,
            expires=ttl,
            extra_query_params={"uploadId": upload_id, "partNumber": str(number)},
        )

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        parts: list[UploadedPart] = []
        marker: str | None = None
        while True:
            try:
                result = self.client._list_parts(
                    self.bucket, key, upload_id, max_parts=1000, part_number_marker=marker
                )
            except S3Error as exc:
                if exc.code == "NoSuchUpload":
                    raise NoSuchUpload(upload_id) from exc
                raise
            parts.extend(
                UploadedPart(p.part_number, int(p.size or 0), p.etag) for p in result.parts
            )
            if not result.is_truncated or not result.next_part_number_marker:
                return parts
            marker = result.next_part_number_marker

    def complete(self, key: str, upload_id: str, parts: list[UploadedPart]) -> ObjectInfo:
        element = Element("CompleteMultipartUpload")
        for part in parts:
            tag = SubElement(element, "Part")
            SubElement(tag, "PartNumber", str(part.number))
            SubElement(tag, "ETag", f'"{part.etag}"')
        body = getbytes(element)
        headers: dict[str, str | list[str] | tuple[str]] = {
            "Content-Type": "application/xml",
            "Content-MD5": str(md5sum_hash(body)),
        }
        if self.conditional_writes:
            headers["If-None-Match"] = "*"
        try:
            response = self.client._execute(
                "POST",
                self.bucket,
                key,
                body=body,
                headers=headers,
                query_params={"uploadId": upload_id},
            )
        except S3Error as exc:
            if exc.code == "PreconditionFailed" or (
                exc.code == "AccessDenied" and self.stat(key) is not None
            ):
                raise ObjectExists(key) from exc
            if exc.code == "NoSuchUpload":
                raise NoSuchUpload(upload_id) from exc
            if exc.code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
                raise StorageError(f"S3 refused the parts: {exc.code}") from exc
            raise
        # Some servers answer 200 with an <Error> body to a CompleteMultipartUpload.
        if b"<Error>" in response.data[:200]:
            raise StorageError("S3 failed to complete the upload")
        info = self.stat(key)
        if info is None:
            raise StorageError("the completed object is not there")
        version = response.headers.get("x-amz-version-id") or info.version_id
        return ObjectInfo(info.size, info.etag, version)

    def abort(self, key: str, upload_id: str) -> None:
        try:
            self.client._abort_multipart_upload(self.bucket, key, upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise

    # --- derivatives: written once, from a local file ------------------------------------

    def put_file(self, key: str, path: Path, content_type: str) -> ObjectInfo:
        size = path.stat().st_size
        if not self.conditional_writes and self.stat(key) is not None:
            raise ObjectExists(key)
        if size <= SINGLE_PUT_MAX:
            headers: dict[str, str | list[str] | tuple[str]] = {"Content-Type": content_type}
            if self.conditional_writes:
                headers["If-None-Match"] = "*"
            try:
                response = self.client._execute(
                    "PUT", self.bucket, key, body=path.read_bytes(), headers=headers
                )
            except S3Error as exc:
                # A locked object answers AccessDenied before the precondition is checked.
                if exc.code == "PreconditionFailed" or (
                    exc.code == "AccessDenied" and self.stat(key) is not None
                ):
                    raise ObjectExists(key) from exc
                raise
            etag = response.headers.get("etag", "").replace('"', "")
            return ObjectInfo(size, etag, response.headers.get("x-amz-version-id"))
        upload_id = self.client._create_multipart_upload(
            self.bucket, key, {"Content-Type": content_type}
        )
        try:
            parts: list[UploadedPart] = []
            with path.open("rb") as fh:
                number = 1
                while chunk := fh.read(_PART):
                    etag = self.client._upload_part(
                        self.bucket, key, chunk, None, upload_id, number
                    )
                    parts.append(UploadedPart(number, len(chunk), etag))
                    number += 1
            return self.complete(key, upload_id, parts)
        except BaseException:
            self.abort(key, upload_id)
            raise


class _Body:
    """An S3 GET body read with ``readinto`` (no per-chunk allocations)."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def readinto(self, buffer: memoryview, /) -> int:
        return int(self._response.readinto(buffer))

    def close(self) -> None:
        self._response.close()
        self._response.release_conn()
