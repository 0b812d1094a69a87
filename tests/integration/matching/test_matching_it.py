"""Matching with routing on the real stack: a repeat offender across two forces is linked,
and the prolific flag reaches both forces' topics."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from shopwatch.matching.app import wire as wire_matching
from shopwatch.matching.config import MatchingSettings
from shopwatch.routing.app import wire as wire_routing
from shopwatch.routing.config import RoutingSettings
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.events import ReportSubmitted
from shopwatch.schemas.examples import example_event
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.report import OffenderDescription
from shopwatch.schemas.topics import REPORTS_SUBMITTED, force_topic

pytestmark = pytest.mark.integration

STORES = [("durham", "DH1 3NJ"), ("cleveland", "TS1 1RE"), ("durham", "DH7 8XL")]


@pytest.fixture(scope="module")
async def services(
    stack_env: Any, topic_prefix: str, mongo_db_name: Callable[[str], str], run_service: Any
) -> AsyncIterator[tuple[Service[RoutingSettings], Service[MatchingSettings]]]:
    from shopwatch.runtime.provisioning import ensure_topics

    # A prefix of its own: matching must see only this module's offenders.
    prefix = f"{topic_prefix}m{secrets.token_hex(2)}."
    await ensure_topics(stack_env.kafka_bootstrap, prefix=prefix, partitions_override=1)
    common: dict[str, Any] = {
        "kafka_bootstrap": stack_env.kafka_bootstrap,
        "mongo_url": SecretStr(stack_env.mongo_url),
        "topic_prefix": prefix,
        "outbox_poll_interval_s": 0.2,
    }
    async with (
        run_service(
            RoutingSettings(mongo_database=mongo_db_name("routing"), **common), wire_routing
        ) as routing,
        run_service(
            MatchingSettings(mongo_database=mongo_db_name("matching"), **common), wire_matching
        ) as matching,
    ):
        yield routing, matching


def submitted(store_index: int, offender: OffenderDescription, days_ago: int) -> ReportSubmitted:
    _, postcode = STORES[store_index]
    base = example_event(ReportSubmitted)
    report_id = f"rep_{secrets.token_hex(8)}"
    store = base.store.model_copy(
        update={"store_id": f"st_{store_index}", "postcode": postcode, "force_override": None}
    )
    report = base.report.model_copy(
        update={
            "store_id": store.store_id,
            "offenders": [offender],
            "occurred_at": datetime.now(UTC) - timedelta(days=days_ago),
        }
    )
    return base.model_copy(update={"report_id": report_id, "store": store, "report": report})


OFFENDER = OffenderDescription.model_validate(
    {
        "sex": "male",
        "age_min": 25,
        "age_max": 35,
        "height_min_cm": 175,
        "height_max_cm": 185,
        "build": "slim",
        "hair": "short ginger",
        "clothing": "black hoodie",
        "name": "Darren Pike",
        "aliases": ["Dazza"],
        "distinguishing_features": "tattoo of a swallow on the left hand",
        "vehicle_registration": "ND19XKF",
    }
)


async def test_repeat_offender_linked_across_forces_and_prolific_flag_reaches_both(
    services: Any,
    publish: Callable[..., Awaitable[None]],
    read_topic: Callable[..., Awaitable[list[Any]]],
) -> None:
    routing, _ = services
    topic = routing.settings.topic(REPORTS_SUBMITTED)
    reports = [submitted(i, OFFENDER, days_ago=10 - i) for i in range(3)]
    for event in reports:
        await publish(
            topic,
            make_envelope(event, producer="intake").model_dump_json().encode(),
            event.report_id.encode(),
        )

    first, second = reports[0].report_id, reports[1].report_id
    cleveland = routing.settings.topic(force_topic("cleveland"))

    def linked_packages(records: list[Any], case_id: str) -> list[dict[str, Any]]:
        out = []
        for r in records:
            body = json.loads(r.value)
            if (
                body["event_type"] == "case.routed"
                and body["payload"]["case_id"] == case_id
                and body["payload"]["offender_links"]
            ):
                out.append(body["payload"])
        return out

    def flags(records: list[Any]) -> list[dict[str, Any]]:
        return [
            json.loads(r.value)["payload"]
            for r in records
            if b"offender.prolific-flagged" in r.value
        ]

    records = await read_topic(
        cleveland,
        until=lambda rs: bool(linked_packages(rs, second)) and bool(flags(rs)),
        timeout_s=60,
    )
    (package,) = linked_packages(records, second)[-1:]
    link = package["offender_links"][0]
    assert link["status"] == "auto_linked"
    assert first in [c["case_id"] for c in link["linked_cases"]]
    assert {f["feature"] for f in link["matched_features"]} & {
        "name",
        "vehicle_registration",
        "marks",
        "alias",
    }
    cleveland_flags = flags(records)
    assert len(cleveland_flags) == 1 and cleveland_flags[0]["force"] == "cleveland"
    assert cleveland_flags[0]["store_count"] == 3

    durham = routing.settings.topic(force_topic("durham"))
    durham_records = await read_topic(durham, until=lambda rs: bool(flags(rs)), timeout_s=60)
    durham_flags = flags(durham_records)
    assert len(durham_flags) == 1 and durham_flags[0]["force"] == "durham"
    assert durham_flags[0]["profile_id"] == cleveland_flags[0]["profile_id"]


async def test_a_report_with_nothing_to_match_is_not_a_crash(
    services: Any,
    publish: Callable[..., Awaitable[None]],
    read_topic: Callable[..., Awaitable[list[Any]]],
) -> None:
    routing, _ = services
    vague = submitted(0, OffenderDescription(), days_ago=1)
    topic = routing.settings.topic(REPORTS_SUBMITTED)
    await publish(topic, make_envelope(vague, producer="intake").model_dump_json().encode())
    done = routing.settings.topic("matching.completed.v1")
    records = await read_topic(
        done, until=lambda rs: any(vague.report_id.encode() in r.value for r in rs), timeout_s=60
    )
    (completed,) = [
        json.loads(r.value)["payload"] for r in records if vague.report_id.encode() in r.value
    ]
    assert completed["links"] == []
