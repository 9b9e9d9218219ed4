"""`callwarden audit ...`: verify the log, make a checkpoint, show the public key."""

from __future__ import annotations

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
