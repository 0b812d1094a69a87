"""The topic registry: every Kafka topic, what it carries, who writes and reads it.

One place names every topic (like a ``topics/*.yaml`` catalogue), so provisioning,
ACLs, consumers, producers, the exported examples and the docs all agree:

================================  ==============================  =====================
topic                             events                          producer -> consumers
================================  ==============================  =====================
reports.submitted.v1              ReportSubmitted                 intake -> routing,
                                                                  evidence, notify
evidence.stored.v1                EvidenceStored                  evidence -> routing
evidence.rejected.v1              EvidenceRejected                evidence -> notify
matching.requested.v1             MatchingRequested               routing -> matching
matching.completed.v1             MatchingCompleted               matching -> routing
offenders.prolific-flagged.v1     ProlificOffenderFlagged         matching -> routing
matching.link-decided.v1          OffenderLinkDecided             routing -> matching
cases.status-changed.v1           CaseStatusChanged               routing -> intake,
                                                                  notify, evidence
force.<slug>.cases.v1             CaseRouted,                     routing -> the force
                                  ProlificOffenderFlagged
force.<slug>.updates.v1           ForceUpdate                     the force -> routing
<topic>.dlq                       dead letters of a topic that our services consume
================================  ==============================  =====================

Only routing writes to a force's cases topic (matching's prolific flags go through
routing, which also raises the cases' priority), so a force's ACLs stay two prefixes:
read ``force.<slug>.cases.`` and write ``force.<slug>.updates.``. The force cases
topics have no DLQ here: the consumer is the force's own system, which has no write
rights on our cluster; the reference consumer (``shopwatch force listen``) keeps its
rejects locally.

A prefix (``SHOPWATCH_TOPIC_PREFIX``, read by the runtime's settings; this package
does no I/O) isolates test runs: ``with_prefix("reports.submitted.v1", "t-1a2b")`` is
``t-1a2b.reports.submitted.v1``. Registry names are always unprefixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from functools import cache
from types import MappingProxyType

from shopwatch.schemas.events import (
    CaseRouted,
    CaseStatusChanged,
    Event,
    EvidenceRejected,
    EvidenceStored,
    ForceUpdate,
    MatchingCompleted,
    MatchingRequested,
    OffenderLinkDecided,
    ProlificOffenderFlagged,
    ReportSubmitted,
)
from shopwatch.schemas.forces import FORCE_SLUGS, UnknownForceError, is_known_force

REPORTS_SUBMITTED = "reports.submitted.v1"
EVIDENCE_STORED = "evidence.stored.v1"
EVIDENCE_REJECTED = "evidence.rejected.v1"
MATCHING_REQUESTED = "matching.requested.v1"
MATCHING_COMPLETED = "matching.completed.v1"
OFFENDERS_PROLIFIC_FLAGGED = "offenders.prolific-flagged.v1"
MATCHING_LINK_DECIDED = "matching.link-decided.v1"
CASES_STATUS_CHANGED = "cases.status-changed.v1"

DLQ_SUFFIX = ".dlq"
MAX_TOPIC_NAME = 249  # Kafka's limit
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
_PREFIX_SEPARATORS = (".", "-", "_")

DAY = timedelta(days=1)


class ForceTopicKind(StrEnum):
    CASES = "cases"  # routing -> force: CaseRouted, ProlificOffenderFlagged
    UPDATES = "updates"  # force -> routing: ForceUpdate


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: its name (unprefixed), key, events, who writes, who reads, sizing."""

    name: str
    key: str
    event_models: tuple[type[Event], ...]
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    partitions: int
    retention: timedelta
    description: str
    force: str | None = None
    dlq_of: str | None = None
    has_dlq: bool = False
    extra_config: tuple[tuple[str, str], ...] = field(default=())

    @property
    def is_dlq(self) -> bool:
        return self.dlq_of is not None

    @property
    def retention_ms(self) -> int:
        return int(self.retention.total_seconds() * 1000)

    def config(self) -> dict[str, str]:
        """Topic-level Kafka configs to create it with."""
        return {
            "cleanup.policy": "delete",
            "retention.ms": str(self.retention_ms),
            **dict(self.extra_config),
        }


def _key_of(models: tuple[type[Event], ...]) -> str:
    keys = dict.fromkeys(m.KEY_FIELD for m in models)
    if len(keys) == 1:
        return next(iter(keys))
    return " | ".join(f"{m.KEY_FIELD} ({m.__name__})" for m in models)


def _spec(
    name: str,
    models: tuple[type[Event], ...],
    producers: tuple[str, ...],
    consumers: tuple[str, ...],
    partitions: int,
    retention_days: int,
    description: str,
    *,
    force: str | None = None,
    has_dlq: bool = True,
) -> TopicSpec:
    return TopicSpec(
        name=name,
        key=_key_of(models),
        event_models=models,
        producers=producers,
        consumers=consumers,
        partitions=partitions,
        retention=retention_days * DAY,
        description=description,
        force=force,
        has_dlq=has_dlq,
    )


def force_principal(slug: str) -> str:
    """How registry entries name a force as producer or consumer."""
    return f"force:{slug}"


def force_topic(slug: str, kind: ForceTopicKind | str = ForceTopicKind.CASES) -> str:
    """``force.<slug>.cases.v1`` or ``force.<slug>.updates.v1``; only known slugs."""
    if not is_known_force(slug):
        raise UnknownForceError(slug)
    return f"force.{slug}.{ForceTopicKind(kind).value}.v1"


# Sizing: a nation's shop theft is ~1,450 recorded a day and up to ~55,000 incidents a
# day; 12 partitions on the intake topic leave room for bursts and for consumer
# parallelism. Per-force topics carry one force's share: 3 partitions keep ordering per
# case and keep the total (46 forces x 2 topics) modest. Events are also kept in the
# services' databases, so retention is for replay and catching up, not for storage;
# force topics keep 30 days so a force's system can be down for a long holiday.
def _static_topics() -> tuple[TopicSpec, ...]:
    return (
        _spec(
            REPORTS_SUBMITTED,
            (ReportSubmitted,),
            ("intake",),
            ("routing", "evidence", "notify"),
            12,
            14,
            "Reports accepted by intake.",
        ),
        _spec(
            EVIDENCE_STORED,
            (EvidenceStored,),
            ("evidence",),
            ("routing",),
            6,
            14,
            "Master exhibits verified and stored (with hashes and derivatives).",
        ),
        _spec(
            EVIDENCE_REJECTED,
            (EvidenceRejected,),
            ("evidence",),
            ("notify",),
            3,
            14,
            "Uploads refused by verification, with the reason.",
        ),
        _spec(
            MATCHING_REQUESTED,
            (MatchingRequested,),
            ("routing",),
            ("matching",),
            6,
            7,
            "Offender descriptions to link (no ethnicity codes).",
        ),
        _spec(
            MATCHING_COMPLETED,
            (MatchingCompleted,),
            ("matching",),
            ("routing",),
            6,
            7,
            "Offender links per case.",
        ),
        _spec(
            OFFENDERS_PROLIFIC_FLAGGED,
            (ProlificOffenderFlagged,),
            ("matching",),
            ("routing",),
            3,
            30,
            "Profiles that crossed the prolific threshold, one event per force touched.",
        ),
        _spec(
            MATCHING_LINK_DECIDED,
            (OffenderLinkDecided,),
            ("routing",),
            ("matching",),
            3,
            30,
            "Forces' confirmed and rejected offender links, which beat matching's scores.",
        ),
        _spec(
            CASES_STATUS_CHANGED,
            (CaseStatusChanged,),
            ("routing",),
            ("intake", "notify", "evidence"),
            6,
            14,
            "Case status changes, for the retailer's timeline and emails.",
        ),
    )


def _force_topics(slug: str) -> tuple[TopicSpec, ...]:
    principal = force_principal(slug)
    return (
        _spec(
            force_topic(slug, ForceTopicKind.CASES),
            (CaseRouted, ProlificOffenderFlagged),
            ("routing",),
            (principal,),
            3,
            30,
            f"Case packages and prolific offender flags for {slug}.",
            force=slug,
            has_dlq=False,
        ),
        _spec(
            force_topic(slug, ForceTopicKind.UPDATES),
            (ForceUpdate,),
            (principal,),
            ("routing",),
            3,
            30,
            f"Updates from {slug} on its cases.",
            force=slug,
        ),
    )


def _dlq_for(spec: TopicSpec) -> TopicSpec:
    return TopicSpec(
        name=spec.name + DLQ_SUFFIX,
        key=spec.key,
        event_models=(),
        producers=spec.consumers,
        consumers=("operators",),
        partitions=1,
        retention=30 * DAY,
        description=f"Dead letters of {spec.name}: the original record plus the error.",
        force=spec.force,
        dlq_of=spec.name,
    )


@cache
def all_topics() -> tuple[TopicSpec, ...]:
    """Every topic, unprefixed: the static ones, the per-force ones, then the DLQs."""
    events = _static_topics() + tuple(t for slug in FORCE_SLUGS for t in _force_topics(slug))
    dlqs = tuple(_dlq_for(t) for t in events if t.has_dlq)
    return events + dlqs


@cache
def _by_name() -> MappingProxyType[str, TopicSpec]:
    return MappingProxyType({t.name: t for t in all_topics()})


class UnknownTopicError(KeyError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown topic {name!r}: not in the topic registry")

    def __str__(self) -> str:
        return str(self.args[0])


def topic(name: str) -> TopicSpec:
    """The registry entry for an unprefixed topic name."""
    try:
        return _by_name()[name]
    except KeyError:
        raise UnknownTopicError(name) from None


def is_known_topic(name: str) -> bool:
    return name in _by_name()


def dlq_topic(name: str, prefix: str = "") -> str:
    """The dead-letter topic of ``name`` (``<name>.dlq``), which must have one.

    ``name`` may carry ``prefix``; the result keeps it.
    """
    bare = strip_prefix(name, prefix) if prefix else name
    spec = topic(bare)
    if not spec.has_dlq:
        why = "it is a DLQ" if spec.is_dlq else "no service of ours consumes it"
        raise ValueError(f"topic {bare!r} has no dead-letter topic: {why}")
    return name + DLQ_SUFFIX


def topics_for_event(model: type[Event]) -> tuple[TopicSpec, ...]:
    return tuple(t for t in all_topics() if model in t.event_models)


def produced_by(service: str) -> tuple[TopicSpec, ...]:
    return tuple(t for t in all_topics() if service in t.producers and not t.is_dlq)


def consumed_by(service: str) -> tuple[TopicSpec, ...]:
    return tuple(t for t in all_topics() if service in t.consumers)


def _check_prefix(prefix: str) -> None:
    if not PREFIX_PATTERN.match(prefix):
        raise ValueError(
            f"topic prefix {prefix!r} must be 1-60 characters of letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )


def _joined(prefix: str) -> str:
    return prefix if prefix.endswith(_PREFIX_SEPARATORS) else prefix + "."


def with_prefix(name: str, prefix: str) -> str:
    """``name`` as it is on the cluster: ``prefix`` + ``.`` + ``name`` (or ``name``).

    A prefix that already ends in '.', '-' or '_' is used as it is.
    """
    if not prefix:
        return name
    _check_prefix(prefix)
    full = _joined(prefix) + name
    if len(full) > MAX_TOPIC_NAME:
        raise ValueError(f"topic name {full!r} is longer than Kafka's {MAX_TOPIC_NAME}")
    return full


def strip_prefix(name: str, prefix: str) -> str:
    """The registry name of a prefixed topic; ``ValueError`` when it lacks the prefix."""
    if not prefix:
        return name
    _check_prefix(prefix)
    head = _joined(prefix)
    if not name.startswith(head):
        raise ValueError(f"topic {name!r} does not start with the prefix {head!r}")
    return name[len(head) :]
