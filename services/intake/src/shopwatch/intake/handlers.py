"""HTTP handlers: parse, delegate to the service, shape the answer. No decisions here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import ValidationError

from shopwatch.intake.api_models import (
    BatchItemResult,
    BatchRequest,
    BatchResponse,
    ErrorBody,
    FieldError,
    Identity,
    ReportAccepted,
    ReportPage,
    ReportSummary,
    ReportView,
)
from shopwatch.intake.auth import (
    caller_with_quota,
    charge_quota,
    current_caller,
    log_refusal,
    require_json,
)
from shopwatch.intake.idempotency import fingerprint, validate_key
from shopwatch.intake.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_cursor
from shopwatch.intake.report_metrics import count_batch
from shopwatch.intake.service import BatchItem, Caller, IntakeService
from shopwatch.schemas.report import Report

router = APIRouter(prefix="/v1/reports", tags=["reports"])
identity_router = APIRouter(prefix="/v1", tags=["identity"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 415, 429)
}


async def service_of(request: Request) -> IntakeService:
    # async: FastAPI runs a plain `def` dependency on a worker thread, a hop per request.
    svc: IntakeService = request.app.state.intake
    return svc


Service = Annotated[IntakeService, Depends(service_of)]
CallerDep = Annotated[Caller, Depends(caller_with_quota)]


@router.post(
    "",
    status_code=202,
    response_model=ReportAccepted,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
    summary="File one report",
)
async def submit_report(
    report: Report,
    caller: CallerDep,
    service: Service,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> ReportAccepted:
    key = validate_key(idempotency_key) if idempotency_key is not None else None
    accepted = await service.submit(
        caller, report, key, fingerprint(report.model_dump(mode="json"))
    )
    return ReportAccepted(**vars(accepted))


@router.post(
    "/batch",
    status_code=207,
    response_model=BatchResponse,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
    summary="File up to 500 reports; each is accepted or rejected on its own",
)
async def submit_batch(
    body: BatchRequest,
    request: Request,
    caller: Annotated[Caller, Depends(current_caller)],
    service: Service,
) -> BatchResponse:
    # Charged in one go for every report it carries: charging one token up front and the
    # rest here would make Retry-After count only the first token, and a client that
    # waited as told would be refused again.
    charge_quota(request, caller, len(body.items))
    items = [_parse_entry(entry.report, entry.idempotency_key) for entry in body.items]
    outcomes = await service.submit_batch(caller, items)
    results = [
        BatchItemResult(
            index=o.index,
            status=o.status,
            report_id=o.report_id,
            reference=o.reference,
            errors=[FieldError(**e) for e in o.errors],
        )
        for o in outcomes
    ]
    for conflict in (o for o in outcomes if o.status == "conflict"):
        log_refusal(
            request, 409, f"item {conflict.index}: Idempotency-Key reused with a different report"
        )
    count = {s: sum(1 for o in outcomes if o.status == s) for s in ("accepted", "duplicate")}
    rejected = len(outcomes) - count["accepted"] - count["duplicate"]
    count_batch(count["accepted"], rejected)
    return BatchResponse(
        accepted=count["accepted"],
        duplicates=count["duplicate"],
        rejected=rejected,
        results=results,
    )


@router.get("/{report_id}", response_model=ReportView, responses=ERRORS, summary="One report")
async def get_report(report_id: str, caller: CallerDep, service: Service) -> ReportView:
    doc = await service.get(caller, report_id)
    return ReportView(report_id=doc["_id"], **{k: v for k, v in doc.items() if k in _VIEW})


@router.get("", response_model=ReportPage, responses=ERRORS, summary="The retailer's reports")
async def list_reports(
    caller: CallerDep,
    service: Service,
    store_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=40)] = None,
    submitted_from: Annotated[datetime | None, Query(alias="from")] = None,
    submitted_to: Annotated[datetime | None, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> ReportPage:
    rows, next_cursor = await service.list(
        caller,
        store_id=store_id,
        status=status,
        submitted_from=submitted_from,
        submitted_to=submitted_to,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    return ReportPage(
        reports=[ReportSummary(report_id=r["_id"], **{k: r[k] for k in _SUMMARY}) for r in rows],
        next_cursor=next_cursor,
    )


@identity_router.get(
    "/me",
    response_model=Identity,
    responses=ERRORS,
    summary="Who this API key belongs to (other services use it to check retailer keys)",
)
async def who_am_i(caller: Annotated[Caller, Depends(current_caller)]) -> Identity:
    return Identity(retailer_id=caller.retailer_id, key_id=caller.key_id)


_VIEW = {"reference", "store_id", "status", "submitted_at", "report", "store", "timeline"}
_SUMMARY = ("reference", "store_id", "status", "submitted_at", "occurred_at", "offence_type")


def _parse_entry(raw: dict[str, Any], key: str | None) -> BatchItem:
    try:
        report = Report.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"loc": ["report", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        return BatchItem(report=None, idempotency_key=key, fingerprint="", errors=errors)
    return BatchItem(report, key, fingerprint(report.model_dump(mode="json")))
