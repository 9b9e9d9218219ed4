"""Reassigned Numbers Database answers: parsing, imports, the file provider, loader, API, CLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from callwarden.audit import service as audit
from callwarden.bulk import ImportRejected, InvalidRecord
from callwarden.errors import ValidationFailed
from callwarden.gate.facts import RndFact
from callwarden.rnd import provider, service
from callwarden.rnd.models import RndResult
from callwarden.rnd.provider import FileRndProvider, RndAnswer, RndProvider
from callwarden.security.roles import Role

from .conftest import Keys

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
N1, N2, N3 = 14045550100, 14045550101, 13055550100
WHO = {"actor": "tests", "actor_role": "admin"}
T = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)

RESULTS_CSV = (
    "TN,Date,Answer,Query Time\n"
    "404-555-0100,2025-03-01,No Data,2026-11-02T15:30:00Z\n"
    "4045550101,03/01/2025,yes,2026-11-02T10:30:00-05:00\n"
    "+1 305 555 0100,20250301,NO,2026-11-02T15:30:00+00:00\n"
)


# -- parsing ---------------------------------------------------------------------------------


WORDS = {
    "yes": "yes",
    "Y": "yes",
    "no": "no",
    "N": "no",
    "no data": "no_data",
    "No Data": "no_data",
    "no_data": "no_data",
    "NO-DATA": "no_data",
    "nodata": "no_data",
}


@PROPS
@given(st.sampled_from(sorted(WORDS)), st.sampled_from(["", " ", "  \t"]))
def test_fcc_answer_words_map_to_results(word, pad):
    assert service.parse_result(f"{pad}{word}{pad}") == WORDS[word]


@PROPS
@given(st.text(max_size=12))
def test_result_is_one_of_three_or_an_error(raw):
    try:
        assert service.parse_result(raw) in service.RESULTS
    except ValidationFailed as exc:
        assert exc.field == "result"


@PROPS
@given(st.dates(date(1990, 1, 1), date(2026, 1, 1)))
def test_consent_date_formats_agree(day):
    for text in (
        day.isoformat(),
        f"{day:%m/%d/%Y}",
        f"{day:%Y%m%d}",
        f"{day.month}/{day.day}/{day.year}",
    ):
        assert service.parse_consent_date(text) == day


@PROPS
@given(
    st.fixed_dictionaries(
        {},
        optional={
            k: st.one_of(st.none(), st.text(max_size=20), st.booleans(), st.integers())
            for k in ("number", "consent_date", "result", "queried_at", "source", "is_reassigned")
        },
    )
)
def test_result_row_parser_only_fails_with_field_errors(row):
    try:
        a = service.parse_result_row(row, queried_at=T)
    except InvalidRecord as exc:
        assert exc.errors
        return
    assert a.result in service.RESULTS and a.queried_at.tzinfo is not None


def test_result_row_rules():
    now = datetime.now(UTC)
    base = {"number": "4045550100", "consent_date": "2025-01-01", "result": "no"}
    with pytest.raises(InvalidRecord) as exc:
        service.parse_result_row({**base, "queried_at": "2026-11-02T10:00:00"})
    assert exc.value.field == "queried_at" and "time zone" in exc.value.message
    with pytest.raises(InvalidRecord) as exc:
        service.parse_result_row(base)  # no queried_at, and no default for the file
    assert exc.value.field == "queried_at"
    tomorrow = (now + timedelta(days=2)).date().isoformat()
    with pytest.raises(InvalidRecord) as exc:
        service.parse_result_row({**base, "consent_date": tomorrow}, queried_at=T)
    assert exc.value.field == "consent_date" and "future" in exc.value.message
    with pytest.raises(InvalidRecord) as exc:
        service.parse_result_row({**base, "consent_date": "02/30/2025"}, queried_at=T)
    assert exc.value.field == "consent_date"
    reseller = {"number": "4045550100", "consent_date": "2025-01-01", "queried_at": T}
    assert service.parse_result_row({**reseller, "is_reassigned": None}).result == "no_data"
    assert service.parse_result_row({**reseller, "is_reassigned": False}).result == "no"
    assert service.parse_result_row({**reseller, "is_reassigned": "true"}).result == "yes"


# -- imports and the loader ------------------------------------------------------------------


def test_import_results_file(session_factory):
    with session_factory() as s:
        report = service.import_results(session=s, data=RESULTS_CSV, source="rnd-portal", **WHO)
        again = service.import_results(session=s, data=RESULTS_CSV, source="rnd-portal", **WHO)
        s.commit()
        facts = service.load_rnd(s, [N1, N2, N3, 14045550199])
        events = audit.events(session=s, type="rnd.results.imported")
    assert (report.added, again.added, again.duplicates) == (3, 0, 3)
    assert facts == {
        N1: [RndFact(date(2025, 3, 1), "no_data", T)],
        N2: [RndFact(date(2025, 3, 1), "yes", T)],
        N3: [RndFact(date(2025, 3, 1), "no", T)],
    }
    assert len(events) == 2 and '"added":3' in events[1].body


def test_import_rejects_every_bad_row_and_stores_nothing(session_factory):
    bad = (
        "number,consent_date,result,queried_at\n"
        "4045550100,2025-01-01,maybe,2026-11-02T00:00:00Z\n"
        "4045550101,2025-01-01,yes,2026-11-02T00:00:00Z\n"
        "4045550102,yesterday,no,\n"
    )
    with session_factory() as s:
        with pytest.raises(ImportRejected) as exc:
            service.import_results(session=s, data=bad, source="f", **WHO)
        s.rollback()
        assert s.scalars(select(RndResult)).all() == []
    assert [(e.line, e.field) for e in exc.value.errors] == [
        (2, "result"),
        (4, "consent_date"),
        (4, "queried_at"),
    ]


def test_import_default_queried_at_and_jsonl(session_factory):
    lines = "\n".join(
        json.dumps({"PhoneNumber": n, "date": "2025-05-05", "IsReassigned": v})
        for n, v in (("4045550100", False), ("4045550101", None))
    )
    with session_factory() as s:
        service.import_results(session=s, data=lines, source="reseller", queried_at=T, **WHO)
        s.commit()
        facts = service.load_rnd(s, [N1, N2])
    assert facts[N1] == [RndFact(date(2025, 5, 5), "no", T)]
    assert facts[N2] == [RndFact(date(2025, 5, 5), "no_data", T)]


def test_load_rnd_order_and_replay(session_factory):
    with session_factory() as s:
        old = service.add_result(
            session=s, number=N1, consent_date="2025-01-01", result="no",
            queried_at="2026-10-01T00:00:00Z", **WHO,
        )  # fmt: skip
        new = service.add_result(
            session=s, number=N1, consent_date="2025-01-01", result="yes",
            queried_at="2026-11-01T00:00:00Z", **WHO,
        )  # fmt: skip
        t0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
        s.execute(update(RndResult).where(RndResult.id == old.id).values(recorded_at=t0))
        s.execute(
            update(RndResult).where(RndResult.id == new.id).values(recorded_at=t0 + timedelta(1))
        )
        s.commit()
        every = service.load_rnd(s, [N1])
        replay = service.load_rnd(s, [N1], known_at=t0 + timedelta(hours=1))
    assert [f.result for f in every[N1]] == ["yes", "no"]  # newest query first
    assert [f.result for f in replay[N1]] == ["no"]


# -- the provider ----------------------------------------------------------------------------


def test_file_provider_refresh(session_factory, tmp_path):
    path = tmp_path / "rnd-results.csv"
    path.write_text(
        RESULTS_CSV + "4045550101,2025-03-01,no,2026-10-01T00:00:00Z\n"  # older: loses to yes
    )
    p = FileRndProvider(path)
    assert isinstance(p, RndProvider) and p.name == "file:rnd-results.csv"
    asked = [(N2, date(2025, 3, 1)), (N3, date(2025, 3, 1)), (N1, date(2024, 1, 1))]
    with session_factory() as s:
        stored = provider.refresh(
            session=s, provider=p, requests=asked, actor="tests", actor_role="admin"
        )
        s.commit()
        events = audit.events(session=s, type="rnd.refreshed")
    assert [(r.number, r.result) for r in stored] == [(N2, "yes"), (N3, "no"), (N1, "no_data")]
    assert stored[0].source == "file:rnd-results.csv" and stored[0].queried_at == T
    assert stored[2].source == "file:rnd-results.csv (not in file)"
    assert all(r.id for r in stored)
    assert '"no_data":1' in events[0].body and '"yes":1' in events[0].body


class _Liar:
    name = "liar"

    def query(self, requests: Sequence[tuple[int, date]]) -> list[RndAnswer]:
        return [RndAnswer(N3, date(2025, 1, 1), "no", T)]


def test_refresh_checks_requests_and_answers(session_factory):
    with session_factory() as s:
        with pytest.raises(ValidationFailed) as exc:
            provider.refresh(session=s, provider=_Liar(), requests=[(N1, date(2025, 1, 1))], **WHO)
        assert exc.value.field == "provider"
        with pytest.raises(ValidationFailed) as exc:
            provider.refresh(
                session=s, provider=_Liar(), requests=[(12345, date(2025, 1, 1))], **WHO
            )
        assert exc.value.field == "number"
        future = datetime.now(UTC).date() + timedelta(days=3)
        with pytest.raises(ValidationFailed) as exc:
            provider.refresh(session=s, provider=_Liar(), requests=[(N1, future)], **WHO)
        assert exc.value.field == "consent_date"
        missing = FileRndProvider("/nonexistent/file.csv")
        with pytest.raises(ValidationFailed) as exc:
            provider.refresh(session=s, provider=missing, requests=[(N1, date(2025, 1, 1))], **WHO)
        assert exc.value.field == "file"
        assert s.scalars(select(RndResult)).all() == []


# -- HTTP ------------------------------------------------------------------------------------


def test_api(client, keys: Keys, app, session_factory):
    h = keys.headers(Role.DIALER)
    one = {"number": "4045550100", "consent_date": "2025-01-01", "result": "no data"}
    r = client.post("/v1/rnd/results", json=one, headers=h)
    assert r.status_code == 201 and r.json()["result"] == "no_data" and r.json()["source"] == "api"
    many = [
        {"number": "4045550101", "consent_date": "2025-01-01", "result": "yes"},
        {"number": "4045550102", "consent_date": "2025-01-01", "result": "perhaps"},
        {"number": "1", "consent_date": "2025-01-01", "result": "no"},
    ]
    r = client.post("/v1/rnd/results", json=many, headers=h)
    assert r.status_code == 422
    assert [(e["line"], e["field"]) for e in r.json()["errors"]] == [(2, "result"), (3, "number")]
    r = client.post("/v1/rnd/results", json=many[:1], headers=h)
    assert r.status_code == 201 and r.json()[0]["result"] == "yes"
    partial = client.post("/v1/rnd/results", json={"number": "4045550100"}, headers=h)
    assert partial.status_code == 422 and partial.json()["field"] == "consent_date"
    bad = client.post("/v1/rnd/results", json={**one, "queried_at": "2026-01-01T00:00"}, headers=h)
    assert bad.status_code == 422 and bad.json()["field"] == "queried_at"

    csv_body = "number,consent_date,result\n3055550100,2025-02-02,no\n"
    r = client.post(
        "/v1/rnd/imports",
        params={"source": "portal", "queried_at": "2026-11-02T15:30:00Z"},
        content=csv_body.encode(),
        headers={**keys.headers(Role.COMPLIANCE), "Content-Type": "text/csv"},
    )
    assert r.status_code == 201 and r.json()["added"] == 1
    r = client.post("/v1/rnd/imports", content=csv_body.encode(), headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "queried_at"

    got = client.get("/v1/rnd/results", params={"number": "+1 305 555 0100"}, headers=h)
    assert got.status_code == 200
    assert got.json()[0]["source"] == "portal" and got.json()[0]["queried_at"].startswith(
        "2026-11-02T15:30"
    )
    assert client.get("/v1/rnd/results", params={"number": "x"}, headers=h).status_code == 422
    assert (
        client.get(
            "/v1/rnd/results", params={"number": "4045550100"}, headers=keys.headers(Role.AGENT)
        ).status_code
        == 403
    )
    app.state.audit_writer.flush()
    with session_factory() as s:
        reads = audit.events(session=s, type="rnd.read")
        writes = audit.events(session=s, type="rnd.result.recorded")
    assert reads[0].subject == "+13055550100" and reads[0].actor == "test-dialer"
    assert {w.subject for w in writes} == {"+14045550100", "+14045550101"}


# -- CLI -------------------------------------------------------------------------------------


def test_cli(run_cli, tmp_path):
    run_cli(
        "rnd", "add", "4045550100", "--consent-date", "2025-01-01", "--result", "no",
        "--queried-at", "2026-11-02T15:30:00Z", check=True,
    )  # fmt: skip
    path = tmp_path / "results.csv"
    path.write_text(RESULTS_CSV)
    out = run_cli("rnd", "import", str(path), "--json", check=True)
    assert json.loads(out.stdout)["added"] == 3
    listed = json.loads(run_cli("rnd", "list", "404-555-0100", "--json", check=True).stdout)
    # same query time: the later record first
    assert [(v["result"], v["source"]) for v in listed] == [
        ("no_data", "file:results.csv"),
        ("no", "cli"),
    ]
    assert all(v["queried_at"].startswith("2026-11-02T15:30") for v in listed)

    bad = run_cli("rnd", "add", "4045550100", "--consent-date", "2025-01-01", "--result", "maybe")
    assert bad.returncode == 2 and "result" in bad.stderr and "Traceback" not in bad.stderr
    path.write_text("number,consent_date,result\n4045550100,2025-01-01,no\n")
    rejected = run_cli("rnd", "import", str(path))
    assert rejected.returncode == 2 and f"{path}:2" in rejected.stderr
    ok = run_cli("rnd", "import", str(path), "--queried-at", "2026-11-01T00:00:00Z", check=True)
    assert "1 added" in ok.stdout
