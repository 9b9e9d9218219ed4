"""Schema management with Alembic, driven from code (no alembic.ini needed).

Checking that a schema is current needs no Alembic: every command and the readiness check
do it, and loading Alembic and the migration scripts cost a command a tenth of a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions; tests/test_migrations.py checks that it is
# Alembic's head, so a new migration cannot ship without it.
HEAD = "0005"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (default: the newest)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema down to `revision` (used by migration tests)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has no schema."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(found) > 1:  # callwarden's migrations form one line: never two heads
        raise RuntimeError(f"the database is at several revisions at once: {sorted(found)}")
    return found[0] if found else None


def head_revision() -> str:
    """The newest revision shipped with this version of callwarden."""
    return HEAD


def scripts_head() -> str | None:
    """The head revision as Alembic reads it from the migration scripts (loads them all)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def is_empty(engine: Engine) -> bool:
    """True when the database holds no tables at all."""
    return not inspect(engine).get_table_names()
