"""The transactional outbox, without transactions.

FerretDB (and a MongoDB without a replica set) has no multi-document transactions, so
the state change and the events that announce it must go into ONE document, in ONE
update, which MongoDB applies atomically. A service builds its update as usual and
merges in `outbox_push(...)`, then tells the relay which document it wrote:

    await cases.update_one(
        {"_id": case_id},
        merge_updates(
            {"$set": {"status": "routed", "force": slug}},
            outbox_push([OutboxMessage.for_event(envelope, settings.topic(CASES_TOPIC))]),
        ),
    )
    relay.notify(cases, case_id)

The document then holds, next to its own fields, its pending events in order:

    outbox: [{event_id, topic, key, value, headers, created_at}, ...]

and nothing else: "pending" is "the array has entries". The relay removes entries once
they are on Kafka, with `$pullAll` of exactly those entries, so entries pushed meanwhile
stay. Why no separate "pending" marker field: clearing a marker only when the array is
empty needs a conditional update, and FerretDB 1.24 (SQLite) only pushes a filter down
to its storage when it is `{_id: <value>}` alone; any other filter scans the whole
collection. Every write the relay makes is therefore by `_id` alone (see `relay.py`).

The sweep that finds pending documents without a hint filters on
`outbox.created_at` (`PENDING_FILTER`), which a MongoDB index serves directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shopwatch.runtime.codec import encode_envelope, event_headers
from shopwatch.schemas.envelope import Envelope

OUTBOX_FIELD = "outbox"
CREATED_AT_PATH = f"{OUTBOX_FIELD}.created_at"
# Matches documents with at least one pending entry (every entry has a created_at).
PENDING_FILTER: dict[str, Any] = {CREATED_AT_PATH: {"$gte": datetime(1970, 1, 1, tzinfo=UTC)}}


@dataclass(frozen=True)
class OutboxMessage:
    """One event to publish: the envelope, its (already prefixed) topic and its key.

    The key decides the partition and so the order: use the aggregate's id (case id,
    report id) so every event about one thing is read in the order it was written.
    """

    envelope: Envelope[Any]
    topic: str
    key: str | None

    @classmethod
    def for_event(cls, envelope: Envelope[Any], topic: str) -> OutboxMessage:
        """Keyed as the contract says (each event model's `KEY_FIELD`, via `key()`)."""
        return cls(envelope, topic, key=envelope.payload.key())


def outbox_entry(message: OutboxMessage, *, now: datetime | None = None) -> dict[str, Any]:
    """The stored form of a pending event.

    The value is the final JSON, encoded now rather than by the relay, so what is
    published is exactly what was committed with the state change, whatever code
    version the relay runs.
    """
    return {
        "event_id": str(message.envelope.event_id),
        "topic": message.topic,
        "key": message.key,
        "value": encode_envelope(message.envelope).decode(),
        "headers": event_headers(message.envelope),
        "created_at": _truncate_to_ms(now or datetime.now(UTC)),
    }


def outbox_push(
    messages: Iterable[OutboxMessage], *, now: datetime | None = None
) -> dict[str, Any]:
    """The update fragment that appends `messages` to a document's outbox, in order."""
    moment = _truncate_to_ms(now or datetime.now(UTC))
    entries = [outbox_entry(m, now=moment) for m in messages]
    if not entries:
        raise ValueError("outbox_push needs at least one message")
    return {"$push": {OUTBOX_FIELD: {"$each": entries}}}


def outbox_fields(
    messages: Iterable[OutboxMessage], *, now: datetime | None = None
) -> dict[str, Any]:
    """The outbox fields for a document being inserted (insert_one has no operators)."""
    moment = _truncate_to_ms(now or datetime.now(UTC))
    entries = [outbox_entry(m, now=moment) for m in messages]
    if not entries:
        raise ValueError("outbox_fields needs at least one message")
    return {OUTBOX_FIELD: entries}


def merge_updates(*updates: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Merge update documents operator by operator; the same field twice is an error.

    MongoDB would reject a path set by two operators, but silently keep only one value
    for a path given twice under the same operator by a dict merge; fail loudly instead.
    """
    merged: dict[str, dict[str, Any]] = {}
    for update in updates:
        for operator, fields in update.items():
            if not operator.startswith("$"):
                raise ValueError(f"not an update operator: {operator!r}")
            target = merged.setdefault(operator, {})
            for path, value in fields.items():
                if path in target:
                    raise ValueError(f"{operator} {path!r} given twice")
                target[path] = value
    return merged


def _truncate_to_ms(moment: datetime) -> datetime:
    # BSON dates have millisecond precision; truncating here makes the value we hold
    # equal to the one read back, so an entry compares equal to its stored form.
    if moment.tzinfo is None:
        raise ValueError("outbox timestamps must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)
