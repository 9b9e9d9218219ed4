"""HTTP routes of the calls domain: call records, imports, reservations, abandonment rates."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from sqlalchemy.orm import Session

from callwarden import bulk, bulk_api, phone
from callwarden.bulk import ImportRejected
from callwarden.calls import cdr, service
from callwarden.calls.cdr import Parsed
from callwarden.calls.models import CallAttempt
from callwarden.db import utcnow
from callwarden.errors import NotFound, ValidationFailed
from callwarden.security.api import get_session, require
from callwarden.security.roles import Permission
from callwarden.security.service import Principal

router = APIRouter(prefix="/v1", tags=["calls"])

MAX_CALLS = 10_000  # per POST /v1/calls
MAX_IMPORT_ROWS = 100_000  # per POST /v1/calls/imports

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "description": 'One call object, {"calls": [...]}, or a list of calls',
                    "type": "object",
                }
            },
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


class CallOut(BaseModel):
    """A call (or a reservation) in the history."""

    id: int
    number: str
    at: datetime
    state: str
    expires_at: datetime | None = None
    decision_id: str | None = None
    external_id: str | None = None
    seller: str
    campaign: str | None = None
    subject: str | None = None
    debt_id: str | None = None
    channel: str
    purpose: str
    technology: str
    caller_id: str | None = None
    outcome: str | None = None
    connected: bool
    answered_by_person: bool
    conversation: bool
    voicemail: bool
    abandoned: bool
    dnc_request: bool
    disposition: str | None = None
    duration_seconds: int | None = None
    source: str
    recorded_at: datetime
    recorded_by: str
    # a reservation: when a call record confirmed it or it was released; the planned time
    # when the call was placed at another
    settled_at: datetime | None = None
    planned_at: datetime | None = None
    duplicate: bool = False  # True: this record had been received before; nothing changed


class SkippedRow(BaseModel):
    """A record already in the history (same external_id or decision_id): not imported twice."""

    line: int
    external_id: str | None = None
    decision_id: str | None = None
    reason: str


class ImportOut(BaseModel):
    """What a batch did."""

    imported: int
    converted: int
    skipped: int
    skipped_rows: list[SkippedRow]
    dnc_entries: int
    ignored_columns: list[str] = []


class PeriodOut(BaseModel):
    """One 30-day period of a campaign."""

    number: int
    start: datetime
    end: datetime
    complete: bool
    calls: int
    answered_by_person: int
    abandoned: int
    rate: float | None
    within_limit: bool


class RollingOut(BaseModel):
    """The 30 days ending at the moment asked about (the gate also throttles on these)."""

    start: datetime
    end: datetime
    calls: int
    answered_by_person: int
    abandoned: int
    rate: float | None
    within_limit: bool


class AbandonmentOut(BaseModel):
    """A campaign's abandonment rate per successive 30-day period and over the last 30 days."""

    campaign: str
    at: datetime
    first_call_at: datetime
    limit: float
    citation: str
    current: PeriodOut
    within_limit: bool
    periods_over_limit: int
    periods: list[PeriodOut]
    rolling_30_days: RollingOut
    gate_within_limit: bool


def _route(request: Request) -> str:
    return f"{request.method} {request.url.path}"


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _parse(body: bytes, media_type: str, *, max_rows: int, json_allowed: bool) -> Parsed:
    """Parse a body as CSV, JSON lines, or (when allowed) a JSON list of calls."""
    if not body.strip():
        raise ValidationFailed("the request body is empty", field="body")
    fmt = bulk.format_for(media_type)
    if fmt in cdr.FORMATS:
        return cdr.parse(body, fmt, max_rows=max_rows)
    if not json_allowed and media_type not in ("application/json", ""):
        raise ValidationFailed(
            "send text/csv, application/x-ndjson or a JSON list", field="content-type"
        )
    return _parse_json(_json(body), max_rows=max_rows)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ValidationFailed("the body is not valid JSON", field="body") from None


def _parse_json(data: Any, *, max_rows: int) -> Parsed:
    if isinstance(data, dict) and set(data) == {"calls"}:
        data = data["calls"]
    if not isinstance(data, list):
        raise ValidationFailed("expected a list of calls", field="calls")
    if len(data) > max_rows:
        raise ValidationFailed(f"at most {max_rows:,} calls per request", field="calls")
    if not data:
        raise ValidationFailed("the list of calls is empty", field="calls")
    return cdr.parse_objects(data)


def _rejected(exc: ImportRejected, *, single: bool = False) -> JSONResponse:
    """422 naming every bad row and field (a single call: its first bad field); nothing written."""
    if single:
        exc = ImportRejected(exc.errors, field=exc.errors[0].field)
    return bulk_api.rejected_response(exc)


def _report_out(report: service.ImportReport) -> ImportOut:
    d = report.as_dict()
    return ImportOut(**{**d, "skipped_rows": [SkippedRow(**s) for s in d["skipped_rows"]]})


def _import(
    parsed: Parsed, body: bytes, source: str, principal: Principal, session: Session
) -> Any:
    """Record every parsed call in the request's transaction, or 422 listing every bad row."""
    if parsed.errors:
        return _rejected(ImportRejected(parsed.errors))
    try:
        report = service.record_calls(
            session=session,
            records=parsed.rows,
            source=source,
            actor=principal.name,
            actor_role=principal.role.value,
            batch=hashlib.sha256(body).hexdigest()[:16],
        )
    except ImportRejected as exc:
        return _rejected(exc)
    report.ignored_columns = parsed.ignored_columns
    return _report_out(report)


@router.post(
    "/calls",
    status_code=status.HTTP_201_CREATED,
    response_model=CallOut | ImportOut,
    openapi_extra=_BODY_DOC,
)
def record_calls(
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require(Permission.CALLS_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    body: Annotated[bytes, Depends(bulk_api.raw_body)],
) -> Any:
    """Record one call object, or {"calls": [...]} up to 10,000 (all or nothing)."""
    media_type = _media_type(request)
    if media_type in ("application/json", ""):
        if not body.strip():
            raise ValidationFailed("the request body is empty", field="body")
        data = _json(body)
        if isinstance(data, dict) and set(data) != {"calls"}:
            return _record_one(response, data, principal, session)
        parsed = _parse_json(data, max_rows=MAX_CALLS)
    else:
        parsed = _parse(body, media_type, max_rows=MAX_CALLS, json_allowed=True)
    return _import(parsed, body, "api", principal, session)


def _record_one(
    response: Response, obj: dict[str, Any], principal: Principal, session: Session
) -> Any:
    record, errors = cdr.parse_object(obj, line=1)
    if record is None:
        return _rejected(ImportRejected(errors), single=True)
    try:
        report = service.record_calls(
            session=session,
            records=[record],
            source="api",
            actor=principal.name,
            actor_role=principal.role.value,
        )
    except ImportRejected as exc:
        first = exc.errors[0]
        if first.field == "decision_id":
            raise NotFound(first.message, field="decision_id") from None
        return _rejected(exc, single=True)
    if report.call_ids:
        row = session.get(CallAttempt, report.call_ids[0])
        duplicate = False
    else:
        row = service.existing_call(session=session, skipped=report.skipped[0])
        duplicate = True
        response.status_code = status.HTTP_200_OK
    assert row is not None
    return CallOut(**service.call_view(row), duplicate=duplicate)


@router.post(
    "/calls/imports",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportOut,
    openapi_extra=_BODY_DOC,
)
def import_calls(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.CALLS_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    body: Annotated[bytes, Depends(bulk_api.raw_body)],
) -> Any:
    """Import a CDR file (text/csv or application/x-ndjson): every bad row listed, or all in."""
    media_type = _media_type(request)
    parsed = _parse(body, media_type, max_rows=MAX_IMPORT_ROWS, json_allowed=False)
    return _import(parsed, body, "import", principal, session)


@router.get("/calls", response_model=list[CallOut])
def list_calls(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.CALLS_READ))],
    session: Annotated[Session, Depends(get_session)],
    number: str | None = None,
    campaign: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CallOut]:
    """Calls and reservations, newest first, for a number and/or a campaign (audited read)."""
    digits = None
    subject = f"campaign:{campaign}" if campaign else "calls:recent"
    if number is not None:
        try:
            parsed = phone.parse(number)
        except phone.InvalidPhoneNumber as exc:
            raise ValidationFailed(exc.message, field="number") from None
        digits, subject = parsed.digits, parsed.e164
    rows = service.list_calls(session=session, number=digits, campaign=campaign, limit=limit)
    request.app.state.audit_writer.submit(
        type="calls.read",
        actor=principal.name,
        actor_role=principal.role.value,
        subject=subject[:200],
        body={"rows": len(rows), "campaign": campaign, "route": _route(request)},
    )
    return [CallOut(**service.call_view(r)) for r in rows]


@router.post("/calls/reservations/{decision_id}/release", response_model=CallOut)
def release_reservation(
    decision_id: str,
    principal: Annotated[Principal, Depends(require(Permission.CALLS_WRITE))],
    session: Annotated[Session, Depends(get_session)],
) -> CallOut:
    """Give back a reservation the dialer will not use: it stops counting toward caps at once."""
    row = service.release(
        session=session,
        decision_id=decision_id,
        actor=principal.name,
        actor_role=principal.role.value,
    )
    return CallOut(**service.call_view(row))


@router.get("/campaigns/{campaign_id}/abandonment", response_model=AbandonmentOut)
def campaign_abandonment(
    campaign_id: str,
    principal: Annotated[Principal, Depends(require(Permission.CALLS_STATS))],
    session: Annotated[Session, Depends(get_session)],
    at: AwareDatetime | None = None,
) -> AbandonmentOut:
    """Abandonment rate per successive 30-day period; 3% limit (16 CFR 310.4(b)(4)(i))."""
    report = service.abandonment(session=session, campaign=campaign_id, at=at or utcnow())
    return AbandonmentOut(**report.as_dict())
