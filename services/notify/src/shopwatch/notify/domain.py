"""Notify's rules, without I/O: what to tell whom, and under which Message-ID.

Privacy is decided here, by construction: a ``Notice`` is the only thing templates
see, and it carries the reference, the store (name and town), the status, the next
step, the force's display name and the crime reference number, never the report's
account, offenders, witness or ethnicity data (notify does not even keep them:
``ReportCopy`` is all it stores of a report).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from pydantic import EmailStr, TypeAdapter, ValidationError

from shopwatch.schemas.case_status import CaseStatus
from shopwatch.schemas.enums import EvidenceRejectionReason, OutcomeKind
from shopwatch.schemas.events import CaseStatusChanged, EvidenceRejected, ReportSubmitted
from shopwatch.schemas.forces import force_by_slug, is_known_force


class Kind(StrEnum):
    """The kinds of email notify sends about one report (one template pair each)."""

    RECEIVED = "received"
    CRIME_RECORDED = "crime_recorded"
    EVIDENCE_REQUESTED = "evidence_requested"
    EVIDENCE_REJECTED = "evidence_rejected"
    OUTCOME = "outcome"
    CLOSED = "closed"


DIGEST_TEMPLATE = "digest"
ALL_KINDS: frozenset[Kind] = frozenset(Kind)

# The case statuses that produce an email; the others (acknowledged, investigating,
# suspect identified) are steps inside the force the retailer has nothing to do about.
STATUS_KINDS: dict[CaseStatus, Kind] = {
    CaseStatus.ROUTED: Kind.RECEIVED,
    CaseStatus.UNROUTABLE: Kind.RECEIVED,
    CaseStatus.CRIME_RECORDED: Kind.CRIME_RECORDED,
    CaseStatus.EVIDENCE_REQUESTED: Kind.EVIDENCE_REQUESTED,
    CaseStatus.OUTCOME_RECORDED: Kind.OUTCOME,
    CaseStatus.CLOSED: Kind.CLOSED,
}

# What an operator may type for `--statuses`: the kinds, plus the case statuses that
# map onto them (so `routed` and `outcome_recorded` mean what they say).
STATUS_ALIASES: dict[str, Kind] = {
    **{k.value: k for k in Kind},
    **{s.value: k for s, k in STATUS_KINDS.items()},
}


class Mode(StrEnum):
    IMMEDIATE = "immediate"
    DIGEST = "digest"


class UnknownStatusName(ValueError):
    pass


def parse_statuses(values: Iterable[str]) -> frozenset[Kind]:
    """`["received", "crime_recorded,outcome"]` -> kinds; accepts comma-separated items."""
    kinds: set[Kind] = set()
    for value in values:
        for name in (part.strip().lower() for part in value.split(",")):
            if not name:
                continue
            if name == "all":
                kinds.update(Kind)
                continue
            if name not in STATUS_ALIASES:
                known = ", ".join(sorted(STATUS_ALIASES))
                raise UnknownStatusName(f"unknown status {name!r}; known: all, {known}")
            kinds.add(STATUS_ALIASES[name])
    return frozenset(kinds)


@dataclass(frozen=True)
class Preferences:
    """A retailer's choice: which kinds of email, and sent at once or as a daily digest."""

    retailer_id: str
    statuses: frozenset[Kind] = ALL_KINDS
    mode: Mode = Mode.IMMEDIATE

    def wants(self, kind: Kind) -> bool:
        return kind in self.statuses


@dataclass(frozen=True)
class ReportCopy:
    """All notify keeps of a report: enough to address and label an email, nothing else."""

    report_id: str
    reference: str
    retailer_id: str
    store_id: str
    store_name: str
    store_town: str
    reporter_name: str
    reporter_email: str
    force: str | None = None

    @classmethod
    def from_event(cls, event: ReportSubmitted) -> ReportCopy:
        # Field by field on purpose: copying the report wholesale would keep the
        # offenders, the witness statement and the IC codes notify must never hold.
        return cls(
            report_id=event.report_id,
            reference=event.reference,
            retailer_id=event.retailer_id,
            store_id=event.store.store_id,
            store_name=event.store.name,
            store_town=event.store.town,
            reporter_name=event.report.reporter.name,
            reporter_email=str(event.report.reporter.email),
        )


def force_name(slug: str | None) -> str | None:
    if slug is None:
        return None
    return force_by_slug(slug).name if is_known_force(slug) else slug


OUTCOME_WORDS: dict[OutcomeKind, tuple[str, str]] = {
    OutcomeKind.CHARGED: (
        "someone has been charged",
        "The police have charged someone with the offence. The case now goes to court; "
        "the police will contact you if a witness is needed.",
    ),
    OutcomeKind.CAUTIONED: (
        "someone has been cautioned",
        "The police have given someone a formal caution for the offence. A caution is "
        "an official warning that stays on their record; there will be no court case.",
    ),
    OutcomeKind.COMMUNITY_RESOLUTION: (
        "a community resolution was agreed",
        "The police dealt with the offence by a community resolution: an agreement with "
        "the person responsible (for example an apology or paying for the goods) instead "
        "of going to court.",
    ),
    OutcomeKind.NO_FURTHER_ACTION: (
        "no further action",
        "The police have decided to take no further action for now, usually because "
        "the evidence is not enough to identify or charge anyone. They can reopen the "
        "case if new evidence comes to light.",
    ),
}

REJECTION_WORDS: dict[EvidenceRejectionReason, tuple[str, str]] = {
    EvidenceRejectionReason.HASH_MISMATCH: (
        "the file that arrived was not the same as the file that was sent",
        "Upload the file again from the original export.",
    ),
    EvidenceRejectionReason.SIZE_MISMATCH: (
        "the file that arrived was not the size that was announced",
        "Upload the file again from the original export.",
    ),
    EvidenceRejectionReason.EMPTY_FILE: (
        "the file was empty",
        "Check the export from your CCTV system and upload the file that holds the footage.",
    ),
    EvidenceRejectionReason.TOO_LARGE: (
        "the file is larger than we can accept",
        "Export only the minutes that show the incident and upload that file.",
    ),
    EvidenceRejectionReason.INCOMPLETE_UPLOAD: (
        "the upload did not finish",
        "Run the upload again: it continues where it stopped.",
    ),
    EvidenceRejectionReason.UNRECOGNISED_CONTENT: (
        "the file is not a video or an image we recognise",
        "Export the footage from your CCTV system as a video file (for example MP4) "
        "and upload that.",
    ),
    EvidenceRejectionReason.MEDIA_TYPE_MISMATCH: (
        "the file is not the kind of file its name says",
        "Upload the original export without renaming it.",
    ),
    EvidenceRejectionReason.EXECUTABLE_CONTENT: (
        "the file is a program, not a video or an image",
        "Do not open the file. Export the footage again from your CCTV system and "
        "upload the new file.",
    ),
    EvidenceRejectionReason.UNPLAYABLE_MEDIA: (
        "the video could not be played",
        "Export the footage again, if you can in a common format such as MP4, and upload it.",
    ),
    EvidenceRejectionReason.OTHER: (
        "the file could not be checked",
        "Upload the file again; if it is refused again, contact Shopwatch support.",
    ),
}


@dataclass(frozen=True)
class Notice:
    """One thing to tell about one report: the only input of the templates."""

    kind: Kind
    report: ReportCopy
    occurred_at: datetime
    status: CaseStatus | None = None
    force_name: str | None = None
    crime_reference: str | None = None
    outcome: OutcomeKind | None = None
    evidence_needed: str | None = None
    evidence_due_by: date | None = None
    rejected_file: str | None = None
    rejection_reason: EvidenceRejectionReason | None = None
    finding_force: bool = False  # unroutable: we are still finding the right force
    found_force_later: bool = False  # routed after being unroutable

    def summary(self) -> str:
        """One line for the digest."""
        force = self.force_name or "the police"
        match self.kind:
            case Kind.RECEIVED if self.finding_force:
                return "Received; we are finding the right police force for the store."
            case Kind.RECEIVED:
                return f"Received and passed to {force}."
            case Kind.CRIME_RECORDED:
                return f"{force} recorded a crime, crime reference {self.crime_reference}."
            case Kind.EVIDENCE_REQUESTED:
                return f"{force} asked for more evidence: {self.evidence_needed}"
            case Kind.EVIDENCE_REJECTED:
                reason = REJECTION_WORDS[self.rejection_reason or EvidenceRejectionReason.OTHER]
                return f"An uploaded file ({self.rejected_file}) was not accepted: {reason[0]}."
            case Kind.OUTCOME:
                words = OUTCOME_WORDS[self.outcome] if self.outcome else ("recorded", "")
                return f"Outcome from {force}: {words[0]}."
            case Kind.CLOSED:
                return f"{force} closed the case."


def notice_for_status(change: CaseStatusChanged, report: ReportCopy) -> Notice | None:
    """The notice a status change gives, or None when it is not worth an email."""
    kind = STATUS_KINDS.get(change.status)
    if kind is None:
        return None
    request = change.evidence_request
    return Notice(
        kind=kind,
        report=report,
        occurred_at=change.changed_at,
        status=change.status,
        force_name=force_name(change.force or report.force),
        crime_reference=change.crime_reference,
        outcome=change.outcome,
        evidence_needed=request.description if request else None,
        evidence_due_by=request.due_by if request else None,
        finding_force=change.status is CaseStatus.UNROUTABLE,
        found_force_later=(
            change.status is CaseStatus.ROUTED and change.previous_status is CaseStatus.UNROUTABLE
        ),
    )


def notice_for_rejection(rejected: EvidenceRejected, report: ReportCopy) -> Notice:
    return Notice(
        kind=Kind.EVIDENCE_REJECTED,
        report=report,
        occurred_at=rejected.rejected_at,
        force_name=force_name(report.force),
        rejected_file=rejected.file_name,
        rejection_reason=rejected.reason,
    )


# --- recipients --------------------------------------------------------------------------

_EMAIL = TypeAdapter(EmailStr)


class InvalidAddress(ValueError):
    pass


def normalise_address(address: str) -> str:
    """The address as validated (domain lower-cased); raises InvalidAddress."""
    try:
        return str(_EMAIL.validate_python(address.strip()))
    except ValidationError as exc:
        reason = exc.errors(include_url=False)[0]["msg"]
        raise InvalidAddress(f"{address!r}: {reason}") from exc


def address_key(address: str) -> str:
    """What makes two addresses the same recipient: case-insensitive, trimmed."""
    return address.strip().lower()


@dataclass(frozen=True)
class Recipients:
    """Who gets an email, deduplicated, first spelling kept; and who cannot."""

    valid: tuple[str, ...]
    invalid: tuple[tuple[str, str], ...] = field(default=())  # (address, why)


def resolve_recipients(
    reporter: str | None, store_contacts: Iterable[str], retailer_contacts: Iterable[str]
) -> Recipients:
    """The reporter, then the store's contacts, then the retailer's; each address once.

    Addresses are compared case-insensitively (mailbox local parts are case-sensitive
    in theory; in practice no mail system treats them so, and two emails to one person
    is the failure people notice). Invalid addresses are returned apart, to be recorded
    as failed rather than sent.
    """
    seen: set[str] = set()
    valid: list[str] = []
    invalid: list[tuple[str, str]] = []
    candidates = [a for a in (reporter,) if a] + list(store_contacts) + list(retailer_contacts)
    for raw in candidates:
        key = address_key(raw)
        if not key or key in seen:
            continue
        seen.add(key)
        try:
            valid.append(normalise_address(raw))
        except InvalidAddress as exc:
            invalid.append((raw.strip(), str(exc)))
    return Recipients(tuple(valid), tuple(invalid))


# --- Message-IDs -------------------------------------------------------------------------


def _message_id(domain: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def message_id(event_id: str, recipient: str, domain: str) -> str:
    """The same (event, recipient) always gives the same Message-ID: the dedupe key."""
    return _message_id(domain, "event", str(event_id), address_key(recipient))


def digest_message_id(retailer_id: str, day: date, recipient: str, domain: str) -> str:
    return _message_id(domain, "digest", retailer_id, day.isoformat(), address_key(recipient))
