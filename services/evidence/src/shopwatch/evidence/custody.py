"""The evidence continuity log: append-only and hash-chained.

Every entry carries the hash of the one before it, and its own hash covers a canonical
JSON of everything in it (including that previous hash). Editing, removing, inserting
or reordering any stored entry therefore breaks the chain at that point, and
``verify`` says where. The first entry chains to a genesis hash derived from the
evidence id, so a whole log cannot be passed off as another exhibit's.

A chain alone cannot reveal that its *newest* entries were cut off; for that, keep the
head (``entry_hash`` and ``seq`` of the last entry) somewhere else (the evidence
document, the ``EvidenceStored`` event) and pass it to ``verify(expected_head=...)``.

DPA 2018 s.62 asks for who, when and why of every consultation and disclosure: police
access and download are refused here without a reason, as are deletion and rejection.

Pure functions; storage belongs to the adapters. Timestamps are cut to milliseconds
on append because MongoDB (BSON dates) keeps no more, and a stored entry must hash
the same when read back.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from shopwatch.evidence.domain import EvidenceError

SCHEMA_VERSION = 1
MAX_REASON_CHARS = 2000

JSONValue = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]


class ActorKind(StrEnum):
    RETAILER = "retailer"
    FORCE = "force"
    SYSTEM = "system"


class Action(StrEnum):
    UPLOADED = "uploaded"
    VERIFIED = "verified"
    REJECTED = "rejected"
    DERIVED = "derived"
    ACCESSED = "accessed"
    DOWNLOADED = "downloaded"
    SHARED_WITH_FORCE = "shared_with_force"
    DELETED = "deleted"
    EXHIBIT_REF_CHANGED = "exhibit_ref_changed"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str  # retailer id, force slug (plus officer id if known), or service name

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip() or len(self.id) > 200:
            raise CustodyError("actor id must be 1-200 characters", field="actor")
        object.__setattr__(self, "kind", ActorKind(self.kind))


class CustodyError(EvidenceError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field, code="custody")


class ReasonRequired(CustodyError):
    def __init__(self, actor: Actor, action: Action) -> None:
        super().__init__(
            f"a reason is required for {actor.kind.value} {action.value}"
            " (DPA 2018 s.62: who, when and why)",
            field="reason",
        )


def reason_required(actor: Actor, action: Action) -> bool:
    if actor.kind is ActorKind.FORCE and action in (Action.ACCESSED, Action.DOWNLOADED):
        return True
    return action in (Action.DELETED, Action.REJECTED)


def genesis_hash(evidence_id: str) -> str:
    """What the first entry's ``prev_hash`` must be for this evidence item."""
    return hashlib.sha256(f"shopwatch/custody/v{SCHEMA_VERSION}/{evidence_id}".encode()).hexdigest()


@dataclass(frozen=True)
class CustodyEntry:
    evidence_id: str
    seq: int  # 1, 2, 3, ...
    at: datetime  # UTC, millisecond precision
    actor: Actor
    action: Action
    reason: str | None
    details: Mapping[str, JSONValue] = field(default_factory=lambda: MappingProxyType({}))
    prev_hash: str = ""
    entry_hash: str = ""

    def hashed_content(self) -> dict[str, Any]:
        """Everything the entry hash covers (all fields except ``entry_hash``)."""
        return {
            "v": SCHEMA_VERSION,
            "evidence_id": self.evidence_id,
            "seq": self.seq,
            "at": _format_at(self.at),
            "actor": {"kind": self.actor.kind.value, "id": self.actor.id},
            "action": self.action.value,
            "reason": self.reason,
            "details": _plain(self.details),
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.hashed_content())).hexdigest()

    def to_document(self) -> dict[str, Any]:
        """A plain dict for storage (MongoDB) and for the API."""
        doc = self.hashed_content()
        doc["entry_hash"] = self.entry_hash
        return doc

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> CustodyEntry:
        """Rebuild a stored entry *as stored*: no validation, so ``verify`` can judge it.

        Raises ``CustodyError`` only when the document cannot be an entry at all.
        """
        try:
            at = doc["at"]
            if isinstance(at, str):
                at = datetime.fromisoformat(at.replace("Z", "+00:00"))
            elif isinstance(at, datetime) and at.tzinfo is None:
                at = at.replace(tzinfo=UTC)  # PyMongo returns naive UTC by default
            actor = doc["actor"]
            return cls(
                evidence_id=str(doc["evidence_id"]),
                seq=int(doc["seq"]),
                at=at,
                actor=Actor(ActorKind(actor["kind"]), str(actor["id"])),
                action=Action(doc["action"]),
                reason=doc.get("reason"),
                details=MappingProxyType(dict(doc.get("details") or {})),
                prev_hash=str(doc["prev_hash"]),
                entry_hash=str(doc["entry_hash"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CustodyError(f"stored custody entry is malformed: {exc}") from exc


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no NaN: the same bytes for the same content."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _format_at(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _check_details(value: Any, path: str = "details") -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CustodyError(f"{path} must not be NaN or infinite", field="details")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_details(item, f"{path}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CustodyError(f"{path} keys must be strings", field="details")
            _check_details(v, f"{path}.{k}")
        return
    raise CustodyError(f"{path} holds a {type(value).__name__}, not JSON", field="details")


def _clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = unicodedata.normalize("NFC", reason).strip()
    if not reason:
        return None
    if len(reason) > MAX_REASON_CHARS:
        raise CustodyError(f"reason is longer than {MAX_REASON_CHARS} characters", field="reason")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in reason):
        raise CustodyError("reason must not contain control characters", field="reason")
    return reason


def append(
    log: Sequence[CustodyEntry],
    *,
    evidence_id: str,
    actor: Actor,
    action: Action,
    at: datetime,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> CustodyEntry:
    """The next entry for ``log`` (which is not modified; store the returned entry).

    Storage must make the append conditional on ``seq`` being free (a unique index on
    ``(evidence_id, seq)``), so two writers cannot both chain onto the same head.
    """
    if not isinstance(evidence_id, str) or not evidence_id:
        raise CustodyError("evidence_id is required", field="evidence_id")
    action = Action(action)
    if at.tzinfo is None:
        raise CustodyError("timestamps must be timezone-aware", field="at")
    at = at.astimezone(UTC)
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    reason = _clean_reason(reason)
    if reason is None and reason_required(actor, action):
        raise ReasonRequired(actor, action)
    details = dict(details or {})
    _check_details(details)
    if log:
        last = log[-1]
        if last.evidence_id != evidence_id:
            raise CustodyError("log belongs to another evidence item", field="evidence_id")
        seq, prev_hash = last.seq + 1, last.entry_hash
    else:
        seq, prev_hash = 1, genesis_hash(evidence_id)
    entry = CustodyEntry(
        evidence_id=evidence_id,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        reason=reason,
        # tuples become lists here, as they will when read back from storage
        details=MappingProxyType(_plain(details)),
        prev_hash=prev_hash,
    )
    return _with_hash(entry)


def _with_hash(entry: CustodyEntry) -> CustodyEntry:
    return CustodyEntry(
        evidence_id=entry.evidence_id,
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        reason=entry.reason,
        details=entry.details,
        prev_hash=entry.prev_hash,
        entry_hash=entry.compute_hash(),
    )


@dataclass(frozen=True)
class Head:
    seq: int
    entry_hash: str


def head(log: Sequence[CustodyEntry]) -> Head | None:
    return Head(log[-1].seq, log[-1].entry_hash) if log else None


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    first_bad_seq: int | None = None  # seq (1-based position) where the chain first breaks
    problem: str | None = None


def verify(
    entries: Sequence[CustodyEntry],
    *,
    evidence_id: str | None = None,
    expected_head: Head | None = None,
) -> VerificationResult:
    """Check the chain in stored order. Reports the first position that is wrong.

    Positions and seqs are 1-based and must agree: entry *n* of the list has seq *n*.
    """
    if not entries:
        if expected_head is not None:
            return VerificationResult(
                False, 1, f"log is empty but should end at seq {expected_head.seq}"
            )
        return VerificationResult(True)
    owner = evidence_id if evidence_id is not None else entries[0].evidence_id
    prev = genesis_hash(owner)
    for position, entry in enumerate(entries, start=1):
        if entry.evidence_id != owner:
            return _bad(position, f"entry {position} belongs to evidence {entry.evidence_id!r}")
        if entry.seq != position:
            return _bad(
                position,
                f"entry {position} has seq {entry.seq}: an entry was removed, inserted or moved",
            )
        try:
            recomputed = entry.compute_hash()
        except (TypeError, ValueError) as exc:
            return _bad(position, f"entry {position} cannot be hashed: {exc}")
        if recomputed != entry.entry_hash:
            return _bad(position, f"entry {position} was altered after it was written")
        if entry.prev_hash != prev:
            what = "the genesis hash" if position == 1 else f"entry {position - 1}"
            return _bad(
                position,
                f"entry {position} does not chain to {what}: an entry was removed,"
                " inserted or replaced",
            )
        prev = entry.entry_hash
    last = entries[-1]
    if expected_head is not None and (last.seq, last.entry_hash) != (
        expected_head.seq,
        expected_head.entry_hash,
    ):
        if last.seq < expected_head.seq:
            return _bad(
                last.seq + 1,
                f"log ends at seq {last.seq} but the recorded head is seq"
                f" {expected_head.seq}: newest entries were removed",
            )
        return _bad(
            min(last.seq, expected_head.seq),
            "log does not end at the recorded head",
        )
    return VerificationResult(True)


def _bad(seq: int, problem: str) -> VerificationResult:
    return VerificationResult(False, seq, problem)
