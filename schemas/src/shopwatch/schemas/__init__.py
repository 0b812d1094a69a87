"""shopwatch.schemas: the event contract every service shares (pure code, no I/O).

Modules, each with one purpose:

- ``envelope``: ``Envelope[Payload]``, the wrapper of every event;
- ``events``: the v1 events (``ReportSubmitted`` ... ``ProlificOffenderFlagged``);
- ``registry``: ``parse_event`` / ``make_envelope`` by (event_type, schema_version);
- ``report``: the report a retailer files and its parts;
- ``enums``, ``primitives``: vocabularies and constrained field types;
- ``case_status``: the case status state machine;
- ``forces``, ``postcodes``: UK police forces and the postcode -> force defaults;
- ``topics``: the topic registry;
- ``sensitive``: find and strip special category data;
- ``export``, ``compat``, ``asyncapi``: JSON Schema export, additive-change checks,
  AsyncAPI document checks;
- ``examples``: one valid example of everything.
"""

from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import (
    EVENT_MODELS,
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
from shopwatch.schemas.registry import EventDecodeError, make_envelope, parse_event
from shopwatch.schemas.report import Report

__all__ = [
    "EVENT_MODELS",
    "CaseRouted",
    "CaseStatusChanged",
    "Envelope",
    "Event",
    "EventDecodeError",
    "EvidenceRejected",
    "EvidenceStored",
    "ForceUpdate",
    "MatchingCompleted",
    "MatchingRequested",
    "OffenderLinkDecided",
    "ProlificOffenderFlagged",
    "Report",
    "ReportSubmitted",
    "make_envelope",
    "parse_event",
]
