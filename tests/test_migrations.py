"""Schema migrations: the models match the migrations, and 0005 fills in history from the log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

import callwarden.models  # noqa: F401  (every table on Base.metadata)
from callwarden import migrate
from callwarden.db import Base, make_engine, make_session_factory, transaction
from callwarden.ebr import service as ebr
from callwarden.emergencies import service as emergencies

from .conftest import IS_PG, PG_URL, _schema_url

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def blank(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with no schema at all (its own PostgreSQL schema)."""
    if not IS_PG:
        engine = make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"cwmig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(_schema_url(schema))
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_the_models_are_exactly_what_the_migrations_build(blank: Engine) -> None:
    """A model changed without a migration (or the reverse) fails here, not in production."""
    migrate.upgrade(blank)
    with blank.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_the_schema_check_reads_what_alembic_writes(blank: Engine) -> None:
    """`current_revision` (plain SQL) and `HEAD` (a constant, so a command need not load
    Alembic) agree with Alembic at every step; a new migration fails here until HEAD names it."""
    assert migrate.scripts_head() == migrate.HEAD == migrate.head_revision()
    assert migrate.current_revision(blank) is None
    migrate.upgrade(blank, "0004")
    with blank.connect() as conn:
        alembic_says = MigrationContext.configure(conn).get_current_revision()
    assert migrate.current_revision(blank) == alembic_says == "0004"
    migrate.upgrade(blank)
    assert migrate.current_revision(blank) == migrate.HEAD


def test_an_outdated_schema_is_refused_by_commands_and_not_ready(engine, client, run_cli) -> None:  # type: ignore[no-untyped-def]
    """A database one migration behind: every command refuses it with the way out, and the
    service's readiness check says why it is not ready."""
    migrate.downgrade(engine, "0004")
    try:
        out = run_cli("dnc", "status")
        assert out.returncode != 0
        assert "older than this version of callwarden" in out.stdout + out.stderr
        assert "callwarden db upgrade" in out.stdout + out.stderr
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["schema"] == "outdated"
    finally:
        migrate.upgrade(engine)
    assert run_cli("dnc", "status").returncode == 0
    assert client.get("/readyz").json()["checks"]["schema"] == "ok"


def _event(conn, type_: str, at: datetime, body: dict, actor: str = "ops") -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        text(
            "INSERT INTO audit_events (occurred_at, type, actor, actor_role, subject, body)"
            " VALUES (:at, :type, :actor, 'compliance', 'x', :body)"
        ),
        {"at": at, "type": type_, "actor": actor, "body": json.dumps(body)},
    )


def test_0005_fills_in_ends_from_the_audit_trail_and_round_trips(blank: Engine) -> None:
    """EBR ends and emergency end changes made before 0005 are dated from their audit events."""
    migrate.upgrade(blank, "0004")
    with blank.begin() as conn:
        ins = (
            "INSERT INTO ebr_events (number, seller, kind, occurred_on, ended_on, recorded_at,"
            " recorded_by) VALUES (:n, 'acme', 'purchase', :on, :end, :rec, 'crm')"
        )
        conn.execute(text(ins), {"n": 1, "on": date(2026, 1, 5), "end": date(2026, 2, 1), "rec": T})
        conn.execute(text(ins), {"n": 2, "on": date(2026, 1, 5), "end": date(2026, 1, 9), "rec": T})
        conn.execute(text(ins), {"n": 3, "on": date(2026, 1, 5), "end": None, "rec": T})
        ids = dict(conn.execute(text("SELECT number, id FROM ebr_events")).all())
        _event(conn, "ebr.ended", T + timedelta(days=3), {"ebr_id": ids[1], "ended_on": "x"})
        conn.execute(
            text(
                "INSERT INTO emergencies (jurisdiction, starts_at, ends_at, description,"
                " recorded_at, recorded_by) VALUES ('US-LA', :s, :e, 'storm', :r, 'ops')"
            ),
            {"s": T, "e": T + timedelta(days=10), "r": T},
        )
        (eid,) = conn.execute(text("SELECT id FROM emergencies")).one()
        for n, (end, previous) in enumerate([(20, 30), (10, 20)], start=1):
            _event(
                conn,
                "emergencies.ended",
                T + timedelta(days=n),
                {
                    "id": eid,
                    "ends_at": (T + timedelta(days=end)).isoformat(),
                    "previous_ends_at": (T + timedelta(days=previous)).isoformat(),
                },
                actor=f"officer-{n}",
            )
    migrate.upgrade(blank)
    factory = make_session_factory(blank)
    with factory() as s:
        # ended by ebr.ended 3 days later; ended with the event itself; never ended
        assert [e.ended_on for e in ebr.load_ebr(s, [1], known_at=T + timedelta(days=2))[1]] == [
            None
        ]
        assert ebr.load_ebr(s, [1], known_at=T + timedelta(days=4))[1][0].ended_on == date(
            2026, 2, 1
        )
        assert ebr.load_ebr(s, [2], known_at=T)[2][0].ended_on == date(2026, 1, 9)
        assert ebr.load_ebr(s, [3], known_at=T)[3][0].ended_on is None

        def end_known(at: datetime) -> datetime | None:
            (fact,) = emergencies.load_emergencies(s, at=None, known_at=at)
            return fact.ends_at

        assert end_known(T + timedelta(hours=1)) == T + timedelta(days=30)
        assert end_known(T + timedelta(days=1, hours=1)) == T + timedelta(days=20)
        assert end_known(T + timedelta(days=3)) == T + timedelta(days=10)
        who = s.execute(text("SELECT recorded_by FROM emergency_ends ORDER BY id")).scalars()
        assert list(who) == ["officer-1", "officer-2"]
    # down and up again: the history is rebuilt from the same events
    migrate.downgrade(blank, "0004")
    assert migrate.current_revision(blank) == "0004"
    migrate.upgrade(blank)
    with transaction(factory) as s:
        n = s.execute(text("SELECT count(*) FROM emergency_ends")).scalar_one()
    assert n == 2
