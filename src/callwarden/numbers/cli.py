"""`callwarden numbers ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="numbers", no_args_is_help=True)
