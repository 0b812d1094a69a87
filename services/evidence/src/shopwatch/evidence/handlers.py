"""HTTP handlers: parse, delegate to the service, shape the answer. No decisions here."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shopwatch.evidence.api_models import (
    CustodyEntryView,
    CustodyHead,
    CustodyLogView,
    CustodyVerification,
    DownloadLink,
    ErrorBody,
    EvidenceList,
    EvidenceView,
    ExhibitRefBody,
    InitiateBody,
    PartUrls,
    PartUrlView,
    StillsBody,
    UploadedParts,
    UploadedPartView,
    UploadSession,
)
from shopwatch.evidence.auth import (
    Caller,
    ForceTokens,
    IdentityUnavailable,
    NotAuthenticated,
    RetailerDirectory,
)
from shopwatch.evidence.force_tokens import looks_like_force_token
from shopwatch.evidence.service import EvidenceService, InitiateRequest, plan_of

router = APIRouter(prefix="/v1", tags=["evidence"])
log = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 410, 413, 503)
}

_bearer = HTTPBearer(
    auto_error=False,
    description="Retailer API key `sw_<id>_<secret>` or police force token `swf_<id>_<secret>`",
)
_UNAUTHORIZED = HTTPException(
    status_code=401,
    detail="missing, invalid or revoked API key or force token",
    headers={"WWW-Authenticate": "Bearer"},
)


def service_of(request: Request) -> EvidenceService:
    svc: EvidenceService = request.app.state.evidence
    return svc


async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        log_refusal(request, 401, "no API key or force token")
        raise _UNAUTHORIZED
    presented = credentials.credentials
    try:
        if looks_like_force_token(presented):
            forces: ForceTokens = request.app.state.force_tokens
            caller: Caller = await forces.identify(presented)
        else:
            retailers: RetailerDirectory = request.app.state.retailers
            caller = await retailers.identify(presented)
    except NotAuthenticated:
        # The credential itself is never logged: a mistyped one is most of a real one.
        log_refusal(request, 401, "invalid or revoked API key or force token")
        raise _UNAUTHORIZED from None
    except IdentityUnavailable as exc:
        raise HTTPException(
            status_code=503,
            detail=f"cannot check the API key right now ({exc}); retry shortly",
            headers={"Retry-After": "5"},
        ) from exc
    request.state.caller = caller
    return caller


def log_refusal(request: Request, status: int, why: str) -> None:
    """One line per refused request (DPA 2018 s.62 wants attempts on others' evidence
    seen), naming the caller when known, the request and the reason; never credentials."""
    caller: Caller | None = getattr(request.state, "caller", None)
    log.warning(
        "refused %s %s with %d: %s",
        request.method,
        request.url.path,
        status,
        why,
        extra={
            "refused": status,
            "actor": caller.actor.id if caller else None,
            "client": request.client.host if request.client else None,
        },
    )


Service = Annotated[EvidenceService, Depends(service_of)]
CallerDep = Annotated[Caller, Depends(current_caller)]
ReasonQuery = Annotated[
    str | None,
    Query(max_length=2000, description="Why (required for police access): logged."),
]
ReasonHeader = Annotated[str | None, Header(alias="X-Access-Reason", max_length=2000)]


def _reason(query: str | None, header: str | None) -> str | None:
    return query if query is not None else header


@router.post(
    "/reports/{report_id}/evidence",
    status_code=201,
    response_model=UploadSession,
    responses={**ERRORS, 200: {"model": UploadSession}},
    summary="Open an upload session (or find the open one for the same file)",
)
async def initiate(
    report_id: str, body: InitiateBody, caller: CallerDep, service: Service, response: Response
) -> UploadSession:
    doc, created = await service.initiate(
        caller,
        report_id,
        InitiateRequest(
            file_name=body.file_name,
            size=body.size,
            media_type=body.media_type,
            sha256=body.sha256,
            stills_at_seconds=body.stills_at_seconds,
        ),
    )
    if not created:
        response.status_code = 200
    return UploadSession(
        **EvidenceView.of(doc).model_dump(),
        resumed=not created,
        max_parts_per_request=service.limits.max_parts_per_request,
    )


@router.get(
    "/reports/{report_id}/evidence",
    response_model=EvidenceList,
    responses=ERRORS,
    summary="The evidence of one report that the caller may see",
)
async def list_for_report(
    report_id: str,
    caller: CallerDep,
    service: Service,
    reason: ReasonQuery = None,
    reason_header: ReasonHeader = None,
) -> EvidenceList:
    docs = await service.list_for_report(caller, report_id, _reason(reason, reason_header))
    return EvidenceList(report_id=report_id, evidence=[EvidenceView.of(d) for d in docs])


@router.get(
    "/evidence/{evidence_id}/parts",
    response_model=PartUrls,
    responses=ERRORS,
    summary="Presigned URLs to PUT parts straight to storage",
)
async def part_urls(
    evidence_id: str,
    caller: CallerDep,
    service: Service,
    numbers: Annotated[str, Query(max_length=2000, description="e.g. 1,2,5-9")],
) -> PartUrls:
    doc, urls, expires = await service.part_urls(caller, evidence_id, numbers)
    return PartUrls(
        evidence_id=doc["_id"],
        expires_at=expires,
        parts=[
            PartUrlView(number=u.number, url=u.url, offset=u.offset, length=u.length) for u in urls
        ],
    )


@router.get(
    "/evidence/{evidence_id}/uploaded",
    response_model=UploadedParts,
    responses=ERRORS,
    summary="Parts storage already holds (to resume an interrupted upload)",
)
async def uploaded(evidence_id: str, caller: CallerDep, service: Service) -> UploadedParts:
    doc, parts = await service.uploaded_parts(caller, evidence_id)
    plan = plan_of(doc)
    good = {
        p.number
        for p in parts
        if 1 <= p.number <= plan.part_count and p.size == plan.part_length(p.number)
    }
    return UploadedParts(
        evidence_id=doc["_id"],
        status=doc["status"],
        part_count=plan.part_count,
        part_size=plan.part_size,
        parts=[UploadedPartView(number=p.number, size=p.size, etag=p.etag) for p in parts],
        missing=[n for n in range(1, plan.part_count + 1) if n not in good],
    )


@router.post(
    "/evidence/{evidence_id}/complete",
    status_code=202,
    response_model=EvidenceView,
    responses=ERRORS,
    summary="Close the upload; verification starts in the background",
)
async def complete(evidence_id: str, caller: CallerDep, service: Service) -> EvidenceView:
    return EvidenceView.of(await service.complete(caller, evidence_id))


@router.get(
    "/evidence/{evidence_id}",
    response_model=EvidenceView,
    responses=ERRORS,
    summary="Metadata and status",
)
async def get_evidence(
    evidence_id: str,
    caller: CallerDep,
    service: Service,
    reason: ReasonQuery = None,
    reason_header: ReasonHeader = None,
) -> EvidenceView:
    doc = await service.view(caller, evidence_id, _reason(reason, reason_header))
    return EvidenceView.of(doc)


@router.patch(
    "/evidence/{evidence_id}",
    response_model=EvidenceView,
    responses=ERRORS,
    summary="Change the exhibit reference (until the evidence is verified)",
)
async def edit(
    evidence_id: str, body: ExhibitRefBody, caller: CallerDep, service: Service
) -> EvidenceView:
    return EvidenceView.of(await service.set_exhibit_ref(caller, evidence_id, body.exhibit_ref))


@router.get(
    "/evidence/{evidence_id}/download",
    response_model=DownloadLink,
    responses=ERRORS,
    summary="A presigned download link (at most 15 minutes); the download is logged",
)
async def download(
    evidence_id: str,
    caller: CallerDep,
    service: Service,
    derivative: Annotated[str | None, Query(max_length=128)] = None,
    reason: ReasonQuery = None,
    reason_header: ReasonHeader = None,
) -> DownloadLink:
    link = await service.download(caller, evidence_id, derivative, _reason(reason, reason_header))
    return DownloadLink(
        url=link.url,
        expires_at=link.expires_at,
        file_name=link.file_name,
        sha256=link.sha256,
        size_bytes=link.size,
        media_type=link.media_type,
    )


@router.get(
    "/evidence/{evidence_id}/custody",
    response_model=CustodyLogView,
    responses=ERRORS,
    summary="The continuity log, with the result of checking its hash chain",
)
async def custody_log(
    evidence_id: str,
    caller: CallerDep,
    service: Service,
    reason: ReasonQuery = None,
    reason_header: ReasonHeader = None,
) -> CustodyLogView:
    doc, view = await service.custody_log(caller, evidence_id, _reason(reason, reason_header))
    return CustodyLogView(
        evidence_id=doc["_id"],
        exhibit_ref=doc["exhibit_ref"],
        head=CustodyHead(seq=view.head.seq, entry_hash=view.head.entry_hash) if view.head else None,
        verification=CustodyVerification(
            ok=view.verification.ok,
            first_bad_seq=view.verification.first_bad_seq,
            problem=view.verification.problem,
        ),
        entries=[CustodyEntryView(**e.to_document()) for e in view.entries],
    )


@router.post(
    "/evidence/{evidence_id}/stills",
    status_code=202,
    response_model=EvidenceView,
    responses=ERRORS,
    summary="Ask for full-resolution stills at given times (made in the background)",
)
async def stills(
    evidence_id: str,
    body: StillsBody,
    caller: CallerDep,
    service: Service,
    reason: ReasonQuery = None,
    reason_header: ReasonHeader = None,
) -> EvidenceView:
    doc = await service.request_stills(
        caller, evidence_id, body.at_seconds, _reason(reason, reason_header)
    )
    return EvidenceView.of(doc)
