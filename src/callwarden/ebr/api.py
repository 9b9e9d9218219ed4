"""HTTP routes of the ebr domain: qualifying events, their end, and bulk imports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from callwarden import bulk, bulk_api, phone
from callwarden.consent.api import route
from callwarden.ebr import service
from callwarden.security.api import get_session, require
from callwarden.security.roles import Permission
from callwarden.security.service import Principal

router = APIRouter(prefix="/v1", tags=["ebr"])


class EbrIn(BaseModel):
    """A qualifying event between a consumer (by number) and a seller."""

    number: str = Field(min_length=1, max_length=64)
    seller: str = Field(min_length=1, max_length=200)
    kind: str = Field(description="purchase, transaction, inquiry or application")
    occurred_on: date
    ended_on: date | None = None
    reference: str | None = Field(default=None, max_length=200)


class EbrOut(BaseModel):
    """An EBR event, with the first day it no longer supports calls, per country."""

    id: int
    number: str
    seller: str
    kind: str
    occurred_on: date
    ended_on: date | None
    ended_recorded_at: datetime | None = None  # when the end was recorded
    reference: str | None
    expires_on: dict[str, date]
    recorded_at: datetime
    recorded_by: str


class EndIn(BaseModel):
    """When either party ended the relationship."""

    ended_on: date


class EbrImportOut(BaseModel):
    """A bulk import that succeeded (a failed one imports nothing and answers 422)."""

    imported: int
    ids: list[int]


@router.post("/ebr", status_code=status.HTTP_201_CREATED, response_model=EbrOut)
def ebr_add(
    body: EbrIn,
    principal: Annotated[Principal, Depends(require(Permission.EBR_WRITE))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Record a purchase, transaction, inquiry or application with a seller."""
    event = service.add_event(
        session=session,
        number=bulk.parse_number(body.number),
        seller=body.seller,
        kind=body.kind,
        occurred_on=body.occurred_on,
        ended_on=body.ended_on,
        reference=body.reference,
        actor=principal.name,
        actor_role=principal.role.value,
    )
    return service.event_view(event)


@router.get("/ebr", response_model=list[EbrOut])
def ebr_list(
    request: Request,
    number: str,
    principal: Annotated[Principal, Depends(require(Permission.EBR_READ))],
    session: Annotated[Session, Depends(get_session)],
) -> list[dict[str, Any]]:
    """A number's EBR events, newest first (the read is audited)."""
    digits = bulk.parse_number(number)
    events = service.events_for(session=session, number=digits)
    request.app.state.audit_writer.submit(
        type="ebr.read",
        actor=principal.name,
        actor_role=principal.role.value,
        subject=phone.parse_e164_int(digits).e164,
        body={"events": len(events), "route": route(request)},
    )
    return [service.event_view(e) for e in events]


@router.post("/ebr/imports", status_code=status.HTTP_201_CREATED, response_model=EbrImportOut)
def ebr_import(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.EBR_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    body: Annotated[bytes, Depends(bulk_api.raw_body)],
    format: str | None = None,
) -> Any:
    """Import EBR events (CSV, JSON-lines or a JSON list): every row valid, or none imported."""
    rows, errors = service.parse_ebr_rows(body, bulk_api.body_format(request, format))
    if errors:
        return bulk_api.rejected_response(bulk.ImportRejected(errors))
    events = service.import_events(
        session=session, rows=rows, actor=principal.name, actor_role=principal.role.value
    )
    return {"imported": len(events), "ids": [e.id for e in events]}


@router.post("/ebr/{ebr_id}/end", response_model=EbrOut)
def ebr_end(
    ebr_id: int,
    body: EndIn,
    principal: Annotated[Principal, Depends(require(Permission.EBR_WRITE))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Record that the relationship ended (409 if it already had)."""
    event = service.end_relationship(
        session=session,
        event_id=ebr_id,
        ended_on=body.ended_on,
        actor=principal.name,
        actor_role=principal.role.value,
    )
    return service.event_view(event)
