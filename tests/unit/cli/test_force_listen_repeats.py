"""The reference force listener shows a change once, however often the relay delivered it."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest

from shopwatch.cli.force import _show
from shopwatch.cli.seen_events import SeenEvents
from shopwatch.schemas.events import CaseRouted
from shopwatch.schemas.examples import example_envelope


def test_an_id_is_new_once_and_old_ids_are_forgotten_past_capacity() -> None:
    seen = SeenEvents(capacity=2)
    assert seen.first_time("a") and seen.first_time("b")
    assert not seen.first_time("a")
    assert seen.first_time("c")  # evicts "b", the least recently offered
    assert seen.first_time("b")
    assert not seen.first_time("c")
    with pytest.raises(ValueError):
        SeenEvents(capacity=0)


def test_a_redelivered_case_package_is_printed_once(capsys: pytest.CaptureFixture[str]) -> None:
    first = example_envelope(CaseRouted).model_dump_json().encode()
    other = (
        example_envelope(CaseRouted).model_copy(update={"event_id": uuid4()}).model_dump_json()
    ).encode()
    seen = SeenEvents()
    for raw in (first, first, other, first):
        _show(raw, None, False, seen)
    captured = capsys.readouterr()
    printed = [json.loads(line)["event_id"] for line in captured.out.splitlines()]
    assert printed == [json.loads(first)["event_id"], json.loads(other)["event_id"]]
    assert captured.err.count("skipped a repeated delivery") == 2
