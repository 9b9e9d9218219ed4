"""HTTP routes of the Do-Not-Call domain: lookups, status, the internal list, scrubs."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status
from fastapi.responses import Response, StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from callwarden import phone
from callwarden.audit import service as audit
from callwarden.db import utcnow
from callwarden.dnc import scrub as scrubbing
from callwarden.dnc import service
from callwarden.dnc.enums import Channel, ImportFormat, ScrubOutput, Source
from callwarden.dnc.runtime import DncRuntime
from callwarden.errors import ValidationFailed
from callwarden.security.api import get_session, require
from callwarden.security.roles import Permission
from callwarden.security.service import Principal

router = APIRouter(prefix="/v1", tags=["dnc"])

MAX_BATCH = 100_000


class ListResult(BaseModel):
    """One list's answer for one number."""

    list: str
    kind: str
    status: Literal["hit", "miss", "unknown"]
    reason: str | None = None
    as_of: datetime | None = None
    since: datetime | None = None
    snapshot_id: int | None = None
    in_stale_data: bool = False


class InternalEntryOut(BaseModel):
    """An internal Do-Not-Call entry."""

    id: int
    number: str
    channel: str
    seller: str
    source: str
    added_at: datetime
    added_by: str
    note: str | None = None
    active: bool = True
    removed_at: datetime | None = None
    removed_by: str | None = None
    removal_reason: str | None = None


class LookupResult(BaseModel):
    """Every list's answer for one number."""

    input: str
    number: str | None = None
    valid: bool
    error: str | None = None
    listed: bool = False
    unknown: bool = False
    lists: list[ListResult] = []
    internal: list[InternalEntryOut] = []


class LookupIn(BaseModel):
    """A batch lookup: up to 100,000 numbers in any common format."""

    numbers: list[str] = Field(min_length=1, max_length=MAX_BATCH)
    at: AwareDatetime | None = None


class LookupOut(BaseModel):
    """Answers in the order asked."""

    at: datetime
    results: list[LookupResult]


class InternalIn(BaseModel):
    """A consumer's Do-Not-Call request."""

    number: str = Field(min_length=1, max_length=64)
    channel: Channel = Channel.ALL
    seller: str = Field(default="*", max_length=200)
    source: Source = Source.API
    note: str | None = Field(default=None, max_length=2000)


class RemoveIn(BaseModel):
    """Why an internal entry is being removed."""

    reason: str = Field(min_length=3, max_length=2000)


async def runtime(request: Request) -> DncRuntime:
    """The process's DNC runtime."""
    rt: DncRuntime = request.app.state.dnc
    return rt


def _parse_number(value: str, field: str = "number") -> phone.PhoneNumber:
    try:
        return phone.parse(value)
    except phone.InvalidPhoneNumber as exc:
        raise ValidationFailed(exc.message, field=field) from None


def _route(request: Request) -> str:
    """Which route read the data (evidence: who read what, when, through which route)."""
    return f"{request.method} {request.url.path}"


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _entry_out(e: Any) -> InternalEntryOut:
    return InternalEntryOut(**service.entry_view(e))


@router.get("/dnc/status", tags=["dnc"])
def dnc_status(
    principal: Annotated[Principal, Depends(require(Permission.DNC_STATUS))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Per list: entries, area codes covered, age of the data, last import."""
    at = utcnow()
    return {
        "at": at,
        "max_age_days_default": 31,
        "lists": service.list_status(session=session, at=at),
    }


@router.post("/dnc/imports", status_code=status.HTTP_201_CREATED, tags=["dnc"])
def dnc_import(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.DNC_IMPORT))],
    files: Annotated[list[UploadFile], File(description="Registry files, plain or zipped")],
    list_key: Annotated[
        str, Form(alias="list", description="national, canada, state:XX, custom:NAME")
    ],
    format: Annotated[ImportFormat, Form()],
    obtained: Annotated[str, Form(description="Date the data was obtained (YYYY-MM-DD)")],
    area_codes: Annotated[str | None, Form(description="Comma-separated area codes")] = None,
    column: Annotated[str | None, Form(description="CSV column with the number")] = None,
) -> dict[str, Any]:
    """Import uploaded registry files as a new snapshot (all or nothing), like `dnc import`."""
    settings = request.app.state.settings
    codes = None
    if area_codes:
        try:
            codes = [int(x) for x in area_codes.replace(" ", "").split(",") if x]
        except ValueError:
            raise ValidationFailed(
                "area_codes must be numbers like 404,770", field="area_codes"
            ) from None
    tmp = Path(tempfile.mkdtemp(prefix="import-", dir=_tmp_dir(settings)))
    try:
        paths = []
        for i, upload in enumerate(files):
            name = Path(upload.filename or f"upload-{i}").name or f"upload-{i}"
            dest = tmp / name
            with dest.open("wb") as fh:
                shutil.copyfileobj(upload.file, fh, 16 << 20)
            paths.append(dest)
        report = service.import_files(
            session_factory=request.app.state.session_factory,
            settings=settings,
            list_key=list_key,
            fmt=format,
            paths=paths,
            obtained=obtained,
            actor=principal,
            area_codes=codes,
            column=column,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = dict(report.__dict__)
    out["errors"] = report.errors[:100]
    return out


def _tmp_dir(settings: Any) -> Path:
    path = Path(settings.data_dir) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


@router.get("/dnc/snapshots", tags=["dnc"])
def dnc_snapshots(
    principal: Annotated[Principal, Depends(require(Permission.DNC_STATUS))],
    session: Annotated[Session, Depends(get_session)],
    list: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Recent imports with their counts."""
    out = []
    for s in service.snapshots(session=session, list_key=list, limit=limit):
        out.append(
            {
                c: getattr(s, c)
                for c in (
                    "id",
                    "kind",
                    "format",
                    "obtained_at",
                    "started_at",
                    "finished_at",
                    "status",
                    "lines_read",
                    "added",
                    "deleted",
                    "rejected",
                    "duplicates",
                    "total_after",
                    "imported_by",
                    "error",
                )
            }
        )
    return out


@router.get("/dnc/snapshots/{snapshot_id}/errors", tags=["dnc"])
def dnc_snapshot_errors(
    request: Request,
    snapshot_id: int,
    principal: Annotated[Principal, Depends(require(Permission.DNC_IMPORT_ERRORS))],
    session: Annotated[Session, Depends(get_session)],
) -> list[dict[str, Any]]:
    """The malformed lines of one import, with file and line number."""
    errors = service.snapshot_errors(session=session, snapshot_id=snapshot_id)
    request.app.state.audit_writer.submit(
        type="dnc.snapshot.errors.read",
        actor=principal.name,
        actor_role=principal.role.value,
        subject=f"snapshot:{snapshot_id}",
        body={"lines": len(errors), "route": _route(request)},
    )
    return [
        {"file": e.file, "line_no": e.line_no, "content": e.content, "reason": e.reason}
        for e in errors
    ]


@router.post("/dnc/lookup", response_model=LookupOut, tags=["dnc"])
def dnc_lookup_batch(
    request: Request,
    body: LookupIn,
    principal: Annotated[Principal, Depends(require(Permission.DNC_READ))],
    session: Annotated[Session, Depends(get_session)],
    rt: Annotated[DncRuntime, Depends(runtime)],
) -> Response:
    """Look up to 100,000 numbers at once; invalid numbers are answered, not fatal."""
    at = body.at or utcnow()
    rt.sync(session)
    reports = service.lookup_reports(session=session, rt=rt, inputs=body.numbers, at=at)
    digest = hashlib.sha256("\n".join(body.numbers).encode()).hexdigest()
    request.app.state.audit_writer.submit(
        type="dnc.lookup.batch",
        actor=principal.name,
        actor_role=principal.role.value,
        subject=f"batch:{len(body.numbers)}",
        body={
            "count": len(body.numbers),
            "sha256": digest,
            "at": at.isoformat(),
            "route": _route(request),
        },
    )
    # Up to 100,000 results: serialised straight from plain data (the documented schema is
    # LookupOut); building a model per result would take longer than the lookups themselves.
    return Response(
        content=json.dumps({"at": at, "results": reports}, default=_json_default),
        media_type="application/json",
    )


# async on purpose: a single lookup is a few hundred microseconds of local work, less than
# the cost of handing it to a worker thread; batch lookups stay in the thread pool.
@router.get("/dnc/{number}", response_model=LookupResult, tags=["dnc"])
async def dnc_lookup(
    request: Request,
    number: str,
    principal: Annotated[Principal, Depends(require(Permission.DNC_READ))],
    session: Annotated[Session, Depends(get_session)],
    rt: Annotated[DncRuntime, Depends(runtime)],
    at: AwareDatetime | None = None,
) -> LookupResult:
    """Every list's answer for one number, with since-when for hits."""
    rt.sync(session)
    report = service.lookup_reports(session=session, rt=rt, inputs=[number], at=at or utcnow())[0]
    if not report["valid"]:
        _parse_number(number)  # raises the 422 with the full message
    result = LookupResult(**report)
    request.app.state.audit_writer.submit(
        type="dnc.lookup",
        actor=principal.name,
        actor_role=principal.role.value,
        subject=result.number,
        body={"listed": result.listed, "unknown": result.unknown, "route": _route(request)},
    )
    return result


@router.post(
    "/dnc/internal",
    status_code=status.HTTP_201_CREATED,
    response_model=InternalEntryOut,
    tags=["dnc"],
)
def internal_add(
    body: InternalIn,
    principal: Annotated[Principal, Depends(require(Permission.DNC_INTERNAL_ADD))],
    session: Annotated[Session, Depends(get_session)],
) -> InternalEntryOut:
    """Record a Do-Not-Call request on the internal list (effective for the next lookup)."""
    parsed = _parse_number(body.number)
    entry = service.add_internal(
        session=session,
        number=parsed,
        channel=body.channel,
        seller=body.seller,
        source=body.source,
        note=body.note,
        actor=principal,
    )
    return _entry_out(entry)


@router.get("/dnc/internal/entries", response_model=list[InternalEntryOut], tags=["dnc"])
def internal_list(
    request: Request,
    number: str,
    principal: Annotated[Principal, Depends(require(Permission.DNC_READ))],
    session: Annotated[Session, Depends(get_session)],
    include_removed: bool = False,
) -> list[InternalEntryOut]:
    """A number's internal entries (with removed ones when asked)."""
    parsed = _parse_number(number)
    entries = service.internal_entries(
        session=session, number=parsed.digits, include_removed=include_removed
    )
    request.app.state.audit_writer.submit(
        type="dnc.internal.read",
        actor=principal.name,
        actor_role=principal.role.value,
        subject=parsed.e164,
        body={"entries": len(entries), "route": _route(request)},
    )
    return [_entry_out(e) for e in entries]


@router.post("/dnc/internal/{entry_id}/remove", response_model=InternalEntryOut, tags=["dnc"])
def internal_remove(
    entry_id: int,
    body: RemoveIn,
    principal: Annotated[Principal, Depends(require(Permission.DNC_INTERNAL_REMOVE))],
    session: Annotated[Session, Depends(get_session)],
) -> InternalEntryOut:
    """Remove an internal entry (compliance role only; audited; history kept)."""
    entry = service.remove_internal(
        session=session, entry_id=entry_id, reason=body.reason, actor=principal
    )
    return _entry_out(entry)


@router.post("/scrubs", tags=["dnc"])
async def create_scrub(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.DNC_SCRUB))],
    rt: Annotated[DncRuntime, Depends(runtime)],
    output: ScrubOutput = ScrubOutput.CLEAN,
    column: str | None = None,
    seller: str | None = None,
    channel: Channel | None = None,
    at: AwareDatetime | None = None,
) -> StreamingResponse:
    """Scrub a CSV request body; streams back clean rows, rejects, or every row annotated."""
    tmp_dir = _tmp_dir(request.app.state.settings)
    # The upload is spooled to a private temp file chunk by chunk (never held whole in memory)
    # and deleted as soon as the response is finished.
    fd, name = tempfile.mkstemp(prefix="scrub-", suffix=".csv", dir=tmp_dir)
    src = Path(name)
    size = 0
    try:
        with open(fd, "wb") as fh:
            async for block in request.stream():
                size += len(block)
                fh.write(block)
        if size == 0:
            raise ValidationFailed(
                "the request body must be a CSV file with a header row", field="body"
            )
        with request.app.state.session_factory() as session:
            rt.sync(session)
        plan = scrubbing.plan(src, column=column)
    except BaseException:
        src.unlink(missing_ok=True)
        raise
    when = at or utcnow()
    factory = request.app.state.session_factory

    def body() -> Iterator[bytes]:
        try:
            summary: scrubbing.ScrubSummary | None = None
            gen = scrubbing.scrub_stream(
                rt, plan, output=output, at=when, seller=seller, channel=channel
            )
            while True:
                try:
                    yield next(gen)
                except StopIteration as stop:
                    summary = stop.value
                    break
            with factory() as session:
                audit.record(
                    session=session,
                    type="dnc.scrub",
                    actor=principal.name,
                    actor_role=principal.role.value,
                    subject=f"scrub:{plan.column}",
                    body={
                        "output": output,
                        "bytes": size,
                        **(summary.as_dict() if summary else {}),
                    },
                )
                session.commit()
        finally:
            src.unlink(missing_ok=True)

    return StreamingResponse(
        body(),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{output}.csv"',
            "X-Callwarden-Phone-Column": plan.column,
        },
    )
