"""`callwarden consent ...`: record consents and revocations, list them, import them in bulk."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from callwarden.bulk import FormatOpt, JsonOpt
from callwarden.errors import ValidationFailed

app = typer.Typer(
    help="The consent ledger: consents (with evidence), revocations, bulk imports.",
    no_args_is_help=True,
)


T = TypeVar("T")


def _cli() -> Any:
    from callwarden import cli

    return cli


def _store(file: Path, work: Callable[[Any, Any, Any], T]) -> T:
    """`work(session, operator, cipher)` as one all-or-nothing import."""
    from callwarden import bulk
    from callwarden.security.crypto import cipher_for

    cli = _cli()
    return bulk.run_cli_import(
        file, lambda session, who: work(session, who, cipher_for(cli.settings().data_dir))
    )


def _number(value: str) -> int:
    from callwarden import bulk

    return bulk.parse_number(value)


def _when(value: str | None, field: str) -> datetime | None:
    from callwarden import bulk

    return bulk.instant(value, field, required=False)


def _at(value: str, field: str) -> datetime:
    from callwarden import bulk

    return bulk.required_instant(value, field)


@app.command("add")
def add(
    number: Annotated[str, typer.Argument(help="The consumer's number, any common format")],
    kind: Annotated[str, typer.Option(help="pec or pewc")],
    seller: Annotated[
        list[str], typer.Option("--seller", help="A seller named (repeat; * = any, pec only)")
    ],
    channel: Annotated[list[str], typer.Option("--channel", help="voice, sms, email (repeat)")],
    purpose: Annotated[
        list[str],
        typer.Option("--purpose", help="telemarketing, informational, debt_collection (repeat)"),
    ],
    given_at: Annotated[str, typer.Option(help="When consent was given (ISO, with zone)")],
    source: Annotated[str, typer.Option(help="web_form, paper, ivr, agent, sms, api...")],
    language_file: Annotated[
        Path | None, typer.Option(help="File with the consent language shown (UTF-8)")
    ] = None,
    language_sha256: Annotated[
        str | None, typer.Option(help="SHA-256 of the consent language (instead of the file)")
    ] = None,
    signature: Annotated[str | None, typer.Option(help="E-SIGN signature reference")] = None,
    expires_at: Annotated[str | None, typer.Option(help="When it lapses (ISO, with zone)")] = None,
    certificate_id: Annotated[str | None, typer.Option(help="Consent certificate id")] = None,
    ip: Annotated[str | None, typer.Option(help="IP address the consent came from")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a consent; pewc needs named sellers, its language and a signature reference."""
    from callwarden.consent import service
    from callwarden.db import transaction
    from callwarden.security.crypto import cipher_for

    cli = _cli()
    language_text = None
    if language_file is not None:
        try:
            raw = language_file.read_bytes()
        except OSError as exc:
            raise ValidationFailed(
                f"{language_file}: {exc.strerror or exc}", field="language_file"
            ) from None
        try:
            language_text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed(
                f"{language_file}: not UTF-8 text", field="language_file"
            ) from None
        if language_sha256 and language_sha256.lower() != hashlib.sha256(raw).hexdigest():
            raise ValidationFailed(
                "--language-sha256 does not match --language-file", field="language_sha256"
            )
    _, factory = cli.open_db(upgrade_if_empty=True)
    fc = cipher_for(cli.settings().data_dir)
    who = cli.operator()
    with transaction(factory) as session:
        record = service.add_consent(
            session=session,
            cipher=fc,
            number=_number(number),
            kind=kind,
            sellers=seller,
            channels=channel,
            purposes=purpose,
            given_at=_at(given_at, "given_at"),
            expires_at=_when(expires_at, "expires_at"),
            source=source,
            language_text=language_text,
            language_sha256=language_sha256,
            certificate_id=certificate_id,
            ip=ip,
            signature=signature,
            actor=who.name,
            actor_role=who.role.value,
        )
        view = service.consent_view(record, cipher=fc, include_evidence=False)
    if as_json:
        cli.print_json(view)
        return
    cli.console.print(
        f"recorded consent #{view['id']} ({view['kind']}) for {view['number']}: "
        f"sellers {', '.join(view['sellers'])}; {', '.join(view['channels'])}; "
        f"{', '.join(view['purposes'])}",
        soft_wrap=True,
    )


@app.command("revoke")
def revoke(
    number: Annotated[str, typer.Argument(help="The consumer's number, any common format")],
    channel: Annotated[
        str, typer.Option(help="sms, ivr, agent, email, web, letter, chat, voicemail, other")
    ],
    seller: Annotated[str, typer.Option(help="Business unit revoked from; * = every unit")] = "*",
    scope: Annotated[
        str, typer.Option(help="telemarketing, informational, debt_collection or all")
    ] = "all",
    message_channel: Annotated[str, typer.Option(help="voice, sms, email or all")] = "all",
    text: Annotated[
        str | None, typer.Option(help="The consumer's reply, classified (e.g. STOP)")
    ] = None,
    method: Annotated[
        str | None, typer.Option(help="keypress, designated, other... (default: by channel)")
    ] = None,
    received_at: Annotated[
        str | None, typer.Option(help="When it was received (ISO, with zone); default now")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a revocation (enforced at once); a telemarketing scope also adds an internal DNC."""
    from callwarden.consent import service
    from callwarden.db import transaction, utcnow
    from callwarden.security.crypto import cipher_for

    cli = _cli()
    when = _when(received_at, "received_at") or utcnow()
    _, factory = cli.open_db(upgrade_if_empty=True)
    fc = cipher_for(cli.settings().data_dir)
    who = cli.operator()
    with transaction(factory) as session:
        outcome = service.record_revocation(
            session=session,
            cipher=fc,
            number=_number(number),
            received_at=when,
            channel=channel,
            seller=seller,
            scope=scope,
            message_channel=message_channel,
            text=text,
            method=method,
            actor=who.name,
            actor_role=who.role.value,
        )
        view = service.outcome_view(outcome, cipher=fc)
    if as_json:
        cli.print_json(view)
        return
    if not outcome.revoked:
        cli.console.print("not a revocation: the reply revokes nothing, so nothing was recorded")
        return
    rev = view["revocation"]
    line = (
        f"recorded revocation #{rev['id']} for {rev['number']}: seller {rev['seller']}, "
        f"scope {rev['scope']}, {rev['message_channel']} (method {rev['method']})"
    )
    if view["dnc_entry_id"] is not None:
        line += f"; internal DNC entry #{view['dnc_entry_id']}"
    cli.console.print(line, soft_wrap=True)
    if outcome.needs_review:
        cli.console.print("[yellow]treated as revoked; flagged for review (uncertain reply)[/]")


@app.command("list")
def list_(
    number: Annotated[str, typer.Argument(help="The consumer's number, any common format")],
    as_json: JsonOpt = False,
) -> None:
    """A number's consents (with evidence) and revocations, newest first; the read is audited."""
    from rich.table import Table

    from callwarden import phone
    from callwarden.audit import service as audit
    from callwarden.consent import service
    from callwarden.db import transaction
    from callwarden.security.crypto import cipher_for

    cli = _cli()
    digits = _number(number)
    _, factory = cli.open_db(upgrade_if_empty=True)
    fc = cipher_for(cli.settings().data_dir)
    who = cli.operator()
    with transaction(factory) as session:
        consents = [
            service.consent_view(r, cipher=fc, include_evidence=True)
            for r in service.consents_for(session=session, number=digits)
        ]
        revocations = [
            service.revocation_view(r, cipher=fc, include_text=True)
            for r in service.revocations_for(session=session, number=digits)
        ]
        audit.record(
            session=session,
            type="consent.read",
            actor=who.name,
            actor_role=who.role.value,
            subject=phone.parse_e164_int(digits).e164,
            body={"consents": len(consents), "revocations": len(revocations), "via": "cli"},
        )
    if as_json:
        cli.print_json({"consents": consents, "revocations": revocations})
        return
    table = Table("id", "kind", "sellers", "channels", "purposes", "given", "expires", "source")
    for c in consents:
        table.add_row(
            str(c["id"]),
            c["kind"],
            ", ".join(c["sellers"]),
            ", ".join(c["channels"]),
            ", ".join(c["purposes"]),
            f"{c['given_at']:%Y-%m-%d %H:%M}",
            f"{c['expires_at']:%Y-%m-%d}" if c["expires_at"] else "",
            c["source"],
        )
    cli.console.print(table if consents else "no consents")
    table = Table("id", "received", "channel", "method", "seller", "scope", "messages", "review")
    for r in revocations:
        table.add_row(
            str(r["id"]),
            f"{r['received_at']:%Y-%m-%d %H:%M}",
            r["channel"],
            r["method"],
            r["seller"],
            r["scope"],
            r["message_channel"],
            "yes" if r["needs_review"] else "",
        )
    cli.console.print(table if revocations else "no revocations")


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="CSV (header = field names) or JSON-lines; - = stdin")
    ],
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import consents: every row is checked first; any bad row and nothing is imported."""
    from callwarden import bulk
    from callwarden.consent import service

    cli = _cli()
    rows = bulk.read_checked(file, fmt, service.parse_consent_rows)
    ids = _store(
        file,
        lambda session, who, fc: [
            r.id
            for r in service.import_consents(
                session=session, cipher=fc, rows=rows, actor=who.name, actor_role=who.role.value
            )
        ],
    )
    if as_json:
        cli.print_json({"imported": len(ids), "ids": ids})
    else:
        cli.console.print(f"imported {len(ids)} consents from {file}")


@app.command("revocations-import")
def revocations_import(
    file: Annotated[
        Path, typer.Argument(help="CSV (header = field names) or JSON-lines; - = stdin")
    ],
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import revocations: every row is checked first; any bad row and nothing is imported."""
    from callwarden import bulk
    from callwarden.consent import service

    cli = _cli()
    rows = bulk.read_checked(file, fmt, service.parse_revocation_rows)

    def work(session: Any, who: Any, fc: Any) -> tuple[list[int], list[int], list[int | None]]:
        outcomes = service.import_revocations(
            session=session, cipher=fc, rows=rows, actor=who.name, actor_role=who.role.value
        )
        ids = [o.revocation.id for o in outcomes if o.revocation is not None]
        review = [o.revocation.id for o in outcomes if o.revocation is not None and o.needs_review]
        skipped = [r.line for r, o in zip(rows, outcomes, strict=True) if not o.revoked]
        return ids, review, skipped

    ids, review, skipped = _store(file, work)
    if as_json:
        cli.print_json(
            {"imported": len(ids), "ids": ids, "not_revocations": skipped, "needs_review": review}
        )
        return
    cli.console.print(f"imported {len(ids)} revocations from {file}")
    if skipped:
        cli.console.print(
            f"not revocations (replies that revoke nothing, not recorded): lines "
            f"{', '.join(map(str, skipped))}",
            soft_wrap=True,
        )
    if review:
        cli.console.print(f"flagged for review: {', '.join(map(str, review))}", soft_wrap=True)
