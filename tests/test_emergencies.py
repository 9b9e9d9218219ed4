"""Declared states of emergency: validation, activity window, ending, replay, API, CLI."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from callwarden.audit import service as audit
from callwarden.emergencies import service
from callwarden.emergencies.models import Emergency
from callwarden.errors import Conflict, NotFound, ValidationFailed
from callwarden.numbers.service import SUBDIVISIONS
from callwarden.security.roles import Role

from .conftest import Keys

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WHO = {"actor": "tests", "actor_role": "compliance"}
START = datetime(2026, 8, 28, 23, 0, tzinfo=UTC)


def _add(session, **kw):
    args = {
        "jurisdiction": "US-LA",
        "starts_at": START,
        "description": "Hurricane; LPSC reporting to the State EOC",
        **kw,
    }
    return service.add_emergency(session=session, **args, **WHO)


@PROPS
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ-abz 1", max_size=7))
def test_jurisdiction_format(raw):
    code = raw.strip().upper()
    country, _, sub = code.partition("-")
    expected = bool(re.fullmatch(r"[A-Z]{2}(-[A-Z]{2})?", code)) and (
        not sub or country not in SUBDIVISIONS or sub in SUBDIVISIONS[country]
    )
    try:
        assert service.parse_jurisdiction(raw) == code
        assert expected
    except ValidationFailed as exc:
        assert exc.field == "jurisdiction" and not expected


def test_jurisdiction_examples():
    assert service.parse_jurisdiction(" us-la ") == "US-LA"
    assert service.parse_jurisdiction("US") == "US"
    assert service.parse_jurisdiction("CA-ON") == "CA-ON"
    assert service.parse_jurisdiction("FR-IF") == "FR-IF"  # format only outside US and CA
    for bad in ("US-ZZ", "USA-LA", "US_LA", "LA-", "", "U1-LA"):
        with pytest.raises(ValidationFailed):
            service.parse_jurisdiction(bad)


def test_active_window_is_half_open(session_factory):
    end = START + timedelta(days=5)
    with session_factory() as s:
        closed = _add(s, ends_at=end)
        open_ended = _add(s, jurisdiction="US-FL", starts_at=START + timedelta(days=1))
        s.commit()

        def active(at):
            return [e.id for e in service.load_emergencies(s, at=at)]

        assert active(START - timedelta(seconds=1)) == []
        assert active(START) == [closed.id]
        assert active(end - timedelta(microseconds=1)) == [closed.id, open_ended.id]
        assert active(end) == [open_ended.id]
        assert active(START + timedelta(days=400)) == [open_ended.id]
        fact = service.load_emergencies(s, at=START)[0]
    assert (fact.jurisdiction, fact.starts_at, fact.ends_at) == ("US-LA", START, end)
    assert fact.description.startswith("Hurricane")


def test_add_validation(session_factory):
    with session_factory() as s:
        for kw, field in [
            ({"ends_at": START}, "ends_at"),
            ({"starts_at": datetime(2026, 8, 28, 12)}, "starts_at"),
            ({"jurisdiction": "LOUISIANA"}, "jurisdiction"),
            ({"description": "  "}, "description"),
            ({"reference": "x" * 301}, "reference"),
        ]:
            with pytest.raises(ValidationFailed) as exc:
                _add(s, **kw)
            assert exc.value.field == field, kw


def test_end(session_factory):
    with session_factory() as s:
        e = _add(s)
        s.commit()
        with pytest.raises(ValidationFailed) as exc:
            service.end_emergency(session=s, emergency_id=e.id, at=START, **WHO)
        assert exc.value.field == "at"
        ended = service.end_emergency(
            session=s, emergency_id=e.id, at=START + timedelta(days=3), **WHO
        )
        s.commit()
        assert ended.ends_at == START + timedelta(days=3)
        with pytest.raises(Conflict):
            service.end_emergency(session=s, emergency_id=e.id, **WHO)
        planned = _add(s, ends_at=datetime.now(UTC) + timedelta(days=10))
        with pytest.raises(Conflict, match="extension"):
            service.end_emergency(
                session=s,
                emergency_id=planned.id,
                at=datetime.now(UTC) + timedelta(days=20),
                **WHO,
            )
        early = service.end_emergency(session=s, emergency_id=planned.id, **WHO)
        assert early.ends_at is not None and early.ends_at < datetime.now(UTC) + timedelta(days=1)
        with pytest.raises(NotFound):
            service.end_emergency(session=s, emergency_id=999999, **WHO)
        s.commit()
        events = audit.events(session=s, type="emergencies.ended")
    assert len(events) == 2 and events[0].subject == f"emergency:{planned.id}"


def test_replay_sees_only_emergencies_recorded_by_then(session_factory):
    with session_factory() as s:
        e = _add(s)
        s.flush()
        recorded = START + timedelta(hours=2)
        s.execute(update(Emergency).where(Emergency.id == e.id).values(recorded_at=recorded))
        s.commit()
        at = START + timedelta(hours=1)
        # the emergency had begun, but nobody had recorded it yet at the decision
        assert service.load_emergencies(s, at=at, known_at=at) == []
        assert [x.id for x in service.load_emergencies(s, at=at, known_at=recorded)] == [e.id]


def test_replay_sees_the_end_on_record_then(session_factory):
    """An end brought forward twice: a replay sees, at each moment, the end recorded by then."""
    start = datetime.now(UTC) - timedelta(days=1)
    first_end, second_end, third_end = (start + timedelta(days=d) for d in (30, 20, 10))
    with session_factory() as s:
        e = _add(s, starts_at=start, ends_at=first_end)
        s.commit()
        added = datetime.now(UTC)
        service.end_emergency(session=s, emergency_id=e.id, at=second_end, **WHO)
        s.commit()
        between = datetime.now(UTC)
        service.end_emergency(session=s, emergency_id=e.id, at=third_end, **WHO)
        s.commit()
        final = datetime.now(UTC)

        def end_known(known_at):
            (fact,) = service.load_emergencies(s, at=None, known_at=known_at)
            return fact.ends_at

        assert end_known(added) == first_end
        assert end_known(between) == second_end
        assert end_known(final) == third_end
        # a decision on day 15, replayed as of before the second change: the emergency held
        day15 = start + timedelta(days=15)
        assert [x.id for x in service.load_emergencies(s, at=day15, known_at=between)] == [e.id]
        assert service.load_emergencies(s, at=day15, known_at=final) == []
        assert service.load_emergencies(s, at=day15) == []


def test_list_filters(session_factory):
    with session_factory() as s:
        la = _add(s, ends_at=START + timedelta(days=2))
        fl = _add(s, jurisdiction="US-FL", starts_at=START + timedelta(days=1))
        s.commit()
        assert [r.id for r in service.list_emergencies(session=s)] == [fl.id, la.id]
        active = service.list_emergencies(session=s, active_at=START + timedelta(days=3))
        assert [r.id for r in active] == [fl.id]
        only_la = service.list_emergencies(session=s, jurisdiction="us-la")
        assert [r.id for r in only_la] == [la.id]


# -- HTTP ------------------------------------------------------------------------------------


def test_api(client, keys: Keys, session_factory):
    h = keys.headers(Role.COMPLIANCE)
    body = {
        "jurisdiction": "US-LA",
        "starts_at": "2026-08-28T18:00:00-05:00",
        "description": "Hurricane Zeta",
        "reference": "https://lpsc.louisiana.gov/DNC_Emergency",
    }
    r = client.post("/v1/emergencies", json=body, headers=h)
    assert r.status_code == 201
    created = r.json()
    assert created["starts_at"].startswith("2026-08-28T23:00:00") and created["ends_at"] is None
    assert (
        client.post("/v1/emergencies", json=body, headers=keys.headers(Role.DIALER)).status_code
        == 403
    )
    naive = client.post(
        "/v1/emergencies", json={**body, "starts_at": "2026-08-28T18:00"}, headers=h
    )
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "starts_at"
    bad = client.post("/v1/emergencies", json={**body, "jurisdiction": "US-XX"}, headers=h)
    assert bad.status_code == 422 and bad.json()["field"] == "jurisdiction"

    listed = client.get(
        "/v1/emergencies",
        params={"active_at": "2026-08-29T00:00:00Z"},
        headers=keys.headers(Role.AGENT),
    )
    assert [e["id"] for e in listed.json()] == [created["id"]]
    before = client.get("/v1/emergencies", params={"active_at": "2026-08-28T22:00:00Z"}, headers=h)
    assert before.json() == []

    ended = client.post(
        f"/v1/emergencies/{created['id']}/end", json={"at": "2026-09-02T00:00:00Z"}, headers=h
    )
    assert ended.status_code == 200 and ended.json()["ends_at"].startswith("2026-09-02")
    again = client.post(f"/v1/emergencies/{created['id']}/end", headers=h)
    assert again.status_code == 409
    assert client.post("/v1/emergencies/999999/end", headers=h).status_code == 404
    with session_factory() as s:
        added = audit.events(session=s, type="emergencies.added")
    assert added[0].actor == "test-compliance" and added[0].subject == f"emergency:{created['id']}"


# -- CLI -------------------------------------------------------------------------------------


def test_cli(run_cli):
    out = run_cli(
        "emergencies", "add", "--jurisdiction", "us-la", "--from", "2026-08-28T18:00:00-05:00",
        "--description", "Hurricane", "--reference", "https://lpsc.louisiana.gov/DNC_Emergency",
        "--json", check=True,
    )  # fmt: skip
    created = json.loads(out.stdout)
    assert created["jurisdiction"] == "US-LA" and created["ends_at"] is None
    active = json.loads(run_cli("emergencies", "list", "--active", "--json", check=True).stdout)
    assert [e["id"] for e in active] == [created["id"]]
    run_cli("emergencies", "end", str(created["id"]), check=True)
    assert json.loads(run_cli("emergencies", "list", "--active", "--json", check=True).stdout) == []
    assert len(json.loads(run_cli("emergencies", "list", "--json", check=True).stdout)) == 1

    naive = run_cli(
        "emergencies", "add", "--jurisdiction", "US-LA", "--from", "2026-08-28",
        "--description", "x",
    )  # fmt: skip
    assert naive.returncode == 2 and "from" in naive.stderr and "Traceback" not in naive.stderr
    again = run_cli("emergencies", "end", str(created["id"]))
    assert again.returncode == 2 and "already ended" in again.stderr
