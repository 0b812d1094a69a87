"""Retention sweep: delete what is kept no longer, and write each deletion in the log.

Three kinds of item go:

- verified evidence whose retention period (by offence and case outcome, see
  ``retention``) has run out;
- rejected uploads, ``rejected_retention_days`` after the rejection (long enough to look
  into a dispute, never shared with anyone);
- upload sessions never completed, ``abandoned_upload_days`` after they were opened
  (the multipart upload is aborted so S3 frees the parts).

Objects go first, then the record: if a delete fails the item stays as it was and the
next sweep retries; if recording fails after the objects went, the next sweep finds the
objects already gone (deleting is idempotent) and records it then. The continuity log
and the item's metadata are kept: the log must show the erasure (DPA 2018 s.62).

Runs periodically inside the service (``sweep_interval_s``) and on demand:

    uv run python -m shopwatch.evidence.sweep [--dry-run]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from shopwatch.evidence import retention
from shopwatch.evidence.config import EvidenceSettings
from shopwatch.evidence.custody import Action
from shopwatch.evidence.custody_store import Change, EntrySpec
from shopwatch.evidence.domain import EvidenceStatus
from shopwatch.evidence.metrics import DELETED
from shopwatch.evidence.service import EPOCH, SYSTEM, EvidenceService

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class SweepReport:
    retention: int = 0
    rejected: int = 0
    abandoned: int = 0
    failed: int = 0
    would_delete: list[str] | None = None


def load_policy(settings: EvidenceSettings) -> retention.RetentionPolicy:
    if not settings.retention_policy_json.strip():
        return retention.DEFAULT_POLICY
    return retention.RetentionPolicy.from_mapping(json.loads(settings.retention_policy_json))


def shortest_period(policy: retention.RetentionPolicy) -> timedelta | None:
    periods = [p for p in policy.rules.values() if p is not None]
    return min(periods) if periods else None


def retention_facts(
    doc: Mapping[str, Any], report: Mapping[str, Any] | None
) -> retention.RetentionFacts:
    report = report or {}
    return retention.RetentionFacts(
        offence_type=str(report.get("offence_type") or retention.ANY),
        outcome=report.get("outcome"),
        stored_at=doc.get("stored_at") or doc["created_at"],
        outcome_at=report.get("outcome_at"),
        legal_hold=bool(doc.get("legal_hold_order") or report.get("legal_hold_order")),
    )


async def sweep(
    service: EvidenceService,
    now: datetime,
    *,
    policy: retention.RetentionPolicy | None = None,
    dry_run: bool = False,
) -> SweepReport:
    settings = service.settings
    policy = policy or load_policy(settings)
    report = SweepReport(would_delete=[] if dry_run else None)
    repo = service.repo

    async def delete(doc: Mapping[str, Any], why: str, reason: str) -> None:
        if report.would_delete is not None:
            report.would_delete.append(f"{doc['_id']} ({why}: {reason})")
            return
        try:
            await delete_item(service, doc, why, reason)
        except Exception:
            report.failed += 1
            log.exception("could not delete evidence %s", doc["_id"])
            return
        setattr(report, why, getattr(report, why) + 1)
        DELETED.labels(why).inc()

    abandoned_before = now - timedelta(days=settings.abandoned_upload_days)
    for doc in await repo.find(
        {"status": EvidenceStatus.INITIATED.value, "created_at": {"$lt": abandoned_before}}, BATCH
    ):
        await delete(
            doc,
            "abandoned",
            f"upload not completed within {settings.abandoned_upload_days} days",
        )

    rejected_before = now - timedelta(days=settings.rejected_retention_days)
    for doc in await repo.find(
        {"status": EvidenceStatus.REJECTED.value, "rejected_at": {"$lt": rejected_before}}, BATCH
    ):
        await delete(
            doc,
            "rejected",
            f"rejected upload kept {settings.rejected_retention_days} days",
        )

    if not dry_run:  # claims only arbitrate races between workers; a day later they are junk
        await repo.claims.delete_many({"at": {"$lt": now - timedelta(days=1)}})

    shortest = shortest_period(policy)
    if shortest is not None:
        candidates = await repo.find(
            {"status": EvidenceStatus.STORED.value, "stored_at": {"$lt": now - shortest}},
            BATCH,
            sort="stored_at",
        )
        reports: dict[str, Mapping[str, Any] | None] = {}
        for doc in candidates:
            report_id = str(doc["report_id"])
            if report_id not in reports:
                reports[report_id] = await repo.report(report_id)
            facts = retention_facts(doc, reports[report_id])
            if retention.is_expired(facts, now, policy):
                period = policy.period_for(facts.offence_type, facts.outcome)
                days = period.days if period is not None else 0
                await delete(
                    doc,
                    "retention",
                    f"retention period ended ({days} days for {facts.offence_type},"
                    f" outcome {facts.outcome or retention.OPEN})",
                )
    return report


async def delete_item(
    service: EvidenceService, doc: Mapping[str, Any], why: str, reason: str
) -> None:
    store = service.store
    evidence_id = str(doc["_id"])
    status = str(doc["status"])
    removed: list[str] = []
    if status == EvidenceStatus.INITIATED.value and doc.get("upload_id"):
        await asyncio.to_thread(store.abort, doc["master_key"], doc["upload_id"])
    version = doc.get("master_version_id")
    if await asyncio.to_thread(store.stat, doc["master_key"], version) is not None:
        await asyncio.to_thread(store.release, doc["master_key"], version)
        await asyncio.to_thread(store.remove, doc["master_key"], version)
        removed.append(doc["master_key"])
    derived = await asyncio.to_thread(store.remove_prefix, f"derived/{evidence_id}/")

    def build(current: dict[str, Any]) -> Change:
        if current["status"] != status:
            return Change()  # changed meanwhile (e.g. completed): the next sweep decides
        now = service.clock()
        return Change(
            entries=[
                EntrySpec(
                    SYSTEM,
                    Action.DELETED,
                    reason,
                    {"why": why, "objects": removed, "derived_objects": derived},
                )
            ],
            update={
                "$set": {
                    "status": EvidenceStatus.DELETED.value,
                    "deleted_at": now,
                    "updated_at": now,
                    "deletion": {"why": why, "reason": reason},
                    "open_key": f"closed:{evidence_id}",
                    "job": None,
                    "lease_until": EPOCH,
                }
            },
            require={"status": status},
        )

    await service.custody.write(evidence_id, build)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shopwatch.evidence.sweep")
    parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")
    args = parser.parse_args(argv)
    from shopwatch.evidence.app import build_offline_service

    async def run() -> SweepReport:
        service, close = await build_offline_service(EvidenceSettings())
        try:
            return await sweep(service, service.clock(), dry_run=args.dry_run)
        finally:
            await close()

    result = asyncio.run(run())
    sys.stdout.write(json.dumps(asdict(result), indent=2) + "\n")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
