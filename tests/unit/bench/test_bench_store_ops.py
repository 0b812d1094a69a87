import json
import os

import pytest

from bench.common import machine_info
from bench.intake import bench_store_ops
from bench.intake.bench_store_ops import Rate, documents, render
from deploy.local import process


def test_documents_are_the_size_asked_for_and_each_unique() -> None:
    docs = documents(50, kib=5)
    sizes = {len(json.dumps(d)) for d in docs}
    assert all(5 * 1024 <= size <= 5 * 1024 + 200 for size in sizes), sizes
    assert len({d["_id"] for d in docs}) == 50
    assert len({d["outbox"][0]["event_id"] for d in docs}) == 50


def test_each_rate_is_shown_against_the_first_insert() -> None:
    text = render(
        [
            Rate("insert_many, 500 per call", 8000.0, 0.125),
            Rate("clear by update_one, 1 at a time", 600.0, None),
        ],
        machine_info(),
        "cmd",
    )
    assert "| clear by update_one, 1 at a time | 600 | 0.075 | n/a |" in text
    assert "| insert_many, 500 per call | 8,000 | 1.000 | 0.12 |" in text


def test_database_cpu_is_read_from_the_process_or_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process, "read_pid", lambda name: os.getpid())
    before = bench_store_ops.database_cpu_seconds()
    sum(i * i for i in range(2_000_000))  # burn some CPU in this process
    after = bench_store_ops.database_cpu_seconds()
    assert before is not None and after is not None and after > before

    monkeypatch.setattr(process, "read_pid", lambda name: None)
    assert bench_store_ops.database_cpu_seconds() is None
