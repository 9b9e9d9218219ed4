"""HTTP routes of the numbers domain: line types and customer locations, one or in bulk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from callwarden import bulk, bulk_api
from callwarden.bulk import FORMAT_HELP, ImportOut
from callwarden.numbers import service
from callwarden.security.api import get_session, require
from callwarden.security.roles import Permission
from callwarden.security.service import Principal

router = APIRouter(prefix="/v1", tags=["numbers"])


class LineTypeIn(BaseModel):
    """A data source's statement of a number's line type."""

    number: str = Field(min_length=1, max_length=64)
    line_type: str = Field(description="wireless, landline or voip (mobile, cell... accepted)")
    source: str = Field(min_length=1, max_length=100, description="The data source")
    as_of: str | None = Field(
        default=None, description="ISO date or date-time with offset; default now"
    )


class LineTypeOut(BaseModel):
    """A stored line-type statement."""

    id: int
    number: str
    line_type: str
    source: str
    as_of: datetime
    recorded_at: datetime
    recorded_by: str


class LocationIn(BaseModel):
    """A location of the customer behind a number (a state or a ZIP at least)."""

    number: str = Field(min_length=1, max_length=64)
    state: str | None = Field(default=None, description="US state/DC/territory or CA province")
    zip: str | None = Field(default=None, description="12345, 12345-6789, or A1A 1A1 (CA)")
    country: str | None = Field(default="US", description="US or CA")
    kind: str | None = Field(default="other", description="mailing, billing or other")
    source: str | None = Field(default="api", max_length=100)


class LocationOut(BaseModel):
    """A stored customer location."""

    id: int
    number: str
    country: str
    state: str | None
    zip: str | None
    kind: str
    source: str
    recorded_at: datetime
    recorded_by: str
    removed_at: datetime | None


class LocationRemoveIn(BaseModel):
    """Which location to mark removed, and why (kept in the audit trail)."""

    id: int
    reason: str | None = Field(default=None, max_length=2000)


class NumberOut(BaseModel):
    """What is known of a number: line type (newest as_of wins), history, locations."""

    number: str
    line_type: str | None
    line_types: list[LineTypeOut]
    locations: list[LocationOut]


def _route(request: Request) -> str:
    return f"{request.method} {request.url.path}"


def _import(
    importer: Callable[..., bulk.ImportReport],
    request: Request,
    principal: Principal,
    session: Session,
    body: bytes,
    source: str | None,
    fmt: str | None,
) -> Any:
    return bulk_api.report_answer(
        lambda: importer(
            session=session,
            data=body,
            fmt=bulk_api.body_format(request, fmt),
            source=source,
            actor=principal.name,
            actor_role=principal.role.value,
        )
    )


@router.post("/numbers/line-types", status_code=status.HTTP_201_CREATED, response_model=LineTypeOut)
def line_type_add(
    body: LineTypeIn,
    principal: Annotated[Principal, Depends(require(Permission.NUMBERS_WRITE))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Record a number's line type as a data source states it (an identical one is kept)."""
    row = service.add_line_type(
        session=session,
        number=body.number,
        line_type=body.line_type,
        source=body.source,
        as_of=body.as_of,
        actor=principal.name,
        actor_role=principal.role.value,
    )
    return service.line_type_view(row)


@router.post(
    "/numbers/line-types/imports", status_code=status.HTTP_201_CREATED, response_model=ImportOut
)
def line_types_import(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.NUMBERS_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    body: Annotated[bytes, Depends(bulk_api.raw_body)],
    source: Annotated[str | None, Query(max_length=100, description="Default source")] = None,
    format: Annotated[str | None, Query(description=FORMAT_HELP)] = None,
) -> Any:
    """Import line types from a CSV, JSON-lines or JSON-list body: all rows or none."""
    return _import(service.import_line_types, request, principal, session, body, source, format)


@router.post("/numbers/locations", status_code=status.HTTP_201_CREATED, response_model=LocationOut)
def location_add(
    body: LocationIn,
    principal: Annotated[Principal, Depends(require(Permission.NUMBERS_WRITE))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Record a customer location for a number (an identical active one is kept)."""
    row = service.add_location(
        session=session,
        number=body.number,
        state=body.state,
        zip=body.zip,
        country=body.country,
        kind=body.kind,
        source=body.source,
        actor=principal.name,
        actor_role=principal.role.value,
    )
    return service.location_view(row)


@router.post(
    "/numbers/locations/imports", status_code=status.HTTP_201_CREATED, response_model=ImportOut
)
def locations_import(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.NUMBERS_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    body: Annotated[bytes, Depends(bulk_api.raw_body)],
    source: Annotated[str | None, Query(max_length=100, description="Default source")] = None,
    format: Annotated[str | None, Query(description=FORMAT_HELP)] = None,
) -> Any:
    """Import customer locations from a CSV, JSON-lines or JSON-list body: all rows or none."""
    return _import(service.import_locations, request, principal, session, body, source, format)


@router.post("/numbers/locations/remove", response_model=LocationOut)
def location_remove(
    body: LocationRemoveIn,
    principal: Annotated[Principal, Depends(require(Permission.NUMBERS_WRITE))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Mark a customer location removed (the customer moved; the row stays as history)."""
    row = service.remove_location(
        session=session,
        location_id=body.id,
        reason=body.reason,
        actor=principal.name,
        actor_role=principal.role.value,
    )
    return service.location_view(row)


@router.get("/numbers/{number}", response_model=NumberOut)
def number_show(
    request: Request,
    number: str,
    principal: Annotated[Principal, Depends(require(Permission.NUMBERS_READ))],
    session: Annotated[Session, Depends(get_session)],
    include_removed: bool = False,
) -> dict[str, Any]:
    """A number's line type (with every statement) and its customer locations (audited)."""
    digits = bulk.parse_number(number)
    view = service.number_view(session=session, number=digits, include_removed=include_removed)
    request.app.state.audit_writer.submit(
        type="numbers.read",
        actor=principal.name,
        actor_role=principal.role.value,
        subject=view["number"],
        body={
            "line_type": view["line_type"],
            "locations": len(view["locations"]),
            "route": _route(request),
        },
    )
    return view
