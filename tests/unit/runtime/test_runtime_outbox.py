import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel

from shopwatch.runtime.codec import HEADER_EVENT_ID, HEADER_EVENT_TYPE
from shopwatch.runtime.outbox import (
    OUTBOX_FIELD,
    PENDING_FILTER,
    OutboxMessage,
    merge_updates,
    outbox_entry,
    outbox_fields,
    outbox_push,
)
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import EVENT_MODELS
from shopwatch.schemas.examples import example_envelope


class Ping(BaseModel):
    n: int


def envelope(n: int = 1) -> Envelope[Ping]:
    return Envelope[Ping](
        event_type="Ping",
        schema_version=1,
        producer="tests",
        correlation_id="c-1",
        payload=Ping(n=n),
    )


NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_entry_holds_final_json_and_metadata() -> None:
    env = envelope()
    entry = outbox_entry(OutboxMessage(env, "t.pings.v1", key="k-1"), now=NOW)
    assert entry["event_id"] == str(env.event_id)
    assert entry["topic"] == "t.pings.v1"
    assert entry["key"] == "k-1"
    assert Envelope[Ping].model_validate_json(entry["value"]) == env
    assert json.loads(entry["value"])["payload"] == {"n": 1}
    assert entry["headers"][HEADER_EVENT_ID] == str(env.event_id)
    assert entry["headers"][HEADER_EVENT_TYPE] == "Ping"
    # BSON keeps milliseconds; the stored value must equal what we hold.
    assert entry["created_at"] == NOW.replace(microsecond=123000)


def test_push_appends_all_and_keeps_oldest_marker() -> None:
    messages = [OutboxMessage(envelope(i), "t", key=None) for i in range(3)]
    update = outbox_push(messages, now=NOW)
    entries = update["$push"][OUTBOX_FIELD]["$each"]
    assert [json.loads(e["value"])["payload"]["n"] for e in entries] == [0, 1, 2]
    assert len({e["event_id"] for e in entries}) == 3
    assert {e["created_at"] for e in entries} == {NOW.replace(microsecond=123000)}
    assert set(update) == {"$push"}, "no other field: the array alone says what is pending"


def test_push_converts_to_utc_and_refuses_naive_times() -> None:
    other_zone = NOW.astimezone(timezone(timedelta(hours=5)))
    update = outbox_push([OutboxMessage(envelope(), "t", None)], now=other_zone)
    [entry] = update["$push"][OUTBOX_FIELD]["$each"]
    assert entry["created_at"].utcoffset() == timedelta(0)
    assert entry["created_at"] == NOW.replace(microsecond=123000)
    with pytest.raises(ValueError, match="timezone-aware"):
        outbox_push([OutboxMessage(envelope(), "t", None)], now=datetime(2025, 1, 1))


def test_push_needs_messages() -> None:
    with pytest.raises(ValueError, match="at least one"):
        outbox_push([])


def test_fields_for_insert() -> None:
    fields = outbox_fields([OutboxMessage(envelope(), "t", "k")], now=NOW)
    assert set(fields) == {OUTBOX_FIELD}
    assert len(fields[OUTBOX_FIELD]) == 1


def test_pending_filter_matches_entries_by_their_timestamp() -> None:
    [(path, condition)] = PENDING_FILTER.items()
    assert path == f"{OUTBOX_FIELD}.created_at"
    assert condition["$gte"] <= NOW


def test_merge_updates_combines_operators() -> None:
    merged = merge_updates(
        {"$set": {"status": "routed"}, "$inc": {"version": 1}},
        outbox_push([OutboxMessage(envelope(), "t", "k")], now=NOW),
        {"$set": {"force": "durham"}},
    )
    assert merged["$set"] == {"status": "routed", "force": "durham"}
    assert merged["$inc"] == {"version": 1}
    assert OUTBOX_FIELD in merged["$push"]


def test_merge_updates_refuses_the_same_path_twice() -> None:
    with pytest.raises(ValueError, match="given twice"):
        merge_updates({"$set": {"a": 1}}, {"$set": {"a": 2}})
    with pytest.raises(ValueError, match="not an update operator"):
        merge_updates({"status": {"a": 1}})


def test_event_ids_are_unique_per_envelope() -> None:
    ids = {outbox_entry(OutboxMessage(envelope(), "t", None))["event_id"] for _ in range(50)}
    assert len(ids) == 50
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_for_event_uses_the_contract_key() -> None:
    for model in EVENT_MODELS:
        env = example_envelope(model)
        message = OutboxMessage.for_event(env, "t")
        assert message.key == env.payload.key()
        assert message.key == str(getattr(env.payload, model.KEY_FIELD))
