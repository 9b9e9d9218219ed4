"""The Do-Not-Call HTTP API: lookups, batch lookups, status, internal list, scrubs."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from callwarden.dnc import service
from callwarden.security.roles import Role

from .conftest import Keys
from .dnc_files import e164, write_flat


def _seed(tmp_path, settings, session_factory, operator, obtained=None):
    obtained = obtained or datetime.now(UTC).date().isoformat()
    service.import_files(
        session_factory=session_factory,
        settings=settings,
        list_key="national",
        fmt="ftc_flat",
        paths=[write_flat(tmp_path / "404.txt", [e164("4045550100"), e164("4045550101")])],
        obtained=obtained,
        actor=operator,
    )


def test_single_lookup(
    tmp_path, settings, session_factory, operator, client: TestClient, keys: Keys
):
    _seed(tmp_path, settings, session_factory, operator)
    r = client.get("/v1/dnc/(404) 555-0100", headers=keys.headers(Role.DIALER))
    assert r.status_code == 200
    body = r.json()
    assert body["number"] == "+14045550100" and body["listed"] is True
    national = next(x for x in body["lists"] if x["list"] == "national")
    assert national["status"] == "hit" and national["as_of"].startswith(
        datetime.now(UTC).date().isoformat()
    )
    miss = client.get("/v1/dnc/+14045550199", headers=keys.headers(Role.DIALER)).json()
    assert miss["listed"] is False and miss["unknown"] is False
    uncovered = client.get("/v1/dnc/2125550100", headers=keys.headers(Role.DIALER)).json()
    assert uncovered["unknown"] is True


def test_invalid_number_is_422_with_field(client: TestClient, keys: Keys):
    r = client.get("/v1/dnc/123", headers=keys.headers(Role.AGENT))
    assert r.status_code == 422
    assert r.json()["field"] == "number"


def test_lookups_are_audited(tmp_path, settings, session_factory, operator, app, client, keys):
    from callwarden.audit import service as audit

    _seed(tmp_path, settings, session_factory, operator)
    client.get("/v1/dnc/4045550100", headers=keys.headers(Role.AGENT))
    client.post(
        "/v1/dnc/lookup", json={"numbers": ["4045550100", "x"]}, headers=keys.headers(Role.DIALER)
    )
    app.state.audit_writer.flush()
    with session_factory() as s:
        single = audit.events(session=s, type="dnc.lookup")
        batch = audit.events(session=s, type="dnc.lookup.batch")
    assert single[0].actor == "test-agent" and single[0].subject == "+14045550100"
    assert '"route":"GET /v1/dnc/4045550100"' in single[0].body
    assert batch[0].actor == "test-dialer" and '"count":2' in batch[0].body


def test_batch_lookup(tmp_path, settings, session_factory, operator, client, keys):
    _seed(tmp_path, settings, session_factory, operator)
    numbers = ["4045550100", "+1 404 555 0199", "garbage", "1-404-555-0101"]
    r = client.post("/v1/dnc/lookup", json={"numbers": numbers}, headers=keys.headers(Role.DIALER))
    assert r.status_code == 200
    from callwarden.dnc.api import LookupOut

    LookupOut.model_validate(r.json())  # the documented schema, though built without models
    res = r.json()["results"]
    assert [x["input"] for x in res] == numbers
    assert [x["listed"] for x in res] == [True, False, False, True]
    assert res[2]["valid"] is False and res[2]["error"]


def test_batch_limit_and_validation(client, keys):
    h = keys.headers(Role.DIALER)
    too_many = client.post("/v1/dnc/lookup", json={"numbers": ["4045550100"] * 100_001}, headers=h)
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "numbers"
    naive = client.post(
        "/v1/dnc/lookup", json={"numbers": ["4045550100"], "at": "2026-01-01T10:00:00"}, headers=h
    )
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "at"


def test_at_parameter_applies_freshness(
    tmp_path, settings, session_factory, operator, client, keys
):
    old = (datetime.now(UTC) - timedelta(days=40)).date().isoformat()
    _seed(tmp_path, settings, session_factory, operator, obtained=old)
    h = keys.headers(Role.DIALER)
    now = client.get("/v1/dnc/4045550100", headers=h).json()
    assert now["unknown"] is True
    back = (datetime.now(UTC) - timedelta(days=20)).isoformat()
    then = client.get("/v1/dnc/4045550100", params={"at": back}, headers=h).json()
    assert then["listed"] is True and then["unknown"] is False


def test_internal_add_is_visible_to_next_lookup_and_removal_is_compliance_only(client, keys):
    r = client.post(
        "/v1/dnc/internal",
        json={
            "number": "(404) 555-0142",
            "channel": "voice",
            "seller": "acme",
            "source": "agent_disposition",
        },
        headers=keys.headers(Role.AGENT),
    )
    assert r.status_code == 201
    entry = r.json()
    assert entry["number"] == "+14045550142" and entry["added_by"] == "test-agent"
    looked = client.get("/v1/dnc/4045550142", headers=keys.headers(Role.DIALER)).json()
    assert looked["listed"] is True
    assert looked["internal"][0]["id"] == entry["id"] and looked["internal"][0]["seller"] == "acme"
    path = f"/v1/dnc/internal/{entry['id']}/remove"
    assert (
        client.post(path, json={"reason": "x" * 10}, headers=keys.headers(Role.ADMIN)).status_code
        == 403
    )
    short = client.post(path, json={"reason": ""}, headers=keys.headers(Role.COMPLIANCE))
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "reason"
    ok = client.post(
        path, json={"reason": "written re-consent on file"}, headers=keys.headers(Role.COMPLIANCE)
    )
    assert ok.status_code == 200 and ok.json()["removed_by"] == "test-compliance"
    again = client.post(
        path, json={"reason": "written re-consent on file"}, headers=keys.headers(Role.COMPLIANCE)
    )
    assert again.status_code == 409
    assert (
        client.get("/v1/dnc/4045550142", headers=keys.headers(Role.DIALER)).json()["listed"]
        is False
    )
    hist = client.get(
        "/v1/dnc/internal/entries",
        params={"number": "4045550142", "include_removed": "true"},
        headers=keys.headers(Role.AUDITOR),
    ).json()
    assert hist[0]["active"] is False and hist[0]["removal_reason"] == "written re-consent on file"


def test_internal_add_validation(client, keys):
    h = keys.headers(Role.AGENT)
    bad_channel = client.post(
        "/v1/dnc/internal", json={"number": "4045550100", "channel": "fax"}, headers=h
    )
    assert bad_channel.status_code == 422 and bad_channel.json()["errors"][0]["field"] == "channel"
    bad_number = client.post("/v1/dnc/internal", json={"number": "55"}, headers=h)
    assert bad_number.status_code == 422 and bad_number.json()["field"] == "number"


def test_status(tmp_path, settings, session_factory, operator, client, keys):
    _seed(tmp_path, settings, session_factory, operator)
    body = client.get("/v1/dnc/status", headers=keys.headers(Role.AUDITOR)).json()
    national = next(x for x in body["lists"] if x["list"] == "national")
    assert national["coverage"] == [404] and national["entries"] == 2
    assert national["age_days"] == 0 and national["stale"] is False


def test_scrub_over_http(tmp_path, settings, session_factory, operator, client, keys):
    _seed(tmp_path, settings, session_factory, operator)
    data = (
        "id,name,Phone Number,notes\n"
        '1,Ann,(404) 555-0100,"a, b"\n'
        "2,Bob,404-555-0177,x\n"
        "3,Cy,999,y\n"
        "4,Di,212-555-0100,z\n"
    )
    h = {**keys.headers(Role.DIALER), "Content-Type": "text/csv"}
    clean = client.post("/v1/scrubs", content=data.encode(), headers=h)
    assert clean.status_code == 200 and clean.headers["x-callwarden-phone-column"] == "Phone Number"
    rows = list(csv.DictReader(io.StringIO(clean.text)))
    assert [r["id"] for r in rows] == ["2"] and rows[0]["Phone Number"] == "404-555-0177"
    rej = client.post("/v1/scrubs", params={"output": "rejects"}, content=data.encode(), headers=h)
    rrows = {r["id"]: r for r in csv.DictReader(io.StringIO(rej.text))}
    assert set(rrows) == {"1", "3", "4"}
    assert "national" in rrows["1"]["scrub_reason"] and rrows["1"]["notes"] == "a, b"
    assert rrows["3"]["scrub_reason"].startswith("invalid number")
    assert "not covered" in rrows["4"]["scrub_reason"]
    empty = client.post("/v1/scrubs", content=b"", headers=h)
    assert empty.status_code == 422
    nocol = client.post("/v1/scrubs", params={"column": "tel"}, content=data.encode(), headers=h)
    assert nocol.status_code == 422 and nocol.json()["field"] == "column"


def test_import_over_http(tmp_path, client, keys):
    h = keys.headers(Role.COMPLIANCE)
    today = datetime.now(UTC).date().isoformat()
    r = client.post(
        "/v1/dnc/imports",
        files=[
            ("files", ("404.txt", b"404,5550100\n404,55501\n")),
            ("files", ("770.txt", b"770,2345678\n")),
        ],
        data={"list": "national", "format": "ftc_flat", "obtained": today},
        headers=h,
    )
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["added"] == 2 and rep["rejected"] == 1 and rep["area_codes"] == [404, 770]
    assert rep["errors"][0] == {
        "file": "404.txt",
        "line_no": 2,
        "content": "404,55501",
        "reason": rep["errors"][0]["reason"],
    }
    errs = client.get(
        f"/v1/dnc/snapshots/{rep['snapshot_id']}/errors", headers=keys.headers(Role.AUDITOR)
    )
    assert errs.json()[0]["line_no"] == 2
    assert client.get("/v1/dnc/7702345678", headers=h).json()["listed"] is True
    bad = client.post(
        "/v1/dnc/imports",
        files=[("files", ("x.txt", b"404,5550100\n"))],
        data={"list": "national", "format": "ftc_flat", "obtained": "last week"},
        headers=h,
    )
    assert bad.status_code == 422 and bad.json()["field"] == "obtained"
    snaps = client.get("/v1/dnc/snapshots", headers=h).json()
    assert [x["status"] for x in snaps] == ["complete"]  # bad arguments never start a snapshot


def test_since_for_change_list_additions_single_and_batch(
    tmp_path, settings, session_factory, operator, client, keys
):
    from .dnc_files import write_changes

    _seed(tmp_path, settings, session_factory, operator)
    service.import_files(
        session_factory=session_factory,
        settings=settings,
        list_key="national",
        fmt="ftc_changes",
        paths=[
            write_changes(tmp_path / "d.txt", [(e164("4045550166"), "2026-11-27T09:15:00", "A")])
        ],
        obtained=datetime.now(UTC).date().isoformat(),
        actor=operator,
    )
    h = keys.headers(Role.DIALER)
    single = client.get("/v1/dnc/4045550166", headers=h).json()
    national = next(x for x in single["lists"] if x["list"] == "national")
    assert national["status"] == "hit" and national["since"].startswith("2026-11-27T09:15:00")
    batch = client.post(
        "/v1/dnc/lookup", json={"numbers": ["4045550100", "4045550166"]}, headers=h
    ).json()
    sinces = [
        next(x for x in r["lists"] if x["list"] == "national")["since"] for r in batch["results"]
    ]
    assert sinces[0] is None and sinces[1].startswith("2026-11-27T09:15:00")
