"""`callwarden gate ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="gate", no_args_is_help=True)


def check() -> None:
    """Decide one attempt (placeholder until the gate lands)."""
    raise typer.Exit(2)
