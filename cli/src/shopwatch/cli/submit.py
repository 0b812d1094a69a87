"""`shopwatch submit FILE`: bulk submission with a progress bar, resumable, with a rejects file."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from shopwatch.cli.app import app
from shopwatch.cli.output import emit, fail, info, state
from shopwatch.cli.report_files import FileEntry, count_entries, read_entries

MAX_ATTEMPTS = 6


@app.command()
def submit(
    # Checked below rather than by typer, whose usage panel is several lines of box art.
    file: Annotated[Path, typer.Argument(help="JSON Lines (.jsonl) or CSV (.csv) file.")],
    api_url: Annotated[str, typer.Option(envvar="SHOPWATCH_API_URL")] = "http://127.0.0.1:8001",
    api_key: Annotated[
        str | None, typer.Option(envvar="SHOPWATCH_API_KEY", help="Retailer API key.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=500)] = 250,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Where to write rejected lines (default FILE.rejects.jsonl)."),
    ] = None,
) -> None:
    """Submit reports from JSON Lines (one report per line) or CSV (dotted column names).

    Re-running the same file is safe: reports already accepted come back as duplicates.
    """
    if not api_key:
        fail("no API key: pass --api-key or set SHOPWATCH_API_KEY", code=2)
    if not file.is_file():
        problem = "is not a file" if file.exists() else "does not exist"
        fail(f"{file} {problem}", code=2)
    if not os.access(file, os.R_OK):
        fail(f"{file} is not readable", code=2)
    rejects_path = rejects or file.with_suffix(file.suffix + ".rejects.jsonl")
    total = count_entries(file)
    counts: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    with (
        httpx.Client(base_url=api_url, headers=headers, timeout=60.0) as client,
        rejects_path.open("w", encoding="utf-8") as rejects_out,
        _progress() as progress,
    ):
        task = progress.add_task("submitting", total=total)
        for batch in _batches(read_entries(file), batch_size):
            sendable = [e for e in batch if e.report is not None]
            for entry in batch:
                if entry.report is None:
                    counts["rejected"] += 1
                    _write_reject(rejects_out, entry.line, [{"msg": entry.error}])
            if sendable:
                results = _post_batch(client, sendable)
                for entry, result in zip(sendable, results, strict=True):
                    counts[result["status"]] += 1
                    if result["status"] in {"rejected", "conflict"}:
                        _write_reject(rejects_out, entry.line, result.get("errors", []))
            progress.advance(task, len(batch))
    summary = {
        "file": str(file),
        "total": sum(counts.values()),
        "accepted": counts["accepted"],
        "already_accepted": counts["duplicate"],
        "rejected": counts["rejected"] + counts["conflict"],
        "rejects_file": str(rejects_path) if counts["rejected"] + counts["conflict"] else None,
    }
    if not summary["rejects_file"]:
        rejects_path.unlink(missing_ok=True)
    emit(
        summary,
        f"{summary['total']} reports: {summary['accepted']} accepted, "
        f"{summary['already_accepted']} already accepted, {summary['rejected']} rejected"
        + (f" (reasons in {rejects_path})" if summary["rejects_file"] else ""),
    )
    if summary["rejected"]:
        raise typer.Exit(1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        # stderr, so stdout carries only the summary (or the --json document).
        console=Console(stderr=True),
        disable=state.json_output,
        transient=False,
    )


def _batches(entries: Iterator[FileEntry], size: int) -> Iterator[list[FileEntry]]:
    batch: list[FileEntry] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _post_batch(client: httpx.Client, entries: list[FileEntry]) -> list[dict[str, Any]]:
    body = {"items": [{"idempotency_key": e.idempotency_key, "report": e.report} for e in entries]}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            response = client.post("/v1/reports/batch", json=body)
        except httpx.TransportError as exc:
            _wait_or_fail(attempt, f"cannot reach {client.base_url}: {exc}")
            continue
        if response.status_code == 207:
            results: list[dict[str, Any]] = response.json()["results"]
            return results
        if response.status_code == 429:
            wait = float(response.headers.get("Retry-After", "1"))
            info(f"rate limited; waiting {wait:.0f}s")
            time.sleep(min(wait, 60.0))
            continue
        if response.status_code == 401:
            fail("the API key was refused (missing, invalid or revoked)")
        if response.status_code >= 500:
            _wait_or_fail(attempt, f"server error {response.status_code}")
            continue
        fail(f"batch refused with {response.status_code}: {response.text[:500]}")
    fail("gave up after repeated errors; re-run the same command to resume")


def _wait_or_fail(attempt: int, problem: str) -> None:
    if attempt >= MAX_ATTEMPTS:
        fail(f"{problem}; re-run the same command to resume where it stopped")
    delay = min(2.0**attempt, 30.0)
    info(f"{problem}; retrying in {delay:.0f}s")
    time.sleep(delay)


def _write_reject(out: Any, line: int, errors: list[dict[str, Any]]) -> None:
    out.write(json.dumps({"line": line, "errors": errors}) + "\n")
