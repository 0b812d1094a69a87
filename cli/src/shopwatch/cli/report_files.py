"""Reading reports from JSON Lines or CSV files for bulk submission.

Each report gets a stable idempotency key so a re-run of the same file skips what was
accepted: the retailer's own incident reference when present, else a hash of the report.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_LINE_BYTES = 256 * 1024


@dataclass(frozen=True)
class FileEntry:
    line: int  # 1-based line (JSONL) or row (CSV, header is row 1)
    report: dict[str, Any] | None
    idempotency_key: str | None
    error: str | None = None


def idempotency_key_for(report: dict[str, Any]) -> str:
    ref = report.get("retailer_incident_ref")
    if isinstance(ref, str) and ref.strip():
        return f"ref:{ref.strip()}"[:128]
    canonical = json.dumps(report, sort_keys=True, separators=(",", ":"))
    return "sha:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def read_entries(path: Path) -> Iterator[FileEntry]:
    if path.suffix.lower() == ".csv":
        yield from _read_csv(path)
    else:
        yield from _read_jsonl(path)


def count_entries(path: Path) -> int:
    with path.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    return lines - 1 if path.suffix.lower() == ".csv" else lines


def _read_jsonl(path: Path) -> Iterator[FileEntry]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if len(raw) > MAX_LINE_BYTES:
                yield FileEntry(number, None, None, f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield FileEntry(number, None, None, f"not valid JSON: {exc}")
                continue
            if not isinstance(data, dict):
                yield FileEntry(number, None, None, "each line must be a JSON object")
                continue
            # Either a bare report, or {"idempotency_key": ..., "report": {...}}.
            if isinstance(data.get("report"), dict) and set(data) <= {"report", "idempotency_key"}:
                report = data["report"]
                key = data.get("idempotency_key") or idempotency_key_for(report)
            else:
                report, key = data, idempotency_key_for(data)
            yield FileEntry(number, report, str(key))


def _read_csv(path: Path) -> Iterator[FileEntry]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for number, row in enumerate(reader, start=2):
            try:
                report = unflatten({k: v for k, v in row.items() if k and v not in (None, "")})
            except ValueError as exc:
                yield FileEntry(number, None, None, str(exc))
                continue
            yield FileEntry(number, report, idempotency_key_for(report))


def unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """`offenders.0.sex` style columns into nested objects and lists.

    Cells stay strings; the API's validation converts numbers and booleans and names the
    field when a cell is wrong.
    """
    root: dict[str, Any] = {}
    for column, value in flat.items():
        parts = column.strip().split(".")
        node: Any = root
        for position, part in enumerate(parts):
            last = position == len(parts) - 1
            nxt = parts[position + 1] if not last else None
            container: Any = [] if nxt is not None and nxt.isdigit() else {}
            if isinstance(node, list):
                if not part.isdigit() or int(part) > 1000:
                    raise ValueError(f"column {column!r}: {part!r} is not a list index")
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = _cell(value)
                else:
                    if node[index] is None:
                        node[index] = container
                    node = node[index]
            else:
                if last:
                    node[part] = _cell(value)
                else:
                    node = node.setdefault(part, container)
    cleaned: dict[str, Any] = _drop_holes(root)
    return cleaned


def _cell(value: str) -> Any:
    lowered = value.strip().lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    return value.strip()


def _drop_holes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_holes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_drop_holes(v) for v in value if v is not None]
    return value
