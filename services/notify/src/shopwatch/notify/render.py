"""Jinja2 templates: one plain-text and one HTML body per kind, plus the digest.

Templates get a ``MailView``: a handful of strings built from a ``Notice``, never the
event or the report, so a template cannot show what it is not given. HTML is
autoescaped (a store called ``<b>Corner</b> Shop`` stays text), undefined names are
errors, and subjects are one line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from shopwatch.notify.domain import (
    DIGEST_TEMPLATE,
    OUTCOME_WORDS,
    REJECTION_WORDS,
    Kind,
    Notice,
)
from shopwatch.schemas.enums import EvidenceRejectionReason


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Links:
    public_base_url: str
    evidence_base_url: str

    def report(self, report_id: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/v1/reports/{report_id}"

    def evidence_upload(self, report_id: str) -> str:
        return f"{self.evidence_base_url.rstrip('/')}/v1/reports/{report_id}/evidence"


@dataclass(frozen=True)
class MailView:
    """Everything a template may show. Adding a field here is a privacy decision."""

    kind: str
    reference: str
    store_name: str
    store_town: str
    report_url: str
    force_name: str | None
    crime_reference: str | None
    outcome_short: str | None
    outcome_text: str | None
    evidence_needed: str | None
    evidence_due_by: str | None
    upload_command: str | None
    upload_api: str | None
    rejected_file: str | None
    rejection_why: str | None
    rejection_todo: str | None
    finding_force: bool
    found_force_later: bool
    summary: str


def _day(value: date | None) -> str | None:
    return None if value is None else f"{value.day} {value:%B %Y}"


def mail_view(notice: Notice, links: Links) -> MailView:
    report = notice.report
    outcome = OUTCOME_WORDS[notice.outcome] if notice.outcome else (None, None)
    rejection: tuple[str | None, str | None] = (None, None)
    if notice.kind is Kind.EVIDENCE_REJECTED:
        rejection = REJECTION_WORDS[notice.rejection_reason or EvidenceRejectionReason.OTHER]
    asks_for_upload = notice.kind in (Kind.EVIDENCE_REQUESTED, Kind.EVIDENCE_REJECTED)
    return MailView(
        kind=notice.kind.value,
        reference=report.reference,
        store_name=report.store_name,
        store_town=report.store_town,
        report_url=links.report(report.report_id),
        force_name=notice.force_name,
        crime_reference=notice.crime_reference,
        outcome_short=outcome[0],
        outcome_text=outcome[1],
        evidence_needed=notice.evidence_needed,
        evidence_due_by=_day(notice.evidence_due_by),
        upload_command=f"shopwatch upload {report.report_id} FILE" if asks_for_upload else None,
        upload_api=links.evidence_upload(report.report_id) if asks_for_upload else None,
        rejected_file=notice.rejected_file,
        rejection_why=rejection[0],
        rejection_todo=rejection[1],
        finding_force=notice.finding_force,
        found_force_later=notice.found_force_later,
        summary=notice.summary(),
    )


SUBJECTS: dict[str, str] = {
    Kind.RECEIVED: (
        "{% if finding_force %}Report {{ reference }} received: finding the right police force"
        "{% else %}Report {{ reference }} received and passed to {{ force_name }}{% endif %}"
    ),
    Kind.CRIME_RECORDED: "Report {{ reference }}: crime recorded ({{ crime_reference }})",
    Kind.EVIDENCE_REQUESTED: "Report {{ reference }}: the police need more evidence",
    Kind.EVIDENCE_REJECTED: "Report {{ reference }}: an evidence file was not accepted",
    Kind.OUTCOME: "Report {{ reference }}: outcome - {{ outcome_short }}",
    Kind.CLOSED: "Report {{ reference }}: case closed",
    DIGEST_TEMPLATE: "Shopwatch daily summary for {{ day }}: {{ items|length }} "
    "update{{ '' if items|length == 1 else 's' }}",
}


class Renderer:
    def __init__(self, links: Links) -> None:
        self.links = links
        self._files = Environment(
            loader=PackageLoader("shopwatch.notify", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        # Subjects are plain header text: no escaping (the header encoder handles them).
        self._subjects = Environment(undefined=StrictUndefined, autoescape=False)  # noqa: S701

    def _render(self, name: str, context: dict[str, Any]) -> Rendered:
        subject = self._subjects.from_string(SUBJECTS[name]).render(context)
        return Rendered(
            subject=" ".join(subject.split()),
            text=self._files.get_template(f"{name}.txt").render(context),
            html=self._files.get_template(f"{name}.html").render(context),
        )

    def notice(self, notice: Notice) -> Rendered:
        return self._render(notice.kind.value, asdict(mail_view(notice, self.links)))

    def digest(self, day: date, items: list[MailView]) -> Rendered:
        return self._render(
            DIGEST_TEMPLATE, {"day": _day(day), "items": [asdict(item) for item in items]}
        )
