"""`callwarden check ...` and `callwarden gate ...`: decide an attempt, replay, list rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from callwarden.errors import ValidationFailed

app = typer.Typer(help="The pre-dial compliance gate.", no_args_is_help=True)


def _cli() -> Any:
    from callwarden import cli

    return cli


def _when(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(f"not an ISO 8601 time: {value!r}", field=field) from exc
    if parsed.tzinfo is None:
        raise ValidationFailed(f"give a UTC offset (e.g. {value}+00:00 or Z)", field=field)
    return parsed


def _gate() -> Any:
    from callwarden.dnc.runtime import DncRuntime
    from callwarden.gate.service import Gate

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    rt = DncRuntime(settings=cli.settings(), session_factory=factory, warm=False)
    rt.load()
    return Gate(settings=cli.settings(), session_factory=factory, dnc=rt)


def _print(out: dict[str, Any]) -> None:
    cli = _cli()
    verdict = "[green]ALLOW[/green]" if out["decision"] == "allow" else "[red]DENY[/red]"
    cli.console.print(f"[bold]{out['number']}[/bold] at {out['at']}: {verdict}")
    for r in out["reasons"]:
        cli.console.print(f"  [red]{r['code']}[/red] {r['message']}")
        cli.console.print(
            f"      {r['citation']}  ({r['rule_id']} {r['rule_version']}, {r['confidence']})"
        )
    for o in out["obligations"]:
        cli.console.print(f"  [yellow]obligation[/yellow] {o['code']}: {o['message']}")
    for zone, local in out["locations"]["local_times"].items():
        cli.console.print(f"  local time {local} ({zone})")
    if out["retry_at"]:
        cli.console.print(f"  next allowed: {out['retry_at']}")
    cli.console.print(f"  decision {out['decision_id']}; audit event {out['audit']['event_id']}")


def check(
    number: Annotated[str, typer.Argument(help="The number to call or text.")],
    seller: Annotated[str, typer.Option(help="The seller (brand) calling.")],
    at: Annotated[str | None, typer.Option(help="Proposed time, ISO 8601 with offset.")] = None,
    channel: Annotated[str, typer.Option(help="voice | sms | email")] = "voice",
    purpose: Annotated[
        str, typer.Option(help="telemarketing | informational | debt_collection")
    ] = "telemarketing",
    technology: Annotated[
        str, typer.Option(help="manual | autodialer | prerecorded | artificial_voice")
    ] = "manual",
    campaign: Annotated[str | None, typer.Option()] = None,
    subject: Annotated[str | None, typer.Option(help="Subject key for same-subject caps.")] = None,
    debt: Annotated[str | None, typer.Option(help="Debt id (debt collection).")] = None,
    caller_id: Annotated[str | None, typer.Option(help="Outbound caller ID.")] = None,
    recorded: Annotated[bool, typer.Option(help="The call will be recorded.")] = False,
    as_of: Annotated[
        str | None,
        typer.Option(help="Replay: rules in force and facts known at this date or time."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Decide one attempt; exit 0 when allowed, 1 when denied, 2 on bad input."""
    from callwarden.gate.schemas import AttemptIn, decision_out

    cli = _cli()
    replay_at = None
    if as_of is not None:
        try:
            replay_at = _when(as_of, "as_of")
        except ValidationFailed:
            try:  # a plain date: the end of that day, UTC (everything known that day)
                day = date.fromisoformat(as_of)
            except ValueError as exc:
                raise ValidationFailed(
                    f"not an ISO 8601 date or time: {as_of!r}", field="as_of"
                ) from exc
            # ... or now, for today (a replay never looks ahead; a later day is refused)
            end_of_day = datetime.fromisoformat(f"{day.isoformat()}T23:59:59+00:00")
            now = datetime.now(UTC)
            replay_at = min(end_of_day, now) if day == now.date() else end_of_day
    try:
        item = AttemptIn(
            number=number,
            at=_when(at, "at"),
            channel=channel,  # type: ignore[arg-type]
            purpose=purpose,  # type: ignore[arg-type]
            technology=technology,  # type: ignore[arg-type]
            seller=seller,
            campaign=campaign,
            subject=subject,
            debt_id=debt,
            caller_id=caller_id,
            recorded=recorded,
            as_of=replay_at,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(first["msg"], field=field) from exc
    gate = _gate()
    who = cli.operator()
    (rec,) = gate.decide_many(
        [item.to_attempt()], actor=who.name, actor_role=who.role, known_at=replay_at
    )
    out = decision_out(rec)
    if as_json:
        cli.print_json(out)
    else:
        _print(out)
    raise typer.Exit(0 if out["decision"] == "allow" else 1)


@app.command("replay")
def replay(
    decision_id: Annotated[str, typer.Argument(help="A logged decision id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Decide a logged decision again with its own facts and rule-pack revisions."""
    from callwarden.gate.schemas import decision_out

    cli = _cli()
    who = cli.operator()
    original, rec = _gate().replay_decision(decision_id, actor=who.name, actor_role=who.role)
    out = decision_out(rec)
    same = original["decision"] == out["decision"] and [r["code"] for r in original["reasons"]] == [
        r["code"] for r in out["reasons"]
    ]
    if as_json:
        cli.print_json({"original": original, "replayed": out, "same": same})
    else:
        cli.console.print(f"original: {original['decision']}; replayed: {out['decision']}")
        cli.console.print("same outcome" if same else "[red]DIFFERENT outcome[/red]")
    raise typer.Exit(0 if same else 1)


@app.command("rules")
def rules(
    on: Annotated[str | None, typer.Option(help="Only rules in force on this date.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the loaded rules (packs and company policy) with citations and dates."""
    from callwarden.rules.models import load_packs

    cli = _cli()
    ruleset = load_packs(extra_dirs=cli.settings().extra_rule_pack_dirs)
    if on is not None:
        try:
            day = date.fromisoformat(on)
        except ValueError as exc:
            raise ValidationFailed(f"not an ISO date: {on!r}", field="on") from exc
        chosen = ruleset.in_force(day)
    else:
        chosen = list(ruleset.rules)
    rows = [
        {
            "id": r.id,
            "jurisdiction": r.jurisdiction,
            "kind": r.kind.value,
            "citation": r.citation,
            "effective_from": r.effective_from.isoformat(),
            "effective_to": r.effective_to.isoformat() if r.effective_to else None,
            "status": r.status.value,
            "confidence": r.confidence.value,
        }
        for r in chosen
    ]
    if as_json:
        cli.print_json(rows)
        return
    for row in rows:
        cli.console.print(
            f"{row['id']:<52} {row['jurisdiction']:<6} {row['kind']:<22} {row['citation']}"
        )
