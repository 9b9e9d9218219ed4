"""`callwarden audit ...`: verify the log, make a checkpoint, show the public key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


def _cli() -> Any:
    from callwarden import cli

    return cli


@app.command("checkpoint")
def make_checkpoint() -> None:
    """Sequence pending events into the tree and sign a checkpoint now."""
    from callwarden.audit import log

    cli = _cli()
    _, factory = cli.open_db(upgrade_if_empty=True)
    signer = log.signer_for(cli.settings().data_dir)
    with factory() as session:
        cp = log.checkpoint(session, signer)
        session.commit()
    cli.console.print(f"checkpoint: size {cp.size}, root {cp.root.hex()}")


@app.command("public-key")
def public_key() -> None:
    """Print the verifier key (give it to auditors; it checks every checkpoint)."""
    from callwarden.audit import log

    print(log.signer_for(_cli().settings().data_dir).public_key_text())


@app.command("verify")
def verify(
    vkey: Annotated[
        str | None, typer.Option(help="Verifier key to trust (default: this install's own)")
    ] = None,
) -> None:
    """Check every event against the signed checkpoints; exit 1 at the first change found."""
    from callwarden.audit import log
    from callwarden.audit.checkpoint import Verifier

    cli = _cli()
    _, factory = cli.open_db()
    verifier = Verifier(vkey or log.signer_for(cli.settings().data_dir).public_key_text())
    with factory() as session:
        report = log.verify_log(session, verifier)
    if report.ok:
        cli.console.print(
            f"[green]OK[/green]: {report.events:,} events, "
            f"{report.checkpoints} checkpoints verified"
            + (f"; {report.pending:,} events not yet sequenced" if report.pending else "")
        )
        return
    for problem in report.problems:
        cli.err.print(f"[red]TAMPERED[/red]: {problem}")
    raise typer.Exit(1)


def _when(value: str | None, name: str) -> Any:
    from datetime import UTC, datetime

    from callwarden.errors import ValidationFailed

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"--{name} must be an ISO date or date-time", field=name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="The bundle to write (.zip)")],
    since: Annotated[str | None, typer.Option("--from", help="First moment (ISO, UTC)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Moment after the last (ISO)")] = None,
) -> None:
    """Write an evidence bundle of the events in [--from, --to) that verifies offline."""
    from callwarden.audit import bundle, log

    cli = _cli()
    _, factory = cli.open_db()
    vkey = log.signer_for(cli.settings().data_dir).public_key_text()
    with factory() as session:
        manifest = bundle.export_bundle(
            session, out, since=_when(since, "from"), until=_when(until, "to"), vkey=vkey
        )
        from callwarden.audit import service as audit

        who = cli.operator()
        audit.record(
            session=session,
            type="audit.exported",
            actor=who.name,
            actor_role="operator",
            subject=str(out.name),
            body={k: manifest[k] for k in ("tree_size", "from_seq", "to_seq", "events")},
        )
        session.commit()
    cli.console.print(
        f"wrote {out}: {manifest['events']:,} events (positions {manifest['from_seq']}"
        f"..{manifest['to_seq']}) of a log of {manifest['tree_size']:,}"
    )


@app.command("verify-bundle")
def verify_bundle(
    path: Annotated[Path, typer.Argument(help="A bundle from `callwarden audit export`")],
    vkey: Annotated[
        str | None, typer.Option(help="The log's verifier key, as received out of band")
    ] = None,
) -> None:
    """Verify a bundle with no database and no network; exit 1 if anything is wrong."""
    from callwarden.audit import bundle

    cli = _cli()
    report = bundle.verify_bundle(path, vkey=vkey)
    for w in report.warnings:
        cli.err.print(f"[yellow]warning[/yellow]: {w}")
    if report.ok:
        cli.console.print(
            f"[green]OK[/green]: {report.events:,} events verified against {report.checkpoints} "
            f"signed checkpoints (tree size {report.tree_size:,})"
        )
        return
    for p in report.problems:
        cli.err.print(f"[red]FAILED[/red]: {p}")
    raise typer.Exit(1)
