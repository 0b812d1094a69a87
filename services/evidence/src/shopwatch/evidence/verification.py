"""The verifier: a background worker in the evidence process that turns an uploaded
master into verified evidence (``EvidenceStored``) or a rejection (``EvidenceRejected``).

Work is found in MongoDB, not in memory: an item has a ``job`` (``verify`` after
``complete``, ``stills`` when stills are asked for) and a ``lease_until``. A worker
claims an item by moving its lease into the future in one atomic update, and keeps
renewing it while it works; a worker that dies stops renewing, the lease runs out and
another worker (in this process or another) takes the item over. Every write of the
outcome is conditional on still holding the lease.

Verifying one item:

1. stream the master back from S3 and hash it (``streaming.hash_stream``: constant
   memory, reading and hashing overlapped), keeping the head for content sniffing;
2. compare size and SHA-256 with what the client declared, and the content (magic
   bytes) with what it claimed: mismatches are rejections;
3. probe it with FFmpeg in a child process with a time limit (``media_runner``), reading
   the master through a short-lived presigned URL (no local copy: a 50 GiB export needs
   no 50 GiB of scratch disk, and hashing is not slowed by writing one);
4. make derived copies the same way (thumbnail strip, a browser-playable preview when the
   master is not one, requested stills), hash and store them write-once;
5. write status, facts, derivatives, continuity-log entries and the event in ONE update.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from shopwatch.evidence import naming
from shopwatch.evidence.custody import Action, Actor, ActorKind
from shopwatch.evidence.custody_store import Change, EntrySpec
from shopwatch.evidence.domain import EvidenceStatus
from shopwatch.evidence.events import rejected_event, stored_event
from shopwatch.evidence.hashing import StreamDigest
from shopwatch.evidence.ids import new_id
from shopwatch.evidence.media_runner import MediaJobFailed, MediaJobTimeout, run_media_job
from shopwatch.evidence.media_types import Category, Detected, check_declared, sniff
from shopwatch.evidence.metrics import (
    DERIVATIVES,
    EVIDENCE_BYTES,
    MEDIA_JOBS_KILLED,
    REJECTED,
    VERIFICATION_SECONDS,
)
from shopwatch.evidence.service import EPOCH, EvidenceService
from shopwatch.evidence.streaming import Cancelled, hash_stream
from shopwatch.runtime.logging import log_context
from shopwatch.runtime.outbox import OutboxMessage, merge_updates, outbox_push
from shopwatch.schemas.enums import EvidenceRejectionReason
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.topics import EVIDENCE_REJECTED, EVIDENCE_STORED

log = logging.getLogger(__name__)

VERIFIER = Actor(ActorKind.SYSTEM, "evidence-verifier")
PRODUCER = "evidence"
MediaJob = Callable[..., Awaitable[dict[str, Any]]]

_DERIVED_TYPES = {"PREVIEW": "video/mp4", "STILL": "image/jpeg", "THUMBS": "image/jpeg"}


class StorageUnavailable(Exception):
    """The master could not be fetched for probing; the verification is retried."""


@dataclass(frozen=True)
class Rejection:
    reason: EvidenceRejectionReason
    detail: str


def content_verdict(
    doc: Mapping[str, Any], digest: StreamDigest
) -> tuple[Detected, Rejection | None]:
    """Size, hash and content against what the client declared. Pure."""
    found = sniff(digest.head)
    size, declared = int(doc["size"]), str(doc["declared_sha256"])
    if digest.size != size:
        return found, Rejection(
            EvidenceRejectionReason.SIZE_MISMATCH,
            f"the stored object is {digest.size} bytes but {size} were declared",
        )
    if digest.sha256 != declared:
        return found, Rejection(
            EvidenceRejectionReason.HASH_MISMATCH,
            f"the server computed SHA-256 {digest.sha256}, but the upload declared {declared}:"
            " the file changed or was damaged in transit",
        )
    check = check_declared(str(doc["declared_media_type"]), found)
    if not check.ok:
        assert check.code is not None
        return found, Rejection(
            EvidenceRejectionReason(check.code.value), check.reason or check.code.value
        )
    return found, None


class LeaseLost(Exception):
    """Another worker holds the item now; drop this attempt."""


@dataclass
class _Lease:
    lost: bool = False


@dataclass
class Timing:
    hash_s: float = 0.0
    media_s: float = 0.0
    worker_max_rss_kb: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Verifier:
    def __init__(
        self,
        service: EvidenceService,
        *,
        owner: str | None = None,
        media_job: MediaJob = run_media_job,
        topic: Callable[[str], str] = lambda name: name,
    ) -> None:
        self.service = service
        self.settings = service.settings
        self.repo = service.repo
        self.store = service.store
        self.owner = owner or f"{os.uname().nodename}:{os.getpid()}:{new_id('w')}"
        self.media_job = media_job
        self.topic = topic
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        for number in range(self.settings.verify_concurrency):
            self._tasks.append(asyncio.create_task(self._loop(), name=f"verifier-{number}"))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def nudge(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                worked = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("verifier cycle failed")
                worked = False
            if worked:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.verify_poll_interval_s)

    async def run_once(self) -> bool:
        """Claim one item with work and do it. False when there was nothing to do."""
        now = self.service.clock()
        doc = await self.repo.claim(now, now + self._lease(), self.owner)
        if doc is None:
            return False
        with log_context(report_id=doc.get("report_id"), evidence_id=doc["_id"]):
            try:
                if doc.get("job") == "verify":
                    await self._verify(doc)
                elif doc.get("job") == "stills":
                    await self._stills(doc)
            except (LeaseLost, Cancelled):
                log.warning("lost the lease on %s; another worker takes over", doc["_id"])
            except asyncio.CancelledError:
                await self._release(doc, "worker stopped", backoff_s=0)
                raise
            except Exception as exc:
                log.exception(
                    "%s of %s failed (attempt %s)", doc.get("job"), doc["_id"], doc.get("attempts")
                )
                await self._failed(doc, exc)
        return True

    def _lease(self) -> timedelta:
        return timedelta(seconds=self.settings.verify_lease_s)

    @contextlib.asynccontextmanager
    async def _leased(self, evidence_id: str) -> AsyncIterator[_Lease]:
        lease = _Lease()

        async def renew() -> None:
            every = self.settings.verify_lease_s / 3
            while True:
                await asyncio.sleep(every)
                now = self.service.clock()
                kept = await self.repo.update(
                    {"_id": evidence_id, "lease_owner": self.owner},
                    {"$set": {"lease_until": now + self._lease()}},
                )
                if not kept:
                    lease.lost = True
                    return

        task = asyncio.create_task(renew())
        try:
            yield lease
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if lease.lost:
            raise LeaseLost(evidence_id)

    async def _release(self, doc: Mapping[str, Any], error: str, *, backoff_s: float) -> None:
        with contextlib.suppress(Exception):
            await self.repo.update(
                {"_id": doc["_id"], "lease_owner": self.owner},
                {
                    "$set": {
                        "lease_until": self.service.clock() + timedelta(seconds=backoff_s),
                        "lease_owner": None,
                        "last_error": error[:500],
                    }
                },
            )

    async def _failed(self, doc: Mapping[str, Any], exc: Exception) -> None:
        # ``attempts`` only ever grows (claims are keyed by it); count this job's own.
        attempts = max(1, int(doc.get("attempts") or 1) - int(doc.get("job_first_attempt") or 0))
        if doc.get("job") == "stills" and attempts >= self.settings.verify_max_attempts:
            await self.repo.update(
                {"_id": doc["_id"], "lease_owner": self.owner},
                {
                    "$set": {"job": None, "lease_owner": None, "lease_until": EPOCH},
                    "$unset": {"stills_pending": ""},
                },
            )
            return
        # A verification is never given up: the master is good until proven otherwise,
        # and a storage outage is no reason to reject it. Back off, capped at 10 minutes.
        await self._release(
            doc, f"{type(exc).__name__}: {exc}", backoff_s=min(600.0, 2.0**attempts)
        )

    # --- verify ------------------------------------------------------------------------------

    async def _verify(self, doc: dict[str, Any]) -> None:
        started = time.monotonic()
        evidence_id = doc["_id"]
        if doc["status"] == EvidenceStatus.UPLOADED.value:
            moved = await self.repo.update(
                {
                    "_id": evidence_id,
                    "status": EvidenceStatus.UPLOADED.value,
                    "lease_owner": self.owner,
                },
                {
                    "$set": {
                        "status": EvidenceStatus.VERIFYING.value,
                        "updated_at": self.service.clock(),
                    }
                },
            )
            if not moved:
                raise LeaseLost(evidence_id)
        elif doc["status"] != EvidenceStatus.VERIFYING.value:
            await self.repo.update(
                {"_id": evidence_id, "lease_owner": self.owner},
                {"$set": {"job": None, "lease_owner": None, "lease_until": EPOCH}},
            )
            return
        timing = Timing()
        key, version = doc["master_key"], doc.get("master_version_id")
        async with self._leased(evidence_id) as lease:
            info = await asyncio.to_thread(self.store.stat, key, version)
            if info is None:
                await self._reject(
                    doc,
                    Rejection(
                        EvidenceRejectionReason.INCOMPLETE_UPLOAD,
                        "the uploaded object is not in storage",
                    ),
                    None,
                    None,
                    started,
                )
                return
            t0 = time.monotonic()
            digest = await asyncio.to_thread(self._hash, key, version, lambda: lease.lost)
            timing.hash_s = time.monotonic() - t0
            found, rejection = content_verdict(doc, digest)
            if rejection is not None:
                await self._reject(doc, rejection, digest, found, started)
                return
            t1 = time.monotonic()
            url = self._media_url(key, version)
            facts, rejection = await self._probe(url, found)
            if rejection is not None:
                await self._reject(doc, rejection, digest, found, started)
                return
            assert facts is not None
            derivatives = await self._derive(
                doc,
                url,
                found.demuxer,
                thumbnails=self.settings.media_thumbnails if not facts.get("is_image") else 0,
                preview=bool(facts.get("needs_preview")),
                stills=list(doc.get("stills_requested") or []) if facts.get("video_codec") else [],
                first_still=1,
                timing=timing,
            )
            timing.media_s = time.monotonic() - t1
        await self._store(doc, digest, found, facts, derivatives, started, timing)

    async def _share_if_routed(self, report_id: str) -> None:
        """A case already with its force gets new footage shared at once: otherwise the
        force could see the case's next package list it and still be refused it until the
        next status change (a CI run's force download was refused so). Best effort: every
        status change shares again, so an outage here only delays it."""
        try:
            await self.service.share_report_evidence(report_id)
        except Exception:
            log.warning(
                "sharing the evidence of %s failed; the next status change retries",
                report_id,
                exc_info=True,
            )

    def _hash(self, key: str, version: str | None, lost: Callable[[], bool]) -> StreamDigest:
        body = self.store.open(key, version)
        try:
            return hash_stream(
                body,
                chunk_bytes=self.settings.verify_chunk_bytes,
                buffers=self.settings.verify_buffers,
                should_stop=lost,
            )
        finally:
            body.close()

    def _media_url(self, key: str, version: str | None) -> str:
        ttl = timedelta(
            seconds=self.settings.media_probe_timeout_s + self.settings.media_derive_timeout_s + 60
        )
        return self.store.presign_internal_get(key, ttl, version)

    async def _probe(
        self, url: str, found: Detected
    ) -> tuple[dict[str, Any] | None, Rejection | None]:
        try:
            result = await self.media_job(
                {"mode": "probe", "source": url, "demuxer": found.demuxer},
                timeout_s=self.settings.media_probe_timeout_s,
                memory_mb=self.settings.media_memory_limit_mb,
            )
        except MediaJobTimeout as exc:
            MEDIA_JOBS_KILLED.labels("probe").inc()
            return None, Rejection(EvidenceRejectionReason.UNPLAYABLE_MEDIA, f"{exc}; not playable")
        except MediaJobFailed as exc:
            return None, Rejection(
                EvidenceRejectionReason.UNPLAYABLE_MEDIA, f"the file could not be read: {exc}"
            )
        if result.get("retry"):
            # S3 went away between hashing and probing: retried with backoff (_failed).
            raise StorageUnavailable(str(result.get("error") or "storage unavailable"))
        if not result.get("ok"):
            return None, Rejection(
                EvidenceRejectionReason.UNPLAYABLE_MEDIA,
                str(result.get("error") or "the file could not be read as media"),
            )
        facts: dict[str, Any] = dict(result.get("facts") or {})
        if found.category is Category.VIDEO and not facts.get("video_codec"):
            return None, Rejection(
                EvidenceRejectionReason.UNPLAYABLE_MEDIA, "the file has no video stream"
            )
        if found.category is Category.IMAGE and not facts.get("is_image"):
            return None, Rejection(
                EvidenceRejectionReason.MEDIA_TYPE_MISMATCH,
                f"the content starts like {found.description} but does not read as one",
            )
        return facts, None

    async def _derive(
        self,
        doc: Mapping[str, Any],
        url: str,
        demuxer: str | None,
        *,
        thumbnails: int,
        preview: bool,
        stills: list[float],
        first_still: int,
        timing: Timing,
    ) -> list[dict[str, Any]]:
        if not (thumbnails or preview or stills):
            return []
        evidence_id = str(doc["_id"])
        made: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory(prefix="shopwatch-derive-") as scratch:
            job = {
                "mode": "derive",
                "source": url,
                "demuxer": demuxer,
                "out_dir": scratch,
                "exhibit_ref": doc["exhibit_ref"],
                "thumbnails": thumbnails,
                "preview": preview,
                "stills": stills,
                "first_still": first_still,
            }
            try:
                result = await self.media_job(
                    job,
                    timeout_s=self.settings.media_derive_timeout_s,
                    memory_mb=self.settings.media_memory_limit_mb,
                )
            except MediaJobFailed as exc:
                if isinstance(exc, MediaJobTimeout):
                    MEDIA_JOBS_KILLED.labels("derive").inc()
                log.warning("derived copies of %s failed: %s", evidence_id, exc)
                result = {"ok": False, "derivatives": [], "errors": [str(exc)]}
            timing.worker_max_rss_kb = max(
                timing.worker_max_rss_kb, int(result.get("max_rss_kb") or 0)
            )
            for error in result.get("errors") or []:
                log.warning("a derived copy of %s failed: %s", evidence_id, error)
                DERIVATIVES.labels(str(error).split(":", 1)[0], "failed").inc()
            for produced in result.get("derivatives") or []:
                path = Path(scratch) / naming.safe_name(str(produced["file"]))
                if not path.is_file():
                    continue
                made.append(await self._upload_derivative(evidence_id, path, produced))
                DERIVATIVES.labels(str(produced["kind"]), "made").inc()
        return made

    async def _upload_derivative(
        self, evidence_id: str, path: Path, produced: Mapping[str, Any]
    ) -> dict[str, Any]:
        derivative_id = new_id("drv")
        kind = str(produced["kind"])
        media_type = _DERIVED_TYPES[kind]
        sha256, size = await asyncio.to_thread(_sha256_file, path)
        # The id in the key makes every attempt's object new: a retried verification
        # never collides with (or overwrites) a copy an earlier attempt left behind.
        key = naming.derived_key(evidence_id, f"{derivative_id}-{path.name}")
        info = await asyncio.to_thread(self.store.put_file, key, path, media_type)
        return {
            "derivative_id": derivative_id,
            "kind": kind,
            "file_name": path.name,
            "key": key,
            "version_id": info.version_id,
            "media_type": media_type,
            "size": size,
            "sha256": sha256,
            "at_seconds": produced.get("at_seconds"),
        }

    async def _store(
        self,
        doc: Mapping[str, Any],
        digest: StreamDigest,
        found: Detected,
        facts: Mapping[str, Any],
        derivatives: list[dict[str, Any]],
        started: float,
        timing: Timing,
    ) -> None:
        evidence_id = str(doc["_id"])
        elapsed = time.monotonic() - started
        media_facts = {k: v for k, v in facts.items() if k != "needs_preview"}

        def build(current: dict[str, Any]) -> Change:
            self._still_mine(current, EvidenceStatus.VERIFYING)
            now = self.service.clock()
            merged = {
                **current,
                "sha256": digest.sha256,
                "media_type": found.media_type,
                "media": media_facts,
                "derivatives": derivatives,
            }
            event = stored_event(merged, now)
            envelope = make_envelope(event, producer=PRODUCER)
            entries = [
                EntrySpec(
                    VERIFIER,
                    Action.VERIFIED,
                    details={
                        "sha256": digest.sha256,
                        "size": digest.size,
                        "media_type": found.media_type,
                        "detected": found.description,
                        "media": media_facts,
                        "seconds": round(elapsed, 3),
                    },
                )
            ] + [
                EntrySpec(
                    VERIFIER,
                    Action.DERIVED,
                    details={
                        k: d.get(k)
                        for k in (
                            "derivative_id",
                            "kind",
                            "file_name",
                            "sha256",
                            "size",
                            "at_seconds",
                        )
                    },
                )
                for d in derivatives
            ]
            update = merge_updates(
                {
                    "$set": {
                        "status": EvidenceStatus.STORED.value,
                        "sha256": digest.sha256,
                        "media_type": found.media_type,
                        "demuxer": found.demuxer,
                        "media": media_facts,
                        "derivatives": derivatives,
                        "stored_at": now,
                        "updated_at": now,
                        "verification": {
                            "seconds": round(elapsed, 3),
                            "hash_seconds": round(timing.hash_s, 3),
                            "media_seconds": round(timing.media_s, 3),
                            "media_worker_max_rss_kb": timing.worker_max_rss_kb,
                        },
                        "job": None,
                        "lease_owner": None,
                        "lease_until": EPOCH,
                    }
                },
                outbox_push([OutboxMessage.for_event(envelope, self.topic(EVIDENCE_STORED))]),
            )
            return Change(entries, update, self._mine(EvidenceStatus.VERIFYING))

        await self.service.custody.write(evidence_id, build)
        self.service.nudge_relay()
        await self._share_if_routed(str(doc["report_id"]))
        EVIDENCE_BYTES.labels("stored").inc(digest.size)
        VERIFICATION_SECONDS.observe(elapsed)
        log.info(
            "evidence %s stored: sha256 %s, %d bytes, verified in %.2fs (hash %.2fs, media %.2fs)",
            evidence_id,
            digest.sha256,
            digest.size,
            elapsed,
            timing.hash_s,
            timing.media_s,
        )
        await self.service.share_report_evidence(str(doc["report_id"]))

    async def _reject(
        self,
        doc: Mapping[str, Any],
        rejection: Rejection,
        digest: StreamDigest | None,
        found: Detected | None,
        started: float,
    ) -> None:
        evidence_id = str(doc["_id"])
        elapsed = time.monotonic() - started
        computed = digest.sha256 if digest is not None else None
        detected = found.media_type if found is not None else None

        def build(current: dict[str, Any]) -> Change:
            self._still_mine(current, EvidenceStatus.VERIFYING)
            now = self.service.clock()
            event = rejected_event(
                current,
                reason=rejection.reason,
                detail=rejection.detail,
                computed_sha256=computed,
                detected_media_type=detected,
                size=digest.size if digest is not None else None,
                rejected_at=now,
            )
            envelope = make_envelope(event, producer=PRODUCER)
            entry = EntrySpec(
                VERIFIER,
                Action.REJECTED,
                rejection.detail,
                {
                    "reason": rejection.reason.value,
                    "computed_sha256": computed,
                    "detected": found.description if found is not None else None,
                },
            )
            update = merge_updates(
                {
                    "$set": {
                        "status": EvidenceStatus.REJECTED.value,
                        "rejection": {"reason": rejection.reason.value, "detail": rejection.detail},
                        "computed_sha256": computed,
                        "detected_media_type": detected,
                        "rejected_at": now,
                        "updated_at": now,
                        "open_key": f"closed:{evidence_id}",
                        "job": None,
                        "lease_owner": None,
                        "lease_until": EPOCH,
                    }
                },
                outbox_push([OutboxMessage.for_event(envelope, self.topic(EVIDENCE_REJECTED))]),
            )
            return Change([entry], update, self._mine(EvidenceStatus.VERIFYING))

        await self.service.custody.write(evidence_id, build)
        self.service.nudge_relay()
        REJECTED.labels(rejection.reason.value).inc()
        if digest is not None:
            EVIDENCE_BYTES.labels("rejected").inc(digest.size)
        VERIFICATION_SECONDS.observe(elapsed)
        log.info(
            "evidence %s rejected: %s (%s)", evidence_id, rejection.reason.value, rejection.detail
        )

    # --- stills on request ---------------------------------------------------------------

    async def _stills(self, doc: dict[str, Any]) -> None:
        evidence_id = doc["_id"]
        if doc["status"] != EvidenceStatus.STORED.value or not doc.get("stills_pending"):
            await self.repo.update(
                {"_id": evidence_id, "lease_owner": self.owner},
                {"$set": {"job": None, "lease_owner": None, "lease_until": EPOCH}},
            )
            return
        existing = sum(1 for d in doc.get("derivatives") or [] if d.get("kind") == "STILL")
        timing = Timing()
        async with self._leased(evidence_id):
            url = self._media_url(doc["master_key"], doc.get("master_version_id"))
            made = await self._derive(
                doc,
                url,
                doc.get("demuxer"),
                thumbnails=0,
                preview=False,
                stills=list(doc["stills_pending"]),
                first_still=existing + 1,
                timing=timing,
            )

        def build(current: dict[str, Any]) -> Change:
            self._still_mine(current, EvidenceStatus.STORED)
            entries = [
                EntrySpec(
                    VERIFIER,
                    Action.DERIVED,
                    details={
                        k: d.get(k)
                        for k in (
                            "derivative_id",
                            "kind",
                            "file_name",
                            "sha256",
                            "size",
                            "at_seconds",
                        )
                    },
                )
                for d in made
            ]
            update: dict[str, Any] = {
                "$set": {"job": None, "lease_owner": None, "lease_until": EPOCH},
                "$unset": {"stills_pending": ""},
            }
            if made:
                update["$push"] = {"derivatives": {"$each": made}}
            return Change(entries, update, self._mine(EvidenceStatus.STORED))

        await self.service.custody.write(evidence_id, build)

    # --- helpers -------------------------------------------------------------------------

    def _mine(self, status: EvidenceStatus) -> dict[str, Any]:
        return {"status": status.value, "lease_owner": self.owner}

    def _still_mine(self, current: Mapping[str, Any], status: EvidenceStatus) -> None:
        if current.get("lease_owner") != self.owner or current.get("status") != status.value:
            raise LeaseLost(str(current["_id"]))


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
