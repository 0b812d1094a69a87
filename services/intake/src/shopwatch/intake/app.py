"""Intake's wiring: adapters, service, consumers, HTTP routes and error answers, in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shopwatch.intake.adapters.mongo_reports import MongoReports
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.config import IntakeSettings
from shopwatch.intake.consumers import on_case_status_changed
from shopwatch.intake.handlers import identity_router, router
from shopwatch.intake.idempotency import InvalidIdempotencyKey
from shopwatch.intake.limits import BodySizeLimit
from shopwatch.intake.pagination import InvalidCursor
from shopwatch.intake.rate_limit import RateLimiter
from shopwatch.intake.service import IdempotencyConflict, IntakeService, NotFound
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.topics import CASES_STATUS_CHANGED


def wire(service: Service[IntakeSettings]) -> None:
    settings = service.settings
    tenants = MongoTenants(service.db)
    reports = MongoReports(service.db)
    intake = IntakeService(
        tenants=tenants,
        reports=reports,
        topic=settings.topic,
        announce=lambda report_id: service.notify_outbox(reports.collection, report_id),
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
    app.add_middleware(
        BodySizeLimit,
        limit_for_path=lambda path: (
            settings.max_batch_body_bytes if path.endswith("/batch") else settings.max_body_bytes
        ),
    )

    def answer(status: int, detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return answer(404, str(exc))

    @app.exception_handler(IdempotencyConflict)
    async def _conflict(_: Request, exc: IdempotencyConflict) -> JSONResponse:
        return answer(409, f"Idempotency-Key {exc} was used with a different report")

    @app.exception_handler(InvalidCursor)
    async def _cursor(_: Request, exc: InvalidCursor) -> JSONResponse:
        return answer(400, f"cursor: {exc}")

    @app.exception_handler(InvalidIdempotencyKey)
    async def _key(_: Request, exc: InvalidIdempotencyKey) -> JSONResponse:
        return answer(400, str(exc))
