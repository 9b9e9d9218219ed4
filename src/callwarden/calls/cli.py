"""`callwarden calls ...`: import call records, abandonment rates per campaign, a number's calls."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from callwarden.errors import ValidationFailed

app = typer.Typer(
    help="Call history: import call records, abandonment rates, a number's calls.",
    no_args_is_help=True,
)


def _cli() -> Any:
    from callwarden import cli

    return cli


def _parse_at(at: str | None) -> datetime | None:
    if not at:
        return None
    try:
        value = datetime.fromisoformat(at)
    except ValueError:
        raise ValidationFailed(f"--at must be an ISO date-time, not {at!r}", field="at") from None
    if value.tzinfo is None:
        raise ValidationFailed("--at needs a time zone, e.g. 2026-11-28T14:00:00-05:00", field="at")
    return value.astimezone(UTC)


@app.command("import")
def import_calls(
    path: Annotated[Path, typer.Argument(help="A CDR file: CSV with a header row, or JSON lines")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv or jsonl (default: from the file name; csv)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Import call records all or nothing: every bad row is listed (exit 2) and none imported."""
    from callwarden import bulk
    from callwarden.calls import cdr, service

    cli = _cli()
    data, chosen = bulk.read_input(path, fmt)
    parsed = cdr.parse(data, chosen or "csv")
    if parsed.errors:
        bulk.report_rejected(path, bulk.ImportRejected(parsed.errors), as_json=as_json)
    report = bulk.run_cli_import(
        path,
        lambda session, who: service.record_calls(
            session=session,
            records=parsed.rows,
            source="import",
            actor=who.name,
            actor_role=who.role.value,
            batch=hashlib.sha256(data).hexdigest()[:16],
        ),
        as_json=as_json,
    )
    report.ignored_columns = parsed.ignored_columns
    if as_json:
        cli.print_json(report.as_dict())
        return
    cli.console.print(
        f"imported {report.imported:,} call(s)"
        f" ({report.converted:,} confirming reservations);"
        f" skipped {len(report.skipped):,} already recorded;"
        f" {report.dnc_entries:,} do-not-call request(s) put on the internal list",
        soft_wrap=True,
    )
    if parsed.ignored_columns:
        cli.err.print(f"columns ignored: {', '.join(parsed.ignored_columns)}")


@app.command("stats")
def stats(
    campaign: Annotated[str | None, typer.Option("--campaign", help="One campaign only")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Moment to report at (ISO date-time); default now")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Abandonment rate per campaign in its current 30-day period, against the 3% limit."""
    from callwarden.calls import service

    cli = _cli()
    when = _parse_at(at)
    _, factory = cli.open_db(upgrade_if_empty=True)
    with factory() as session:
        if campaign is not None:
            reports = [service.abandonment(session=session, campaign=campaign, at=when)]
        else:
            reports = service.stats(session=session, at=when)
    if as_json:
        cli.print_json([r.as_dict() for r in reports])
        return
    if not reports:
        cli.console.print("no voice calls recorded for any campaign")
        return
    table = Table(title=f"Abandoned calls, current 30-day period (limit {reports[0].limit:.0%})")
    table.add_column("campaign")
    table.add_column("period from", no_wrap=True)
    for name in ("calls", "answered", "abandoned", "rate", "last 30 days"):
        table.add_column(name, justify="right")
    table.add_column("status", no_wrap=True)
    for r in reports:
        p, rolling = r.current, r.rolling
        rate = "-" if p.rate is None else f"{p.rate:.1%}"
        last_30 = "-" if rolling.rate is None else f"{rolling.rate:.1%}"
        if p.answered_by_person == 0 and rolling.answered_by_person == 0:
            verdict = "[yellow]no answers[/yellow]"
        elif p.within_limit and rolling.within_limit:
            verdict = "[green]ok[/green]"
        else:  # the gate throttles the campaign's dialer calls on either
            verdict = "[red]OVER LIMIT[/red]"
        table.add_row(
            r.campaign,
            f"{p.start:%Y-%m-%d}",
            f"{p.calls:,}",
            f"{p.answered_by_person:,}",
            f"{p.abandoned:,}",
            rate,
            last_30,
            verdict,
        )
    cli.console.print(table)


@app.command("list")
def list_calls(
    number: Annotated[str, typer.Argument(help="The number, in any common format")],
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A number's calls and reservations, newest first (the read is audited)."""
    from callwarden import phone
    from callwarden.audit import service as audit
    from callwarden.calls import service
    from callwarden.db import transaction

    cli = _cli()
    try:
        parsed = phone.parse(number)
    except phone.InvalidPhoneNumber as exc:
        raise ValidationFailed(exc.message, field="number") from None
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        rows = [
            service.call_view(r)
            for r in service.list_calls(session=session, number=parsed.digits, limit=limit)
        ]
        audit.record(
            session=session,
            type="calls.read",
            actor=who.name,
            actor_role=who.role.value,
            subject=parsed.e164,
            body={"rows": len(rows), "via": "cli"},
        )
    if as_json:
        cli.print_json(rows)
        return
    if not rows:
        cli.console.print(f"no calls recorded for {parsed.e164}")
        return
    table = Table("id", "at (UTC)", "outcome", "seller", "campaign", "debt", "flags")
    table.columns[1].no_wrap = True
    for r in rows:
        marks = [
            name for name in ("conversation", "voicemail", "abandoned", "dnc_request") if r[name]
        ]
        table.add_row(
            str(r["id"]),
            f"{r['at']:%Y-%m-%d %H:%M}",
            r["outcome"] if r["state"] == "placed" else f"({r['state']})",
            r["seller"],
            r["campaign"] or "",
            r["debt_id"] or "",
            ", ".join(marks),
        )
    cli.console.print(table)
