"""`callwarden emergencies ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="emergencies", no_args_is_help=True)

registrations_app = typer.Typer(help="Seller registrations per jurisdiction.", no_args_is_help=True)
