"""HTTP routes of the emergencies domain: declared states of emergency, seller registrations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from callwarden import bulk_api
from callwarden.emergencies import service
from callwarden.security.api import get_session, require
from callwarden.security.roles import Permission
from callwarden.security.service import Principal

router = APIRouter(prefix="/v1", tags=["emergencies"])


class EmergencyIn(BaseModel):
    """A declared state of emergency, as the authority posted it."""

    jurisdiction: str = Field(min_length=2, max_length=8, description="US-LA, CA-ON, US ...")
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = Field(default=None, description="None: until ended")
    description: str = Field(min_length=1, max_length=service.MAX_DESCRIPTION)
    reference: str | None = Field(
        default=None, max_length=service.MAX_REFERENCE, description="URL or order number"
    )


class EmergencyOut(BaseModel):
    """A recorded emergency."""

    id: int
    jurisdiction: str
    starts_at: datetime
    ends_at: datetime | None
    description: str
    reference: str | None
    recorded_at: datetime
    recorded_by: str


class EndIn(BaseModel):
    """When the emergency ends (default now)."""

    at: AwareDatetime | None = None


class RegistrationIn(BaseModel):
    """A seller's telemarketing registration in a jurisdiction, valid on [valid_from, valid_to)."""

    seller: str = Field(min_length=1, max_length=service.MAX_NAME)
    jurisdiction: str = Field(min_length=2, max_length=8, description="US-TX ...")
    registration_id: str = Field(min_length=1, max_length=service.MAX_NAME)
    valid_from: date
    valid_to: date | None = None


class RegistrationOut(BaseModel):
    """A recorded registration."""

    id: int
    seller: str
    jurisdiction: str
    registration_id: str
    valid_from: date
    valid_to: date | None
    recorded_at: datetime
    recorded_by: str


@router.post("/emergencies", status_code=status.HTTP_201_CREATED, response_model=EmergencyOut)
def emergency_add(
    body: EmergencyIn,
    principal: Annotated[Principal, Depends(require(Permission.EMERGENCIES_WRITE))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Record a declared state of emergency (effective for the next decision)."""
    row = service.add_emergency(
        session=session,
        jurisdiction=body.jurisdiction,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        description=body.description,
        reference=body.reference,
        actor=principal.name,
        actor_role=principal.role.value,
    )
    return service.emergency_view(row)


@router.get("/emergencies", response_model=list[EmergencyOut])
def emergency_list(
    principal: Annotated[Principal, Depends(require(Permission.EMERGENCIES_READ))],
    session: Annotated[Session, Depends(get_session)],
    active_at: AwareDatetime | None = None,
    jurisdiction: str | None = None,
) -> list[dict[str, Any]]:
    """Recorded emergencies, the latest start first; only those active at `active_at` if given."""
    rows = service.list_emergencies(session=session, active_at=active_at, jurisdiction=jurisdiction)
    return [service.emergency_view(r) for r in rows]


@router.post("/emergencies/{emergency_id}/end", response_model=EmergencyOut)
def emergency_end(
    emergency_id: int,
    principal: Annotated[Principal, Depends(require(Permission.EMERGENCIES_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    body: EndIn | None = None,
) -> dict[str, Any]:
    """End an emergency now, or at `at` (earlier than a planned end, never later)."""
    row = service.end_emergency(
        session=session,
        emergency_id=emergency_id,
        at=body.at if body else None,
        actor=principal.name,
        actor_role=principal.role.value,
    )
    return service.emergency_view(row)


@router.post("/registrations", status_code=status.HTTP_201_CREATED, response_model=RegistrationOut)
def registration_add(
    body: RegistrationIn,
    principal: Annotated[Principal, Depends(require(Permission.REGISTRATIONS_WRITE))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Record a seller's registration (an identical one already recorded is returned)."""
    row = service.add_registration(
        session=session,
        seller=body.seller,
        jurisdiction=body.jurisdiction,
        registration_id=body.registration_id,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        actor=principal.name,
        actor_role=principal.role.value,
    )
    return service.registration_view(row)


@router.get("/registrations", response_model=list[RegistrationOut])
def registration_list(
    principal: Annotated[Principal, Depends(require(Permission.REGISTRATIONS_READ))],
    session: Annotated[Session, Depends(get_session)],
    seller: str | None = None,
    jurisdiction: str | None = None,
) -> list[dict[str, Any]]:
    """Recorded registrations, by seller and jurisdiction."""
    rows = service.list_registrations(session=session, seller=seller, jurisdiction=jurisdiction)
    return [service.registration_view(r) for r in rows]


@dataclass(frozen=True)
class _Imported:
    count: int

    def as_dict(self) -> dict[str, int]:
        return {"imported": self.count}


def _import(work: Any) -> Any:
    return bulk_api.report_answer(lambda: _Imported(work()))


@router.post("/emergencies/imports")
def import_emergencies(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.EMERGENCIES_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    body: Annotated[bytes, Depends(bulk_api.raw_body)],
    format: Annotated[str | None, Query(description="csv, jsonl or json")] = None,
) -> Any:
    """Record every emergency of a CSV/JSON-lines body, or none (422 lists every bad row)."""
    return _import(
        lambda: service.import_emergencies(
            session=session,
            data=body,
            fmt=bulk_api.body_format(request, format),
            actor=principal.name,
            actor_role=principal.role.value,
        )
    )


@router.post("/registrations/imports")
def import_registrations(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.REGISTRATIONS_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    body: Annotated[bytes, Depends(bulk_api.raw_body)],
    format: Annotated[str | None, Query(description="csv, jsonl or json")] = None,
) -> Any:
    """Record every registration of a CSV/JSON-lines body, or none (422 lists every bad row)."""
    return _import(
        lambda: service.import_registrations(
            session=session,
            data=body,
            fmt=bulk_api.body_format(request, format),
            actor=principal.name,
            actor_role=principal.role.value,
        )
    )
