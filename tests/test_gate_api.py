"""The gate end to end: HTTP decisions, batch, reservations, audit receipts, replay, CLI, races."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callwarden.app import create_app
from callwarden.audit.models import AuditEvent
from callwarden.calls.models import CallAttempt
from callwarden.config import Settings
from callwarden.dnc import service as dnc
from callwarden.security import service as security
from callwarden.security.roles import Role

from .conftest import Keys
from .dnc_files import e164, write_flat

LISTED = "4045550100"
CLEAN = "4045550123"
FL_NUMBER = "3055550142"
# Friday 2026-11-27 17:00 UTC = 12:00 in Atlanta and Miami: inside every window.
AT = "2026-11-27T17:00:00+00:00"

COMPANY_PACK = """
[pack]
id = "acme-policy"
revision = "2026-11-28.1"
jurisdiction = "*"
source = "test company policy"

[[rules]]
id = "acme-campaign-2-per-day"
jurisdiction = "*"
kind = "frequency_cap"
applies_to = { purposes = ["informational"], channels = ["voice"] }
cap = { max_attempts = 2, window_hours = 24, key = ["number", "campaign"] }
requires = ["campaign"]
citation = "Acme contact policy CP-9"
effective_from = 2026-01-01
status = "in_force"
confidence = "C"
"""


def _import(settings: Settings, session_factory: Any, tmp_path: Path, operator: Any) -> None:
    obtained = (datetime(2026, 11, 24, tzinfo=UTC)).date().isoformat()
    for key, numbers in (
        ("national", [e164(LISTED), e164("3055550998")]),
        ("state:FL", [e164("3055550999")]),
    ):
        dnc.import_files(
            session_factory=session_factory,
            settings=settings,
            list_key=key,
            fmt="ftc_flat" if key == "national" else "numbers",
            paths=[write_flat(tmp_path / f"{key.replace(':', '_')}.txt", numbers)]
            if key == "national"
            else [_one_per_line(tmp_path / "fl.txt", numbers)],
            obtained=obtained,
            actor=operator,
        )


def _one_per_line(path: Path, numbers: list[int]) -> Path:
    path.write_text("".join(f"{n - 10_000_000_000}\n" for n in numbers))
    return path


@pytest.fixture
def gate_settings(settings: Settings, tmp_path: Path) -> Settings:
    packs = tmp_path / "policy"
    packs.mkdir()
    (packs / "acme.toml").write_text(COMPANY_PACK)
    return settings.model_copy(update={"rule_pack_dirs": str(packs)})


@pytest.fixture
def gclient(
    gate_settings: Settings, session_factory: Any, tmp_path: Path, operator: Any
) -> Iterator[TestClient]:
    _import(gate_settings, session_factory, tmp_path, operator)
    with TestClient(create_app(gate_settings)) as c:
        yield c


def _decide(client: TestClient, keys: Keys, **body: Any) -> Any:
    body.setdefault("at", AT)
    body.setdefault("seller", "acme")
    r = client.post("/v1/decisions", json=body, headers=keys.headers(Role.DIALER))
    assert r.status_code == 200, r.text
    return r.json()


def test_listed_number_is_denied_with_reason_citation_and_receipt(
    gclient: TestClient, keys: Keys, session_factory: Any
) -> None:
    """us-tcpa-national-dnc over HTTP: deny, code, citation, rule version, audit receipt."""
    out = _decide(gclient, keys, number=LISTED, caller_id="+14045550199")
    assert out["decision"] == "deny"
    codes = {r["code"]: r for r in out["reasons"]}
    assert set(codes) == {"registry_listed"}
    reason = codes["registry_listed"]
    assert reason["rule_id"] == "us-tcpa-national-dnc"
    assert "64.1200(c)(2)" in reason["citation"]
    assert reason["rule_version"].startswith("2026-")
    assert out["locations"]["zones"] == ["America/New_York"]
    assert out["locations"]["local_times"]["America/New_York"].startswith("2026-11-27T12:00")
    assert any(lst["list"] == "national" and lst["status"] == "hit" for lst in out["lists"])
    assert out["reservation"] is None
    with session_factory() as s:
        event = s.get(AuditEvent, out["audit"]["event_id"])
        assert event is not None and event.subject == out["decision_id"]
        body = json.loads(event.body)
        assert body["decision"] == "deny" and body["reasons"][0]["code"] == "registry_listed"
        # the receipt hashes the stored body, and the body is canonical JSON: an auditor who
        # re-serialises the parsed body (sorted keys, no spaces) gets the hashed bytes back
        assert hashlib.sha256(event.body.encode()).hexdigest() == out["audit"]["sha256"]
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert canonical == event.body
        assert body["facts"]["consents"] == [] and body["facts"]["lists"][0]["list_key"]


def test_allowed_decision_reserves_and_call_record_confirms(
    gclient: TestClient, keys: Keys, session_factory: Any
) -> None:
    """An allow reserves the attempt; the call record carrying its decision id places it."""
    out = _decide(gclient, keys, number=CLEAN, caller_id="+14045550199", recorded=True)
    assert out["decision"] == "allow", out["reasons"]
    assert out["reservation"]["expires_at"] > AT
    assert out["rule_revisions"]["us-federal"].startswith("2026-")
    with session_factory() as s:
        row = s.scalars(
            select(CallAttempt).where(CallAttempt.decision_id == out["decision_id"])
        ).one()
        assert row.state == "reserved" and row.number == e164(CLEAN)
    r = gclient.post(
        "/v1/calls",
        json={
            "number": CLEAN,
            "at": AT,
            "seller": "acme",
            "channel": "voice",
            "purpose": "telemarketing",
            "technology": "manual",
            "outcome": "answered",
            "decision_id": out["decision_id"],
        },
        headers=keys.headers(Role.DIALER),
    )
    assert r.status_code in (200, 201), r.text
    with session_factory() as s:
        row = s.scalars(
            select(CallAttempt).where(CallAttempt.decision_id == out["decision_id"])
        ).one()
        assert row.state == "placed" and row.outcome == "answered"


def test_missing_caller_id_and_unknown_fields(gclient: TestClient, keys: Keys) -> None:
    """us-fcc-caller-id: telemarketing without a caller ID is denied; bad input is 422."""
    out = _decide(gclient, keys, number=CLEAN)
    assert [r["rule_id"] for r in out["reasons"]] == ["us-fcc-caller-id"]
    r = gclient.post(
        "/v1/decisions",
        json={"number": "12", "seller": "acme"},
        headers=keys.headers(Role.DIALER),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "number"
    r = gclient.post(
        "/v1/decisions",
        json={"number": CLEAN, "seller": "acme", "purpose": "survey"},
        headers=keys.headers(Role.DIALER),
    )
    assert r.status_code == 422 and "purpose" in r.text
    r = gclient.post(
        "/v1/decisions",
        json={"number": CLEAN, "seller": "acme", "at": "2026-11-30T17:00:00"},
        headers=keys.headers(Role.DIALER),
    )
    assert r.status_code == 422 and "at" in r.text


def test_florida_cap_counts_within_a_batch(gclient: TestClient, keys: Keys) -> None:
    """us-fl-3-per-24h-same-subject: a batch of five same-subject attempts allows three."""
    attempt = {
        "number": FL_NUMBER,
        "at": AT,
        "seller": "acme",
        "subject": "solar",
        "caller_id": "+14045550199",
    }
    r = gclient.post(
        "/v1/decisions/batch",
        json={"attempts": [attempt] * 5 + [attempt | {"subject": "roofing"}]},
        headers=keys.headers(Role.DIALER),
    )
    assert r.status_code == 200, r.text
    out = r.json()
    verdicts = [d["decision"] for d in out["decisions"]]
    assert verdicts == ["allow"] * 3 + ["deny"] * 2 + ["allow"], out["decisions"][0]["reasons"]
    assert out["decisions"][3]["reasons"][0]["rule_id"] == "us-fl-3-per-24h-same-subject"
    # the reservations hold: a later single request for the same subject is denied too
    again = _decide(gclient, keys, **attempt)
    assert again["decision"] == "deny"


def test_company_policy_pack_applies_without_code(gclient: TestClient, keys: Keys) -> None:
    """A company pack (rule_pack_dirs) adds a stricter cap: the third call is denied."""
    body = {"number": CLEAN, "purpose": "informational", "campaign": "renewals"}
    first, second, third = (_decide(gclient, keys, **body) for _ in range(3))
    assert [first["decision"], second["decision"], third["decision"]] == [
        "allow",
        "allow",
        "deny",
    ]
    assert third["reasons"][0]["rule_id"] == "acme-campaign-2-per-day"
    assert third["rule_revisions"]["acme-policy"] == "2026-11-28.1"


def test_batch_limit_is_422(gclient: TestClient, keys: Keys) -> None:
    """Batches hold 1 to 10,000 attempts."""
    for attempts in ([], [{"number": CLEAN, "seller": "acme"}] * 10_001):
        r = gclient.post(
            "/v1/decisions/batch", json={"attempts": attempts}, headers=keys.headers(Role.DIALER)
        )
        assert r.status_code == 422


def test_replay_by_decision_id_and_as_of(
    gclient: TestClient, keys: Keys, session_factory: Any
) -> None:
    """Replay of a logged decision gives the same answer; as_of ignores facts recorded later."""
    out = _decide(gclient, keys, number=CLEAN, technology="autodialer", caller_id="+14045550199")
    assert out["decision"] == "deny"
    assert "consent_missing" in {r["code"] for r in out["reasons"]}
    r = gclient.post(
        f"/v1/decisions/{out['decision_id']}/replay", headers=keys.headers(Role.COMPLIANCE)
    )
    assert r.status_code == 200, r.text
    assert r.json()["same"] is True
    assert r.json()["replayed"]["decision"] == "deny"
    got = gclient.get(f"/v1/decisions/{out['decision_id']}", headers=keys.headers(Role.AUDITOR))
    assert got.status_code == 200 and got.json()["decision_id"] == out["decision_id"]
    assert (
        gclient.get(
            "/v1/decisions/00000000-0000-0000-0000-000000000000",
            headers=keys.headers(Role.AUDITOR),
        ).status_code
        == 404
    )
    # a consent recorded now is invisible to a replay as of yesterday
    before = datetime.now(UTC) - timedelta(days=1)
    r = gclient.post(
        "/v1/consents",
        json={
            "number": CLEAN,
            "kind": "pec",
            "sellers": ["acme"],
            "channels": ["voice"],
            "purposes": ["informational"],
            "given_at": (before - timedelta(days=30)).isoformat(),
            "source": "agent",
        },
        headers=keys.headers(Role.COMPLIANCE),
    )
    assert r.status_code in (200, 201), r.text
    body = {
        "number": CLEAN,
        "purpose": "informational",
        "technology": "autodialer",
        "at": before.isoformat(),
    }
    now_view = _decide(gclient, keys, **body)
    then_view = _decide(gclient, keys, **body, as_of=before.isoformat())
    assert "consent_missing" not in {r["code"] for r in now_view["reasons"]}
    assert "consent_missing" in {r["code"] for r in then_view["reasons"]}
    assert then_view["replay"]["known_at"].startswith(before.date().isoformat())
    assert then_view["reservation"] is None


def test_as_of_sees_an_ebr_ended_later_as_it_stood(gclient: TestClient, keys: Keys) -> None:
    """rules.md §1.9 + §0 replay: an EBR's end recorded after as_of is not applied to then."""
    h = keys.headers(Role.COMPLIANCE)
    r = gclient.post(
        "/v1/ebr",
        json={"number": LISTED, "seller": "acme", "kind": "purchase", "occurred_on": "2026-10-01"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    ebr_id = r.json()["id"]
    call = {"number": LISTED, "technology": "manual", "caller_id": "+14045550199"}
    assert _decide(gclient, keys, **call)["decision"] == "allow"
    before_end = datetime.now(UTC)
    r = gclient.post(f"/v1/ebr/{ebr_id}/end", json={"ended_on": "2026-11-26"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["ended_recorded_at"] is not None
    now_view = _decide(gclient, keys, **call)
    then_view = _decide(gclient, keys, **call, as_of=before_end.isoformat())
    assert now_view["decision"] == "deny"
    assert "registry_listed" in {x["code"] for x in now_view["reasons"]}
    assert then_view["decision"] == "allow", then_view["reasons"]
    assert then_view["ebr_id"] == ebr_id


def test_stale_registry_fails_closed(
    gate_settings: Settings, session_factory: Any, tmp_path: Path, operator: Any, keys: Keys
) -> None:
    """A registry copy 32 days old denies telemarketing: registry_unavailable."""
    _import(gate_settings, session_factory, tmp_path, operator)
    with TestClient(create_app(gate_settings)) as c:
        out = _decide(c, keys, number=CLEAN, caller_id="+14045550199", at="2027-01-01T17:00:00Z")
    assert out["decision"] == "deny"
    assert {r["code"] for r in out["reasons"]} == {"registry_unavailable"}
    assert "stale" in out["reasons"][0]["message"]


def test_check_cli_exit_codes_and_json(
    gate_settings: Settings,
    session_factory: Any,
    tmp_path: Path,
    operator: Any,
    run_cli: Any,
) -> None:
    """`callwarden check`: exit 0 allow, 1 deny (with reasons), 2 bad input."""
    _import(gate_settings, session_factory, tmp_path, operator)
    ok = run_cli("check", CLEAN, "--seller", "acme", "--at", AT, "--caller-id", "4045550199",
                 "--json")  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["decision"] == "allow"
    no = run_cli("check", LISTED, "--seller", "acme", "--at", AT, "--caller-id", "4045550199")
    assert no.returncode == 1, no.stderr
    assert "registry_listed" in no.stdout and "64.1200(c)(2)" in no.stdout
    bad = run_cli("check", "12", "--seller", "acme")
    assert bad.returncode == 2 and "number" in bad.stderr
    bad_at = run_cli("check", CLEAN, "--seller", "acme", "--at", "yesterday")
    assert bad_at.returncode == 2 and "at" in bad_at.stderr
    # as of a day before the registry was imported: callwarden had no copy then (fail closed)
    day_before = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    before = run_cli(
        "check", CLEAN, "--seller", "acme", "--at", AT, "--caller-id", "4045550199",
        "--as-of", day_before, "--json",
    )  # fmt: skip
    assert before.returncode == 1, before.stderr
    out = json.loads(before.stdout)
    assert out["replay"]["known_at"].startswith(f"{day_before}T23:59:59")
    assert {r["code"] for r in out["reasons"]} == {"registry_unavailable"}
    replay = run_cli(
        "check", CLEAN, "--seller", "acme", "--at", AT, "--caller-id", "4045550199",
        "--as-of", datetime.now(UTC).isoformat(), "--json",
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fifty_concurrent_requests_from_two_processes_respect_the_cap(
    gate_settings: Settings,
    session_factory: Any,
    tmp_path: Path,
    operator: Any,
    cli_env: dict[str, str],
) -> None:
    """us-fl-3-per-24h-same-subject: 50 racing requests on two services allow exactly 3."""
    _import(gate_settings, session_factory, tmp_path, operator)
    with session_factory() as s:
        _, key = security.create_key(session=s, name="race", role=Role.DIALER, created_by="t")
        s.commit()
    env = cli_env | {"CALLWARDEN_RULE_PACK_DIRS": gate_settings.rule_pack_dirs}
    ports = [_free_port(), _free_port()]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "callwarden", "serve", "--port", str(p)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]
    try:
        for p in ports:
            deadline = time.time() + 180  # first start in a fresh clone compiles numba kernels
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{p}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.time() < deadline, "service did not become ready"
                time.sleep(0.2)
        body = {
            "number": FL_NUMBER,
            "at": AT,
            "seller": "acme",
            "subject": "solar",
            "caller_id": "+14045550199",
        }
        start = threading.Barrier(50)
        results: list[str] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            start.wait()
            r = httpx.post(
                f"http://127.0.0.1:{ports[i % 2]}/v1/decisions",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            with lock:
                results.append(r.json()["decision"] if r.status_code == 200 else str(r.status_code))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    assert len(results) == 50
    assert results.count("allow") == 3, results
    assert results.count("deny") == 47
    with session_factory() as s:
        held = s.scalars(select(CallAttempt).where(CallAttempt.number == e164(FL_NUMBER))).all()
        assert len(held) == 3 and {c.state for c in held} == {"reserved"}


def test_a_decision_request_needs_only_one_pooled_connection_at_a_time(
    gate_settings: Settings, session_factory: Any, tmp_path: Path, operator: Any, keys: Keys
) -> None:
    """The credential check and the facts are read on plain pooled connections, each released
    before the decision waits for its write, and a pool this small keeps none aside: a pool of
    one connection still serves the request and its write (a request, or the gate, holding a
    connection while the decision waited would starve the writer for the pool's 30 seconds)."""
    _import(gate_settings, session_factory, tmp_path, operator)
    one = gate_settings.model_copy(update={"db_pool_size": 1, "max_concurrent_requests": 1})
    with TestClient(create_app(one)) as c:
        t0 = time.perf_counter()
        outs = [_decide(c, keys, number=CLEAN, caller_id="+14045550199") for _ in range(3)]
        took = time.perf_counter() - t0
    assert [o["decision"] for o in outs] == ["allow"] * 3
    assert took < 10
    with session_factory() as s:
        for out in outs:
            event = s.get(AuditEvent, out["audit"]["event_id"])
            assert event is not None and event.subject == out["decision_id"]


def test_a_replay_never_looks_ahead(gclient: TestClient, keys: Keys, cli_env) -> None:  # type: ignore[no-untyped-def]
    """A future `as_of` would see today's reservations expired and reserve nothing: a way
    around the caps. It is refused over HTTP (422, field as_of) and by `callwarden check`."""
    ahead = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = gclient.post(
        "/v1/decisions",
        json={"number": CLEAN, "seller": "acme", "as_of": ahead},
        headers=keys.headers(Role.DIALER),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "as_of", r.text
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    ok = gclient.post(
        "/v1/decisions",
        json={"number": CLEAN, "seller": "acme", "as_of": past, "caller_id": "+14045550199"},
        headers=keys.headers(Role.DIALER),
    )
    assert ok.status_code == 200 and ok.json()["reservation"] is None
    cli = subprocess.run(
        [sys.executable, "-m", "callwarden", "check", f"+1{CLEAN}", "--seller", "acme",
         "--as-of", "2099-01-01"],
        env=cli_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 2 and "as_of" in cli.stderr and "Traceback" not in cli.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("at", "9999-12-31T23:59:59+00:00"),
        ("at", "0001-01-01T00:00:00+14:00"),
        ("seller", "   "),
    ],
)
def test_times_no_plan_holds_and_blank_sellers_are_refused(
    gclient: TestClient, keys: Keys, field: str, value: str
) -> None:
    """A far-future time overflowed the reservation's expiry and denied a whole batch with
    nothing logged; such input is now refused with its field, alone or in a batch."""
    body = {"number": CLEAN, "seller": "acme", "at": AT, field: value}
    one = gclient.post("/v1/decisions", json=body, headers=keys.headers(Role.DIALER))
    assert one.status_code == 422 and one.json()["errors"][0]["field"] == field, one.text
    good = {"number": CLEAN, "seller": "acme", "at": AT}
    batch = gclient.post(
        "/v1/decisions/batch",
        json={"attempts": [good, body, good]},
        headers=keys.headers(Role.DIALER),
    )
    assert batch.status_code == 422, batch.text
    assert [e["field"] for e in batch.json()["errors"]] == [f"attempts.1.{field}"]


def test_bodies_over_the_decision_limits_are_refused_413(gclient: TestClient, keys: Keys) -> None:
    """An 80 MB body used to be read and parsed whole; the decision routes now refuse one
    over their limit, whether it declares its length or streams without one."""
    big = b'{"number": "' + b"4" * (70 << 10) + b'"}'
    r = gclient.post("/v1/decisions", content=big, headers=keys.headers(Role.DIALER))
    assert r.status_code == 413 and r.json()["field"] == "body"
    huge = b'{"attempts": [' + b" " * (17 << 20) + b"]}"
    r = gclient.post("/v1/decisions/batch", content=huge, headers=keys.headers(Role.DIALER))
    assert r.status_code == 413
    streamed = gclient.post(
        "/v1/decisions",
        content=iter([b'{"number": "', b"4" * (70 << 10), b'"}']),
        headers=keys.headers(Role.DIALER),
    )
    assert streamed.status_code == 413
    # a normal request still passes
    assert gclient.post(
        "/v1/decisions", json={"number": CLEAN, "seller": "acme", "at": AT},
        headers=keys.headers(Role.DIALER),
    ).status_code == 200  # fmt: skip


def test_a_logged_internal_error_replays_as_a_logged_deny(gclient: TestClient, keys: Keys) -> None:
    """Replaying a decision whose deciding failed answers (deny, internal_error) and logs
    the replay, instead of a 500."""
    from callwarden.gate.decide import Attempt

    gate = gclient.app.state.gate  # type: ignore[attr-defined]
    odd = Attempt(number=int("1" + CLEAN), at=datetime(1, 1, 1, tzinfo=UTC), channel="voice",
                  purpose="telemarketing", technology="manual", seller="acme")  # fmt: skip
    (rec,) = gate.decide_many([odd], actor="tests", actor_role="admin")
    assert not rec.decision.allowed
    assert [r.code for r in rec.decision.reasons] == ["internal_error"]
    r = gclient.post(f"/v1/decisions/{rec.id}/replay", headers=keys.headers(Role.COMPLIANCE))
    assert r.status_code == 200, r.text
    replayed = r.json()["replayed"]
    assert replayed["decision"] == "deny" and replayed["audit"]["event_id"]


def test_a_reservation_counts_for_an_hour_after_its_planned_time(
    gclient: TestClient, keys: Keys
) -> None:
    """A long call, or a call record sent at the end of the day, must not let the caps forget
    the call after five minutes: an allowed attempt holds its reservation an hour past its
    planned time unless a call record or a release arrives first."""
    # tomorrow at noon in New York: inside every calling window whenever the test runs
    at = (datetime.now(UTC) + timedelta(days=1)).replace(hour=17, minute=0, second=0, microsecond=0)
    out = _decide(gclient, keys, number=CLEAN, caller_id="+14045550199", at=at.isoformat())
    assert out["decision"] == "allow", out["reasons"]
    expires = datetime.fromisoformat(out["reservation"]["expires_at"])
    assert expires - at == timedelta(hours=1)
