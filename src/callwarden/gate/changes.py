"""The change feed of cached facts: writers note which numbers changed, in their transaction."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert
from sqlalchemy.orm import Session

from callwarden.db import utcnow
from callwarden.gate.models import FactChange


def note(session: Session, kind: str, numbers: Iterable[int] | None = None) -> None:
    """Record that facts of `kind` changed for `numbers` (None: facts about no one number)."""
    now = utcnow()
    rows = (
        [{"number": None, "kind": kind, "changed_at": now}]
        if numbers is None
        else [{"number": n, "kind": kind, "changed_at": now} for n in dict.fromkeys(numbers)]
    )
    if rows:
        session.execute(insert(FactChange), rows)
