"""How every command answers: a readable summary by default, one JSON document with --json.

Errors go to stderr as one line with a non-zero exit, never a traceback: the people who run
these commands are operators and scripts, and both need a message they can act on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

EXIT_USAGE = 2
EXIT_FAILED = 1

_stdout = Console()
_stderr = Console(stderr=True)


class CliState:
    json_output: bool = False


state = CliState()


def emit(document: Mapping[str, Any], summary: str | None = None) -> None:
    """Print the command's result: JSON for scripts, else the summary (or key: value lines)."""
    if state.json_output:
        sys.stdout.write(json.dumps(document, default=str, indent=2) + "\n")
        return
    if summary is not None:
        _stdout.print(summary, highlight=False)
        return
    for key, value in document.items():
        _stdout.print(f"[bold]{key}[/bold]: {value}", highlight=False)


def emit_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    _stdout.print(table)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    if state.json_output:
        sys.stderr.write(json.dumps({"error": message}) + "\n")
    else:
        _stderr.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def info(message: str) -> None:
    """Progress and notes go to stderr so stdout stays a clean result for pipes."""
    if not state.json_output:
        _stderr.print(message, highlight=False)
