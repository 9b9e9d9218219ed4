"""The HTTP half of bulk imports (`callwarden.bulk`): the request body, its format, the 422.

Apart from `bulk` so that the command line, which shares the rest, does not load FastAPI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from callwarden.bulk import MAX_BODY, ImportRejected, check_format, format_for
from callwarden.errors import ValidationFailed


async def raw_body(request: Request) -> bytes:
    """The request body as sent (bulk imports read CSV and JSON lines), refused over MAX_BODY."""
    declared = request.headers.get("content-length")
    too_big = f"the body is larger than {MAX_BODY >> 20} MiB; split it"
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise ValidationFailed(too_big, field="body")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ValidationFailed(too_big, field="body")
    return body


def body_format(request: Request, fmt: str | None) -> str | None:
    """The bulk format from ?format= or the Content-Type (None: none sent, guess from the body)."""
    if fmt is not None:
        return check_format(fmt)
    content_type = request.headers.get("content-type")
    if not content_type:
        return None
    found = format_for(content_type)
    if found is None:
        raise ValidationFailed(
            "send text/csv, application/x-ndjson or application/json, or give ?format=",
            field="content-type",
        )
    return found


def rejected_response(exc: ImportRejected) -> JSONResponse:
    """The 422 answer listing every bad row (the app's generic handler keeps only the message)."""
    return JSONResponse(status_code=422, content=exc.as_dict())


def report_answer(work: Callable[[], Any]) -> Any:
    """The report `work()` returns as plain data, or the 422 listing every bad row it raised."""
    try:
        report = work()
    except ImportRejected as exc:
        return rejected_response(exc)
    return report.as_dict()
