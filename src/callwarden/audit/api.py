"""HTTP routes of the audit trail: query events, receipts (inclusion proofs), checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from callwarden.audit import log, merkle
from callwarden.audit.models import AuditEvent
from callwarden.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from callwarden.security.api import get_session, require
from callwarden.security.roles import ROLE_PERMISSIONS, Permission
from callwarden.security.service import Principal

router = APIRouter(prefix="/v1/audit", tags=["audit"])


def _event_out(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "seq": e.seq,
        "occurred_at": e.occurred_at,
        "type": e.type,
        "actor": e.actor,
        "actor_role": e.actor_role,
        "subject": e.subject,
        "body": e.body,
        "leaf_hash": e.leaf_hash.hex() if e.leaf_hash else None,
    }


@router.get("/events")
def list_events(
    principal: Annotated[Principal, Depends(require(Permission.AUDIT_READ))],
    session: Annotated[Session, Depends(get_session)],
    type: str | None = None,
    actor: str | None = None,
    subject: str | None = None,
    since: datetime | None = Query(default=None, alias="from"),
    until: datetime | None = Query(default=None, alias="to"),
    after_id: Annotated[int, Query(ge=0, description="Page: events with a larger id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Events filtered by type, actor, subject and time, oldest first, paged by id."""
    q = select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id).limit(limit)
    if type:
        q = q.where(AuditEvent.type == type)
    if actor:
        q = q.where(AuditEvent.actor == actor)
    if subject:
        q = q.where(AuditEvent.subject == subject)
    if since:
        q = q.where(AuditEvent.occurred_at >= since)
    if until:
        q = q.where(AuditEvent.occurred_at < until)
    events = list(session.scalars(q))
    return {
        "events": [_event_out(e) for e in events],
        "next_after_id": events[-1].id if len(events) == limit else None,
    }


@router.get("/events/{event_id}/proof")
def event_proof(
    event_id: int,
    principal: Annotated[Principal, Depends(require(Permission.AUDIT_RECEIPT))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """A receipt: the event's leaf and its inclusion proof against the latest checkpoint."""
    event = session.get(AuditEvent, event_id)
    if event is None:
        raise NotFound(f"no audit event {event_id}")
    if (
        principal.role not in ROLE_PERMISSIONS[Permission.AUDIT_READ]
        and event.actor != principal.name
    ):
        # others may fetch receipts only for events they caused themselves
        raise PermissionDenied("a receipt is only given for your own events")
    try:
        return log.receipt(session, event_id)
    except log.PendingError as exc:
        raise Conflict(str(exc)) from None


@router.get("/consistency")
def consistency(
    principal: Annotated[Principal, Depends(require(Permission.AUDIT_RECEIPT))],
    session: Annotated[Session, Depends(get_session)],
    old_size: Annotated[int, Query(ge=0, alias="from")],
    new_size: Annotated[int, Query(ge=0, alias="to")],
) -> dict[str, Any]:
    """A consistency proof: the log of size `from` is a prefix of the log of size `to`."""
    if old_size > new_size:
        raise ValidationFailed("`from` must not be larger than `to`", field="from")
    available = log.size(session)
    if new_size > available:
        raise Conflict(f"the log has {available} sequenced events, fewer than {new_size}")
    nodes = log.prefetched(session, lambda n: merkle.consistency_proof(old_size, new_size, n))
    return {
        "from": old_size,
        "to": new_size,
        "proof": [p.hex() for p in merkle.consistency_proof(old_size, new_size, nodes)],
    }


@router.get("/checkpoints/latest")
def latest_checkpoint(
    principal: Annotated[Principal, Depends(require(Permission.AUDIT_RECEIPT))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """The latest signed checkpoint (tree size, root hash, time, signed note)."""
    cp = log.latest_checkpoint(session)
    if cp is None:
        raise NotFound("no checkpoint has been made yet")
    return {"size": cp.size, "root": cp.root.hex(), "made_at": cp.made_at, "note": cp.note}


@router.post("/checkpoints", status_code=status.HTTP_201_CREATED)
def make_checkpoint(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.AUDIT_CHECKPOINT))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Sequence pending events and sign a checkpoint now."""
    request.app.state.audit_writer.flush()
    cp = log.checkpoint(session, log.signer_for(request.app.state.settings.data_dir))
    return {"size": cp.size, "root": cp.root.hex(), "made_at": cp.made_at, "note": cp.note}


@router.get("/public-key")
def public_key(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.AUDIT_RECEIPT))],
) -> dict[str, str]:
    """The verifier key that checks every checkpoint (signed-note vkey format)."""
    return {"vkey": log.signer_for(request.app.state.settings.data_dir).public_key_text()}
