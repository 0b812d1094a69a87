"""`shopwatch matching eval FILE.jsonl`: measure the matcher on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shopwatch.cli.app import app
from shopwatch.matching.evaluation import main as evaluate_main

matching_app = typer.Typer(help="Offender matching: quality measurement.", no_args_is_help=True)
app.add_typer(matching_app, name="matching")


@matching_app.command("eval")
def evaluate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    assignments: Annotated[
        Path | None, typer.Option(help="Write every offender's profile and top candidates here.")
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, max=50)] = 5,
) -> None:
    """Run the matcher over FILE in time order; print precision, recall and profile counts."""
    argv = [str(file), "--top-k", str(top_k)]
    if assignments is not None:
        argv += ["--assignments", str(assignments)]
    raise typer.Exit(evaluate_main(argv))
