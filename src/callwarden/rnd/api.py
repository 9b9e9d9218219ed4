"""HTTP routes of the rnd domain: Reassigned Numbers Database answers, one, many or a file."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from callwarden import bulk, bulk_api, phone
from callwarden.bulk import FORMAT_HELP, ImportOut, ImportRejected
from callwarden.rnd import service
from callwarden.security.api import get_session, require
from callwarden.security.roles import Permission
from callwarden.security.service import Principal

router = APIRouter(prefix="/v1", tags=["rnd"])


class RndResultIn(BaseModel):
    """One answer of the RND for (number, consent date).

    Fields are checked by the service, so a list reports every bad item with its position.
    """

    number: str | int | None = Field(default=None, description="Required; any common format")
    consent_date: str | None = Field(
        default=None, description="Required: YYYY-MM-DD, MM/DD/YYYY or YYYYMMDD"
    )
    result: str | None = Field(default=None, description="Required: yes, no or no data")
    queried_at: str | None = Field(
        default=None, description="When the query was made (ISO, with offset); default now"
    )
    source: str | None = Field(default=None, max_length=100)


class RndResultOut(BaseModel):
    """A stored RND answer."""

    id: int
    number: str
    consent_date: date
    result: str
    queried_at: datetime
    source: str
    recorded_at: datetime
    recorded_by: str


def _route(request: Request) -> str:
    return f"{request.method} {request.url.path}"


@router.post(
    "/rnd/results",
    status_code=status.HTTP_201_CREATED,
    response_model=RndResultOut | list[RndResultOut],
)
def results_add(
    body: RndResultIn | list[RndResultIn],
    principal: Annotated[Principal, Depends(require(Permission.RND_WRITE))],
    session: Annotated[Session, Depends(get_session)],
) -> Any:
    """Record one answer, or a list of them (all or none; every bad item is reported)."""
    if isinstance(body, RndResultIn):
        row = service.add_result(
            session=session,
            number=body.number or "",
            consent_date=body.consent_date or "",
            result=body.result or "",
            queried_at=body.queried_at,
            source=body.source or "api",
            actor=principal.name,
            actor_role=principal.role.value,
        )
        return service.result_view(row)
    try:
        rows = service.add_results(
            session=session,
            rows=[item.model_dump() for item in body],
            source="api",
            actor=principal.name,
            actor_role=principal.role.value,
        )
    except ImportRejected as exc:
        return bulk_api.rejected_response(exc)
    return [service.result_view(r) for r in rows]


@router.post("/rnd/imports", status_code=status.HTTP_201_CREATED, response_model=ImportOut)
def results_import(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.RND_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    body: Annotated[bytes, Depends(bulk_api.raw_body)],
    source: Annotated[
        str, Query(min_length=1, max_length=100, description="Where the file came from")
    ] = "import",
    queried_at: Annotated[
        str | None, Query(description="When the queries were made, for rows without queried_at")
    ] = None,
    format: Annotated[str | None, Query(description=FORMAT_HELP)] = None,
) -> Any:
    """Import an RND results file (CSV, JSON lines or a JSON list): all rows or none."""
    when = bulk.instant(queried_at, "queried_at", required=False)
    return bulk_api.report_answer(
        lambda: service.import_results(
            session=session,
            data=body,
            fmt=bulk_api.body_format(request, format),
            source=source,
            queried_at=when,
            actor=principal.name,
            actor_role=principal.role.value,
        )
    )


@router.get("/rnd/results", response_model=list[RndResultOut])
def results_list(
    request: Request,
    number: str,
    principal: Annotated[Principal, Depends(require(Permission.RND_READ))],
    session: Annotated[Session, Depends(get_session)],
    consent_date: str | None = None,
) -> list[dict[str, Any]]:
    """A number's stored answers, the newest query first (audited)."""
    digits = bulk.parse_number(number)
    day = service.parse_consent_date(consent_date) if consent_date is not None else None
    rows = service.results(session=session, number=digits, consent_date=day)
    views = [service.result_view(r) for r in rows]
    request.app.state.audit_writer.submit(
        type="rnd.read",
        actor=principal.name,
        actor_role=principal.role.value,
        subject=phone.parse_e164_int(digits).e164,
        body={"results": len(views), "route": _route(request)},
    )
    return views
