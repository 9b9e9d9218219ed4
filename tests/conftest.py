"""Shared fixtures: a real database (SQLite file or PostgreSQL), settings, app, API keys.

CALLWARDEN_TEST_DATABASE_URL selects PostgreSQL; empty means an SQLite file per test.
On PostgreSQL each test session gets its own schema, and tables are emptied between tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from callwarden import migrate
from callwarden.config import Settings
from callwarden.db import Base, make_engine, make_session_factory
from callwarden.security import service as security
from callwarden.security.roles import Role
from callwarden.security.service import Principal

PG_URL = os.environ.get("CALLWARDEN_TEST_DATABASE_URL") or ""
IS_PG = PG_URL.startswith("postgresql")


@pytest.fixture(scope="session")
def _pg_schema() -> Iterator[str | None]:
    if not IS_PG:
        yield None
        return
    schema = f"cwtest_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = _schema_url(schema)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield schema
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def _schema_url(schema: str) -> str:
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    if IS_PG:
        return None
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def database_url(
    tmp_path: Path, _pg_schema: str | None, _sqlite_template: Path | None
) -> Iterator[str]:
    """A migrated, empty database for this test."""
    if _pg_schema is not None:
        url = _schema_url(_pg_schema)
        engine = create_engine(url)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        yield url
        return
    assert _sqlite_template is not None
    path = tmp_path / "callwarden.db"
    shutil.copy(_sqlite_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for an isolated data directory and database."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """An engine on the test database."""
    eng = make_engine(settings.resolved_database_url)
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    """Process-wide caches keyed by database URL (PostgreSQL tests share one) start empty."""
    from callwarden.calls import service as calls

    calls.wait_for_rate_refreshes()
    calls._live_rates.clear()
    yield
    calls.wait_for_rate_refreshes()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    """The session factory the code under test uses."""
    return make_session_factory(engine)


@pytest.fixture
def app(settings: Settings) -> Any:
    """The FastAPI application on the test database."""
    from callwarden.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """An HTTP client that runs the app's startup and shutdown."""
    with TestClient(app) as c:
        yield c


@dataclass
class Keys:
    """One API key per role, created on the test database."""

    tokens: dict[Role, str]

    def headers(self, role: Role) -> dict[str, str]:
        """Authorization header for a role's key."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def keys(session_factory: sessionmaker[Session]) -> Keys:
    """A key for every role."""
    tokens: dict[Role, str] = {}
    with session_factory() as session:
        for role in Role:
            _, token = security.create_key(
                session=session, name=f"test-{role.value}", role=role, created_by="tests"
            )
            tokens[role] = token
        session.commit()
    return Keys(tokens)


@pytest.fixture
def compliance() -> Principal:
    """A compliance officer principal for service-level calls."""
    return Principal(name="officer", role=Role.COMPLIANCE)


@pytest.fixture
def operator() -> Principal:
    """An admin principal for imports in service-level tests."""
    return Principal(name="tests", role=Role.ADMIN)


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for running the `callwarden` command in a subprocess."""
    env = dict(os.environ)
    env["CALLWARDEN_DATA_DIR"] = str(settings.data_dir)
    env["CALLWARDEN_DATABASE_URL"] = settings.resolved_database_url
    env.pop("CALLWARDEN_SETTINGS_FILE", None)
    return env


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `callwarden ARGS...` as a real process; returns the completed process."""

    def run(
        *args: str, check: bool = False, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "callwarden", *args],
            env=cli_env,
            capture_output=True,
            text=True,
            input=input,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run
