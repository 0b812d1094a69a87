from types import SimpleNamespace

from bench.common.kafka import case_id_of, report_id_of


def test_ids_are_read_from_the_envelope_payload() -> None:
    record = SimpleNamespace(value=b'{"payload": {"case_id": "rep_1", "report_id": "rep_2"}}')
    assert (case_id_of(record), report_id_of(record)) == ("rep_1", "rep_2")


def test_a_record_without_the_field_has_no_id() -> None:
    for value in (b"not json", b"[]", b'{"payload": {}}', b'{"other": 1}'):
        assert report_id_of(SimpleNamespace(value=value)) is None
