import pytest

from shopwatch.runtime.codec import (
    HEADER_CONTENT_TYPE,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_SCHEMA_VERSION,
    encode_envelope,
    event_headers,
    topic_parser,
)
from shopwatch.schemas.events import CaseStatusChanged, ReportSubmitted
from shopwatch.schemas.examples import example_envelope
from shopwatch.schemas.registry import EventDecodeError
from shopwatch.schemas.topics import CASES_STATUS_CHANGED, REPORTS_SUBMITTED


def test_round_trip_through_the_registry_parser() -> None:
    envelope = example_envelope(ReportSubmitted)
    parsed = topic_parser(REPORTS_SUBMITTED)(encode_envelope(envelope))
    assert parsed == envelope
    assert isinstance(parsed.payload, ReportSubmitted)


def test_event_of_another_topic_is_a_decode_error() -> None:
    wrong = encode_envelope(example_envelope(CaseStatusChanged))
    with pytest.raises(EventDecodeError):
        topic_parser(REPORTS_SUBMITTED)(wrong)
    assert topic_parser(CASES_STATUS_CHANGED)(wrong).event_type == CaseStatusChanged.EVENT_TYPE


def test_dlq_topics_have_no_parser() -> None:
    with pytest.raises(ValueError, match="carries no events"):
        topic_parser(REPORTS_SUBMITTED + ".dlq")


def test_headers_describe_the_event() -> None:
    envelope = example_envelope(ReportSubmitted)
    headers = event_headers(envelope)
    assert headers[HEADER_CONTENT_TYPE] == "application/json"
    assert headers[HEADER_EVENT_ID] == str(envelope.event_id)
    assert headers[HEADER_EVENT_TYPE] == envelope.event_type
    assert headers[HEADER_SCHEMA_VERSION] == str(envelope.schema_version)
