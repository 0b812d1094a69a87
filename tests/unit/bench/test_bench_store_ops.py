import json

from bench.common import machine_info
from bench.intake.bench_store_ops import documents, render


def test_documents_are_the_size_asked_for_and_each_unique() -> None:
    docs = documents(50, kib=5)
    sizes = {len(json.dumps(d)) for d in docs}
    assert all(5 * 1024 <= size <= 5 * 1024 + 200 for size in sizes), sizes
    assert len({d["_id"] for d in docs}) == 50
    assert len({d["outbox"][0]["event_id"] for d in docs}) == 50


def test_each_rate_is_shown_against_the_first_insert() -> None:
    text = render(
        [("insert_many, 500 per call", 8000.0), ("clear by update_one, 1 at a time", 600.0)],
        machine_info(),
        "cmd",
    )
    assert "| clear by update_one, 1 at a time | 600 | 0.075 |" in text
    assert "| insert_many, 500 per call | 8,000 | 1.000 |" in text
