"""Numbers: line types and customer locations (service, loaders, bulk files, API, CLI)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from callwarden import bulk
from callwarden.audit import service as audit
from callwarden.bulk import ImportRejected, InvalidRecord
from callwarden.errors import ValidationFailed
from callwarden.gate.facts import LocationFact
from callwarden.numbers import service
from callwarden.numbers.models import CustomerLocation, LineTypeRecord
from callwarden.phone import in_service_npas
from callwarden.security.roles import Role

from .conftest import Keys

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
N1, N2, N3 = 14045550100, 14045550101, 13055550100
WHO = {"actor": "tests", "actor_role": "admin"}


def _add_type(session, number, line_type, source, as_of):
    return service.add_line_type(
        session=session, number=number, line_type=line_type, source=source, as_of=as_of, **WHO
    )


# -- line types ------------------------------------------------------------------------------


def test_newest_as_of_wins_not_the_latest_recorded(session_factory):
    with session_factory() as s:
        _add_type(s, "404-555-0100", "landline", "vendor-a", "2026-06-01")
        _add_type(s, "+1 404 555 0100", "wireless", "vendor-b", "2026-09-01")
        # recorded last, but an older statement: it must not win
        _add_type(s, "4045550100", "voip", "vendor-c", "2026-01-01")
        _add_type(s, "3055550100", "mobile", "vendor-a", None)
        s.commit()
        got = service.load_line_types(s, [N1, N3, N2])
    assert got == {N1: "wireless", N3: "wireless"}  # N2 unknown: absent, never guessed


def test_known_at_ignores_statements_recorded_later(session_factory):
    with session_factory() as s:
        old = _add_type(s, N1, "landline", "vendor-a", "2026-01-01")
        new = _add_type(s, N1, "wireless", "vendor-b", "2026-02-01")
        s.flush()
        t0 = datetime(2026, 3, 1, tzinfo=UTC)
        s.execute(update(LineTypeRecord).where(LineTypeRecord.id == old.id).values(recorded_at=t0))
        s.execute(
            update(LineTypeRecord)
            .where(LineTypeRecord.id == new.id)
            .values(recorded_at=t0 + timedelta(days=10))
        )
        s.commit()
        assert service.load_line_types(s, [N1], known_at=t0 + timedelta(days=1)) == {N1: "landline"}
        assert service.load_line_types(s, [N1], known_at=t0 - timedelta(seconds=1)) == {}
        assert service.load_line_types(s, [N1]) == {N1: "wireless"}


def test_identical_statement_is_recorded_once(session_factory):
    with session_factory() as s:
        a = _add_type(s, N1, "wireless", "vendor-a", "2026-01-01")
        b = _add_type(s, N1, "cell", "vendor-a", "2026-01-01T00:00:00Z")
        s.commit()
        assert a.id == b.id
        assert len(service.line_type_history(session=s, number=N1)) == 1
        events = audit.events(session=s, type="numbers.line_type.recorded")
    assert len(events) == 2 and events[0].subject == "+14045550100"
    assert '"duplicate":true' in events[0].body


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("line_type", "fax", "wireless, landline or voip"),
        ("number", "12", "too few digits"),
        ("as_of", "2026-13-01", "ISO date-time"),
        ("as_of", "2026-01-01T10:00:00", "time zone"),
        ("source", "", "source is required"),
    ],
)
def test_line_type_validation_names_the_field(session_factory, field, value, needle):
    args = {"number": N1, "line_type": "wireless", "source": "s", "as_of": "2026-01-01"}
    args[field] = value
    with session_factory() as s, pytest.raises(ValidationFailed) as exc:
        service.add_line_type(session=s, **args, **WHO)
    assert exc.value.field == field and needle in exc.value.message


def test_as_of_in_the_future_is_refused():
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    with pytest.raises(InvalidRecord) as exc:
        service.parse_line_type_row(
            {"number": N1, "line_type": "voip", "source": "s", "as_of": later}
        )
    assert exc.value.field == "as_of" and "future" in exc.value.message


# -- locations -------------------------------------------------------------------------------


def _loc(session, number=N1, **kw):
    return service.add_location(session=session, number=number, **kw, **WHO)


def test_locations_validation():
    parse = service.parse_location_row
    ok = parse({"number": N1, "state": "fl", "zip": "331011234", "kind": "Billing"}, source="t")
    assert (ok.country, ok.state, ok.zip, ok.kind) == ("US", "FL", "33101-1234", "billing")
    canada = parse({"number": N1, "country": "ca", "state": "on", "zip": "k1a0b1"}, source="t")
    assert (canada.state, canada.zip) == ("ON", "K1A 0B1")
    zip_only = parse({"number": N1, "zip": "70112"}, source="t")
    assert zip_only.state is None and zip_only.zip == "70112"  # never guessed from the ZIP
    for row, field in [
        ({"number": N1, "state": "ON"}, "state"),  # a province is not a US state
        ({"number": N1, "country": "CA", "state": "FL"}, "state"),
        ({"number": N1, "state": "FL", "zip": "3310"}, "zip"),
        ({"number": N1, "zip": 2134}, "zip"),  # a ZIP that lost its leading zero
        ({"number": N1, "country": "MX", "state": "FL"}, "country"),
        ({"number": N1}, "state"),  # neither a state nor a ZIP
        ({"number": N1, "state": "TX", "kind": "home"}, "kind"),
    ]:
        with pytest.raises(InvalidRecord) as exc:
            parse(row, source="t")
        assert exc.value.field == field, row
    with pytest.raises(InvalidRecord) as exc:
        parse({"number": "x", "state": "ZZ", "kind": "home"}, source="t")
    assert {f for f, _ in exc.value.errors} == {"number", "state", "kind"}


def test_load_locations_removal_and_replay(session_factory):
    with session_factory() as s:
        mailing = _loc(s, state="LA", zip="70112", kind="mailing")
        _loc(s, state="LA", zip="70112", kind="billing")  # same place: one fact
        moved = _loc(s, state="TX", kind="other")
        _loc(s, N2, country="CA", state="QC")
        s.flush()
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        s.execute(update(CustomerLocation).values(recorded_at=t0))
        s.commit()
        gone = service.remove_location(session=s, location_id=moved.id, reason="moved", **WHO)
        s.commit()
        now = service.load_locations(s, [N1, N2, N3])
        at_removal = service.load_locations(s, [N1], known_at=gone.removed_at)
        before = service.load_locations(s, [N1], known_at=t0 + timedelta(days=1))
        too_early = service.load_locations(s, [N1], known_at=t0 - timedelta(days=1))
        with pytest.raises(Exception, match="already removed"):
            service.remove_location(session=s, location_id=moved.id, **WHO)
        again = _loc(s, state="LA", zip="70112", kind="mailing")
    assert now == {
        N1: [LocationFact("US", "LA", "70112")],
        N2: [LocationFact("CA", "QC", None)],
    }
    assert at_removal == {N1: [LocationFact("US", "LA", "70112")]}  # removed at known_at: gone
    # replay before the removal was made still sees the old location
    assert before == {N1: [LocationFact("US", "LA", "70112"), LocationFact("US", "TX", None)]}
    assert too_early == {}
    assert again.id == mailing.id  # identical active location: not stored twice


def test_loaders_chunk_many_numbers(session_factory):
    numbers = [14045550000 + i for i in range(100, 1300)]
    body = "number,line_type,source\n" + "".join(f"{n},wireless,v\n" for n in numbers)
    with session_factory() as s:
        report = service.import_line_types(session=s, data=body, **WHO)
        s.commit()
        got = service.load_line_types(s, [*numbers, N3])
    assert report.added == 1200 and len(got) == 1200 and N3 not in got


# -- bulk files ------------------------------------------------------------------------------


BAD_CSV = (
    "Phone Number,Line Type,Source,As Of\n"  # header names are normalized and aliased
    "4045550100,wireless,vendor,2026-01-01\n"
    "4045550101,fax,vendor,2026-01-01\n"  # line 3: bad line type
    "\n"
    "12,voip,,2026-01-01\n"  # line 5: bad number and no source
    "4045550102,landline,vendor,not-a-date\n"  # line 6: bad date
    ",,,\n"  # an empty spreadsheet row: skipped
)


def test_bulk_import_reports_every_bad_row_and_imports_nothing(session_factory):
    with session_factory() as s:
        with pytest.raises(ImportRejected) as exc:
            service.import_line_types(session=s, data=BAD_CSV.encode(), **WHO)
        s.rollback()
        stored = s.scalars(select(LineTypeRecord)).all()
    errors = [(e.line, e.field) for e in exc.value.errors]
    assert errors == [(3, "line_type"), (5, "number"), (5, "source"), (6, "as_of")]
    assert "3 bad rows" in exc.value.message
    assert stored == []


def test_bulk_import_jsonl_and_json_list(session_factory):
    jsonl = "\n".join(
        json.dumps(r)
        for r in [
            {"number": 4045550100, "state": "GA", "kind": "mailing"},
            {"tn": "+1 305 555 0100", "province": "ON", "country": "CA"},
        ]
    )
    with session_factory() as s:
        first = service.import_locations(session=s, data=jsonl, source="crm", **WHO)
        again = service.import_locations(session=s, data=jsonl, source="crm", **WHO)
        listed = service.import_line_types(
            session=s,
            data=json.dumps([{"number": "4045550100", "line_type": "VoIP"}]),
            source="carrier",
            **WHO,
        )
        s.commit()
        locs = service.load_locations(s, [N1, N3])
        types = service.load_line_types(s, [N1])
        events = audit.events(session=s, type="numbers.locations.imported")
    assert (first.added, again.added, again.duplicates) == (2, 0, 2)
    assert locs == {N1: [LocationFact("US", "GA", None)], N3: [LocationFact("CA", "ON", None)]}
    assert listed.added == 1 and types == {N1: "voip"}
    assert len(events) == 2 and events[0].subject == "import:crm"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"\xff\xfe\x00", "UTF-8"),
        (b"number,number\n1,2\n", "repeated column"),
        (b'{"number": 1}\n[1]\n{bad\n', "line"),
        (b'[{"number": "4045550100"}, 3]', "JSON object"),
    ],
)
def test_unreadable_files_are_rejected_cleanly(session_factory, data, fragment):
    with session_factory() as s, pytest.raises(ImportRejected) as exc:
        service.import_locations(session=s, data=data, source="x", **WHO)
    assert any(fragment in str(e) for e in exc.value.errors), exc.value.errors


# -- property tests of the row parsers ------------------------------------------------------

NPAS = in_service_npas("US")
LINE_WORDS = {
    "wireless": "wireless",
    "Mobile": "wireless",
    "CELL": "wireless",
    "landline": "landline",
    "Fixed Line": "landline",
    "fixedVoip": "voip",
    "non-fixed-voip": "voip",
    "VOIP": "voip",
}


@PROPS
@given(
    npa=st.sampled_from(NPAS),
    nxx=st.integers(200, 999).filter(lambda n: n % 100 != 11),
    line=st.integers(0, 9999),
    word=st.sampled_from(sorted(LINE_WORDS)),
    day=st.dates(datetime(2000, 1, 1).date(), datetime(2026, 1, 1).date()),
    source=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40),
)
def test_line_type_rows_round_trip_through_csv(npa, nxx, line, word, day, source):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["number", "line_type", "source", "as_of"])
    w.writerow([f"({npa}) {nxx}-{line:04d}", word, source, day.isoformat()])
    rows, errors, *_ = bulk.read_rows(buf.getvalue())
    assert errors == [] and len(rows) == 1 and rows[0][0] == 2
    if not source.strip():
        with pytest.raises(InvalidRecord) as exc:
            service.parse_line_type_row(rows[0][1])
        assert exc.value.field == "source"
        return
    item = service.parse_line_type_row(rows[0][1])
    assert item.number == int(f"1{npa}{nxx}{line:04d}")
    assert item.line_type == LINE_WORDS[word]
    assert item.source == source.strip()
    assert item.as_of == datetime(day.year, day.month, day.day, tzinfo=UTC)


@PROPS
@given(st.text(max_size=12), st.sampled_from(["US", "CA"]))
def test_zip_accepted_exactly_when_well_formed(raw, country):
    pattern = (
        r"\d{5}(-?\d{4})?"
        if country == "US"
        else r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d"
    )
    text = raw.strip()
    well_formed = bool(re.fullmatch(pattern, text.upper() if country == "CA" else text, re.ASCII))
    try:
        out = service.parse_zip(raw, country)
    except ValidationFailed as exc:
        assert exc.field == "zip"
        assert text and not well_formed
        return
    if not text:
        assert out is None
        return
    assert well_formed and out is not None
    assert service.parse_zip(out, country) == out  # normalized form is a fixed point
    assert re.fullmatch(r"\d{5}(-\d{4})?" if country == "US" else r"[A-Z]\d[A-Z] \d[A-Z]\d", out)


@PROPS
@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=2, max_size=2)
)
def test_state_codes_accepted_exactly_for_their_country(code):
    for country in ("US", "CA"):
        allowed = service.SUBDIVISIONS[country]
        try:
            assert service.parse_state(code, country) == code.upper()
            assert code.upper() in allowed
        except ValidationFailed:
            assert code.upper() not in allowed


cells = st.one_of(st.none(), st.text(max_size=15), st.integers(-10, 10**12), st.booleans())


@PROPS
@given(
    st.fixed_dictionaries(
        {},
        optional={k: cells for k in ("number", "country", "state", "zip", "kind", "source")},
    )
)
def test_location_parser_never_fails_except_with_field_errors(row):
    try:
        item = service.parse_location_row(row, source="default")
    except InvalidRecord as exc:
        assert exc.errors and all(f in row or f == "state" or f == "number" for f, _ in exc.errors)
        return
    assert item.country in ("US", "CA") and (item.state or item.zip)
    assert item.kind in service.KINDS and item.source


@PROPS
@given(st.text(max_size=300))
def test_read_rows_never_raises(text):
    rows, errors, *_ = bulk.read_rows(text)
    for line, row in rows:
        assert line >= 1 and isinstance(row, dict)
    assert all(e.line is None or e.line >= 1 for e in errors)


# -- HTTP ------------------------------------------------------------------------------------


def test_api_line_type_location_and_read(client, keys: Keys, app, session_factory):
    h = keys.headers(Role.DIALER)
    r = client.post(
        "/v1/numbers/line-types",
        json={"number": "(404) 555-0100", "line_type": "mobile", "source": "carrier-x"},
        headers=h,
    )
    assert r.status_code == 201 and r.json()["line_type"] == "wireless"
    r = client.post(
        "/v1/numbers/locations",
        json={"number": "4045550100", "state": "fl", "zip": "33101", "kind": "billing"},
        headers=h,
    )
    assert r.status_code == 201
    loc_id = r.json()["id"]
    bad = client.post(
        "/v1/numbers/locations", json={"number": "4045550100", "state": "XX"}, headers=h
    )
    assert bad.status_code == 422 and bad.json()["field"] == "state"
    bad = client.post(
        "/v1/numbers/line-types",
        json={"number": "4045550100", "line_type": "pager", "source": "x"},
        headers=h,
    )
    assert bad.status_code == 422 and bad.json()["field"] == "line_type"

    got = client.get("/v1/numbers/+14045550100", headers=keys.headers(Role.AGENT))
    assert got.status_code == 200
    body = got.json()
    assert body["line_type"] == "wireless" and body["locations"][0]["state"] == "FL"
    assert client.get("/v1/numbers/12", headers=h).json()["field"] == "number"

    removed = client.post("/v1/numbers/locations/remove", json={"id": loc_id}, headers=h)
    assert removed.status_code == 200 and removed.json()["removed_at"]
    assert client.get("/v1/numbers/4045550100", headers=h).json()["locations"] == []
    with_removed = client.get(
        "/v1/numbers/4045550100", params={"include_removed": True}, headers=h
    ).json()
    assert len(with_removed["locations"]) == 1
    again = client.post("/v1/numbers/locations/remove", json={"id": loc_id}, headers=h)
    assert again.status_code == 409

    app.state.audit_writer.flush()
    with session_factory() as s:
        reads = audit.events(session=s, type="numbers.read")
        writes = audit.events(session=s, type="numbers.location.recorded")
    assert reads[-1].actor == "test-agent" and reads[-1].subject == "+14045550100"
    assert writes[0].actor == "test-dialer"


def test_api_imports(client, keys: Keys):
    h = {**keys.headers(Role.COMPLIANCE), "Content-Type": "text/csv"}
    r = client.post("/v1/numbers/line-types/imports", content=BAD_CSV.encode(), headers=h)
    assert r.status_code == 422
    body = r.json()
    assert body["errors_total"] == 4
    assert [e["line"] for e in body["errors"]] == [3, 5, 5, 6]
    good = "number,line_type,source\n4045550100,wireless,v\n4045550101,landline,v\n"
    r = client.post("/v1/numbers/line-types/imports", content=good.encode(), headers=h)
    assert r.status_code == 201 and r.json()["added"] == 2
    locs = [{"number": "4045550100", "zip": "30303"}]
    r = client.post(
        "/v1/numbers/locations/imports",
        params={"source": "crm"},
        json=locs,
        headers=keys.headers(Role.DIALER),
    )
    assert r.status_code == 201 and r.json()["added"] == 1
    ndjson = {**keys.headers(Role.DIALER), "Content-Type": "application/x-ndjson"}
    r = client.post(
        "/v1/numbers/locations/imports", content=b'{"number": "4045550100"}\n', headers=ndjson
    )
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "line": 1,
        "field": "state",
        "message": "a state (or province) or a ZIP is required",
    }
    assert (
        client.post(
            "/v1/numbers/line-types/imports",
            content=good.encode(),
            headers=keys.headers(Role.AGENT),
        ).status_code
        == 403
    )


# -- CLI -------------------------------------------------------------------------------------


def test_cli(run_cli, tmp_path):
    run_cli("numbers", "line-type", "404 555 0100", "wireless", "--source", "s", check=True)
    run_cli(
        "numbers", "location", "4045550100", "--state", "FL", "--zip", "33101", "--kind",
        "billing", check=True,
    )  # fmt: skip
    shown = run_cli("numbers", "show", "+14045550100", "--json", check=True)
    view = json.loads(shown.stdout)
    assert view["line_type"] == "wireless"
    assert view["locations"][0]["zip"] == "33101" and view["locations"][0]["kind"] == "billing"

    bad = run_cli("numbers", "location", "4045550100", "--state", "Florida")
    assert bad.returncode == 2 and "state" in bad.stderr and "Traceback" not in bad.stderr

    path = tmp_path / "types.csv"
    path.write_text(BAD_CSV)
    rejected = run_cli("numbers", "line-types-import", str(path))
    assert rejected.returncode == 2
    assert f"{path}:3" in rejected.stderr and f"{path}:6" in rejected.stderr
    assert "nothing was imported" in rejected.stderr

    path.write_text("number,state\n4045550101,GA\n")
    ok = run_cli("numbers", "locations-import", str(path), "--json", check=True)
    assert json.loads(ok.stdout)["added"] == 1
    missing = run_cli("numbers", "locations-import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
