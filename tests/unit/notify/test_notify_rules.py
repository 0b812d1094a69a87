"""Recipient resolution, Message-ID determinism, preferences and settings."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from shopwatch.notify.config import NotifySettings
from shopwatch.notify.domain import (
    ALL_KINDS,
    Kind,
    Mode,
    Preferences,
    UnknownStatusName,
    digest_message_id,
    message_id,
    parse_statuses,
    resolve_recipients,
)

EVENT = "8d2f1c9e-4b6a-4e21-9c3d-0a1b2c3d4e5f"


def test_reporter_first_then_store_then_retailer_each_once_case_insensitive() -> None:
    got = resolve_recipients(
        "Alex.Morgan@Northmart.example",
        ["durham.0042@northmart.example", "ALEX.MORGAN@northmart.example"],
        ["Loss.Prevention@northmart.example", "durham.0042@NORTHMART.EXAMPLE", " "],
    )
    assert got.valid == (
        "Alex.Morgan@northmart.example",  # first spelling kept (domain normalised)
        "durham.0042@northmart.example",
        "Loss.Prevention@northmart.example",
    )
    assert got.invalid == ()


def test_invalid_addresses_are_set_apart_not_dropped() -> None:
    got = resolve_recipients(
        "alex@northmart.example", ["not-an-address", "till@@northmart.example"], []
    )
    assert got.valid == ("alex@northmart.example",)
    assert [address for address, _ in got.invalid] == ["not-an-address", "till@@northmart.example"]
    assert all("not-an-address" in why or "till@@" in why for _, why in got.invalid)


def test_missing_contacts_leave_the_reporter() -> None:
    assert resolve_recipients("alex@northmart.example", [], []).valid == ("alex@northmart.example",)
    assert resolve_recipients(None, [], []).valid == ()


def test_message_id_is_deterministic_per_event_and_recipient() -> None:
    first = message_id(EVENT, "alex@northmart.example", "shopwatch.example")
    assert first == message_id(EVENT, "alex@northmart.example", "shopwatch.example")
    assert first == message_id(EVENT, "  ALEX@Northmart.Example ", "shopwatch.example")
    assert first.startswith("<") and first.endswith("@shopwatch.example>")
    assert len(first) == len("<@shopwatch.example>") + 40
    others = {
        message_id(EVENT, "sam@northmart.example", "shopwatch.example"),
        message_id(EVENT.replace("8d2f", "9d2f"), "alex@northmart.example", "shopwatch.example"),
        digest_message_id(
            "ret-1", date(2026, 11, 3), "alex@northmart.example", "shopwatch.example"
        ),
    }
    assert first not in others and len(others) == 3


def test_message_id_known_value_never_changes() -> None:
    # A changed derivation would resend every pending email under a new id after a
    # deploy; this pins it.
    assert (
        message_id(EVENT, "alex@northmart.example", "shopwatch.example")
        == "<ade549e39c13e926994b2a573a854b7b64532018@shopwatch.example>"
    )


def test_digest_message_id_per_retailer_day_recipient() -> None:
    day = date(2026, 11, 3)
    base = digest_message_id("ret-1", day, "alex@northmart.example", "d.example")
    assert base == digest_message_id("ret-1", day, "Alex@Northmart.example", "d.example")
    assert base != digest_message_id("ret-2", day, "alex@northmart.example", "d.example")
    assert base != digest_message_id(
        "ret-1", date(2026, 11, 4), "alex@northmart.example", "d.example"
    )


def test_parse_statuses_accepts_kinds_statuses_commas_and_all() -> None:
    assert parse_statuses(["received,crime_recorded", "outcome_recorded"]) == {
        Kind.RECEIVED,
        Kind.CRIME_RECORDED,
        Kind.OUTCOME,
    }
    assert parse_statuses(["routed", "unroutable"]) == {Kind.RECEIVED}
    assert parse_statuses(["all"]) == ALL_KINDS
    with pytest.raises(UnknownStatusName, match="unknown status 'charged'"):
        parse_statuses(["charged"])


def test_default_preferences_want_everything_at_once() -> None:
    prefs = Preferences("ret-1")
    assert prefs.mode is Mode.IMMEDIATE
    assert all(prefs.wants(kind) for kind in Kind)
    assert not Preferences("ret-1", frozenset({Kind.OUTCOME})).wants(Kind.RECEIVED)


def test_settings_defaults_and_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPWATCH_SMTP_PASSWORD", "hunter2-smtp-secret")
    monkeypatch.setenv("SHOPWATCH_MAIL_FROM", "Shopwatch <alerts@mail.shopwatch.example>")
    settings = NotifySettings()
    assert (settings.service_name, settings.service_port) == ("notify", 8005)
    assert settings.from_address == "alerts@mail.shopwatch.example"
    assert settings.id_domain == "mail.shopwatch.example"
    assert "hunter2-smtp-secret" not in repr(settings)
    assert "hunter2-smtp-secret" in settings.secret_values()
    with pytest.raises(ValidationError, match="smtp_tls"):
        NotifySettings(smtp_tls=True, smtp_starttls=True)
    with pytest.raises(ValidationError, match="unknown_report_attempts"):
        NotifySettings(unknown_report_attempts=8, consumer_max_attempts=8)
    with pytest.raises(ValidationError, match="mail_from"):
        NotifySettings(mail_from="Shopwatch")
