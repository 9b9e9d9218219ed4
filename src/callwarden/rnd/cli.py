"""`callwarden rnd ...`: Reassigned Numbers Database answers, from files or one at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from callwarden.bulk import FileArg, FormatOpt, JsonOpt, print_import

app = typer.Typer(
    help="Reassigned Numbers Database answers (number + consent date -> yes/no/no data).",
    no_args_is_help=True,
)


def _cli() -> Any:
    from callwarden import cli

    return cli


@app.command("import")
def import_file(
    file: FileArg,
    source: Annotated[
        str | None, typer.Option("--source", help="Where the file came from (default: its name)")
    ] = None,
    queried_at: Annotated[
        str | None,
        typer.Option("--queried-at", help="When the queries ran (ISO), for rows without one"),
    ] = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import an RND results file (number, consent_date, result, queried_at): all or none."""
    from callwarden import bulk
    from callwarden.rnd import service

    when = bulk.instant(queried_at, "queried_at", required=False)
    data, chosen = bulk.read_input(file, fmt)
    print_import(
        file,
        lambda session, who: service.import_results(
            session=session,
            data=data,
            fmt=chosen,
            source=source or f"file:{Path(file).name}",
            queried_at=when,
            actor=who.name,
            actor_role="operator",
        ),
        as_json=as_json,
    )


@app.command("add")
def add(
    number: Annotated[str, typer.Argument(help="The number, in any common format")],
    consent_date: Annotated[
        str, typer.Option("--consent-date", help="The date asked about (YYYY-MM-DD)")
    ],
    result: Annotated[str, typer.Option("--result", help="yes, no or no_data")],
    queried_at: Annotated[
        str | None, typer.Option("--queried-at", help="When the query ran (ISO); default now")
    ] = None,
    source: Annotated[str, typer.Option("--source", help="Where the answer came from")] = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Record one RND answer (for example from a lookup on the RND website)."""
    from callwarden.db import transaction
    from callwarden.rnd import service

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        row = service.add_result(
            session=session,
            number=number,
            consent_date=consent_date,
            result=result,
            queried_at=queried_at,
            source=source,
            actor=who.name,
            actor_role="operator",
        )
        view = service.result_view(row)
    if as_json:
        cli.print_json(view)
        return
    cli.console.print(
        f"{view['number']} consent {view['consent_date']}: {view['result']} "
        f"(queried {view['queried_at']:%Y-%m-%d %H:%M} UTC; record #{view['id']})",
        highlight=False,
    )


@app.command("list")
def list_results(
    number: Annotated[str, typer.Argument(help="The number, in any common format")],
    as_json: JsonOpt = False,
) -> None:
    """A number's stored RND answers, the newest query first."""
    from callwarden import bulk, phone
    from callwarden.audit import service as audit
    from callwarden.db import transaction
    from callwarden.rnd import service

    cli = _cli()
    digits = bulk.parse_number(number)
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    with transaction(factory) as session:
        views = [service.result_view(r) for r in service.results(session=session, number=digits)]
        audit.record(
            session=session,
            type="rnd.read",
            actor=who.name,
            actor_role="operator",
            subject=phone.parse_e164_int(digits).e164,
            body={"via": "cli", "results": len(views)},
        )
    if as_json:
        cli.print_json(views)
        return
    if not views:
        cli.console.print("no RND answers recorded")
        return
    for v in views:
        cli.console.print(
            f"{v['number']} consent {v['consent_date']}: {v['result']:<7} "
            f"queried {v['queried_at']:%Y-%m-%d %H:%M} UTC from {v['source']}",
            highlight=False,
        )
