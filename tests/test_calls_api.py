"""The calls HTTP API and the `callwarden calls` commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from callwarden.audit import service as audit
from callwarden.calls import service
from callwarden.security.roles import Role

from .conftest import Keys

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
CALL = {
    "number": "(404) 555-0100",
    "at": "2026-03-02T10:00:00-05:00",
    "seller": "acme",
    "campaign": "spring",
    "channel": "voice",
    "purpose": "telemarketing",
    "technology": "autodialer",
    "outcome": "answered",
}
CSV = (
    "to,start_time,seller,campaign,channel,purpose,technology,outcome,call_id,agent\n"
    "4045550100,2026-03-02T15:00:00Z,acme,spring,voice,telemarketing,autodialer,answered,c-1,bo\n"
    "4045550101,2026-03-02T15:01:00Z,acme,spring,voice,telemarketing,autodialer,abandoned,c-2,\n"
)


def _count(session_factory: Any) -> int:
    with session_factory() as s:
        return len(service.list_calls(session=s, limit=1000))


def test_post_one_call_then_the_same_again(client: TestClient, keys: Keys):
    h = keys.headers(Role.DIALER)
    r = client.post("/v1/calls", json={**CALL, "external_id": "e-1"}, headers=h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["number"] == "+14045550100" and body["at"].startswith("2026-03-02T15:00:00")
    assert body["state"] == "placed" and body["answered_by_person"] and not body["duplicate"]
    again = client.post("/v1/calls", json={**CALL, "external_id": "e-1"}, headers=h)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["id"] == body["id"]


def test_a_bad_call_is_422_naming_the_field(client: TestClient, keys: Keys, session_factory):
    h = keys.headers(Role.DIALER)
    r = client.post("/v1/calls", json={**CALL, "outcome": "hung_up"}, headers=h)
    assert r.status_code == 422
    assert r.json()["field"] == "outcome" and r.json()["errors"][0]["field"] == "outcome"
    typo = client.post("/v1/calls", json={**CALL, "dnc_requested": True}, headers=h)
    assert typo.status_code == 422 and typo.json()["field"] == "dnc_requested"
    empty = client.post("/v1/calls", headers=h)
    assert empty.status_code == 422 and empty.json()["field"] == "body"
    assert _count(session_factory) == 0


def test_a_batch_is_all_or_nothing(client: TestClient, keys: Keys, session_factory):
    h = keys.headers(Role.DIALER)
    bad = [CALL, {**CALL, "number": "12"}, {**CALL, "at": "2026-03-02T10:00:00"}]
    r = client.post("/v1/calls", json={"calls": bad}, headers=h)
    assert r.status_code == 422
    assert [(e["line"], e["field"]) for e in r.json()["errors"]] == [(2, "number"), (3, "at")]
    assert _count(session_factory) == 0
    ok = client.post("/v1/calls", json={"calls": [CALL, CALL]}, headers=h)
    assert ok.status_code == 201 and ok.json()["imported"] == 2
    too_many = client.post("/v1/calls", json={"calls": [CALL] * 10_001}, headers=h)
    assert too_many.status_code == 422 and too_many.json()["field"] == "calls"


def test_csv_and_jsonl_imports(client: TestClient, keys: Keys, session_factory):
    h = {**keys.headers(Role.COMPLIANCE), "Content-Type": "text/csv"}
    r = client.post("/v1/calls/imports", content=CSV.encode(), headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 2 and r.json()["ignored_columns"] == ["agent"]
    again = client.post("/v1/calls/imports", content=CSV.encode(), headers=h)
    assert again.json()["imported"] == 0 and again.json()["skipped"] == 2
    lines = [json.dumps({**CALL, "external_id": "j-1"}), json.dumps({**CALL, "channel": "fax"})]
    jh = {**keys.headers(Role.COMPLIANCE), "Content-Type": "application/x-ndjson"}
    bad = client.post("/v1/calls/imports", content="\n".join(lines), headers=jh)
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"line": 2, "field": "channel", "message": "channel must be one of voice, sms"}
    ]
    assert _count(session_factory) == 2
    good = client.post("/v1/calls/imports", content=lines[0], headers=jh)
    assert good.status_code == 201 and good.json()["imported"] == 1
    xml = {**keys.headers(Role.COMPLIANCE), "Content-Type": "application/xml"}
    assert client.post("/v1/calls/imports", content=b"<x/>", headers=xml).status_code == 422


def _reserve(session_factory: Any, decision_id: str) -> None:
    with session_factory() as s:
        service.reserve_many(
            session=s,
            actor="gate",
            reservations=[
                service.Reservation(
                    decision_id=decision_id,
                    number=14045550100,
                    at=T0,
                    expires_at=T0 + timedelta(minutes=5),
                    seller="acme",
                    campaign="spring",
                    subject=None,
                    debt_id="D-1",
                    channel="voice",
                    purpose="debt_collection",
                    technology="manual",
                    caller_id=None,
                )
            ],
        )
        s.commit()


def test_reservations_are_released_or_become_calls(client: TestClient, keys: Keys, session_factory):
    h = keys.headers(Role.DIALER)
    _reserve(session_factory, "d-release")
    _reserve(session_factory, "d-call")
    r = client.post("/v1/calls/reservations/d-release/release", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "released"
    assert client.post("/v1/calls/reservations/nope/release", headers=h).status_code == 404
    placed = client.post(
        "/v1/calls",
        json={"decision_id": "d-call", "outcome": "answered", "conversation": True},
        headers=h,
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["state"] == "placed" and placed.json()["debt_id"] == "D-1"
    assert client.post("/v1/calls/reservations/d-call/release", headers=h).status_code == 409
    unknown = client.post("/v1/calls", json={"decision_id": "zz", "outcome": "answered"}, headers=h)
    assert unknown.status_code == 404 and unknown.json()["field"] == "decision_id"
    with session_factory() as s:
        facts = service.load_history(
            s, numbers=[14045550100], debt_ids=[], since=T0 - timedelta(days=1), now=T0
        )
    assert [(f.state, f.conversation) for f in facts] == [("placed", True)]


def test_a_dnc_request_reaches_the_internal_list(client: TestClient, keys: Keys):
    r = client.post(
        "/v1/calls", json={**CALL, "dnc_request": True}, headers=keys.headers(Role.DIALER)
    )
    assert r.status_code == 201
    entries = client.get(
        "/v1/dnc/internal/entries",
        params={"number": "4045550100"},
        headers=keys.headers(Role.COMPLIANCE),
    ).json()
    assert [(e["seller"], e["channel"]) for e in entries] == [("acme", "all")]


def test_listing_calls_is_audited(app, client: TestClient, keys: Keys, session_factory):
    client.post("/v1/calls", json=CALL, headers=keys.headers(Role.DIALER))
    client.post(
        "/v1/calls", json={**CALL, "number": "4045550199"}, headers=keys.headers(Role.DIALER)
    )
    r = client.get(
        "/v1/calls", params={"number": "+1 404 555 0100"}, headers=keys.headers(Role.AUDITOR)
    )
    assert r.status_code == 200 and [c["number"] for c in r.json()] == ["+14045550100"]
    assert client.get("/v1/calls", headers=keys.headers(Role.AGENT)).status_code == 403
    bad = client.get("/v1/calls", params={"number": "12"}, headers=keys.headers(Role.AUDITOR))
    assert bad.status_code == 422 and bad.json()["field"] == "number"
    app.state.audit_writer.flush()
    with session_factory() as s:
        (event,) = audit.events(session=s, type="calls.read")
    assert event.subject == "+14045550100" and event.actor == "test-auditor"


def test_campaign_abandonment_endpoint(client: TestClient, keys: Keys):
    h = keys.headers(Role.DIALER)
    calls = [CALL] * 30 + [{**CALL, "outcome": "abandoned"}]
    assert client.post("/v1/calls", json={"calls": calls}, headers=h).status_code == 201
    sup = keys.headers(Role.SUPERVISOR)
    r = client.get(
        "/v1/campaigns/spring/abandonment", params={"at": "2026-03-10T00:00:00Z"}, headers=sup
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["current"]["answered_by_person"] == 31 and body["current"]["abandoned"] == 1
    assert body["within_limit"] is False and body["limit"] == 0.03
    assert body["periods"][0]["start"].startswith("2026-03-02")
    # the rolling 30 days the gate also throttles on, over HTTP
    rolling = body["rolling_30_days"]
    assert rolling["start"].startswith("2026-02-08") and rolling["end"].startswith("2026-03-10")
    assert (rolling["answered_by_person"], rolling["abandoned"]) == (31, 1)
    assert rolling["within_limit"] is False and body["gate_within_limit"] is False
    assert client.get("/v1/campaigns/nope/abandonment", headers=sup).status_code == 404
    assert client.get("/v1/campaigns/spring/abandonment", headers=h).status_code == 403


# -- the command line -------------------------------------------------------------------------


def test_cli_import_stats_and_list(tmp_path, run_cli):
    good = tmp_path / "cdr.csv"
    good.write_text(CSV)
    out = run_cli("calls", "import", str(good), check=True)
    assert "imported 2 call(s)" in out.stdout and "agent" in out.stderr
    again = run_cli("calls", "import", str(good), "--json", check=True)
    assert json.loads(again.stdout)["skipped"] == 2

    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({**CALL, "external_id": "n-1"})
        + "\n"
        + json.dumps({**CALL, "number": "12"})
        + "\n"
        + json.dumps({**CALL, "outcome": "??"})
        + "\n"
    )
    rejected = run_cli("calls", "import", str(bad))
    assert rejected.returncode == 2, rejected.stderr
    assert f"{bad}:2: number:" in rejected.stderr and f"{bad}:3: outcome:" in rejected.stderr
    assert "nothing was imported" in rejected.stderr and "Traceback" not in rejected.stderr

    listed = run_cli("calls", "list", "404-555-0100", "--json", check=True)
    assert [c["external_id"] for c in json.loads(listed.stdout)] == ["c-1"]  # not n-1

    stats = run_cli("calls", "stats", "--at", "2026-03-03T00:00:00+00:00", "--json", check=True)
    (report,) = json.loads(stats.stdout)
    assert report["campaign"] == "spring" and report["current"]["rate"] == 0.5
    table = run_cli("calls", "stats", "--at", "2026-03-03T00:00:00+00:00", check=True)
    assert "OVER LIMIT" in table.stdout and "spring" in table.stdout
    missing = run_cli("calls", "stats", "--campaign", "nope")
    assert missing.returncode == 2 and "nope" in missing.stderr
