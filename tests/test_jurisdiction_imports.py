"""Bulk imports of emergencies and seller registrations: every bad row named, nothing half-done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callwarden.emergencies.models import Emergency, SellerRegistration
from callwarden.security.roles import Role

from .conftest import Keys

GOOD_EMERGENCIES = (
    "jurisdiction,starts_at,ends_at,description,reference\n"
    "US-LA,2026-08-28T18:00:00-05:00,,Hurricane Ida,JBE 2026-101\n"
    "US-FL,2026-09-01T00:00:00Z,2026-09-10T00:00:00Z,Hurricane,\n"
)
BAD_EMERGENCIES = (
    "jurisdiction,starts_at,ends_at,description\n"
    "US-ZZ,2026-08-28T18:00:00-05:00,,Unknown state\n"
    "US-LA,yesterday,,Bad time\n"
    "US-TX,2026-08-28T18:00:00Z,,\n"
)


def _count(session_factory: Any, model: Any) -> int:
    with session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_emergency_import_all_or_nothing_over_http(
    client: TestClient, keys: Keys, session_factory: Any
) -> None:
    """A bad file imports nothing and names each bad row and field; a good one imports all."""
    h = keys.headers(Role.COMPLIANCE) | {"Content-Type": "text/csv"}
    bad = client.post("/v1/emergencies/imports", content=BAD_EMERGENCIES.encode(), headers=h)
    assert bad.status_code == 422
    found = {(e["line"], e["field"]) for e in bad.json()["errors"]}
    assert found == {(2, "jurisdiction"), (3, "starts_at"), (4, "description")}
    assert _count(session_factory, Emergency) == 0
    ok = client.post("/v1/emergencies/imports", content=GOOD_EMERGENCIES.encode(), headers=h)
    assert ok.status_code == 200 and ok.json()["imported"] == 2
    assert _count(session_factory, Emergency) == 2
    denied = client.post(
        "/v1/emergencies/imports",
        content=GOOD_EMERGENCIES.encode(),
        headers=keys.headers(Role.AGENT) | {"Content-Type": "text/csv"},
    )
    assert denied.status_code == 403


def test_registration_import_cli(run_cli: Any, tmp_path: Path, session_factory: Any) -> None:
    """`callwarden registrations import`: exit 2 listing every bad row, then a clean import."""
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "seller,jurisdiction,registration_id,valid_from,valid_to\n"
        "acme,US-TX,REG-1,2026-13-01,\n"
        ",US-TX,REG-2,2026-01-01,\n"
    )
    out = run_cli("registrations", "import", str(bad))
    assert out.returncode == 2
    assert "bad.csv:2: valid_from" in out.stderr and "bad.csv:3: seller" in out.stderr
    assert _count(session_factory, SellerRegistration) == 0
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"seller": "acme", "jurisdiction": "US-TX", "registration_id": "REG-1",'
        ' "valid_from": "2026-01-01", "valid_to": "2027-01-01"}\n'
    )
    ok = run_cli("registrations", "import", str(good), "--json")
    assert ok.returncode == 0, ok.stderr
    assert '"imported": 1' in ok.stdout
    assert _count(session_factory, SellerRegistration) == 1
