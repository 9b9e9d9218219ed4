"""The consent HTTP API: consents, revocations (with the DNC side effect), bulk imports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from callwarden.audit import service as audit
from callwarden.security.roles import Role

from .conftest import Keys

GIVEN = (datetime.now(UTC) - timedelta(days=1)).isoformat()


def pewc(**over: Any) -> dict[str, Any]:
    body = {
        "number": "(404) 555-0100",
        "kind": "pewc",
        "sellers": ["acme"],
        "channels": ["voice"],
        "purposes": ["telemarketing"],
        "given_at": GIVEN,
        "source": "web_form",
        "language_text": "Acme may call me with an autodialer.",
        "signature": "esign:abc",
        "ip": "203.0.113.7",
    }
    body.update(over)
    return body


def test_record_read_and_audit_a_consent(app, client: TestClient, keys: Keys, session_factory):
    r = client.post("/v1/consents", json=pewc(), headers=keys.headers(Role.AGENT))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["number"] == "+14045550100" and made["kind"] == "pewc"
    assert made["evidence"]["ip"] == "203.0.113.7" and len(made["language_sha256"]) == 64

    listing = client.get(
        "/v1/consents", params={"number": "+1 404 555 0100"}, headers=keys.headers(Role.AUDITOR)
    )
    assert listing.status_code == 200
    [item] = listing.json()
    assert item["id"] == made["id"] and item["evidence"]["signature"] == "esign:abc"

    one = client.get(f"/v1/consents/{made['id']}", headers=keys.headers(Role.SUPERVISOR))
    assert one.status_code == 200 and one.json()["evidence"]["ip"] == "203.0.113.7"
    missing = client.get("/v1/consents/999999", headers=keys.headers(Role.SUPERVISOR))
    assert missing.status_code == 404

    app.state.audit_writer.flush()
    with session_factory() as s:
        reads = audit.events(session=s, type="consent.read")
        [written] = audit.events(session=s, type="consent.recorded")
    assert written.actor == "test-agent" and written.actor_role == "agent"
    assert [(e.actor, e.subject) for e in reads] == [
        ("test-supervisor", "+14045550100"),
        ("test-auditor", "+14045550100"),
    ]
    assert '"route":"GET /v1/consents"' in reads[1].body
    assert all("203.0.113.7" not in e.body for e in [*reads, written])


def test_auditors_cannot_write_consents(client: TestClient, keys: Keys):
    r = client.post("/v1/consents", json=pewc(), headers=keys.headers(Role.AUDITOR))
    assert r.status_code == 403


def test_bad_consents_are_422_naming_the_field(client: TestClient, keys: Keys):
    h = keys.headers(Role.DIALER)
    cases = [
        (pewc(number="555"), "number"),
        (pewc(kind="implied"), "kind"),
        (pewc(signature=None), "signature"),
        (pewc(sellers=["*"]), "sellers"),
        (pewc(channels=["fax"]), "channels"),
        (pewc(given_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()), "given_at"),
    ]
    for body, field in cases:
        r = client.post("/v1/consents", json=body, headers=h)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["field"] == field
    naive = client.post("/v1/consents", json=pewc(given_at="2026-01-01T10:00:00"), headers=h)
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "given_at"
    assert client.get("/v1/consents", params={"number": "x"}, headers=h).json()["field"] == (
        "number"
    )


def test_stop_reply_revokes_and_lands_on_the_internal_dnc_list(client: TestClient, keys: Keys):
    h = keys.headers(Role.DIALER)
    r = client.post(
        "/v1/revocations",
        json={
            "number": "4045550100",
            "channel": "sms",
            "text": "Stop",
            "seller": "acme",
            "message_channel": "sms",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["revoked"] and out["basis"] == "per_se" and out["method"] == "keyword"
    assert out["revocation"]["scope"] == "all" and out["revocation"]["text"] is None
    entries = client.get(
        "/v1/dnc/internal/entries", params={"number": "4045550100"}, headers=h
    ).json()
    assert [(e["id"], e["seller"], e["channel"]) for e in entries] == [
        (out["dnc_entry_id"], "acme", "sms")
    ]
    # enforced at once: the very next lookup sees it
    lookup = client.get("/v1/dnc/4045550100", headers=h).json()
    assert [e["id"] for e in lookup["internal"]] == [out["dnc_entry_id"]]

    listing = client.get(
        "/v1/revocations", params={"number": "4045550100"}, headers=keys.headers(Role.AUDITOR)
    ).json()
    assert [(x["id"], x["text"], x["method"]) for x in listing] == [
        (out["revocation"]["id"], "Stop", "keyword")
    ]


def test_a_reply_that_revokes_nothing_is_200_and_not_recorded(client: TestClient, keys: Keys):
    h = keys.headers(Role.AGENT)
    r = client.post(
        "/v1/revocations",
        json={"number": "4045550100", "channel": "sms", "text": "what time is it?"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["revoked"] is False
    assert r.json()["revocation"] is None
    assert client.get("/v1/revocations", params={"number": "4045550100"}, headers=h).json() == []


def test_uncertain_reply_is_revoked_and_flagged(client: TestClient, keys: Keys):
    r = client.post(
        "/v1/revocations",
        json={"number": "4045550100", "channel": "sms", "text": "pls stopp"},
        headers=keys.headers(Role.AGENT),
    )
    assert r.status_code == 201
    assert r.json()["needs_review"] is True and r.json()["revocation"]["needs_review"] is True


def test_bad_revocations_are_422_naming_the_field(client: TestClient, keys: Keys):
    h = keys.headers(Role.AGENT)
    for body, field in [
        ({"number": "4045550100", "channel": "pigeon"}, "channel"),
        ({"number": "4045550100", "channel": "ivr", "scope": "sales"}, "scope"),
        ({"number": "4045550100", "channel": "ivr", "message_channel": "fax"}, "message_channel"),
        ({"number": "40455", "channel": "ivr"}, "number"),
    ]:
        r = client.post("/v1/revocations", json=body, headers=h)
        assert r.status_code == 422 and r.json()["field"] == field, (field, r.text)
    assert (
        client.post("/v1/revocations", json=body, headers=keys.headers(Role.AUDITOR)).status_code
        == 403
    )


CSV_BODY = (
    "number,kind,sellers,channels,purposes,given_at,source\n"
    "4045550100,pec,*,voice,informational,2026-01-05T10:00:00Z,agent\n"
    "4045550101,pec,acme,sms;voice,telemarketing,2026-01-05T10:00:00Z,sms\n"
)


def test_bulk_consents_from_csv_jsonl_and_json(client: TestClient, keys: Keys):
    h = keys.headers(Role.COMPLIANCE)
    r = client.post(
        "/v1/consents/imports",
        content=CSV_BODY.encode(),
        headers={**h, "Content-Type": "text/csv"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 2 and len(r.json()["ids"]) == 2
    row = {
        "number": "4045550102",
        "kind": "pec",
        "sellers": ["acme"],
        "channels": ["sms"],
        "purposes": ["informational"],
        "given_at": "2026-02-01T00:00:00Z",
        "source": "api",
    }
    r = client.post(
        "/v1/consents/imports",
        content=(json.dumps(row) + "\n").encode(),
        headers={**h, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 201 and r.json()["imported"] == 1
    r = client.post("/v1/consents/imports", json=[row, row], headers=h)
    assert r.status_code == 201 and r.json()["imported"] == 2
    r = client.post(
        "/v1/consents/imports", params={"format": "csv"}, content=CSV_BODY.encode(), headers=h
    )
    assert r.status_code == 201
    listing = client.get("/v1/consents", params={"number": "4045550102"}, headers=h).json()
    assert len(listing) == 3


def test_bulk_with_bad_rows_lists_them_all_and_imports_nothing(client: TestClient, keys: Keys):
    h = {**keys.headers(Role.COMPLIANCE), "Content-Type": "text/csv"}
    body = CSV_BODY + (
        "4045550103,pewc,acme,voice,telemarketing,2026-01-05T10:00:00Z,web\n"
        "12,pec,acme,voice,telemarketing,2026-01-05T10:00:00Z,web\n"
    )
    r = client.post("/v1/consents/imports", content=body.encode(), headers=h)
    assert r.status_code == 422
    out = r.json()
    assert out["error"] == "invalid_input" and out["field"] == "rows"
    assert [(e["line"], e["field"]) for e in out["errors"]] == [
        (4, "language_text"),
        (4, "signature"),
        (5, "number"),
    ]
    for n in ("4045550100", "4045550101"):
        assert client.get("/v1/consents", params={"number": n}, headers=h).json() == []
    unknown = client.post(
        "/v1/consents/imports",
        content=b"number;kind\n",
        headers={**keys.headers(Role.COMPLIANCE), "Content-Type": "application/octet-stream"},
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "content-type"
    empty = client.post("/v1/consents/imports", content=b"", headers=h)
    assert empty.status_code == 422 and empty.json()["field"] == "rows"


def test_bulk_revocations(client: TestClient, keys: Keys):
    h = {**keys.headers(Role.COMPLIANCE), "Content-Type": "text/csv"}
    body = (
        "number,received_at,channel,text,seller,scope\n"
        "4045550100,2026-01-05T10:00:00Z,sms,unsubscribe,acme,telemarketing\n"
        "4045550100,2026-01-05T10:01:00Z,sms,thank you!,acme,telemarketing\n"
        "4045550101,2026-01-05T10:00:00Z,letter,,*,informational\n"
    )
    r = client.post("/v1/revocations/imports", content=body.encode(), headers=h)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["imported"] == 2 and out["not_revocations"] == [3]
    entries = client.get("/v1/dnc/internal/entries", params={"number": "4045550100"}, headers=h)
    assert [e["seller"] for e in entries.json()] == ["acme"]
    bad = client.post(
        "/v1/revocations/imports",
        content=b"number,received_at,channel\n4045550100,2026-01-05,sms\n4045550100,,fax\n",
        headers=h,
    )
    assert bad.status_code == 422
    assert [(e["line"], e["field"]) for e in bad.json()["errors"]] == [
        (2, "received_at"),
        (3, "received_at"),
        (3, "channel"),
    ]
