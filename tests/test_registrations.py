"""Seller registrations per jurisdiction: service, loader with replay, API, CLI."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update

from callwarden.audit import service as audit
from callwarden.emergencies import service
from callwarden.emergencies.models import SellerRegistration
from callwarden.errors import ValidationFailed
from callwarden.gate.facts import RegistrationFact
from callwarden.security.roles import Role

from .conftest import Keys

WHO = {"actor": "tests", "actor_role": "compliance"}


def _add(session, **kw):
    args = {
        "seller": "Acme Solar",
        "jurisdiction": "US-TX",
        "registration_id": "TX-302-0042",
        "valid_from": date(2025, 9, 1),
        **kw,
    }
    return service.add_registration(session=session, **args, **WHO)


def test_add_and_load(session_factory):
    with session_factory() as s:
        tx = _add(s, valid_to=date(2026, 9, 1))
        dup = _add(s, valid_to=date(2026, 9, 1))
        _add(s, jurisdiction="us-ms", registration_id="MS-1")
        _add(s, seller="Other Co")
        s.commit()
        facts = service.load_registrations(s, ["Acme Solar", "Nobody"])
        events = audit.events(session=s, type="registrations.added")
    assert dup.id == tx.id
    assert facts == [
        RegistrationFact("Acme Solar", "US-TX", "TX-302-0042", date(2025, 9, 1), date(2026, 9, 1)),
        RegistrationFact("Acme Solar", "US-MS", "MS-1", date(2025, 9, 1), None),
    ]
    assert len(events) == 4 and '"duplicate":true' in events[2].body


def test_validation(session_factory):
    with session_factory() as s:
        for kw, field in [
            ({"valid_to": date(2025, 9, 1)}, "valid_to"),
            ({"jurisdiction": "Texas"}, "jurisdiction"),
            ({"seller": " "}, "seller"),
            ({"registration_id": ""}, "registration_id"),
            ({"valid_from": datetime(2025, 9, 1, tzinfo=UTC)}, "valid_from"),
        ]:
            with pytest.raises(ValidationFailed) as exc:
                _add(s, **kw)
            assert exc.value.field == field, kw


def test_replay(session_factory):
    with session_factory() as s:
        r = _add(s)
        s.flush()
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        s.execute(
            update(SellerRegistration).where(SellerRegistration.id == r.id).values(recorded_at=t0)
        )
        s.commit()
        assert service.load_registrations(s, ["Acme Solar"], known_at=t0 - timedelta(1)) == []
        assert len(service.load_registrations(s, ["Acme Solar"], known_at=t0)) == 1
        assert service.load_registrations(s, []) == []


def test_api(client, keys: Keys):
    h = keys.headers(Role.COMPLIANCE)
    body = {
        "seller": "Acme Solar",
        "jurisdiction": "US-TX",
        "registration_id": "TX-1",
        "valid_from": "2025-09-01",
    }
    r = client.post("/v1/registrations", json=body, headers=h)
    assert r.status_code == 201 and r.json()["valid_to"] is None
    assert (
        client.post("/v1/registrations", json=body, headers=keys.headers(Role.AGENT)).status_code
        == 403
    )
    bad = client.post("/v1/registrations", json={**body, "valid_to": "2025-01-01"}, headers=h)
    assert bad.status_code == 422 and bad.json()["field"] == "valid_to"
    listed = client.get(
        "/v1/registrations", params={"seller": "Acme Solar"}, headers=keys.headers(Role.DIALER)
    )
    assert [x["registration_id"] for x in listed.json()] == ["TX-1"]
    none = client.get("/v1/registrations", params={"jurisdiction": "US-FL"}, headers=h)
    assert none.json() == []


def test_cli(run_cli):
    out = run_cli(
        "registrations", "add", "--seller", "Acme Solar", "--jurisdiction", "US-TX",
        "--id", "TX-1", "--from", "2025-09-01", "--to", "2026-09-01", "--json", check=True,
    )  # fmt: skip
    assert json.loads(out.stdout)["valid_to"] == "2026-09-01"
    listed = json.loads(run_cli("registrations", "list", "--json", check=True).stdout)
    assert [(x["seller"], x["jurisdiction"]) for x in listed] == [("Acme Solar", "US-TX")]
    bad = run_cli(
        "registrations", "add", "--seller", "A", "--jurisdiction", "US-TX", "--id", "1",
        "--from", "09/01/2025",
    )  # fmt: skip
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr and "Traceback" not in bad.stderr
