"""`callwarden numbers ...`: line types and customer locations, one at a time or from files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from callwarden.bulk import FileArg, FormatOpt, JsonOpt

app = typer.Typer(
    help="Facts about numbers: line types and customer locations.", no_args_is_help=True
)


def _cli() -> Any:
    from callwarden import cli

    return cli


def _import_file(
    file: Path, fmt: str | None, importer: Callable[..., Any], source: str | None, as_json: bool
) -> None:
    from callwarden import bulk

    data, chosen = bulk.read_input(file, fmt)
    bulk.print_import(
        file,
        lambda session, who: importer(
            session=session,
            data=data,
            fmt=chosen,
            source=source,
            actor=who.name,
            actor_role="operator",
        ),
        as_json=as_json,
    )


@app.command("line-type")
def line_type(
    number: Annotated[str, typer.Argument(help="The number, in any common format")],
    line_type: Annotated[str, typer.Argument(help="wireless, landline or voip")],
    source: Annotated[str, typer.Option("--source", help="The data source that says so")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date (or ISO date-time) of the statement")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a number's line type as a data source states it (newest as-of wins)."""
    from callwarden.db import transaction
    from callwarden.numbers import service

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        row = service.add_line_type(
            session=session,
            number=number,
            line_type=line_type,
            source=source,
            as_of=as_of,
            actor=who.name,
            actor_role="operator",
        )
        view = service.line_type_view(row)
    if as_json:
        cli.print_json(view)
        return
    cli.console.print(
        f"{view['number']}: {view['line_type']} (source {view['source']}, "
        f"as of {view['as_of']:%Y-%m-%d %H:%M} UTC; record #{view['id']})",
        highlight=False,
    )


@app.command("line-types-import")
def line_types_import(
    file: FileArg,
    source: Annotated[
        str | None, typer.Option("--source", help="Source for rows without a source column")
    ] = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import line types (number, line_type, source, as_of): all rows or none."""
    from callwarden.numbers import service

    _import_file(file, fmt, service.import_line_types, source, as_json)


@app.command("location")
def location(
    number: Annotated[str, typer.Argument(help="The number, in any common format")],
    state: Annotated[
        str | None, typer.Option("--state", help="State/DC/territory (US) or province (CA)")
    ] = None,
    zip_code: Annotated[
        str | None, typer.Option("--zip", help="12345 or 12345-6789; A1A 1A1 in Canada")
    ] = None,
    country: Annotated[str, typer.Option("--country", help="US or CA")] = "US",
    kind: Annotated[str, typer.Option("--kind", help="mailing, billing or other")] = "other",
    source: Annotated[str, typer.Option("--source", help="Where the address came from")] = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Record a location of the customer behind a number (a state or a ZIP at least)."""
    from callwarden.db import transaction
    from callwarden.numbers import service

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        row = service.add_location(
            session=session,
            number=number,
            state=state,
            zip=zip_code,
            country=country,
            kind=kind,
            source=source,
            actor=who.name,
            actor_role="operator",
        )
        view = service.location_view(row)
    if as_json:
        cli.print_json(view)
        return
    place = " ".join(p for p in (view["state"], view["zip"]) if p)
    cli.console.print(
        f"{view['number']}: {view['kind']} location {place}, {view['country']} "
        f"(record #{view['id']})",
        highlight=False,
    )


@app.command("locations-import")
def locations_import(
    file: FileArg,
    source: Annotated[
        str | None, typer.Option("--source", help="Source for rows without a source column")
    ] = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import customer locations (number, country, state, zip, kind, source): all or none."""
    from callwarden.numbers import service

    _import_file(file, fmt, service.import_locations, source or file.name, as_json)


@app.command("location-remove")
def location_remove(
    location_id: Annotated[int, typer.Argument(help="Location record id (see `numbers show`)")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit)")] = None,
) -> None:
    """Mark a customer location removed (kept as history; no longer a candidate location)."""
    from callwarden.db import transaction
    from callwarden.numbers import service

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        row = service.remove_location(
            session=session,
            location_id=location_id,
            reason=reason,
            actor=who.name,
            actor_role="operator",
        )
    cli.console.print(f"removed location #{row.id}", highlight=False)


@app.command("show")
def show(
    number: Annotated[str, typer.Argument(help="The number, in any common format")],
    include_removed: Annotated[
        bool, typer.Option("--include-removed", help="Also removed locations")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """A number's line type (every statement, the winner first) and customer locations."""
    from callwarden import bulk
    from callwarden.audit import service as audit
    from callwarden.db import transaction
    from callwarden.numbers import service

    cli = _cli()
    digits = bulk.parse_number(number)
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        view = service.number_view(session=session, number=digits, include_removed=include_removed)
        audit.record(
            session=session,
            type="numbers.read",
            actor=who.name,
            actor_role="operator",
            subject=view["number"],
            body={"via": "cli", "locations": len(view["locations"])},
        )
    if as_json:
        cli.print_json(view)
        return
    out = cli.console
    out.print(f"[bold]{view['number']}[/bold]: line type {view['line_type'] or 'unknown'}")
    for r in view["line_types"]:
        out.print(
            f"  #{r['id']} {r['line_type']:<9} as of {r['as_of']:%Y-%m-%d} from {r['source']}",
            highlight=False,
        )
    if not view["locations"]:
        out.print("  no customer locations")
    for loc in view["locations"]:
        place = " ".join(p for p in (loc["state"], loc["zip"]) if p)
        removed = f" (removed {loc['removed_at']:%Y-%m-%d})" if loc["removed_at"] else ""
        out.print(
            f"  #{loc['id']} {loc['kind']:<8} {place}, {loc['country']} from {loc['source']}"
            f"{removed}",
            highlight=False,
        )
