"""Evidence's wiring: adapters, service, verifier, consumers, HTTP routes and error
answers, in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from minio import Minio

from shopwatch.evidence.adapters.mongo import MongoEvidence
from shopwatch.evidence.adapters.s3_store import S3EvidenceStore
from shopwatch.evidence.auth import CachedRetailerDirectory, ForceTokens, HttpRetailerDirectory
from shopwatch.evidence.config import EvidenceSettings
from shopwatch.evidence.consumers import on_case_status_changed, on_report_submitted
from shopwatch.evidence.custody_store import CustodyStore, Missing, NotApplied, WriteConflict
from shopwatch.evidence.domain import EvidenceError
from shopwatch.evidence.handlers import log_refusal, router
from shopwatch.evidence.service import EvidenceService, Forbidden, NotFound, Unavailable
from shopwatch.evidence.sweep import sweep
from shopwatch.evidence.verification import Verifier
from shopwatch.runtime.db import mongo_client, service_database
from shopwatch.runtime.s3 import minio_client
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.topics import CASES_STATUS_CHANGED, REPORTS_SUBMITTED

log = logging.getLogger(__name__)

# EvidenceError codes that are not a plain 400.
_STATUS_BY_CODE = {
    "conflict": 409,
    "incomplete_upload": 409,
    "exhibit_ref_taken": 409,
    "storage_conflict": 409,
    "not_ready": 409,
    "too_large": 413,
    "upload_gone": 410,
    "deleted": 410,
}


def build_store(settings: EvidenceSettings) -> S3EvidenceStore:
    client = minio_client(settings)
    presigner: Minio | None = None
    if settings.s3_public_endpoint:
        presigner = minio_client(
            settings.model_copy(update={"s3_endpoint": settings.s3_public_endpoint})
        )
    return S3EvidenceStore(
        client,
        settings.evidence_bucket,
        presigner=presigner,
        conditional_writes=settings.s3_conditional_writes,
        object_lock=settings.evidence_object_lock,
    )


def wire(service: Service[EvidenceSettings]) -> None:
    settings = service.settings
    repo = MongoEvidence(service.db)
    store = build_store(settings)
    retailers = CachedRetailerDirectory(
        HttpRetailerDirectory.for_url(settings.intake_url, settings.identity_timeout_s),
        ttl_s=settings.identity_cache_ttl_s,
        max_entries=settings.identity_cache_size,
    )
    evidence = EvidenceService(
        repo=repo,
        store=store,
        custody=CustodyStore(repo),
        settings=settings,
        nudge_relay=service.nudge_outbox,
    )
    verifier = Verifier(evidence, topic=settings.topic)
    evidence.nudge_worker = verifier.nudge
    housekeeping = Housekeeping(evidence)

    async def s3_ready() -> None:
        await asyncio.to_thread(store.client.bucket_exists, store.bucket)

    service.on_startup(repo.ensure_indexes)
    service.on_startup(lambda: asyncio.to_thread(store.ensure_bucket))
    service.on_startup(verifier.start)
    service.on_startup(housekeeping.start)
    service.on_shutdown(lambda: retailers_close(retailers))
    service.on_shutdown(verifier.stop)
    service.on_shutdown(housekeeping.stop)
    service.add_readiness_probe("s3", s3_ready)
    service.outbox(repo.evidence)
    # A continuity-log write that lost a race is retried, not dead-lettered.
    busy = (WriteConflict, NotApplied)
    service.consume(REPORTS_SUBMITTED, on_report_submitted, evidence, transient=busy)
    service.consume(CASES_STATUS_CHANGED, on_case_status_changed, evidence, transient=busy)
    configure_http(service.app, evidence, retailers, ForceTokens(repo.force_token))
    service.app.state.verifier = verifier


async def retailers_close(retailers: CachedRetailerDirectory) -> None:
    inner = getattr(retailers, "_inner", None)
    if isinstance(inner, HttpRetailerDirectory):
        await inner.aclose()


class Housekeeping:
    """Runs the retention sweep on schedule (the first one a minute after start)."""

    def __init__(self, evidence: EvidenceService) -> None:
        self.evidence = evidence
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="evidence-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        settings = self.evidence.settings
        next_sweep = self.evidence.clock() + timedelta(seconds=min(60.0, settings.sweep_interval_s))
        if settings.sweep_interval_s <= 0:
            return
        while True:
            await asyncio.sleep(10)
            now = self.evidence.clock()
            if now < next_sweep:
                continue
            next_sweep = now + timedelta(seconds=settings.sweep_interval_s)
            try:
                report = await sweep(self.evidence, now)
                log.info("retention sweep: %s", report)
            except Exception:
                log.exception("retention sweep failed; next one in %ss", settings.sweep_interval_s)


def configure_http(
    app: FastAPI,
    evidence: EvidenceService,
    retailers: CachedRetailerDirectory,
    force_tokens: ForceTokens,
) -> None:
    app.title = "Shopwatch evidence"
    app.description = (
        "CCTV and stills for a report: resumable uploads straight to storage, server-side"
        " SHA-256, derived copies, a hash-chained continuity log, police access by token."
    )
    app.state.evidence = evidence
    app.state.retailers = retailers
    app.state.force_tokens = force_tokens
    app.include_router(router)

    def answer(status: int, detail: str, **extra: str | None) -> JSONResponse:
        body = {"detail": detail, **{k: v for k, v in extra.items() if v is not None}}
        headers = {"Retry-After": "5"} if status == 503 else None
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(EvidenceError)
    async def _refused(_: Request, exc: EvidenceError) -> JSONResponse:
        return answer(
            _STATUS_BY_CODE.get(exc.code, 400), exc.message, field=exc.field, code=exc.code
        )

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        log_refusal(request, 404, str(exc))
        return answer(404, str(exc))

    @app.exception_handler(Missing)
    async def _missing(request: Request, exc: Missing) -> JSONResponse:
        log_refusal(request, 404, f"evidence {exc} not found")
        return answer(404, f"evidence {exc} not found")

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        log_refusal(request, 403, str(exc))
        return answer(403, str(exc))

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        return answer(503, str(exc))

    @app.exception_handler(WriteConflict)
    async def _busy(_: Request, exc: WriteConflict) -> JSONResponse:
        return answer(409, "the evidence is being changed by another request; retry", code="busy")

    @app.exception_handler(NotApplied)
    async def _changed(_: Request, exc: NotApplied) -> JSONResponse:
        return answer(409, "the evidence changed while this request ran; retry", code="busy")


async def build_offline_service(
    settings: EvidenceSettings,
) -> tuple[EvidenceService, Callable[[], Awaitable[None]]]:
    """The service without HTTP, Kafka or workers, for one-off commands (the sweep)."""
    client = mongo_client(settings)
    repo = MongoEvidence(service_database(client, settings.database_name))
    store = build_store(settings)
    await asyncio.to_thread(store.ensure_bucket)
    service = EvidenceService(
        repo=repo,
        store=store,
        custody=CustodyStore(repo),
        settings=settings,
        nudge_relay=lambda: None,
    )
    return service, client.close
