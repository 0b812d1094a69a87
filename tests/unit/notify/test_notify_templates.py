"""Every template renders, says the right thing, and never shows sensitive data."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html import unescape

import pytest

from shopwatch.notify.domain import (
    DIGEST_TEMPLATE,
    Kind,
    Notice,
    ReportCopy,
    notice_for_rejection,
    notice_for_status,
)
from shopwatch.notify.render import Links, Renderer, mail_view
from shopwatch.schemas.case_status import CaseStatus
from shopwatch.schemas.enums import (
    EvidenceRejectionReason,
    OutcomeKind,
    UpdateKind,
)
from shopwatch.schemas.events import (
    CaseStatusChanged,
    EvidenceRejected,
    EvidenceRequest,
    ReportSubmitted,
)
from tests.unit.notify.sensitive_report import leaks, sensitive_report_event

LINKS = Links("https://retailers.shopwatch.example", "https://evidence.shopwatch.example")
T = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(LINKS)


@pytest.fixture(scope="module")
def submitted() -> ReportSubmitted:
    return sensitive_report_event(report_id="rep-0001", reference="SW-20261102-000777")


@pytest.fixture(scope="module")
def report(submitted: ReportSubmitted) -> ReportCopy:
    return ReportCopy.from_event(submitted)


def change(report: ReportCopy, status: CaseStatus, **fields: object) -> CaseStatusChanged:
    base: dict[str, object] = {
        "case_id": report.report_id,
        "report_id": report.report_id,
        "reference": report.reference,
        "retailer_id": report.retailer_id,
        "store_id": report.store_id,
        "sequence": 2,
        "force": "durham",
        "status": status,
        "changed_at": T,
    }
    base.update(fields)
    return CaseStatusChanged.model_validate(base)


def visible_text(html: str) -> str:
    """What a reader of the HTML sees, whitespace collapsed (links kept from href)."""
    hrefs = " ".join(re.findall(r'href="([^"]+)"', html))
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split()) + " " + hrefs


def all_status_notices(report: ReportCopy) -> dict[str, Notice]:
    """One notice per kind and variant the templates know."""
    changes = {
        "received": change(report, CaseStatus.ROUTED, previous_status=CaseStatus.SUBMITTED),
        "received-unroutable": change(
            report, CaseStatus.UNROUTABLE, force=None, previous_status=CaseStatus.SUBMITTED
        ),
        "received-found-later": change(
            report, CaseStatus.ROUTED, previous_status=CaseStatus.UNROUTABLE
        ),
        "crime_recorded": change(
            report,
            CaseStatus.CRIME_RECORDED,
            previous_status=CaseStatus.ROUTED,
            update_kind=UpdateKind.CRIME_RECORDED,
            crime_reference="DHM-26-114523",
        ),
        "evidence_requested": change(
            report,
            CaseStatus.EVIDENCE_REQUESTED,
            previous_status=CaseStatus.CRIME_RECORDED,
            update_kind=UpdateKind.EVIDENCE_REQUESTED,
            crime_reference="DHM-26-114523",
            evidence_request=EvidenceRequest(
                description="CCTV from the entrance camera between 14:20 and 14:50.",
                due_by=date(2026, 11, 10),
            ),
        ),
        "closed": change(
            report,
            CaseStatus.CLOSED,
            previous_status=CaseStatus.OUTCOME_RECORDED,
            update_kind=UpdateKind.CLOSED,
            crime_reference="DHM-26-114523",
        ),
    }
    for outcome in OutcomeKind:
        changes[f"outcome-{outcome.value}"] = change(
            report,
            CaseStatus.OUTCOME_RECORDED,
            previous_status=CaseStatus.CRIME_RECORDED,
            update_kind=UpdateKind.OUTCOME,
            crime_reference="DHM-26-114523",
            outcome=outcome,
        )
    notices: dict[str, Notice] = {}
    for name, event in changes.items():
        notice = notice_for_status(event, report)
        assert notice is not None, name
        notices[name] = notice
    for reason in EvidenceRejectionReason:
        rejected = EvidenceRejected(
            evidence_id="ev-1",
            report_id=report.report_id,
            retailer_id=report.retailer_id,
            file_name="till3_cam2.mp4",
            reason=reason,
            detail="checked by the server",
            rejected_at=T,
        )
        notices[f"evidence_rejected-{reason.value}"] = notice_for_rejection(rejected, report)
    return notices


def test_every_kind_has_a_variant_here(report: ReportCopy) -> None:
    kinds = {notice.kind for notice in all_status_notices(report).values()}
    assert kinds == set(Kind)


def test_no_template_shows_offenders_ethnicity_witness_or_account(
    renderer: Renderer, report: ReportCopy, submitted: ReportSubmitted
) -> None:
    # The source event really does carry all of it (else this test proves nothing).
    assert len(leaks(submitted.model_dump_json())) >= 10
    notices = all_status_notices(report)
    for name, notice in notices.items():
        rendered = renderer.notice(notice)
        for part, text in (
            ("subject", rendered.subject),
            ("text", rendered.text),
            ("html", rendered.html),
        ):
            assert leaks(text) == [], f"{name} {part} leaks {leaks(text)}"
    digest = renderer.digest(date(2026, 11, 3), [mail_view(n, LINKS) for n in notices.values()])
    for text in (digest.subject, digest.text, digest.html):
        assert leaks(text) == []


@pytest.mark.parametrize(
    ("name", "subject", "must_say"),
    [
        (
            "received",
            "Report SW-20261102-000777 received and passed to Durham Constabulary",
            ["passed it to Durham Constabulary", "Next step"],
        ),
        (
            "received-unroutable",
            "Report SW-20261102-000777 received: finding the right police force",
            ["We are finding the right police force"],
        ),
        (
            "received-found-later",
            "Report SW-20261102-000777 received and passed to Durham Constabulary",
            ["We have now found the right police force"],
        ),
        (
            "crime_recorded",
            "Report SW-20261102-000777: crime recorded (DHM-26-114523)",
            ["Crime reference number: DHM-26-114523", "Durham Constabulary has recorded a crime"],
        ),
        (
            "evidence_requested",
            "Report SW-20261102-000777: the police need more evidence",
            [
                "CCTV from the entrance camera between 14:20 and 14:50.",
                "10 November 2026",
                "shopwatch upload rep-0001 FILE",
                "POST https://evidence.shopwatch.example/v1/reports/rep-0001/evidence",
            ],
        ),
        (
            "evidence_rejected-executable_content",
            "Report SW-20261102-000777: an evidence file was not accepted",
            ["till3_cam2.mp4", "is a program", "shopwatch upload rep-0001 FILE"],
        ),
        (
            "outcome-charged",
            "Report SW-20261102-000777: outcome - someone has been charged",
            ["charged someone"],
        ),
        (
            "outcome-cautioned",
            "Report SW-20261102-000777: outcome - someone has been cautioned",
            ["formal caution"],
        ),
        (
            "outcome-community_resolution",
            "Report SW-20261102-000777: outcome - a community resolution was agreed",
            ["community resolution", "instead of going to court"],
        ),
        (
            "outcome-no_further_action",
            "Report SW-20261102-000777: outcome - no further action",
            ["no further action", "reopen"],
        ),
        (
            "closed",
            "Report SW-20261102-000777: case closed",
            ["has closed the case", "crime reference DHM-26-114523"],
        ),
    ],
)
def test_subject_and_both_bodies(
    renderer: Renderer, report: ReportCopy, name: str, subject: str, must_say: list[str]
) -> None:
    rendered = renderer.notice(all_status_notices(report)[name])
    assert rendered.subject == subject
    link = "https://retailers.shopwatch.example/v1/reports/rep-0001"
    for body in (rendered.text, visible_text(rendered.html)):
        assert "SW-20261102-000777" in body
        assert "Northmart Durham Market Place" in body
        assert link in body
        for words in must_say:
            assert words in " ".join(body.split()), f"{name}: {words!r} missing"
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>")
    assert "<" not in rendered.text.replace("<<", "")


def test_html_is_escaped_and_subject_is_one_line(renderer: Renderer, report: ReportCopy) -> None:
    hostile = ReportCopy(
        **{**report.__dict__, "store_name": '<script>alert("x")</script> & Sons\nBcc: x@y.z'}
    )
    notice = all_status_notices(hostile)["received"]
    rendered = renderer.notice(notice)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html and "&amp; Sons" in rendered.html
    assert "\n" not in rendered.subject
    # Plain text is not HTML: it shows the name as it is.
    assert '<script>alert("x")</script> & Sons' in rendered.text


def test_evidence_request_text_is_escaped_in_html(renderer: Renderer, report: ReportCopy) -> None:
    event = change(
        report,
        CaseStatus.EVIDENCE_REQUESTED,
        previous_status=CaseStatus.ROUTED,
        update_kind=UpdateKind.EVIDENCE_REQUESTED,
        evidence_request=EvidenceRequest(description="Footage <b>before</b> 14:20 & after"),
    )
    notice = notice_for_status(event, report)
    assert notice is not None
    html = renderer.notice(notice).html
    assert "Footage &lt;b&gt;before&lt;/b&gt; 14:20 &amp; after" in html


def test_digest_lists_every_item(renderer: Renderer, report: ReportCopy) -> None:
    notices = all_status_notices(report)
    views = [mail_view(notices[n], LINKS) for n in ("received", "crime_recorded", "closed")]
    rendered = renderer.digest(date(2026, 11, 3), views)
    assert rendered.subject == "Shopwatch daily summary for 3 November 2026: 3 updates"
    assert rendered.text.count("SW-20261102-000777") == 3
    assert "Durham Constabulary recorded a crime, crime reference DHM-26-114523." in rendered.text
    assert rendered.html.count("https://retailers.shopwatch.example/v1/reports/rep-0001") == 3
    one = renderer.digest(date(2026, 11, 3), views[:1])
    assert one.subject.endswith(": 1 update")


def test_statuses_without_an_email(report: ReportCopy) -> None:
    for status, previous in (
        (CaseStatus.ACKNOWLEDGED, CaseStatus.ROUTED),
        (CaseStatus.INVESTIGATING, CaseStatus.ROUTED),
        (CaseStatus.SUSPECT_IDENTIFIED, CaseStatus.CRIME_RECORDED),
    ):
        assert notice_for_status(change(report, status, previous_status=previous), report) is None


def test_report_copy_keeps_nothing_sensitive(submitted: ReportSubmitted) -> None:
    copy = ReportCopy.from_event(submitted)
    assert leaks(repr(copy)) == []
    assert copy.reporter_email == "store.manager@northmart.example"
    assert (copy.store_name, copy.store_town) == ("Northmart Durham Market Place", "Durham")


def test_templates_exist_for_every_kind_and_the_digest(renderer: Renderer) -> None:
    names = set(renderer._files.list_templates())
    for name in [*(k.value for k in Kind), DIGEST_TEMPLATE]:
        assert {f"{name}.txt", f"{name}.html"} <= names
