"""Many changes to one case at the same moment, on the real database: none lost, none twice.

Evidence, matching results and force updates for one case arrive on different topics and
are handled concurrently. Each must build on the one before: every change announced once,
with its own sequence number, and the case holding all of them. Routing makes one case's
changes one at a time in its process; without that, 30 at once exhausted the version
check's retries, and on a FerretDB without deploy/local's fourth edit (which applies one
collection's updates one at a time) two saves of one version both won and 19 of the 30
changes were lost (a clean-clone CI fault run announced two different sequence-2 packages
21 ms apart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from shopwatch.routing.adapters.mongo_cases import MongoCases
from shopwatch.routing.service import RoutingService
from shopwatch.schemas.events import EvidenceStored, ReportSubmitted
from shopwatch.schemas.examples import example_event
from shopwatch.schemas.registry import make_envelope

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CHANGES = 30


async def test_concurrent_changes_to_one_case_are_each_applied_once_in_sequence(
    stack_env: Any, mongo_db_name: Callable[[str], str]
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url)
    try:
        cases = MongoCases(client[mongo_db_name("concurrent")])
        await cases.ensure_indexes()

        async def unroutable(*_: Any) -> None:
            raise AssertionError("the example store is routable")

        routing = RoutingService(
            cases, topic=lambda name: name, announce=lambda *_: None, report_unroutable=unroutable
        )
        report = example_event(ReportSubmitted)
        await routing.on_report_submitted(make_envelope(report, producer="intake"))
        base = example_event(EvidenceStored).model_copy(update={"report_id": report.report_id})
        evidence = [
            base.model_copy(update={"evidence_id": f"evi_{n:024x}"}) for n in range(CHANGES)
        ]
        await asyncio.gather(
            *(routing.on_evidence_stored(make_envelope(e, producer="evidence")) for e in evidence)
        )

        loaded = await cases.load(report.report_id)
        raw = await cases.collection.find_one({"_id": report.report_id})
    finally:
        await client.close()

    assert loaded is not None and raw is not None
    held = {e.evidence_id for e in loaded.state.evidence}
    assert held == {e.evidence_id for e in evidence}, f"lost {CHANGES - len(held)} changes"
    sequences = [
        entry["value"] for entry in raw.get("outbox", []) if '"case.routed"' in entry["value"]
    ]
    numbers = sorted(int(v.split('"sequence":')[1].split(",")[0]) for v in sequences)
    assert numbers == list(range(1, CHANGES + 2)), "each change announced once, in sequence"
