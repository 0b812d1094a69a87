"""Intake's wiring: adapters, service, consumers, HTTP routes and error answers, in one place."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pymongo.errors import PyMongoError

from shopwatch.intake.adapters.mongo_reports import MongoReports
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.auth import log_refusal
from shopwatch.intake.config import IntakeSettings
from shopwatch.intake.consumers import on_case_status_changed
from shopwatch.intake.handlers import identity_router, router
from shopwatch.intake.idempotency import InvalidIdempotencyKey
from shopwatch.intake.limits import BodySizeLimit
from shopwatch.intake.pagination import InvalidCursor
from shopwatch.intake.rate_limit import RateLimiter
from shopwatch.intake.report_metrics import ReportSubmissionMetrics
from shopwatch.intake.service import IdempotencyConflict, IntakeService, NotFound
from shopwatch.intake.ttl_cache import TtlCache
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.topics import CASES_STATUS_CHANGED

log = logging.getLogger(__name__)


def wire(service: Service[IntakeSettings]) -> None:
    settings = service.settings
    tenants = MongoTenants(service.db)
    reports = MongoReports(service.db)
    intake = IntakeService(
        tenants=tenants,
        reports=reports,
        topic=settings.topic,
        announce=lambda report_id, doc: service.notify_outbox(reports.collection, report_id, doc),
        keys_seen=TtlCache(settings.tenant_cache_s),
        stores_seen=TtlCache(settings.tenant_cache_s),
    )
    service.on_startup(tenants.ensure_indexes)
    service.on_startup(reports.ensure_indexes)
    service.outbox(reports.collection)
    service.consume(CASES_STATUS_CHANGED, on_case_status_changed, intake)
    configure_http(service.app, settings, intake)


def configure_http(app: FastAPI, settings: IntakeSettings, intake: IntakeService) -> None:
    app.title = "Shopwatch intake"
    app.description = "The retailers' API: file reports of retail crime, follow their status."
    app.state.intake = intake
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    app.include_router(router)
    app.include_router(identity_router)
    app.add_middleware(ReportSubmissionMetrics)
    app.add_middleware(
        BodySizeLimit,
        limit_for_path=lambda path: (
            settings.max_batch_body_bytes if path.endswith("/batch") else settings.max_body_bytes
        ),
    )

    def answer(status: int, detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        log_refusal(request, 404, str(exc))
        return answer(404, str(exc))

    @app.exception_handler(IdempotencyConflict)
    async def _conflict(request: Request, exc: IdempotencyConflict) -> JSONResponse:
        log_refusal(request, 409, "Idempotency-Key reused with a different report")
        return answer(409, f"Idempotency-Key {exc} was used with a different report")

    @app.exception_handler(InvalidCursor)
    async def _cursor(_: Request, exc: InvalidCursor) -> JSONResponse:
        return answer(400, f"cursor: {exc}")

    @app.exception_handler(PyMongoError)
    async def _database(_: Request, exc: PyMongoError) -> JSONResponse:
        # Nothing was accepted (a report is accepted only once its write succeeded), so
        # the honest answer is "try again shortly", never a bare 500.
        log.warning("database unavailable: %s", type(exc).__name__)
        return JSONResponse(
            {"detail": "the report store is busy or unavailable; nothing was saved, retry"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(InvalidIdempotencyKey)
    async def _key(_: Request, exc: InvalidIdempotencyKey) -> JSONResponse:
        return answer(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own 422 body, but rendered as ASCII: the errors echo the input, and a
        # JSON string may carry a lone surrogate (`"\udaeb"`) that is valid JSON yet not
        # encodable as UTF-8, which made the default answer a 500. Escaped, it goes back
        # to the client as it came.
        body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
        return Response(body, status_code=422, media_type="application/json")
