"""The HTTP application: routes of every domain, error mapping, health and readiness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from callwarden import __version__, migrate
from callwarden.audit import api as audit_api
from callwarden.audit import log as audit_log
from callwarden.audit.service import AuditWriter
from callwarden.calls import api as calls_api
from callwarden.config import Settings, get_settings
from callwarden.consent import api as consent_api
from callwarden.db import WalCheckpointer, make_engine, make_session_factory
from callwarden.dnc import api as dnc_api
from callwarden.dnc.runtime import DncRuntime
from callwarden.ebr import api as ebr_api
from callwarden.emergencies import api as emergencies_api
from callwarden.errors import (
    CallwardenError,
    Conflict,
    NotFound,
    PermissionDenied,
    invalid_input_body,
)
from callwarden.gate import api as gate_api
from callwarden.gate.service import Gate
from callwarden.logging import get_logger
from callwarden.numbers import api as numbers_api
from callwarden.rnd import api as rnd_api
from callwarden.runtime import tune_gc
from callwarden.security import api as security_api

log = get_logger("callwarden.app")

STATUS = {
    security_api.Unauthenticated: 401,
    security_api.Forbidden: 403,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
}


def _status_for(exc: CallwardenError) -> int:
    for cls, code in STATUS.items():
        if isinstance(exc, cls):
            return code
    return 422


def error_response(exc: CallwardenError) -> JSONResponse:
    """The JSON answer to a refused request: its status, error code, message and field."""
    status = _status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body: dict[str, Any] = {"error": exc.code, "message": exc.message}
    if exc.field:
        body["field"] = exc.field
    return JSONResponse(status_code=status, content=body, headers=headers)


Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRoutes:
    """Hand the per-call hot routes straight to their endpoints.

    A request to `POST /v1/decisions` spent a fifth of its CPU between the middleware and
    the endpoint (exception middleware, exit stack, route matching, dependency solving).
    These endpoints take the raw request and check their own credential and body, so they
    need none of it. This sits inside every other middleware (the concurrency limit, the
    body limit `BodyLimit`, the server-error handler still apply); a refusal gets the same
    answer as from the exception handler, and any other error goes on to the server-error
    handler.
    """

    def __init__(self, app: Any, routes: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        endpoint = (
            self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except CallwardenError as exc:
            response = error_response(exc)
        await response(scope, receive, send)


class ConcurrencyLimit:
    """Admit at most `limit` requests at once; the others wait on the event loop.

    Each request holds a pooled database connection for its whole life, and its work runs in
    worker threads that need the event loop to finish. Were more requests admitted than the
    pool has connections, the next one would block the event loop waiting for a connection
    that only a finishing request (which needs the loop) could return.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.slots = asyncio.Semaphore(limit)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self.slots:
            await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse (413) a request body over its route's limit, before or while it is read.

    The decision routes parse their bodies whole: without a limit an 80 MB body was read and
    parsed before anything refused it. Routes not named here have their own limits (bulk
    imports, `bulk.MAX_BODY`) or take large uploads (registry files).
    """

    def __init__(self, app: Any, limits: Mapping[str, int]) -> None:
        self.app = app
        self.limits = dict(limits)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        limit = self.limits.get(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse_large(send, limit)
            return
        seen, started = 0, False

        async def counted() -> Any:  # a body sent without a length is counted as it comes
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def sending(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except _TooLarge:
            if started:
                raise
            await _refuse_large(send, limit)


async def _refuse_large(send: Any, limit: int) -> None:
    body = orjson.dumps(
        {
            "error": "too_large",
            "message": f"the body is larger than {limit:,} bytes; split the batch",
            "field": "body",
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# one attempt is well under a kilobyte; a batch holds at most 10,000
DECISION_BODY_LIMITS = {"/v1/decisions": 64 << 10, "/v1/decisions/batch": 16 << 20}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for the given settings (defaults: environment)."""
    settings = settings or get_settings()
    engine = make_engine(
        settings.resolved_database_url, pool_size=settings.db_pool_size, checkpoint_apart=True
    )
    factory = make_session_factory(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.dnc.load()
        app.state.wal = WalCheckpointer(engine)
        app.state.audit_writer = AuditWriter(
            factory,
            sequence_every=settings.audit_sequence_seconds,
            checkpoint_every=settings.audit_checkpoint_seconds,
            signer=audit_log.signer_for(settings.data_dir),
        )
        app.state.gate = Gate(
            settings=settings,
            session_factory=factory,
            dnc=app.state.dnc,
            audit_writer=app.state.audit_writer,
        )
        app.state.gate.start_writer()
        tune_gc()
        yield
        app.state.gate.close()
        app.state.audit_writer.close()
        app.state.dnc.close()
        app.state.wal.close()
        engine.dispose()

    app = FastAPI(
        title="callwarden",
        version=__version__,
        description="Contact-center compliance: Do-Not-Call registries, scrubbing, access control.",
        lifespan=lifespan,
        telemetry=None
        if settings.opentelemetry
        else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    # added first, so innermost: the concurrency limit (added next) wraps it
    app.add_middleware(DirectRoutes, routes={("POST", "/v1/decisions"): gate_api.create_decision})
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent_requests)
    # outermost of ours: a body over its limit is refused before it waits for a slot
    app.add_middleware(BodyLimit, limits=DECISION_BODY_LIMITS)
    app.state.engine = engine
    app.state.session_factory = factory
    app.state.dnc = DncRuntime(settings=settings, session_factory=factory)

    @app.exception_handler(CallwardenError)
    async def _callwarden_error(_request: Request, exc: CallwardenError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=invalid_input_body(exc.errors()))

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal_error", path=request.url.path, error=repr(exc))
        return JSONResponse(
            status_code=500,
            content={"error": "internal", "message": "internal error; see the service log"},
        )

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (no credential; no data)."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Readiness: database reachable, schema current, DNC index loaded."""
        checks: dict[str, str] = {}
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            current = migrate.current_revision(engine)
            checks["schema"] = "ok" if current == migrate.head_revision() else "outdated"
        except Exception as exc:  # readiness must answer, never raise
            checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["dnc_index"] = "ok" if app.state.dnc.loaded else "loading"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            status_code=200 if ready else 503,
            content={"status": "ready" if ready else "not_ready", "checks": checks},
        )

    # Routes are matched in order: the per-call hot paths (the gate, DNC lookups) come first.
    for module in (
        gate_api,
        dnc_api,
        calls_api,
        consent_api,
        security_api,
        audit_api,
        ebr_api,
        numbers_api,
        rnd_api,
        emergencies_api,
    ):
        app.include_router(module.router)
    return app
