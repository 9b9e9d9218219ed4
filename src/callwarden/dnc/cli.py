"""`callwarden dnc ...` and `callwarden scrub`: import, look up, maintain and scrub."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from callwarden.errors import CallwardenError, ValidationFailed

app = typer.Typer(
    help="Do-Not-Call lists: import, status, lookup, internal list.", no_args_is_help=True
)
import_app = typer.Typer(help="Import registry files as a new snapshot.", no_args_is_help=True)
app.add_typer(import_app, name="import")

FilesArg = Annotated[list[Path], typer.Argument(help="Files (plain or zip); several at once")]
ObtainedOpt = Annotated[
    str,
    typer.Option("--obtained", help="Date the data was obtained from the registry (YYYY-MM-DD)"),
]
AreaCodesOpt = Annotated[
    str | None,
    typer.Option("--area-codes", help="Comma-separated area codes this data covers"),
]


def _cli() -> Any:
    from callwarden import cli

    return cli


def _area_codes(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(v) for v in value.replace(" ", "").split(",") if v]
    except ValueError:
        raise ValidationFailed(
            f"--area-codes must be numbers like 404,770 (got {value!r})"
        ) from None


def _run_import(
    list_key: str,
    fmt: str,
    files: list[Path],
    obtained: str,
    area_codes: str | None,
    column: str | None = None,
    as_json: bool = False,
) -> None:
    from callwarden.dnc import service

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    total = sum(p.stat().st_size for p in files if p.is_file())
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=cli.err,
        disable=as_json or not cli.err.is_terminal,
    ) as bar:
        task = bar.add_task("import", total=total or None)
        report = service.import_files(
            session_factory=factory,
            settings=cli.settings(),
            list_key=list_key,
            fmt=fmt,
            paths=files,
            obtained=obtained,
            actor=cli.operator(),
            area_codes=_area_codes(area_codes),
            column=column,
            progress=lambda n: bar.advance(task, n),
        )
    if as_json:
        d = dict(report.__dict__)
        d["errors"] = report.errors[:100]
        cli.print_json(d)
        return
    table = Table(
        title=f"snapshot {report.snapshot_id}: {report.list_key} ({report.kind})", show_header=False
    )
    codes = report.area_codes
    for k, v in (
        ("obtained", report.obtained_at.date().isoformat()),
        (
            "area codes",
            "all"
            if codes is None
            else f"{len(codes)}: {', '.join(map(str, codes[:20]))}"
            + (" ..." if len(codes) > 20 else ""),
        ),
        ("lines read", f"{report.lines_read:,}"),
        ("added", f"{report.added:,}"),
        ("deleted", f"{report.deleted:,}"),
        ("duplicates", f"{report.duplicates:,}"),
        ("rejected", f"{report.rejected:,}"),
        ("numbers now", f"{report.total_after:,}"),
        ("seconds", f"{report.seconds:.2f}"),
    ):
        table.add_row(k, v)
    cli.console.print(table)
    for e in report.errors[:20]:
        cli.err.print(
            f"[yellow]{e['file']}:{e['line_no']}[/yellow]: {e['reason']}: {e['content']!r}"
        )
    if report.rejected > 20:
        cli.err.print(
            f"... {report.rejected - 20:,} more; "
            f"`callwarden dnc errors {report.snapshot_id}` lists them"
        )


@import_app.command("national")
def import_national(
    files: FilesArg,
    obtained: ObtainedOpt,
    changes: Annotated[bool, typer.Option("--changes", help="Files are FTC change lists")] = False,
    area_codes: AreaCodesOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """FTC National Registry: full flat files (AAA,NNNNNNN) or change lists (--changes)."""
    _run_import(
        "national",
        "ftc_changes" if changes else "ftc_flat",
        files,
        obtained,
        area_codes,
        as_json=as_json,
    )


@import_app.command("canada")
def import_canada(
    files: FilesArg,
    obtained: ObtainedOpt,
    area_codes: AreaCodesOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Canada's National DNCL flat files (416,1234567)."""
    _run_import("canada", "canada_flat", files, obtained, area_codes, as_json=as_json)


@import_app.command("state")
def import_state(
    state: Annotated[str, typer.Argument(help="Two-letter state code, e.g. TX")],
    files: FilesArg,
    obtained: ObtainedOpt,
    column: Annotated[str | None, typer.Option(help="CSV column holding the number")] = None,
    area_codes: AreaCodesOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A state's list: one number per line, or a CSV with --column."""
    _run_import(
        f"state:{state}",
        "csv" if column else "numbers",
        files,
        obtained,
        area_codes,
        column,
        as_json=as_json,
    )


@import_app.command("custom")
def import_custom(
    name: Annotated[str, typer.Argument(help="List name, e.g. litigators")],
    files: FilesArg,
    obtained: ObtainedOpt,
    column: Annotated[str | None, typer.Option(help="CSV column holding the number")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A custom suppression list (litigators, a partner's list...): one number per line or CSV."""
    _run_import(
        f"custom:{name}",
        "csv" if column else "numbers",
        files,
        obtained,
        None,
        column,
        as_json=as_json,
    )


@app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Per list: entries, area codes covered, age of the data, last import."""
    from callwarden.dnc import service

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    with factory() as session:
        rows = service.list_status(session=session)
    if as_json:
        cli.print_json(rows)
        return
    table = Table("list", "entries", "area codes", "data age", "fresh", "last import")
    for r in rows:
        cov = r["coverage"]
        cov_text = (
            "all"
            if cov == "all"
            else f"{len(cov)}"
            + (
                f" ({', '.join(map(str, cov[:6]))}...)"
                if len(cov) > 6
                else f" ({', '.join(map(str, cov))})"
                if cov
                else ""
            )
        )
        age = (
            "live"
            if r["kind"] == "internal"
            else ("no data" if r["age_days"] is None else f"{r['age_days']} days")
        )
        fresh = "[green]yes[/green]" if not r["stale"] else "[red]STALE[/red]"
        if r.get("stale_area_codes"):
            fresh += f" [red]({len(r['stale_area_codes'])} area codes stale)[/red]"
        last = r["last_import"]
        last_text = (
            f"#{last['snapshot_id']} {last['status']} {last['started_at']:%Y-%m-%d %H:%M}"
            if last
            else ""
        )
        table.add_row(r["list"], f"{r['entries']:,}", cov_text, age, fresh, last_text)
    cli.console.print(table)


@app.command("lookup")
def lookup(
    numbers: Annotated[list[str], typer.Argument(help="Numbers in any common format")],
    at: Annotated[
        str | None, typer.Option(help="Moment of the call (ISO date-time); default now")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Which lists hold each number, and since when; exit 1 when any is listed or unknown."""
    from callwarden.audit import service as audit
    from callwarden.dnc import service
    from callwarden.dnc.runtime import DncRuntime

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    when = _parse_at(at)
    rt = DncRuntime(settings=cli.settings(), session_factory=factory, warm=False)
    rt.load()
    with factory() as session:
        out = service.lookup_reports(session=session, rt=rt, inputs=numbers, at=when)
        who = cli.operator()
        audit.record_many(
            session=session,
            type="dnc.lookup",
            actor=who.name,
            actor_role="operator",
            subjects=[o["number"] for o in out if o["valid"]],
            body={"via": "cli"},
        )
        session.commit()
    if as_json:
        cli.print_json(out)
    else:
        for o in out:
            if not o["valid"]:
                cli.console.print(f"[red]{o['input']}[/red]: not a valid number ({o['error']})")
                continue
            verdict = (
                "[red]LISTED[/red]"
                if o["listed"]
                else ("[yellow]UNKNOWN[/yellow]" if o["unknown"] else "[green]not listed[/green]")
            )
            cli.console.print(f"[bold]{o['number']}[/bold]: {verdict}")
            for item in o["lists"]:
                extra = (
                    f" since {item['since']:%Y-%m-%d}"
                    if item["since"]
                    else (f" (data as of {item['as_of']:%Y-%m-%d})" if item["as_of"] else "")
                )
                reason = f" ({item['reason']})" if item["reason"] else ""
                cli.console.print(f"  {item['list']:<22} {item['status']}{reason}{extra}")
            for e in o["internal"]:
                cli.console.print(
                    f"    internal entry #{e['id']}: {e['channel']} / seller {e['seller']}"
                    f" / {e['source']} by {e['added_by']}"
                )
    bad = any((not o["valid"]) or o["listed"] or o["unknown"] for o in out)
    raise typer.Exit(1 if bad else 0)


def _parse_at(at: str | None) -> datetime:
    from callwarden.db import utcnow

    if not at:
        return utcnow()
    try:
        value = datetime.fromisoformat(at)
    except ValueError:
        raise ValidationFailed(f"--at must be an ISO date-time, not {at!r}", field="at") from None
    if value.tzinfo is None:
        raise ValidationFailed("--at needs a time zone, e.g. 2026-11-28T14:00:00-05:00", field="at")
    return value.astimezone(UTC)


@app.command("add")
def add(
    number: Annotated[str, typer.Argument()],
    channel: Annotated[str, typer.Option(help="voice, sms, email or all")] = "all",
    seller: Annotated[str, typer.Option(help="Seller/brand, or * for all")] = "*",
    source: Annotated[
        str,
        typer.Option(
            help="agent_disposition, ivr, sms_keyword, email, web_form, letter, api, import, other"
        ),
    ] = "other",
    note: Annotated[str | None, typer.Option()] = None,
    by: Annotated[str | None, typer.Option(help="Who took the request (default: you)")] = None,
) -> None:
    """Put a number on the internal Do-Not-Call list (effective at once, never expires)."""
    from callwarden import phone
    from callwarden.dnc import service
    from callwarden.security.service import Principal

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    if by:
        who = Principal(name=f"{by} via {who.name}", role=who.role)
    try:
        parsed = phone.parse(number)
    except phone.InvalidPhoneNumber as exc:
        raise ValidationFailed(exc.message, field="number") from None
    with factory() as session:
        entry = service.add_internal(
            session=session,
            number=parsed,
            channel=channel,
            seller=seller,
            source=source,
            note=note,
            actor=who,
        )
        session.commit()
    cli.console.print(
        f"added {parsed.e164} to the internal list "
        f"(entry #{entry.id}, {entry.channel}, seller {entry.seller})"
    )


@app.command("remove")
def remove(
    entry_id: Annotated[int, typer.Argument(help="Internal entry id (see `dnc lookup`)")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail)")],
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="CALLWARDEN_API_KEY",
            help="A compliance-role API key identifying you",
        ),
    ] = None,
) -> None:
    """Remove an internal entry: needs a compliance officer's API key; audited."""
    from callwarden.dnc import service
    from callwarden.security import service as security

    cli = _cli()
    _, factory = cli.open_db()
    if not api_key:
        raise CallwardenError(
            "removing an entry needs a compliance API key: --api-key or CALLWARDEN_API_KEY"
        )
    with factory() as session:
        who = security.authenticate(session=session, token=api_key)
        if who is None:
            raise CallwardenError("the API key is unknown or revoked")
        entry = service.remove_internal(
            session=session, entry_id=entry_id, reason=reason, actor=who
        )
        session.commit()
    cli.console.print(f"removed internal entry #{entry.id} (by {who.name})")


@app.command("snapshots")
def snapshots(
    list_key: Annotated[
        str | None, typer.Option("--list", help="national, canada, state:XX, custom:NAME")
    ] = None,
    limit: int = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recent imports with their counts."""
    from callwarden.dnc import service

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    with factory() as session:
        rows = service.snapshots(session=session, list_key=list_key, limit=limit)
        data = [
            {
                c: getattr(s, c)
                for c in (
                    "id",
                    "kind",
                    "format",
                    "obtained_at",
                    "started_at",
                    "status",
                    "lines_read",
                    "added",
                    "deleted",
                    "rejected",
                    "total_after",
                    "error",
                )
            }
            for s in rows
        ]
    if as_json:
        cli.print_json(data)
        return
    table = Table(
        "id",
        "kind",
        "format",
        "obtained",
        "status",
        "read",
        "added",
        "deleted",
        "rejected",
        "total",
    )
    for d in data:
        table.add_row(
            str(d["id"]),
            d["kind"],
            d["format"],
            f"{d['obtained_at']:%Y-%m-%d}",
            d["status"],
            f"{d['lines_read']:,}",
            f"{d['added']:,}",
            f"{d['deleted']:,}",
            f"{d['rejected']:,}",
            f"{d['total_after']:,}",
        )
    cli.console.print(table)


@app.command("errors")
def errors(snapshot_id: int, limit: int = 1000) -> None:
    """The malformed lines of one import (file:line: reason: content)."""
    from callwarden.dnc import service

    cli = _cli()
    _, factory = cli.open_db()
    with factory() as session:
        for e in service.snapshot_errors(session=session, snapshot_id=snapshot_id, limit=limit):
            print(f"{e.file}:{e.line_no}: {e.reason}: {e.content!r}")


def scrub(
    input: Annotated[Path, typer.Argument(help="CSV call list with a header row")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the rows that may be called")],
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Where to write removed rows with reasons")
    ] = None,
    column: Annotated[
        str | None, typer.Option(help="The phone column (detected when omitted)")
    ] = None,
    seller: Annotated[
        str | None, typer.Option(help="Apply internal entries of this seller (and *) only")
    ] = None,
    channel: Annotated[
        str | None,
        typer.Option(help="voice, sms or email: internal entries of that channel (and all)"),
    ] = None,
    lists: Annotated[
        str | None, typer.Option(help="Only these lists, comma-separated (default: all)")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Moment of the calls (ISO date-time); default now")
    ] = None,
) -> None:
    """Scrub a call list against every Do-Not-Call list: clean rows out, rejects with reasons."""
    from callwarden.audit import service as audit
    from callwarden.dnc import scrub as scrubbing
    from callwarden.dnc.runtime import DncRuntime

    cli = _cli()
    if not input.is_file():
        raise ValidationFailed(f"{input}: no such file", field="input")
    if channel is not None and channel not in ("voice", "sms", "email", "all"):
        raise ValidationFailed("--channel must be voice, sms, email or all", field="channel")
    for target in (out, rejects):
        if target is not None and target.resolve() == input.resolve():
            raise ValidationFailed("the output would overwrite the input", field="out")
    when = _parse_at(at)
    _, factory = cli.open_db(upgrade_if_empty=True)
    rt = DncRuntime(settings=cli.settings(), session_factory=factory)
    rt.load()
    only = [x.strip() for x in lists.split(",")] if lists else None
    known = {lst.key for lst in rt.lists} | {"internal"}
    for key in only or ():
        if key not in known:
            raise ValidationFailed(
                f"unknown list {key!r}; known: {', '.join(sorted(known))}", field="lists"
            )
    plan = scrubbing.plan(input, column=column)
    stopwatch = cli.timed()
    tmp_out = out.with_name(out.name + f".part-{os.getpid()}")
    tmp_rej = rejects.with_name(rejects.name + f".part-{os.getpid()}") if rejects else None
    try:
        with Progress(
            TextColumn("scrubbing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=cli.err,
            disable=not cli.err.is_terminal,
        ) as bar:
            task = bar.add_task("scrub", total=None)
            with (
                tmp_out.open("wb") as fo,
                tmp_rej.open("wb") if tmp_rej else open(os.devnull, "wb") as fr,
            ):
                summary = scrubbing.scrub_file(
                    rt,
                    plan,
                    clean_out=fo,
                    rejects_out=fr if tmp_rej else None,
                    at=when,
                    seller=seller,
                    channel=channel,
                    only=only,
                    progress=lambda n: bar.advance(task, n),
                )
        tmp_out.replace(out)
        if tmp_rej and rejects:
            tmp_rej.replace(rejects)
    finally:
        tmp_out.unlink(missing_ok=True)
        if tmp_rej:
            tmp_rej.unlink(missing_ok=True)
    seconds = stopwatch()
    with factory() as session:
        who = cli.operator()
        audit.record(
            session=session,
            type="dnc.scrub",
            actor=who.name,
            actor_role="operator",
            subject=f"scrub:{input.name}",
            body={"via": "cli", **summary.as_dict()},
        )
        session.commit()
    table = Table(title=f"scrubbed {input.name} (phone column: {plan.column})", show_header=False)
    for k, v in (
        ("rows", summary.rows),
        ("clean", summary.clean),
        ("rejected", summary.rejected),
        ("  listed", summary.listed),
        ("  unknown coverage", summary.unknown),
        ("  invalid number", summary.invalid),
    ):
        table.add_row(k, f"{v:,}")
    for k, v in sorted(summary.per_list.items()):
        table.add_row(f"  on {k}", f"{v:,}")
    table.add_row("seconds", f"{seconds:.2f}")
    cli.err.print(table)
