"""`callwarden consent ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="consent", no_args_is_help=True)
