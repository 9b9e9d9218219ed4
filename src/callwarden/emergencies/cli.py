"""`callwarden emergencies ...` and `callwarden registrations ...`: jurisdiction facts."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from callwarden.bulk import FileArg, FormatOpt, JsonOpt

app = typer.Typer(
    help="Declared states of emergency (e.g. Louisiana's telemarketing ban).",
    no_args_is_help=True,
)

registrations_app = typer.Typer(help="Seller registrations per jurisdiction.", no_args_is_help=True)


def _cli() -> Any:
    from callwarden import cli

    return cli


def _instant(value: str, field: str) -> datetime:
    from callwarden import bulk

    return bulk.required_instant(value, field)


def _date(value: str, field: str) -> date:
    from callwarden import bulk

    return bulk.required_day(value, f"--{field}")


@app.command("add")
def emergency_add(
    jurisdiction: Annotated[str, typer.Option("--jurisdiction", help="e.g. US-LA")],
    starts: Annotated[
        str,
        typer.Option("--from", help="Start (ISO date-time with zone, e.g. 2026-08-28T18:00-05:00)"),
    ],
    description: Annotated[str, typer.Option("--description", help="What was declared")],
    ends: Annotated[
        str | None, typer.Option("--to", help="End (ISO date-time); default: until ended")
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="URL or order number of the declaration")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a declared state of emergency (the gate applies it from the next decision)."""
    from callwarden.db import transaction
    from callwarden.emergencies import service

    cli = _cli()
    start = _instant(starts, "from")
    end = _instant(ends, "to") if ends else None
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        row = service.add_emergency(
            session=session,
            jurisdiction=jurisdiction,
            starts_at=start,
            ends_at=end,
            description=description,
            reference=reference,
            actor=who.name,
            actor_role="operator",
        )
        view = service.emergency_view(row)
    if as_json:
        cli.print_json(view)
        return
    cli.console.print(f"recorded emergency #{view['id']}: {_line(view)}", highlight=False)


def _line(v: dict[str, Any]) -> str:
    end = f"{v['ends_at']:%Y-%m-%d %H:%M} UTC" if v["ends_at"] else "until ended"
    ref = f" [{v['reference']}]" if v["reference"] else ""
    return (
        f"{v['jurisdiction']} from {v['starts_at']:%Y-%m-%d %H:%M} UTC {end}: "
        f"{v['description']}{ref}"
    )


@app.command("list")
def emergency_list(
    active: Annotated[
        bool, typer.Option("--active", help="Only those active now (or --at)")
    ] = False,
    at: Annotated[
        str | None, typer.Option("--at", help="With --active: active at this ISO date-time")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recorded emergencies, the latest start first."""
    from callwarden.db import utcnow
    from callwarden.emergencies import service

    cli = _cli()
    when = _instant(at, "at") if at else utcnow()
    _, factory = cli.open_db(upgrade_if_empty=True)
    with factory() as session:
        rows = service.list_emergencies(session=session, active_at=when if active or at else None)
        views = [service.emergency_view(r) for r in rows]
    if as_json:
        cli.print_json(views)
        return
    if not views:
        cli.console.print("no emergencies recorded" + (" active then" if active or at else ""))
    for v in views:
        cli.console.print(f"#{v['id']} {_line(v)}", highlight=False)


@app.command("end")
def emergency_end(
    emergency_id: Annotated[int, typer.Argument(help="Emergency id (see `emergencies list`)")],
    at: Annotated[str | None, typer.Option("--at", help="When it ends (ISO); default now")] = None,
) -> None:
    """End an emergency now or at --at (earlier than a planned end, never later)."""
    from callwarden.db import transaction
    from callwarden.emergencies import service

    cli = _cli()
    when = _instant(at, "at") if at else None
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        row = service.end_emergency(
            session=session,
            emergency_id=emergency_id,
            at=when,
            actor=who.name,
            actor_role="operator",
        )
        view = service.emergency_view(row)
    cli.console.print(f"ended emergency #{view['id']}: {_line(view)}", highlight=False)


@registrations_app.command("add")
def registration_add(
    seller: Annotated[str, typer.Option("--seller", help="The seller (as named in campaigns)")],
    jurisdiction: Annotated[str, typer.Option("--jurisdiction", help="e.g. US-TX")],
    registration_id: Annotated[str, typer.Option("--id", help="The registration number")],
    valid_from: Annotated[str, typer.Option("--from", help="First valid day (YYYY-MM-DD)")],
    valid_to: Annotated[
        str | None, typer.Option("--to", help="First day no longer valid (YYYY-MM-DD)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a seller's registration in a jurisdiction, valid on [--from, --to)."""
    from callwarden.db import transaction
    from callwarden.emergencies import service

    cli = _cli()
    start = _date(valid_from, "from")
    end = _date(valid_to, "to") if valid_to else None
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        row = service.add_registration(
            session=session,
            seller=seller,
            jurisdiction=jurisdiction,
            registration_id=registration_id,
            valid_from=start,
            valid_to=end,
            actor=who.name,
            actor_role="operator",
        )
        view = service.registration_view(row)
    if as_json:
        cli.print_json(view)
        return
    cli.console.print(f"recorded registration #{view['id']}: {_reg_line(view)}", highlight=False)


def _reg_line(v: dict[str, Any]) -> str:
    until = f"until {v['valid_to']}" if v["valid_to"] else "open-ended"
    return (
        f"{v['seller']} in {v['jurisdiction']}: {v['registration_id']} "
        f"from {v['valid_from']} {until}"
    )


@registrations_app.command("list")
def registration_list(
    seller: Annotated[str | None, typer.Option("--seller", help="Only this seller")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recorded registrations by seller and jurisdiction."""
    from callwarden.emergencies import service

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    with factory() as session:
        views = [
            service.registration_view(r)
            for r in service.list_registrations(session=session, seller=seller)
        ]
    if as_json:
        cli.print_json(views)
        return
    if not views:
        cli.console.print("no registrations recorded")
    for v in views:
        cli.console.print(f"#{v['id']} {_reg_line(v)}", highlight=False)


def _import_file(file: Path, fmt: str | None, importer: Any, as_json: bool) -> None:
    from callwarden import bulk

    data, chosen = bulk.read_input(file, fmt)
    count = bulk.run_cli_import(
        file,
        lambda session, who: importer(
            session=session, data=data, fmt=chosen, actor=who.name, actor_role="operator"
        ),
        as_json=as_json,
    )
    if as_json:
        _cli().print_json({"imported": count})
    else:
        _cli().console.print(f"imported {file.name}: {count:,} rows")


@app.command("import")
def emergency_import(
    file: FileArg,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record every emergency of a file (jurisdiction, starts_at, ends_at, description), or none."""
    from callwarden.emergencies import service

    _import_file(file, fmt, service.import_emergencies, as_json)


@registrations_app.command("import")
def registration_import(
    file: FileArg,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record every registration of a file (seller, jurisdiction, registration_id, valid_from)."""
    from callwarden.emergencies import service

    _import_file(file, fmt, service.import_registrations, as_json)
