"""`DirectRoutes`: hot routes handed straight to their endpoints, with the same answers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient

from callwarden.app import DirectRoutes, error_response
from callwarden.errors import NotFound


async def _direct(request: Request) -> Response:
    kind = (await request.body()).decode()
    if kind == "missing":
        raise NotFound("no such thing")
    if kind == "crash":
        raise RuntimeError("boom")
    return JSONResponse({"via": "direct", "app": request.app.title})


def _app() -> FastAPI:
    app = FastAPI(title="probe")

    @app.post("/hot")
    def hot_by_router() -> dict[str, Any]:
        return {"via": "router"}

    @app.get("/hot")
    def hot_get() -> dict[str, Any]:
        return {"via": "router-get"}

    @app.exception_handler(Exception)
    async def _internal(_request: Request, _exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=500, content={"error": "internal"})

    app.add_middleware(DirectRoutes, routes={("POST", "/hot"): _direct})
    return app


def test_a_direct_route_is_served_by_its_endpoint_and_others_by_the_router() -> None:
    """POST /hot goes to the direct endpoint (which sees the application); GET /hot and any
    other path go through the router as before."""
    client = TestClient(_app())
    assert client.post("/hot", content=b"ok").json() == {"via": "direct", "app": "probe"}
    assert client.get("/hot").json() == {"via": "router-get"}
    assert client.post("/cold").status_code == 404
    assert client.put("/hot").status_code == 405


def test_a_refusal_is_answered_as_the_exception_handler_would() -> None:
    """A CallwardenError from a direct endpoint: the same status and body as the app's
    handler gives on a routed request (error_response)."""
    r = TestClient(_app()).post("/hot", content=b"missing")
    expected = error_response(NotFound("no such thing"))
    assert r.status_code == expected.status_code == 404
    assert r.content == expected.body
    assert r.json() == {"error": "not_found", "message": "no such thing"}


def test_any_other_error_reaches_the_server_error_handler() -> None:
    """Not swallowed: an unexpected error is the application's 500 answer, no traceback."""
    r = TestClient(_app(), raise_server_exceptions=False).post("/hot", content=b"crash")
    assert r.status_code == 500
    assert r.json() == {"error": "internal"}


def test_the_service_serves_its_decision_route_directly(app: Any) -> None:
    """The real application hands POST /v1/decisions to the gate's endpoint, inside the
    concurrency limit."""
    from callwarden.app import ConcurrencyLimit
    from callwarden.gate import api as gate_api

    stack = [m.cls for m in app.user_middleware]
    assert stack.index(ConcurrencyLimit) < stack.index(DirectRoutes)  # outer, then inner
    (direct,) = [m for m in app.user_middleware if m.cls is DirectRoutes]
    assert direct.kwargs["routes"] == {("POST", "/v1/decisions"): gate_api.create_decision}
