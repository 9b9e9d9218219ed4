"""The `callwarden` command: serve, database, keys, Do-Not-Call lists and scrubbing."""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from callwarden import __version__
from callwarden.config import Settings, get_settings
from callwarden.errors import CallwardenError

app = typer.Typer(
    name="callwarden",
    help="Contact-center compliance: Do-Not-Call registries, scrubbing, access control.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Create and upgrade the database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (shown once, stored only as a hash).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

console = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def operator() -> Any:
    """The local operator running the CLI, as recorded in the audit trail."""
    from callwarden.security.roles import Role
    from callwarden.security.service import Principal

    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = str(os.getuid())
    return Principal(name=f"cli:{user}", role=Role.ADMIN)


def settings() -> Settings:
    """Settings from the environment."""
    return get_settings()


def open_db(*, upgrade_if_empty: bool = False) -> tuple[Any, Any]:
    """Engine and session factory; refuses to run on a schema that is missing or outdated."""
    from callwarden import migrate
    from callwarden.db import make_engine, make_session_factory

    s = settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(s.resolved_database_url)
    if migrate.is_empty(engine):
        if not upgrade_if_empty:
            raise CallwardenError("the database has no schema yet: run `callwarden db upgrade`")
        migrate.upgrade(engine)
    elif migrate.current_revision(engine) != migrate.head_revision():
        raise CallwardenError(
            "the database schema is older than this version of callwarden: "
            "run `callwarden db upgrade`"
        )
    return engine, make_session_factory(engine)


def main() -> None:
    """Entry point: runs the Typer app and turns errors into messages and exit codes."""
    from callwarden.logging import configure

    # the command line speaks through its output; only warnings reach the log unless asked
    configure(os.environ.get("CALLWARDEN_LOG_LEVEL", "warning"))
    try:
        # Without standalone mode click returns (not raises) the code of typer.Exit.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except CallwardenError as exc:
        field = f" ({exc.field})" if exc.field else ""
        err.print(f"[red]error{field}:[/red] {exc.message}")
        sys.exit(2)
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.exceptions.TyperException as exc:  # usage errors: unknown option, missing argument
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"[red]error:[/red] {exc}")
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("CALLWARDEN_DEBUG"):
            raise
        err.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc}")
        sys.exit(1)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Run the HTTP service (creates the schema on an empty database)."""
    import uvicorn

    from callwarden import serve as serving
    from callwarden.logging import configure

    s = settings()
    configure(s.log_level)
    _, factory = open_db(upgrade_if_empty=True)
    _bootstrap_admin_key(factory)
    h, p = host or s.host, port or s.port
    err.print(
        f"callwarden {__version__} listening on http://{h}:{p}\n"
        f"  API docs:  http://{h}:{p}/docs\n"
        f"  readiness: http://{h}:{p}/readyz\n"
        f"  data:      {s.data_dir.resolve()}\n"
        f"  database:  {s.resolved_database_url.split('@')[-1]}",
        soft_wrap=True,
    )
    config = uvicorn.Config(
        "callwarden.app:create_app",
        factory=True,
        host=h,
        port=p,
        workers=workers,
        log_level=s.log_level,
        access_log=False,
    )
    try:
        status = serving.run(config, workers)
    except OSError as exc:  # the port is taken, or the address is not this host's
        err.print(f"[red]error:[/red] cannot listen on {h}:{p}: {exc.strerror or exc}")
        raise typer.Exit(1) from None
    if status:
        raise typer.Exit(status)


def _bootstrap_admin_key(factory: Any) -> None:
    """On a database with no usable key, create one admin key and show it once."""
    from sqlalchemy import func, select

    from callwarden.audit import service as audit
    from callwarden.security import service
    from callwarden.security.models import ApiKey
    from callwarden.security.roles import Role

    with factory() as session:
        active = session.scalar(
            select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
        )
        if active:
            return
        name = f"bootstrap-admin-{datetime.now(UTC):%Y%m%d%H%M%S}"
        key, token = service.create_key(
            session=session, name=name, role=Role.ADMIN, created_by="serve (first start)"
        )
        audit.record(
            session=session,
            type="key.created",
            actor="system:serve",
            actor_role="system",
            subject=key.name,
            body={"role": key.role, "key_id": key.key_id, "bootstrap": True},
        )
        session.commit()
    err.print(
        f"[bold yellow]No API key existed, so an admin key was created ({name}). "
        f"It is shown this once:[/bold yellow]\n{token}\n"
        "Create per-person keys with `callwarden keys create` and revoke this one.",
        soft_wrap=True,
    )


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or upgrade the schema to the newest revision."""
    from callwarden import migrate
    from callwarden.db import make_engine

    s = settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(s.resolved_database_url)
    migrate.upgrade(engine, revision)
    console.print(f"schema at revision {migrate.current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision and the newest one this version knows."""
    from callwarden import migrate
    from callwarden.db import make_engine

    engine = make_engine(settings().resolved_database_url)
    console.print(f"current: {migrate.current_revision(engine)}  head: {migrate.head_revision()}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A unique name (a person or a system)")],
    role: Annotated[
        str, typer.Option(help="admin, compliance, supervisor, agent, dialer, auditor")
    ],
) -> None:
    """Create an API key; the key is printed once and only its hash is stored."""
    from callwarden.audit import service as audit
    from callwarden.security import service

    _, factory = open_db(upgrade_if_empty=True)
    who = operator()
    with factory() as session:
        key, token = service.create_key(
            session=session, name=name, role=service.parse_role(role), created_by=who.name
        )
        audit.record(
            session=session,
            type="key.created",
            actor=who.name,
            actor_role="operator",
            subject=key.name,
            body={"role": key.role, "key_id": key.key_id},
        )
        session.commit()
    err.print(f"created key [bold]{name}[/bold] with role {role}; it will not be shown again:")
    print(token)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets)."""
    from callwarden.security import service

    _, factory = open_db()
    table = Table("key id", "name", "role", "created", "by", "revoked")
    with factory() as session:
        for k in service.list_keys(session=session):
            table.add_row(
                k.key_id,
                k.name,
                k.role,
                k.created_at.isoformat(timespec="seconds"),
                k.created_by,
                k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
            )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(name_or_id: Annotated[str, typer.Argument(help="Key name or key id")]) -> None:
    """Revoke a key: it fails from the next request on."""
    from callwarden.audit import service as audit
    from callwarden.security import service

    _, factory = open_db()
    who = operator()
    with factory() as session:
        key = service.revoke_key(session=session, name_or_id=name_or_id, revoked_by=who.name)
        audit.record(
            session=session,
            type="key.revoked",
            actor=who.name,
            actor_role="operator",
            subject=key.name,
            body={"key_id": key.key_id},
        )
        session.commit()
    console.print(f"revoked {key.name} ({key.key_id})")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.astimezone(UTC).isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def print_json(obj: Any) -> None:
    """Print JSON to stdout (machine-readable output)."""
    print(json.dumps(_jsonable(obj), indent=2))


def timed() -> Callable[[], float]:
    """A stopwatch."""
    t0 = time.perf_counter()
    return lambda: time.perf_counter() - t0


def _register() -> None:
    from callwarden.audit import cli as audit_cli
    from callwarden.calls import cli as calls_cli
    from callwarden.consent import cli as consent_cli
    from callwarden.dnc import cli as dnc_cli
    from callwarden.ebr import cli as ebr_cli
    from callwarden.emergencies import cli as emergencies_cli
    from callwarden.gate import cli as gate_cli
    from callwarden.numbers import cli as numbers_cli
    from callwarden.rnd import cli as rnd_cli

    app.add_typer(dnc_cli.app, name="dnc")
    app.add_typer(audit_cli.app, name="audit")
    app.command("scrub")(dnc_cli.scrub)
    app.add_typer(consent_cli.app, name="consent")
    app.add_typer(ebr_cli.app, name="ebr")
    app.add_typer(calls_cli.app, name="calls")
    app.add_typer(numbers_cli.app, name="numbers")
    app.add_typer(rnd_cli.app, name="rnd")
    app.add_typer(emergencies_cli.app, name="emergencies")
    app.add_typer(emergencies_cli.registrations_app, name="registrations")
    app.add_typer(gate_cli.app, name="gate")
    app.command("check")(gate_cli.check)


_register()
