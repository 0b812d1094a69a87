"""Evidence's use cases: upload sessions, access, exhibit references, what events teach.

No HTTP here (handlers parse and delegate) and no FFmpeg (the verifier and its worker
process do that). S3 calls are blocking (minio) and run in threads.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError, PyMongoError

from shopwatch.evidence import access, domain, naming
from shopwatch.evidence.adapters.mongo import INTERNAL_FIELDS, Document, Duplicate, MongoEvidence
from shopwatch.evidence.adapters.s3_store import (
    NoSuchUpload,
    ObjectExists,
    S3EvidenceStore,
    StorageError,
)
from shopwatch.evidence.auth import Caller, ForceCaller, RetailerCaller
from shopwatch.evidence.config import EvidenceSettings
from shopwatch.evidence.custody import Action, Actor, ActorKind
from shopwatch.evidence.custody_store import (
    Change,
    CustodyStore,
    EntrySpec,
    LogView,
    Missing,
    initial_head,
)
from shopwatch.evidence.domain import EvidenceError, EvidenceStatus, PartPlan, UploadedPart
from shopwatch.evidence.ids import new_id
from shopwatch.evidence.media_types import GENERIC_MEDIA_TYPES, InvalidMediaType
from shopwatch.evidence.media_types import normalise_media_type as _normalise
from shopwatch.evidence.metrics import ACCESS, UPLOADS_STARTED
from shopwatch.schemas.events import CaseStatusChanged, ReportSubmitted

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SYSTEM = Actor(ActorKind.SYSTEM, "evidence")
REPORT_NOT_FOUND = "report not found (if it was just submitted, retry in a few seconds)"
FALLBACK_INITIALS = "EX"


class NotFound(Exception):
    """Absent, or not the caller's: one answer for both."""


class Forbidden(Exception):
    """The caller is known but this kind of caller may not do this at all."""


class Unavailable(Exception):
    """A dependency (S3) failed; the request may be retried."""


@dataclass(frozen=True)
class InitiateRequest:
    file_name: str
    size: int
    media_type: str
    sha256: str
    stills_at_seconds: Sequence[float] = ()


@dataclass(frozen=True)
class PartUrl:
    number: int
    url: str
    offset: int
    length: int


@dataclass(frozen=True)
class Download:
    url: str
    expires_at: datetime
    file_name: str
    sha256: str
    size: int
    media_type: str


def plan_of(doc: Mapping[str, Any]) -> PartPlan:
    return PartPlan(
        size=int(doc["size"]), part_size=int(doc["part_size"]), part_count=int(doc["part_count"])
    )


def closed_key(doc: Mapping[str, Any]) -> str:
    """Once an item is rejected or deleted, the same file may be uploaded again."""
    return f"closed:{doc['_id']}"


def public_view(doc: Mapping[str, Any]) -> Document:
    return {k: v for k, v in doc.items() if k not in INTERNAL_FIELDS}


def validate_media_type(value: str) -> str:
    try:
        declared = _normalise(value)
    except InvalidMediaType as exc:
        raise EvidenceError(str(exc), field="media_type", code="invalid_media_type") from exc
    if declared not in GENERIC_MEDIA_TYPES and declared.split("/", 1)[0] not in (
        "video",
        "image",
    ):
        raise EvidenceError(
            f"media type {declared} is not accepted: send CCTV video (video/*) or a still"
            " (image/jpeg, image/png); application/octet-stream if unsure",
            field="media_type",
            code="unsupported_media_type",
        )
    return declared


def validate_stills(times: Sequence[float], limit: int) -> list[float]:
    if len(times) > limit:
        raise EvidenceError(f"at most {limit} stills", field="stills_at_seconds")
    cleaned: list[float] = []
    for t in times:
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
            raise EvidenceError(
                "still times are seconds from the start, zero or more",
                field="stills_at_seconds",
            )
        cleaned.append(round(float(t), 3))
    return cleaned


def reporter_initials(name: str | None) -> str:
    if not name:
        return FALLBACK_INITIALS
    try:
        return naming.initials(name)
    except naming.InvalidExhibitRef:
        return FALLBACK_INITIALS


@dataclass
class EvidenceService:
    repo: MongoEvidence
    store: S3EvidenceStore
    custody: CustodyStore
    settings: EvidenceSettings
    nudge_relay: Callable[[], None]
    nudge_worker: Callable[[], None] = lambda: None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def limits(self) -> domain.UploadLimits:
        return self.settings.upload_limits()

    async def _s3(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (ObjectExists, NoSuchUpload, StorageError):
            raise
        except Exception as exc:
            log.warning("S3 call %s failed: %s", getattr(fn, "__name__", fn), exc)
            raise Unavailable("the evidence store is not answering; retry shortly") from exc

    # --- upload sessions -----------------------------------------------------------------

    async def initiate(
        self, caller: Caller, report_id: str, request: InitiateRequest
    ) -> tuple[Document, bool]:
        """Open an upload session (True), or find the open one for the same file (False)."""
        retailer = self._retailer(caller)
        report = await self.repo.report(report_id)
        if not access.can_see_report(retailer, report):
            raise NotFound(REPORT_NOT_FOUND)
        assert report is not None
        file_name = naming.validate_file_name(request.file_name)
        size = domain.validate_size(request.size, self.limits)
        sha256 = domain.validate_sha256(request.sha256)
        media_type = validate_media_type(request.media_type)
        stills = validate_stills(request.stills_at_seconds, self.settings.media_max_stills)
        plan = domain.plan_parts(size, self.limits)
        open_key = f"open:{report_id}:{sha256}:{size}"
        existing = await self.repo.by_open_key(open_key)
        if existing is not None:
            return existing, False
        evidence_id = new_id("ev")
        key = naming.master_key(retailer.retailer_id, evidence_id, file_name)
        try:
            upload_id = await self._s3(self.store.initiate, key, media_type)
        except ObjectExists as exc:  # unique ids make this a storage fault, not a user's
            raise EvidenceError(
                "storage already holds an object under this evidence's key; refusing to"
                " overwrite it",
                field="evidence_id",
                code="storage_conflict",
            ) from exc
        now = self.clock()
        initials = str(report.get("reporter_initials") or FALLBACK_INITIALS)
        for _ in range(10):
            ref = naming.next_exhibit_ref(initials, await self.repo.exhibit_refs(report_id))
            doc: Document = {
                "_id": evidence_id,
                "report_id": report_id,
                "retailer_id": retailer.retailer_id,
                "store_id": report.get("store_id"),
                "exhibit_ref": ref,
                "file_name": file_name,
                "declared_media_type": media_type,
                "declared_sha256": sha256,
                "size": size,
                "part_size": plan.part_size,
                "part_count": plan.part_count,
                "status": EvidenceStatus.INITIATED.value,
                "created_at": now,
                "updated_at": now,
                "created_by": retailer.actor.id,
                "bucket": self.store.bucket,
                "master_key": key,
                "upload_id": upload_id,
                "open_key": open_key,
                "stills_requested": stills,
                "derivatives": [],
                "shared_with": [],
                "custody_head": initial_head(evidence_id),
                "job": None,
                "lease_until": EPOCH,
                "attempts": 0,
            }
            try:
                await self.repo.insert(doc)
            except Duplicate:
                raced = await self.repo.by_open_key(open_key)
                if raced is not None:  # the same file, a moment earlier: use that session
                    await self._s3(self.store.abort, key, upload_id)
                    return raced, False
                continue  # the exhibit ref was taken meanwhile: take the next one
            UPLOADS_STARTED.inc()
            return doc, True
        raise EvidenceError(
            "could not allocate an exhibit reference; retry", field="exhibit_ref", code="conflict"
        )

    async def part_urls(
        self, caller: Caller, evidence_id: str, numbers: str
    ) -> tuple[Document, list[PartUrl], datetime]:
        doc = await self._own(caller, evidence_id)
        self._require_open(doc)
        plan = plan_of(doc)
        wanted = domain.parse_part_numbers(numbers, plan, self.limits)
        ttl = timedelta(seconds=self.settings.part_url_ttl_s)
        urls = []
        for n in wanted:
            offset, length = plan.byte_range(n)
            url = self.store.presign_part(doc["master_key"], doc["upload_id"], n, ttl)
            urls.append(PartUrl(n, url, offset, length))
        return doc, urls, self.clock() + ttl

    async def uploaded_parts(
        self, caller: Caller, evidence_id: str
    ) -> tuple[Document, list[UploadedPart]]:
        """The parts S3 holds (resume after a dropped connection)."""
        doc = await self._own(caller, evidence_id)
        plan = plan_of(doc)
        if doc["status"] != EvidenceStatus.INITIATED.value:
            full = [UploadedPart(n, plan.part_length(n), "") for n in range(1, plan.part_count + 1)]
            return doc, full
        try:
            parts = await self._s3(self.store.list_parts, doc["master_key"], doc["upload_id"])
        except NoSuchUpload:
            if await self._s3(self.store.stat, doc["master_key"]) is not None:
                return doc, []  # completed in storage; `complete` will record it
            raise await self._close_vanished(doc) from None
        return doc, sorted(parts, key=lambda p: p.number)

    async def complete(self, caller: Caller, evidence_id: str) -> Document:
        doc = await self._own(caller, evidence_id)
        if doc["status"] != EvidenceStatus.INITIATED.value:
            raise EvidenceError(
                f"evidence is already {doc['status']}: the upload was completed before",
                field="status",
                code="conflict",
            )
        plan = plan_of(doc)
        key = doc["master_key"]
        try:
            parts = await self._s3(self.store.list_parts, key, doc["upload_id"])
            ordered = domain.check_parts_complete(plan, parts)
            info = await self._s3(self.store.complete, key, doc["upload_id"], ordered)
        except NoSuchUpload:
            # Completed by a request that then failed to record it, or aborted: the
            # object tells which.
            found = await self._s3(self.store.stat, key)
            if found is None:
                raise await self._close_vanished(doc) from None
            info = found
        except ObjectExists as exc:
            raise EvidenceError(
                "storage already holds a master under this key; refusing to overwrite it",
                field="evidence_id",
                code="storage_conflict",
            ) from exc
        except StorageError as exc:
            raise EvidenceError(
                f"{exc}: re-send the parts listed by GET /uploaded and complete again",
                field="parts",
                code="incomplete_upload",
            ) from exc
        held = False
        try:
            held = await self._s3(self.store.hold, key, info.version_id)
        except Unavailable:
            log.warning("legal hold on %s failed; the master is protected by write-once keys", key)
        now = self.clock()

        def build(current: Document) -> Change:
            if current["status"] != EvidenceStatus.INITIATED.value:
                raise EvidenceError(
                    f"evidence is already {current['status']}", field="status", code="conflict"
                )
            details = {
                "file_name": current["file_name"],
                "size": current["size"],
                "parts": current["part_count"],
                "s3_etag": info.etag,
                "declared_sha256": current["declared_sha256"],
                "declared_media_type": current["declared_media_type"],
                "legal_hold": held,
            }
            return Change(
                entries=[EntrySpec(caller.actor, Action.UPLOADED, details=details)],
                update={
                    "$set": {
                        "status": EvidenceStatus.UPLOADED.value,
                        "uploaded_at": now,
                        "updated_at": now,
                        "master_etag": info.etag,
                        "master_version_id": info.version_id,
                        "legal_hold": held,
                        "job": "verify",
                        "job_first_attempt": int(current.get("attempts") or 0),
                        "lease_until": EPOCH,
                    }
                },
                require={"status": EvidenceStatus.INITIATED.value},
            )

        await self.custody.write(evidence_id, build)
        self.nudge_worker()
        updated = await self.repo.get(evidence_id)
        assert updated is not None
        return updated

    # --- reading ---------------------------------------------------------------------------

    async def view(self, caller: Caller, evidence_id: str, reason: str | None) -> Document:
        doc = await self._visible(caller, evidence_id)
        why = access.access_reason(caller, reason)
        await self._log_access(caller, doc, why, Action.ACCESSED, {"what": "metadata"})
        ACCESS.labels(_kind(caller), "metadata").inc()
        return doc

    async def list_for_report(
        self, caller: Caller, report_id: str, reason: str | None
    ) -> list[Document]:
        report = await self.repo.report(report_id)
        if not access.can_see_report(caller, report):
            raise NotFound("report not found")
        why = access.access_reason(caller, reason)
        docs = [
            d for d in await self.repo.for_report(report_id) if access.can_see(caller, d, report)
        ]
        for doc in docs:
            await self._log_access(caller, doc, why, Action.ACCESSED, {"what": "listing"})
        ACCESS.labels(_kind(caller), "listing").inc()
        return docs

    async def download(
        self, caller: Caller, evidence_id: str, derivative_id: str | None, reason: str | None
    ) -> Download:
        doc = await self._visible(caller, evidence_id)
        why = access.access_reason(caller, reason)
        status = doc["status"]
        if status == EvidenceStatus.DELETED.value:
            raise EvidenceError(
                "the evidence was deleted (the continuity log is kept)",
                field="evidence_id",
                code="deleted",
            )
        if status != EvidenceStatus.STORED.value:
            raise EvidenceError(
                f"evidence is {status}; only verified (stored) evidence can be downloaded",
                field="status",
                code="not_ready",
            )
        if derivative_id is None:
            key, version = doc["master_key"], doc.get("master_version_id")
            name = naming.safe_name(doc["file_name"])
            sha, size, media_type = doc["sha256"], int(doc["size"]), doc["media_type"]
            what: dict[str, Any] = {"object": "master"}
        else:
            found = next(
                (d for d in doc.get("derivatives") or [] if d["derivative_id"] == derivative_id),
                None,
            )
            if found is None:
                raise NotFound(f"derivative {derivative_id} not found")
            key, version, name = found["key"], found.get("version_id"), found["file_name"]
            sha, size, media_type = found["sha256"], int(found["size"]), found["media_type"]
            what = {"object": "derivative", "derivative_id": derivative_id, "file_name": name}
        lifetime = domain.download_url_lifetime(timedelta(seconds=self.settings.download_url_ttl_s))
        url = await self._s3(
            self.store.presign_get, key, lifetime, version_id=version, download_name=name
        )
        expires = self.clock() + lifetime
        what["expires_at"] = expires.isoformat()
        await self._log_access(caller, doc, why, Action.DOWNLOADED, what, always=True)
        ACCESS.labels(_kind(caller), "download").inc()
        return Download(url, expires, name, sha, size, media_type)

    async def custody_log(
        self, caller: Caller, evidence_id: str, reason: str | None
    ) -> tuple[Document, LogView]:
        doc = await self._visible(caller, evidence_id)
        why = access.access_reason(caller, reason)
        await self._log_access(caller, doc, why, Action.ACCESSED, {"what": "continuity log"})
        fresh = await self.repo.get(evidence_id)
        assert fresh is not None
        ACCESS.labels(_kind(caller), "custody").inc()
        return fresh, await self.custody.read(fresh)

    # --- changes by the retailer or the force ------------------------------------------------

    async def set_exhibit_ref(self, caller: Caller, evidence_id: str, ref: str) -> Document:
        doc = await self._own(caller, evidence_id)
        new_ref = naming.validate_exhibit_ref(ref)

        async def build(current: Document) -> Change:
            if current["status"] not in (
                EvidenceStatus.INITIATED.value,
                EvidenceStatus.UPLOADED.value,
                EvidenceStatus.VERIFYING.value,
            ):
                raise EvidenceError(
                    f"evidence is {current['status']}: the exhibit reference is fixed once"
                    " the evidence is verified (it is on the case sent to the police)",
                    field="exhibit_ref",
                    code="conflict",
                )
            old = current["exhibit_ref"]
            if old == new_ref:
                return Change()
            if new_ref in await self.repo.exhibit_refs(current["report_id"]):
                raise _ref_taken(new_ref)
            return Change(
                entries=[
                    EntrySpec(
                        caller.actor,
                        Action.EXHIBIT_REF_CHANGED,
                        details={"from": old, "to": new_ref},
                    )
                ],
                update={"$set": {"exhibit_ref": new_ref, "updated_at": self.clock()}},
                require={"exhibit_ref": old},
            )

        try:
            await self.custody.write(doc["_id"], build)
        except PyMongoError as exc:
            # Taken by a concurrent request after our check: the unique (report, exhibit
            # ref) index refuses (MongoDB: DuplicateKeyError; FerretDB: a UNIQUE failure).
            if isinstance(exc, DuplicateKeyError) or "UNIQUE" in str(exc):
                raise _ref_taken(new_ref) from exc
            raise
        updated = await self.repo.get(evidence_id)
        assert updated is not None
        return updated

    async def request_stills(
        self, caller: Caller, evidence_id: str, times: Sequence[float], reason: str | None
    ) -> Document:
        doc = await self._visible(caller, evidence_id)
        why = access.access_reason(caller, reason)
        wanted = validate_stills(times, self.settings.media_max_stills)
        if not wanted:
            raise EvidenceError("give at least one time", field="at_seconds")
        if doc["status"] != EvidenceStatus.STORED.value or not (doc.get("media") or {}).get(
            "video_codec"
        ):
            raise EvidenceError(
                "stills can be taken from verified video evidence only",
                field="status",
                code="not_ready",
            )

        def build(current: Document) -> Change:
            if current.get("job"):
                raise EvidenceError(
                    "derived copies are being made for this evidence; retry in a minute",
                    field="at_seconds",
                    code="conflict",
                )
            return Change(
                entries=[
                    EntrySpec(
                        caller.actor,
                        Action.ACCESSED,
                        why,
                        {"what": "stills requested", "at_seconds": wanted},
                    )
                ],
                update={
                    "$set": {
                        "job": "stills",
                        "job_first_attempt": int(current.get("attempts") or 0),
                        "stills_pending": wanted,
                        "lease_until": EPOCH,
                        "updated_at": self.clock(),
                    }
                },
                require={"status": EvidenceStatus.STORED.value},
            )

        await self.custody.write(evidence_id, build)
        self.nudge_worker()
        updated = await self.repo.get(evidence_id)
        assert updated is not None
        return updated

    # --- what the events teach ------------------------------------------------------------------

    async def record_report(self, event: ReportSubmitted) -> None:
        """Keep what evidence needs of a report: owner, store, reporter's initials (for
        exhibit references) and offence (for retention). Nothing sensitive."""
        await self.repo.record_report(
            event.report_id,
            {
                "retailer_id": event.retailer_id,
                "store_id": event.store.store_id,
                "reference": event.reference,
                "reporter_initials": reporter_initials(event.report.reporter.name),
                "offence_type": event.report.offence_type.value,
                "submitted_at": event.submitted_at,
            },
        )

    async def record_case_status(self, event: CaseStatusChanged) -> None:
        await self.repo.ensure_report_stub(event.report_id)
        fields: Document = {
            "case_id": event.case_id,
            "case_status": event.status.value,
            "case_changed_at": event.changed_at,
        }
        if event.force is not None:
            fields["force"] = event.force
        if event.outcome is not None:
            fields["outcome"] = event.outcome.value
            fields["outcome_at"] = event.changed_at
        await self.repo.apply_case_status(event.report_id, event.sequence, fields)
        # Sharing is idempotent, so it runs on every delivery: a crash after the status
        # was recorded must not leave the evidence unshared.
        await self.share_report_evidence(event.report_id)

    async def share_report_evidence(self, report_id: str) -> None:
        report = await self.repo.report(report_id)
        force = (report or {}).get("force")
        if not force:
            return
        for doc in await self.repo.for_report(report_id):
            await self.share(doc["_id"], force, report or {})

    async def share(self, evidence_id: str, force: str, report: Mapping[str, Any]) -> None:
        def build(current: Document) -> Change:
            if force in (current.get("shared_with") or []) or current["status"] in (
                EvidenceStatus.DELETED.value,
                EvidenceStatus.REJECTED.value,
            ):
                return Change()
            details = {
                "force": force,
                "case_id": report.get("case_id"),
                "case_status": report.get("case_status"),
            }
            return Change(
                entries=[EntrySpec(SYSTEM, Action.SHARED_WITH_FORCE, details=details)],
                update={"$addToSet": {"shared_with": force}},
                require={"shared_with": {"$ne": force}},
            )

        await self.custody.write(evidence_id, build)

    # --- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _retailer(caller: Caller) -> RetailerCaller:
        if not isinstance(caller, RetailerCaller):
            raise Forbidden("police force tokens can read evidence, not upload or change it")
        return caller

    async def _own(self, caller: Caller, evidence_id: str) -> Document:
        retailer = self._retailer(caller)
        doc = await self.repo.get(evidence_id)
        if doc is None or doc.get("retailer_id") != retailer.retailer_id:
            raise NotFound(f"evidence {evidence_id} not found")
        return doc

    async def _visible(self, caller: Caller, evidence_id: str) -> Document:
        doc = await self.repo.get(evidence_id)
        if doc is None:
            raise NotFound(f"evidence {evidence_id} not found")
        report = (
            await self.repo.report(doc["report_id"]) if isinstance(caller, ForceCaller) else None
        )
        if not access.can_see(caller, doc, report):
            raise NotFound(f"evidence {evidence_id} not found")
        return doc

    async def _close_vanished(self, doc: Mapping[str, Any]) -> EvidenceError:
        """S3 no longer knows the multipart upload (aborted by a lifecycle rule, say) and
        holds no object: close the session, so the same file can be uploaded afresh."""

        def build(current: Document) -> Change:
            if current["status"] != EvidenceStatus.INITIATED.value:
                return Change()
            now = self.clock()
            return Change(
                entries=[
                    EntrySpec(
                        SYSTEM,
                        Action.DELETED,
                        "the upload session no longer exists in storage; nothing was stored",
                        {"why": "upload_vanished"},
                    )
                ],
                update={
                    "$set": {
                        "status": EvidenceStatus.DELETED.value,
                        "deleted_at": now,
                        "updated_at": now,
                        "deletion": {"why": "upload_vanished"},
                        "open_key": closed_key(current),
                    }
                },
                require={"status": EvidenceStatus.INITIATED.value},
            )

        await self.custody.write(str(doc["_id"]), build)
        return EvidenceError(
            "the upload session expired in storage; start the upload again (re-running"
            " `shopwatch upload` does)",
            field="evidence_id",
            code="upload_gone",
        )

    @staticmethod
    def _require_open(doc: Mapping[str, Any]) -> None:
        if doc["status"] != EvidenceStatus.INITIATED.value:
            raise EvidenceError(
                f"evidence is {doc['status']}: the upload is closed, no more parts",
                field="status",
                code="conflict",
            )

    async def _log_access(
        self,
        caller: Caller,
        doc: Mapping[str, Any],
        reason: str | None,
        action: Action,
        details: Mapping[str, Any],
        *,
        always: bool = False,
    ) -> None:
        """Police access is always logged (with its reason), and so is every download.
        A retailer reading the status of its own upload is not: the CLI polls it."""
        if not (always or isinstance(caller, ForceCaller)):
            return
        try:
            await self.custody.write(
                doc["_id"],
                lambda _current: Change(entries=[EntrySpec(caller.actor, action, reason, details)]),
            )
        except Missing as exc:
            raise NotFound(f"evidence {doc['_id']} not found") from exc


def _kind(caller: Caller) -> str:
    return "force" if isinstance(caller, ForceCaller) else "retailer"


def _ref_taken(ref: str) -> EvidenceError:
    return EvidenceError(
        f"exhibit reference {ref} is already used on this report",
        field="exhibit_ref",
        code="exhibit_ref_taken",
    )
