"""The `shopwatch` command: admin, submit, upload, force, matching."""

from __future__ import annotations

import os
import sys

import typer

from shopwatch.cli.output import fail, state

app = typer.Typer(
    name="shopwatch",
    help="Shopwatch: report retail crime to the police force that covers the store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
admin_app = typer.Typer(help="Operator commands: retailers, stores, keys, forces, topics.")
app.add_typer(admin_app, name="admin")


@app.callback()
def _global_options(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    state.json_output = json_output


def main() -> None:
    # Imported here so each command module registers itself on the apps above.
    from shopwatch.cli import commands  # noqa: F401

    try:
        app()
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("SHOPWATCH_DEBUG") == "1":
            raise
        try:
            fail(f"{type(exc).__name__}: {exc} (set SHOPWATCH_DEBUG=1 for the traceback)")
        except typer.Exit as exit_:
            sys.exit(exit_.exit_code)
