"""The transactional outbox, without transactions.

FerretDB (and a MongoDB without a replica set) has no multi-document transactions, so
the state change and the events that announce it must go into ONE document, in ONE
update, which MongoDB applies atomically. A service builds its update as usual and
merges in `outbox_push(...)`:

    await cases.update_one(
        {"_id": case_id, "status": "new"},
        merge_updates(
            {"$set": {"status": "routed", "force": slug}},
            outbox_push([OutboxMessage(envelope, settings.topic(CASES_TOPIC), key=case_id)]),
        ),
    )
    relay.nudge()

The document then holds, next to its own fields:

    outbox: [{event_id, topic, key, value, headers, created_at}, ...]   # pending only
    outbox_pending_since: <created_at of its oldest pending entry>      # absent when none

`outbox_pending_since` is the marker the relay finds work by (one indexed field, sorted
oldest first); the array is emptied and the marker removed once the entries are on
Kafka (see `relay.py`). Both are plain `$push`/`$min`/`$unset` on top-level fields and
equality filters, which FerretDB 1.24 and MongoDB handle alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shopwatch.runtime.codec import encode_envelope, event_headers
from shopwatch.schemas.envelope import Envelope

OUTBOX_FIELD = "outbox"
PENDING_SINCE_FIELD = "outbox_pending_since"


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
    """The update fragment that appends `messages` to a document's outbox.

    `$min` keeps the marker at the oldest pending entry when the document already had
    some, and creates it when it had none.
    """
    moment = _truncate_to_ms(now or datetime.now(UTC))
    entries = [outbox_entry(m, now=moment) for m in messages]
    if not entries:
        raise ValueError("outbox_push needs at least one message")
    return {
        "$push": {OUTBOX_FIELD: {"$each": entries}},
        "$min": {PENDING_SINCE_FIELD: moment},
    }


def outbox_fields(
    messages: Iterable[OutboxMessage], *, now: datetime | None = None
) -> dict[str, Any]:
    """The outbox fields for a document being inserted (insert_one has no operators)."""
    moment = _truncate_to_ms(now or datetime.now(UTC))
    entries = [outbox_entry(m, now=moment) for m in messages]
    if not entries:
        raise ValueError("outbox_fields needs at least one message")
    return {OUTBOX_FIELD: entries, PENDING_SINCE_FIELD: moment}


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
    # equal to the one read back, which the relay's compare-and-clear relies on.
    if moment.tzinfo is None:
        raise ValueError("outbox timestamps must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)
