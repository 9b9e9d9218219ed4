"""`callwarden ebr ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="ebr", no_args_is_help=True)
