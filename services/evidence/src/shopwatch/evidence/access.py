"""Who may see which evidence. Pure.

- The retailer that uploaded it sees it, in every status.
- A police force sees the evidence of reports whose case is routed to it, once verified
  (``stored``, and ``deleted`` for the record) and shared with it (logged), and only with a
  reason (DPA 2018 s.62).
- Everyone else gets the same 404 as for evidence that does not exist: the API never
  tells "not yours" from "not there".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shopwatch.evidence.auth import Caller, ForceCaller, RetailerCaller
from shopwatch.evidence.custody import MAX_REASON_CHARS, CustodyError, _clean_reason
from shopwatch.evidence.domain import EvidenceError, EvidenceStatus

FORCE_VISIBLE = frozenset({EvidenceStatus.STORED.value, EvidenceStatus.DELETED.value})


def can_see(caller: Caller, evidence: Mapping[str, Any], report: Mapping[str, Any] | None) -> bool:
    if isinstance(caller, RetailerCaller):
        return bool(evidence.get("retailer_id") == caller.retailer_id)
    if isinstance(caller, ForceCaller):
        return (
            report is not None
            and report.get("force") == caller.force
            and evidence.get("status") in FORCE_VISIBLE
            # Shared, i.e. the continuity log holds its `shared_with_force` entry (written
            # with `shared_with` in one custody write): no force access is logged before
            # the share that allowed it. The report's force is recorded a moment earlier.
            and caller.force in (evidence.get("shared_with") or ())
        )
    return False


def can_see_report(caller: Caller, report: Mapping[str, Any] | None) -> bool:
    if report is None or report.get("retailer_id") is None:
        return False
    if isinstance(caller, RetailerCaller):
        return bool(report["retailer_id"] == caller.retailer_id)
    return bool(report.get("force") == caller.force)


def access_reason(caller: Caller, reason: str | None) -> str | None:
    """The reason to log; forces must give one (400 naming ``reason`` otherwise)."""
    try:
        cleaned = _clean_reason(reason)
    except CustodyError as exc:
        raise EvidenceError(exc.message, field="reason", code="invalid_reason") from exc
    if cleaned is None and isinstance(caller, ForceCaller):
        raise EvidenceError(
            "a reason is required for police access (query parameter `reason` or header"
            f" X-Access-Reason, at most {MAX_REASON_CHARS} characters): DPA 2018 s.62",
            field="reason",
            code="reason_required",
        )
    return cleaned
