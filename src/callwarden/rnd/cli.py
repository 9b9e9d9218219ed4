"""`callwarden rnd ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="rnd", no_args_is_help=True)
