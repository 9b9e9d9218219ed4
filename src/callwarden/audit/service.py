"""The one audit writer: every domain records evidence through `record`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from callwarden.audit.models import AuditEvent
from callwarden.db import utcnow


def _body(body: Mapping[str, Any] | None) -> str:
    return json.dumps(body or {}, sort_keys=True, separators=(",", ":"), default=str)


def record(
    *,
    session: Session,
    type: str,
    actor: str,
    actor_role: str,
    subject: str | None = None,
    body: Mapping[str, Any] | None = None,
) -> None:
    """Append one event in the caller's transaction (it commits or rolls back with the change)."""
    session.add(
        AuditEvent(
            occurred_at=utcnow(),
            type=type,
            actor=actor,
            actor_role=actor_role,
            subject=subject,
            body=_body(body),
        )
    )


def record_many(
    *,
    session: Session,
    type: str,
    actor: str,
    actor_role: str,
    subjects: Iterable[str],
    body: Mapping[str, Any] | None = None,
) -> None:
    """Append one event per subject in a single statement (bulk reads, batch lookups)."""
    now = utcnow()
    text = _body(body)
    rows = [
        {
            "occurred_at": now,
            "type": type,
            "actor": actor,
            "actor_role": actor_role,
            "subject": s,
            "body": text,
        }
        for s in subjects
    ]
    if rows:
        session.execute(insert(AuditEvent), rows)


def events(*, session: Session, type: str | None = None, limit: int = 100) -> list[AuditEvent]:
    """Recent events, newest first, optionally of one type."""
    q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if type is not None:
        q = q.where(AuditEvent.type == type)
    return list(session.scalars(q))
