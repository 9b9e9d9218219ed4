"""Access control: every route × every role over HTTP, against the documented table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callwarden.security.api import access_table_markdown, route_permissions
from callwarden.security.roles import ROLE_PERMISSIONS, Permission, Role

from .conftest import Keys

DOCS = Path(__file__).resolve().parents[1] / "docs" / "access.md"
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}
SAMPLE_PARAMS = {
    "number": "4045550100",
    "entry_id": "999999",
    "snapshot_id": "999999",
    "name_or_id": "no-such-key",
    "event_id": "999999",
    "consent_id": "999999",
    "revocation_id": "999999",
    "ebr_id": "999999",
    "call_id": "999999",
    "campaign_id": "no-such-campaign",
    "decision_id": "00000000-0000-0000-0000-000000000000",
    "emergency_id": "999999",
    "registration_id": "999999",
}
SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/keys"): {"name": "made-by-matrix", "role": "agent"},
    ("POST", "/v1/dnc/lookup"): {"numbers": ["4045550100"]},
    ("POST", "/v1/dnc/internal"): {"number": "4045550100"},
    ("POST", "/v1/dnc/internal/{entry_id}/remove"): {"reason": "matrix test"},
    ("POST", "/v1/scrubs"): "phone\n4045550100\n",
}
SAMPLE_QUERY = {("GET", "/v1/dnc/internal/entries"): {"number": "4045550100"}}


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    url = re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS[m.group(1)], path)
    body = SAMPLE_BODIES.get((method, path))
    kwargs: dict[str, Any] = {"headers": dict(headers), "params": SAMPLE_QUERY.get((method, path))}
    if (method, path) == ("POST", "/v1/dnc/imports"):
        kwargs["files"] = {"files": ("404.txt", b"404,5550100\n")}
        kwargs["data"] = {"list": "national", "format": "ftc_flat", "obtained": "2026-11-01"}
    elif isinstance(body, str):
        kwargs["content"] = body.encode()
        kwargs["headers"]["Content-Type"] = "text/csv"
    elif body is not None:
        kwargs["json"] = body
    return client.request(method, url, **kwargs)


def test_only_health_probes_are_public(app: Any) -> None:
    public = {(m, p) for m, p, perm in route_permissions(app) if perm is None}
    assert public == PUBLIC


def test_every_route_for_every_role(app: Any, client: TestClient, keys: Keys) -> None:
    """Allowed roles get past authorization; others get 403; no credential gets 401."""
    routes = [(m, p, perm) for m, p, perm in route_permissions(app) if perm is not None]
    assert len(routes) >= 10
    checked = 0
    for method, path, perm in routes:
        anon = _call(client, method, path, {})
        assert anon.status_code == 401, (method, path, anon.text)
        bad = _call(client, method, path, {"Authorization": "Bearer cw_000000000000_" + "x" * 43})
        assert bad.status_code == 401, (method, path)
        for role in Role:
            resp = _call(client, method, path, keys.headers(role))
            if role in ROLE_PERMISSIONS[perm]:
                assert resp.status_code not in (401, 403), (method, path, role, resp.text)
            else:
                assert resp.status_code == 403, (method, path, role, resp.status_code)
                assert resp.json()["error"] == "forbidden"
            checked += 1
    assert checked == len(routes) * len(Role)


def test_docs_table_matches_the_code(app: Any) -> None:
    """docs/access.md carries the generated table; regenerate it when routes change."""
    text = DOCS.read_text()
    start = text.index("<!-- access-table:start -->") + len("<!-- access-table:start -->\n")
    end = text.index("<!-- access-table:end -->")
    assert text[start:end] == access_table_markdown(app), (
        "docs/access.md is out of date: run `python -m callwarden.security.docs`"
    )


def test_only_compliance_may_remove_internal_entries() -> None:
    assert ROLE_PERMISSIONS[Permission.DNC_INTERNAL_REMOVE] == frozenset({Role.COMPLIANCE})


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization"])
def test_both_header_styles_work(client: TestClient, keys: Keys, header: str) -> None:
    token = keys.tokens[Role.AUDITOR]
    value = token if header == "X-API-Key" else f"Bearer {token}"
    assert client.get("/v1/dnc/status", headers={header: value}).status_code == 200


def test_revoked_key_fails_on_next_request(client: TestClient, keys: Keys) -> None:
    h = keys.headers(Role.AGENT)
    assert client.get("/v1/dnc/status", headers=h).status_code == 200
    r = client.delete("/v1/keys/test-agent", headers=keys.headers(Role.ADMIN))
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert client.get("/v1/dnc/status", headers=h).status_code == 401


def test_created_key_works_and_secret_is_not_listed(client: TestClient, keys: Keys) -> None:
    r = client.post(
        "/v1/keys", json={"name": "dialer-2", "role": "dialer"}, headers=keys.headers(Role.ADMIN)
    )
    assert r.status_code == 201
    token = r.json()["token"]
    assert (
        client.get("/v1/dnc/status", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    listing = client.get("/v1/keys", headers=keys.headers(Role.ADMIN)).json()
    assert token not in str(listing)
    assert all("token" not in k and "secret_hash" not in k for k in listing)
    dup = client.post(
        "/v1/keys", json={"name": "dialer-2", "role": "dialer"}, headers=keys.headers(Role.ADMIN)
    )
    assert dup.status_code == 409
    bad_role = client.post(
        "/v1/keys", json={"name": "x", "role": "root"}, headers=keys.headers(Role.ADMIN)
    )
    assert bad_role.status_code == 422 and bad_role.json()["errors"][0]["field"] == "role"


def test_failed_credentials_are_audited(client: TestClient, session_factory: Any) -> None:
    from callwarden.audit import service as audit

    client.get("/v1/dnc/status", headers={"Authorization": "Bearer nope"})
    with session_factory() as session:
        events = audit.events(session=session, type="auth.failed")
    assert events and events[0].subject == "/v1/dnc/status"
    assert "nope" not in events[0].body
