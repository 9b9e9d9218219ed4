"""`callwarden ebr ...`: record established-business-relationship events, list, import, end."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from callwarden.bulk import JsonOpt

app = typer.Typer(
    help="Established business relationships: purchases, inquiries... with a seller.",
    no_args_is_help=True,
)


def _cli() -> Any:
    from callwarden import cli

    return cli


def _day(value: str, field: str) -> date:
    from callwarden import bulk

    return bulk.required_day(value, field)


def _print_event(view: dict[str, Any], verb: str) -> None:
    ended = f", ended {view['ended_on']}" if view["ended_on"] else ""
    exp = view["expires_on"]
    _cli().console.print(
        f"{verb} EBR event #{view['id']} for {view['number']}: {view['kind']} with "
        f"{view['seller']} on {view['occurred_on']}{ended} "
        f"(supports calls before {exp['US']} in the US, {exp['CA']} in Canada)",
        soft_wrap=True,
    )


@app.command("add")
def add(
    number: Annotated[str, typer.Argument(help="The consumer's number, any common format")],
    seller: Annotated[str, typer.Option(help="The seller the relationship is with")],
    kind: Annotated[str, typer.Option(help="purchase, transaction, inquiry or application")],
    on: Annotated[str, typer.Option("--on", help="Date of the event (YYYY-MM-DD)")],
    reference: Annotated[str | None, typer.Option(help="Order, ticket or CRM reference")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a qualifying event between a consumer and a seller."""
    from callwarden import bulk
    from callwarden.db import transaction
    from callwarden.ebr import service

    cli = _cli()
    digits = bulk.parse_number(number)
    occurred = _day(on, "on")
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        event = service.add_event(
            session=session,
            number=digits,
            seller=seller,
            kind=kind,
            occurred_on=occurred,
            reference=reference,
            actor=who.name,
            actor_role=who.role.value,
        )
        view = service.event_view(event)
    if as_json:
        cli.print_json(view)
    else:
        _print_event(view, "recorded")


@app.command("list")
def list_(
    number: Annotated[str, typer.Argument(help="The consumer's number, any common format")],
    as_json: JsonOpt = False,
) -> None:
    """A number's EBR events, newest first, with their expiry; the read is audited."""
    from rich.table import Table

    from callwarden import bulk, phone
    from callwarden.audit import service as audit
    from callwarden.db import transaction
    from callwarden.ebr import service

    cli = _cli()
    parsed = phone.parse_e164_int(bulk.parse_number(number))
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        views = [
            service.event_view(e) for e in service.events_for(session=session, number=parsed.digits)
        ]
        audit.record(
            session=session,
            type="ebr.read",
            actor=who.name,
            actor_role=who.role.value,
            subject=parsed.e164,
            body={"events": len(views), "via": "cli"},
        )
    if as_json:
        cli.print_json(views)
        return
    if not views:
        cli.console.print("no EBR events")
        return
    table = Table(
        "id", "seller", "kind", "on", "ended", "expires (US)", "expires (CA)", "reference"
    )
    for v in views:
        table.add_row(
            str(v["id"]),
            v["seller"],
            v["kind"],
            str(v["occurred_on"]),
            str(v["ended_on"] or ""),
            str(v["expires_on"]["US"]),
            str(v["expires_on"]["CA"]),
            v["reference"] or "",
        )
    cli.console.print(table)


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="CSV (header = field names) or JSON-lines; - = stdin")
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv, jsonl or json (default: file name, else content)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import EBR events: every row is checked first; any bad row and nothing is imported."""
    from callwarden import bulk
    from callwarden.ebr import service

    cli = _cli()
    rows = bulk.read_checked(file, fmt, service.parse_ebr_rows)
    ids = bulk.run_cli_import(
        file,
        lambda session, who: [
            e.id
            for e in service.import_events(
                session=session, rows=rows, actor=who.name, actor_role=who.role.value
            )
        ],
    )
    if as_json:
        cli.print_json({"imported": len(ids), "ids": ids})
    else:
        cli.console.print(f"imported {len(ids)} EBR events from {file}")


@app.command("end")
def end(
    ebr_id: Annotated[int, typer.Argument(help="The event id (see `ebr list`)")],
    on: Annotated[str, typer.Option("--on", help="Date the relationship ended (YYYY-MM-DD)")],
    as_json: JsonOpt = False,
) -> None:
    """Record that either party ended the relationship an event formed."""
    from callwarden.db import transaction
    from callwarden.ebr import service

    cli = _cli()
    day = _day(on, "on")
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        event = service.end_relationship(
            session=session,
            event_id=ebr_id,
            ended_on=day,
            actor=who.name,
            actor_role=who.role.value,
        )
        view = service.event_view(event)
    if as_json:
        cli.print_json(view)
    else:
        _print_event(view, "ended")
