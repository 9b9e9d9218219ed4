"""HTTP routes of the gate: decide one attempt or a batch, read and replay a logged decision."""

from __future__ import annotations

import json
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from callwarden.audit import service as audit
from callwarden.errors import NotFound, invalid_input_body
from callwarden.gate.decide import Attempt
from callwarden.gate.schemas import AttemptIn, BatchIn, decision_out, reason_out
from callwarden.gate.service import DECISION_EVENT, REPLAY_EVENT, Gate, internal_error_decision
from callwarden.logging import get_logger
from callwarden.security.api import authorize, get_session, request_token, require
from callwarden.security.roles import Permission
from callwarden.security.service import Principal

router = APIRouter(prefix="/v1", tags=["gate"])
log = get_logger("callwarden.gate")
FAILED = "internal error; see the service log"


def _json(body: dict[str, Any]) -> Response:
    # Plain data serialised once: FastAPI's generic encoder walks every value again.
    return Response(content=orjson.dumps(body), media_type="application/json")


def _gate(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


def _decide(
    gate: Gate, items: list[AttemptIn], principal: Principal, session: Session | None
) -> list[dict[str, Any]]:
    attempts = [i.to_attempt() for i in items]
    as_of = {i.as_of for i in items}
    known_at = next(iter(as_of)) if len(as_of) == 1 else None
    if len(as_of) > 1:
        # Each replayed attempt needs its own "known at" instant.
        out: list[dict[str, Any]] = []
        for item in items:
            out += _decide(gate, [item], principal, session)
        return out
    try:
        records = gate.decide_many(
            attempts,
            actor=principal.name,
            actor_role=principal.role,
            known_at=known_at,
            session=session,
        )
    except Exception as exc:
        return _failed(attempts, exc)
    return [decision_out(r) for r in records]


def _failed(attempts: list[Attempt], exc: Exception) -> list[dict[str, Any]]:
    # Fail closed: the dialer gets a deny it can act on, never a 500 it might retry past.
    log.error("gate_failed", error=repr(exc))
    return [
        {
            "decision_id": None,
            "decision": "deny",
            "number": "+" + str(a.number),
            "reasons": [reason_out(r) for r in internal_error_decision(a, FAILED).reasons],
            "obligations": [],
            "audit": None,
        }
        for a in attempts
    ]


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    # the OpenAPI request body of a route that reads and validates its body itself
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _invalid(exc: ValidationError) -> Response:
    return Response(
        content=orjson.dumps(invalid_input_body(exc.errors(include_context=False))),
        status_code=422,
        media_type="application/json",
    )


def _checked(request: Request, raw: bytes) -> tuple[Principal, AttemptIn] | Response:
    # The credential first (401/403 before 422, as FastAPI orders them), then the body; a
    # plain read connection (`Gate.reads`), released before the decision waits for its write.
    with _gate(request).reads() as conn:
        principal = authorize(request, conn, request_token(request), Permission.GATE_DECIDE)
    try:
        return principal, AttemptIn.model_validate_json(raw)
    except ValidationError as exc:
        return _invalid(exc)


def _decide_one(request: Request, raw: bytes) -> Response:
    # The whole request in one worker thread: credential, validation, decision (the decision
    # reads and writes on connections of its own).
    checked = _checked(request, raw)
    if isinstance(checked, Response):
        return checked
    principal, body = checked
    (out,) = _decide(_gate(request), [body], principal, None)
    return _json(out)


async def _decide_one_inline(request: Request, raw: bytes) -> Response:
    # The same on the event loop, for a database in the process (see Gate.decide_many_async).
    checked = _checked(request, raw)
    if isinstance(checked, Response):
        return checked
    principal, body = checked
    gate = _gate(request)
    attempt = body.to_attempt()
    try:
        (record,) = await gate.decide_many_async(
            [attempt], actor=principal.name, actor_role=principal.role, known_at=body.as_of
        )
    except Exception as exc:
        (out,) = _failed([attempt], exc)
        return _json(out)
    return _json(decision_out(record))


@router.post(
    "/decisions",
    openapi_extra=_json_body(AttemptIn),
    responses={401: {}, 403: {}, 422: {}},
)
async def create_decision(request: Request) -> Response:
    """Decide one attempt: allow or deny, every reason, obligations, audit receipt.

    The dialer's hot path: it authenticates (permission gate.decide) and validates the body
    itself instead of through FastAPI's per-request dependency resolution, which cost as much
    CPU as the decision. On SQLite it runs on the event loop (reads of a local file take
    microseconds, thread hops more); on PostgreSQL in a worker thread.
    """
    raw = await request.body()
    if _gate(request).inline:
        return await _decide_one_inline(request, raw)
    return await run_in_threadpool(_decide_one, request, raw)


create_decision.permission = Permission.GATE_DECIDE  # type: ignore[attr-defined]


@router.post("/decisions/batch")
async def create_decisions(
    body: BatchIn,
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.GATE_DECIDE))],
    session: Annotated[Session, Depends(get_session)],
) -> Response:
    """Decide up to 10,000 attempts at once (one transaction; caps count within the batch)."""
    out = await run_in_threadpool(_decide, _gate(request), body.attempts, principal, session)
    allowed = sum(1 for d in out if d["decision"] == "allow")
    return _json(
        {"count": len(out), "allowed": allowed, "denied": len(out) - allowed, "decisions": out}
    )


def _logged(session: Session, decision_id: str) -> dict[str, Any]:
    for kind in (DECISION_EVENT, REPLAY_EVENT):
        found = audit.events(session=session, type=kind, subject=decision_id, limit=1)
        if found:
            body: dict[str, Any] = json.loads(found[0].body)
            body["audit_event_id"] = found[0].id
            return body
    raise NotFound(f"no decision {decision_id}")


@router.get("/decisions/{decision_id}")
async def get_decision(
    decision_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.GATE_REPLAY))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """The logged decision: input, facts, reasons and rule-pack revisions (audited read)."""
    body = await run_in_threadpool(_logged, session, decision_id)
    request.app.state.audit_writer.submit(
        type="gate.decision.read",
        actor=principal.name,
        actor_role=principal.role,
        subject=decision_id,
    )
    return body


@router.post("/decisions/{decision_id}/replay")
async def replay_decision(
    decision_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.GATE_REPLAY))],
) -> dict[str, Any]:
    """Decide a logged decision again with its own facts and rule-pack revisions."""
    original, rec = await run_in_threadpool(
        _gate(request).replay_decision,
        decision_id,
        actor=principal.name,
        actor_role=principal.role,
    )
    replayed = decision_out(rec)
    same = original["decision"] == replayed["decision"] and [
        r["code"] for r in original["reasons"]
    ] == [r["code"] for r in replayed["reasons"]]
    return {"decision_id": decision_id, "original": original, "replayed": replayed, "same": same}
