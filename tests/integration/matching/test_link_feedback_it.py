"""A force's link decisions reach matching and beat the scores, on the real stack.

Routing and matching run as services; the force speaks on its updates topic. A rejected
auto-link is undone and that pair is never linked again (not for a later report, not
when the case is matched again after matching restarts); a confirmed possible link
joins the offender to the profile, so the next report of that person links to both.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from shopwatch.matching.app import wire as wire_matching
from shopwatch.matching.config import MatchingSettings
from shopwatch.routing.app import wire as wire_routing
from shopwatch.routing.config import RoutingSettings
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.enums import UpdateKind
from shopwatch.schemas.events import (
    ForceUpdate,
    LinkDecision,
    MatchingRequested,
    OffenderLinkDecided,
    ReportSubmitted,
)
from shopwatch.schemas.examples import example_event
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.report import OffenderDescription
from shopwatch.schemas.topics import (
    MATCHING_COMPLETED,
    MATCHING_LINK_DECIDED,
    MATCHING_REQUESTED,
    REPORTS_SUBMITTED,
    force_topic,
)

pytestmark = pytest.mark.integration

STORES = [("st_dh1", "DH1 3NJ"), ("st_dh7", "DH7 8XL")]
PACKAGE_TIMEOUT_S = 60

# Person A is described fully every time: a repeat auto-links.
PERSON_A = OffenderDescription.model_validate(
    {
        "sex": "male",
        "age_min": 25,
        "age_max": 35,
        "height_min_cm": 175,
        "height_max_cm": 185,
        "build": "slim",
        "hair": "short ginger",
        "name": "Darren Pike",
        "distinguishing_features": "tattoo of a swallow on the left hand",
        "vehicle_registration": "ND19XKF",
    }
)
# Person B: fully once, then vaguely (a possible link only, for the analyst to confirm).
PERSON_B = OffenderDescription.model_validate(
    {
        "sex": "female",
        "age_min": 30,
        "age_max": 40,
        "height_min_cm": 160,
        "height_max_cm": 168,
        "build": "heavy",
        "hair": "long blonde ponytail",
        "name": "Kelly Marsh",
        "distinguishing_features": "scar on right cheek",
        "vehicle_registration": "YT21ABC",
    }
)
PERSON_B_VAGUE = OffenderDescription.model_validate(
    {
        "sex": "female",
        "age_min": 30,
        "age_max": 40,
        "height_min_cm": 160,
        "height_max_cm": 170,
        "build": "heavy",
        "hair": "long blonde",
        "clothing": "grey tracksuit",
    }
)


class Stack:
    """Routing for the module; matching started (and restarted) by the tests."""

    def __init__(self, common: dict[str, Any], routing_db: str, matching_db: str) -> None:
        self.common = common
        self.routing_db = routing_db
        self.matching_db = matching_db
        self.routing: Service[RoutingSettings] | None = None

    def topic(self, name: str) -> str:
        assert self.routing is not None
        return self.routing.settings.topic(name)

    def matching_settings(self) -> MatchingSettings:
        return MatchingSettings(mongo_database=self.matching_db, **self.common)


@pytest.fixture(scope="module")
async def stack(
    stack_env: Any,
    registry_topics: str,
    mongo_db_name: Callable[[str], str],
    run_service: Any,
) -> AsyncIterator[Stack]:
    common: dict[str, Any] = {
        "kafka_bootstrap": stack_env.kafka_bootstrap,
        "mongo_url": SecretStr(stack_env.mongo_url),
        "topic_prefix": registry_topics,
        "outbox_poll_interval_s": 0.2,
    }
    s = Stack(common, mongo_db_name("routing"), mongo_db_name("matching"))
    async with run_service(
        RoutingSettings(mongo_database=s.routing_db, **common), wire_routing
    ) as routing:
        s.routing = routing
        yield s


@pytest.fixture
async def profiles(stack_env: Any, stack: Stack) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
    """Reads matching's stored profiles: {profile_id: [report ids]}."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url)

    async def read() -> dict[str, list[str]]:
        out = {}
        async for doc in client[stack.matching_db]["profiles"].find({}):
            body = json.loads(doc["profile_json"])
            out[str(doc["_id"])] = [m["report_id"] for m in body["members"]]
        return out

    yield read
    await client.close()


def report(store_index: int, offender: OffenderDescription, days_ago: int) -> ReportSubmitted:
    store_id, postcode = STORES[store_index]
    base = example_event(ReportSubmitted)
    store = base.store.model_copy(
        update={"store_id": store_id, "postcode": postcode, "force_override": None}
    )
    body = base.report.model_copy(
        update={
            "store_id": store_id,
            "offenders": [offender],
            "occurred_at": datetime.now(UTC) - timedelta(days=days_ago),
        }
    )
    report_id = f"rep_{secrets.token_hex(8)}"
    return base.model_copy(update={"report_id": report_id, "store": store, "report": body})


async def submit(stack: Stack, publish: Callable[..., Awaitable[None]], *events: Any) -> None:
    for event in events:
        await publish(
            stack.topic(REPORTS_SUBMITTED),
            make_envelope(event, producer="intake").model_dump_json().encode(),
            event.report_id.encode(),
        )


async def decide(
    stack: Stack,
    publish: Callable[..., Awaitable[None]],
    case_id: str,
    kind: UpdateKind,
    profile_id: str,
) -> None:
    update = ForceUpdate(
        case_id=case_id,
        force="durham",
        kind=kind,
        link=LinkDecision(offender_index=0, profile_id=profile_id),
        updated_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    await publish(
        stack.topic(force_topic("durham", "updates")),
        make_envelope(update, producer="force-durham").model_dump_json().encode(),
        case_id.encode(),
    )


def payloads(records: list[Any], event_type: str, case_id: str) -> list[dict[str, Any]]:
    out = []
    for r in records:
        body = json.loads(r.value)
        if body["event_type"] == event_type and body["payload"].get("case_id") == case_id:
            out.append(body["payload"])
    return out


async def latest_links(
    stack: Stack, read_topic: Callable[..., Awaitable[list[Any]]], case_id: str
) -> list[dict[str, Any]]:
    """The offender links of the last package the force received for the case."""
    topic = stack.topic(force_topic("durham"))

    def linked(rs: list[Any]) -> bool:
        return any(p["offender_links"] for p in payloads(rs, "case.routed", case_id))

    records = await read_topic(topic, until=linked, timeout_s=PACKAGE_TIMEOUT_S)
    packages = [p for p in payloads(records, "case.routed", case_id) if p["offender_links"]]
    assert packages, f"no package with links for {case_id}"
    links: list[dict[str, Any]] = packages[-1]["offender_links"]
    return links


async def rematch(
    stack: Stack,
    publish: Callable[..., Awaitable[None]],
    read_topic: Callable[..., Awaitable[list[Any]]],
    case_id: str,
) -> dict[str, Any]:
    """Matching is asked again for a case (as a replay would), with a new event id."""
    requested = await read_topic(
        stack.topic(MATCHING_REQUESTED),
        until=lambda rs: bool(payloads(rs, "matching.requested", case_id)),
    )
    (payload,) = payloads(requested, "matching.requested", case_id)
    again = make_envelope(MatchingRequested.model_validate(payload), producer="routing")
    await publish(
        stack.topic(MATCHING_REQUESTED), again.model_dump_json().encode(), case_id.encode()
    )
    done = await read_topic(
        stack.topic(MATCHING_COMPLETED),
        until=lambda rs: len(payloads(rs, "matching.completed", case_id)) >= 2,
        timeout_s=PACKAGE_TIMEOUT_S,
    )
    answers = payloads(done, "matching.completed", case_id)
    assert len(answers) >= 2, f"matching did not answer the repeated request for {case_id}"
    return answers[-1]


async def test_rejected_link_is_undone_and_never_made_again_confirmed_one_joins(
    stack: Stack,
    run_service: Any,
    publish: Callable[..., Awaitable[None]],
    read_topic: Callable[..., Awaitable[list[Any]]],
    eventually: Callable[..., Awaitable[None]],
    profiles: Callable[[], Awaitable[dict[str, list[str]]]],
) -> None:
    async with AsyncExitStack() as matching_run:
        await matching_run.enter_async_context(
            run_service(stack.matching_settings(), wire_matching)
        )

        # --- reject: R2 was auto-linked to R1's profile; the force says it is not them.
        r1, r2 = report(0, PERSON_A, days_ago=20), report(1, PERSON_A, days_ago=19)
        await submit(stack, publish, r1, r2)
        (link,) = await latest_links(stack, read_topic, r2.report_id)
        assert link["status"] == "auto_linked"
        assert [c["case_id"] for c in link["linked_cases"]] == [r1.report_id]
        p1 = link["profile_id"]

        await decide(stack, publish, r2.report_id, UpdateKind.LINK_REJECTED, p1)

        async def split() -> bool:
            stored = await profiles()
            return stored.get(p1) == [r1.report_id] and any(
                ids == [r2.report_id] for ids in stored.values()
            )

        await eventually(split, timeout_s=PACKAGE_TIMEOUT_S, what="R2 moved out of R1's profile")

        # A third report of the same description: R1's profile no longer carries R2.
        r3 = report(0, PERSON_A, days_ago=18)
        await submit(stack, publish, r3)
        links3 = await latest_links(stack, read_topic, r3.report_id)
        to_p1 = [x for x in links3 if x["profile_id"] == p1]
        assert to_p1, links3
        assert all(r2.report_id not in [c["case_id"] for c in x["linked_cases"]] for x in to_p1)

        # --- confirm: R6 is only a possible link to R5's profile; the force confirms it.
        r5, r6 = report(0, PERSON_B, days_ago=10), report(1, PERSON_B_VAGUE, days_ago=9)
        await submit(stack, publish, r5, r6)
        (possible,) = await latest_links(stack, read_topic, r6.report_id)
        assert possible["status"] == "candidate"
        assert [c["case_id"] for c in possible["linked_cases"]] == [r5.report_id]
        p5 = possible["profile_id"]

        await decide(stack, publish, r6.report_id, UpdateKind.LINK_CONFIRMED, p5)

        async def joined() -> bool:
            stored = await profiles()
            return sorted(stored.get(p5, [])) == sorted([r5.report_id, r6.report_id])

        await eventually(joined, timeout_s=PACKAGE_TIMEOUT_S, what="R6 joined R5's profile")

        r7 = report(0, PERSON_B, days_ago=8)
        await submit(stack, publish, r7)
        (link7,) = await latest_links(stack, read_topic, r7.report_id)
        assert link7["profile_id"] == p5 and link7["status"] == "auto_linked"
        assert {c["case_id"] for c in link7["linked_cases"]} == {r5.report_id, r6.report_id}

    # --- matching restarts: the decisions hold for the cases matched again.
    async with run_service(stack.matching_settings(), wire_matching):
        again2 = await rematch(stack, publish, read_topic, r2.report_id)
        assert all(x["profile_id"] != p1 for x in again2["links"]), again2["links"]
        again6 = await rematch(stack, publish, read_topic, r6.report_id)
        (link6,) = again6["links"]
        assert link6["profile_id"] == p5
        assert {c["case_id"] for c in link6["linked_cases"]} == {r5.report_id, r7.report_id}


async def test_a_malformed_link_decision_goes_to_the_dlq_and_matching_carries_on(
    stack: Stack,
    run_service: Any,
    publish: Callable[..., Awaitable[None]],
    read_topic: Callable[..., Awaitable[list[Any]]],
) -> None:
    topic = stack.topic(MATCHING_LINK_DECIDED)
    bad = json.loads(
        make_envelope(example_event(OffenderLinkDecided), producer="routing").model_dump_json()
    )
    bad["payload"]["decision"] = "candidate"  # not a decision
    marker = secrets.token_hex(6)
    bad["payload"]["case_id"] = f"c-{marker}"
    async with run_service(stack.matching_settings(), wire_matching):
        await publish(topic, json.dumps(bad).encode(), marker.encode())
        dead = await read_topic(
            topic + ".dlq",
            until=lambda rs: any(marker.encode() in r.value for r in rs),
            timeout_s=PACKAGE_TIMEOUT_S,
        )
        assert any(marker.encode() in r.value for r in dead)
        # Still matching: a new report is answered.
        fresh = report(1, PERSON_A, days_ago=1)
        await submit(stack, publish, fresh)
        done = await read_topic(
            stack.topic(MATCHING_COMPLETED),
            until=lambda rs: bool(payloads(rs, "matching.completed", fresh.report_id)),
            timeout_s=PACKAGE_TIMEOUT_S,
        )
        assert payloads(done, "matching.completed", fresh.report_id)
