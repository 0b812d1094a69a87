"""Evaluate the matcher on a generated JSONL file (see ``shopwatch.matching.evaluation``).

    uv run python bench/matching/evaluate.py bench/out/matching-2k-20k-s7.jsonl \
        --assignments bench/out/assignments-s7.jsonl
"""

from __future__ import annotations

from shopwatch.matching.evaluation import main

if __name__ == "__main__":
    raise SystemExit(main())
