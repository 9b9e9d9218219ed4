"""Imports, snapshots, coverage, freshness, change lists and the internal list (real database)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from callwarden import phone
from callwarden.audit import service as audit
from callwarden.config import Settings
from callwarden.dnc import service
from callwarden.dnc.models import DncSnapshot
from callwarden.dnc.runtime import DncRuntime
from callwarden.errors import PermissionDenied, ValidationFailed
from callwarden.security.roles import Role
from callwarden.security.service import Principal

from .dnc_files import e164, write_changes, write_flat, write_zip

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
OBTAINED = "2026-11-20"


def _import(settings, factory, who, key, fmt, paths, obtained=OBTAINED, **kw):
    return service.import_files(
        session_factory=factory,
        settings=settings,
        list_key=key,
        fmt=fmt,
        paths=paths,
        obtained=obtained,
        actor=who,
        **kw,
    )


def _runtime(settings: Settings, factory) -> DncRuntime:
    rt = DncRuntime(settings=settings, session_factory=factory)
    rt.load()
    return rt


def _status(rt: DncRuntime, number: int, key: str, at: datetime = NOW) -> str:
    return next(a for a in rt.lookup_one(number, at=at) if a.list_key == key).status


def test_flat_import_counts_and_lookups(tmp_path, settings, session_factory, operator):
    a = write_flat(
        tmp_path / "404.txt", [e164("4045550100"), e164("4045550101"), e164("4045550100")]
    )
    b = write_flat(tmp_path / "770.txt", [e164("7702345678")])
    rep = _import(settings, session_factory, operator, "national", "ftc_flat", [a, b])
    assert (rep.lines_read, rep.added, rep.duplicates, rep.rejected) == (4, 3, 1, 0)
    assert rep.area_codes == [404, 770] and rep.total_after == 3
    rt = _runtime(settings, session_factory)
    assert _status(rt, e164("4045550100"), "national") == "hit"
    assert _status(rt, e164("4045550199"), "national") == "miss"
    answer = next(a for a in rt.lookup_one(e164("2125550100"), at=NOW) if a.list_key == "national")
    assert (answer.status, answer.reason) == ("unknown", "not_covered")
    with session_factory() as s:
        snap = s.get(DncSnapshot, rep.snapshot_id)
        assert snap.status == "complete" and snap.lines_read == 4 and snap.added == 3
        assert json.loads(snap.area_codes) == [404, 770]
        assert [f["name"] for f in json.loads(snap.files)] == ["404.txt", "770.txt"]
        assert all(len(f["sha256"]) == 64 for f in json.loads(snap.files))
        assert audit.events(session=s, type="dnc.snapshot.imported")


def test_malformed_lines_are_reported_with_file_and_line(
    tmp_path, settings, session_factory, operator
):
    path = write_flat(
        tmp_path / "404.txt",
        [e164("4045550100")],
        extra_lines=["404,555010", "40A,5550102", "404,1550103", "111,5550104", "404,5550105"],
    )
    rep = _import(settings, session_factory, operator, "national", "ftc_flat", [path])
    assert rep.lines_read == 6 and rep.added == 2 and rep.rejected == 4
    assert [e["line_no"] for e in rep.errors] == [2, 3, 4, 5]
    assert all(e["file"] == "404.txt" for e in rep.errors)
    assert rep.errors[0]["content"] == "404,555010"
    with session_factory() as s:
        kept = service.snapshot_errors(session=s, snapshot_id=rep.snapshot_id)
    assert [(e.line_no, e.file) for e in kept] == [
        (2, "404.txt"),
        (3, "404.txt"),
        (4, "404.txt"),
        (5, "404.txt"),
    ]


def test_zip_with_several_members(tmp_path, settings, session_factory, operator):
    z = write_zip(
        tmp_path / "ftc.zip",
        {"404.txt": "404,5550100\n404,5550101\n", "678.txt": "678,2345678\nbad\n"},
    )
    rep = _import(settings, session_factory, operator, "national", "ftc_flat", [z])
    assert rep.added == 3 and rep.rejected == 1
    assert rep.errors[0]["file"] == "ftc.zip:678.txt" and rep.errors[0]["line_no"] == 2
    rt = _runtime(settings, session_factory)
    assert _status(rt, e164("6782345678"), "national") == "hit"


def test_reimport_of_one_area_code_keeps_the_others(tmp_path, settings, session_factory, operator):
    _import(
        settings,
        session_factory,
        operator,
        "national",
        "ftc_flat",
        [
            write_flat(tmp_path / "a404.txt", [e164("4045550100")]),
            write_flat(tmp_path / "a770.txt", [e164("7702345678")]),
        ],
        obtained="2026-11-01",
    )
    _import(
        settings,
        session_factory,
        operator,
        "national",
        "ftc_flat",
        [write_flat(tmp_path / "b404.txt", [e164("4045550111")])],
    )
    rt = _runtime(settings, session_factory)
    assert _status(rt, e164("4045550100"), "national") == "miss"  # replaced
    assert _status(rt, e164("4045550111"), "national") == "hit"
    assert _status(rt, e164("7702345678"), "national") == "hit"  # kept
    with session_factory() as s:
        row = next(r for r in service.list_status(session=s, at=NOW) if r["list"] == "national")
    assert row["coverage"] == [404, 770] and row["entries"] == 2
    assert row["oldest_data_at"].date().isoformat() == "2026-11-01"


def test_change_list_delete_then_add(tmp_path, settings, session_factory, operator):
    """Incremental update: a change list deletes and adds without a full re-import."""
    _import(
        settings,
        session_factory,
        operator,
        "national",
        "ftc_flat",
        [write_flat(tmp_path / "404.txt", [e164("4045550100"), e164("4045550101")])],
        obtained="2026-11-01",
    )
    rt = _runtime(settings, session_factory)
    assert _status(rt, e164("4045550100"), "national") == "hit"
    changes = write_changes(
        tmp_path / "delta.txt",
        [
            (e164("4045550100"), "2026-11-19T10:00:00", "D"),
            (e164("4045550177"), "2026-11-19T11:30:00", "A"),
            (e164("4045550101"), "2026-11-19T12:00:00", "D"),
            (e164("4045550101"), "2026-11-19T13:00:00", "A"),
        ],
    )
    rep = _import(settings, session_factory, operator, "national", "ftc_changes", [changes])
    assert (rep.added, rep.deleted, rep.rejected) == (2, 2, 0)
    rt.sync()
    assert _status(rt, e164("4045550100"), "national") == "miss"
    assert _status(rt, e164("4045550177"), "national") == "hit"
    assert _status(rt, e164("4045550101"), "national") == "hit"
    with session_factory() as s:
        ids = service.list_ids(session=s)
        since = service.listed_since(
            session=s, list_ids=[ids["national"]], numbers=[e164("4045550177")]
        )
        row = next(r for r in service.list_status(session=s, at=NOW) if r["list"] == "national")
    assert since[(ids["national"], e164("4045550177"))] == datetime(
        2026, 11, 19, 11, 30, tzinfo=UTC
    )
    # a change list refreshes the age of what the list covers
    assert row["newest_data_at"].date().isoformat() == OBTAINED


def test_change_list_needs_a_full_snapshot_first(tmp_path, settings, session_factory, operator):
    changes = write_changes(tmp_path / "d.txt", [(e164("4045550100"), "2026-11-19T10:00:00", "A")])
    with pytest.raises(ValidationFailed):
        _import(settings, session_factory, operator, "national", "ftc_changes", [changes])
    with session_factory() as s:
        snaps = service.snapshots(session=s)
    assert snaps[0].status == "failed"


@pytest.mark.parametrize(("age_days", "expected"), [(31, "hit"), (32, "unknown")])
def test_freshness_31_days(tmp_path, settings, session_factory, operator, age_days, expected):
    """16 CFR 310.4(b)(3)(iv): a registry copy older than 31 days answers unknown."""
    obtained = (NOW - timedelta(days=age_days)).date().isoformat()
    _import(
        settings,
        session_factory,
        operator,
        "national",
        "ftc_flat",
        [write_flat(tmp_path / "404.txt", [e164("4045550100")])],
        obtained=obtained,
    )
    rt = _runtime(settings, session_factory)
    answer = next(a for a in rt.lookup_one(e164("4045550100"), at=NOW) if a.list_key == "national")
    assert answer.status == expected
    if expected == "unknown":
        assert answer.reason == "stale" and answer.in_stale_data
    miss = next(a for a in rt.lookup_one(e164("4045550199"), at=NOW) if a.list_key == "national")
    assert miss.status == ("miss" if age_days == 31 else "unknown")
    with session_factory() as s:
        row = next(r for r in service.list_status(session=s, at=NOW) if r["list"] == "national")
    assert row["stale"] is (age_days == 32) and row["age_days"] == age_days


def test_failed_import_leaves_previous_snapshot(
    tmp_path, settings, session_factory, operator, monkeypatch
):
    _import(
        settings,
        session_factory,
        operator,
        "national",
        "ftc_flat",
        [write_flat(tmp_path / "404.txt", [e164("4045550100")])],
    )
    from callwarden.dnc import index

    def boom(self, path):
        raise OSError("disk full")

    monkeypatch.setattr(index.IndexBuilder, "write", boom)
    with pytest.raises(OSError):
        _import(
            settings,
            session_factory,
            operator,
            "national",
            "ftc_flat",
            [write_flat(tmp_path / "404b.txt", [e164("4045550999")])],
        )
    rt = _runtime(settings, session_factory)
    assert _status(rt, e164("4045550100"), "national") == "hit"
    assert _status(rt, e164("4045550999"), "national") == "miss"
    with session_factory() as s:
        snaps = service.snapshots(session=s)
    assert [x.status for x in snaps] == ["failed", "complete"]
    assert "disk full" in (snaps[0].error or "")


def test_state_canada_and_custom_lists(tmp_path, settings, session_factory, operator):
    tx = tmp_path / "tx.txt"
    tx.write_text("(512) 555-0100\n+1 214 555 0101\nnot a number\n\n")
    rep = _import(settings, session_factory, operator, "state:tx", "numbers", [tx])
    assert rep.list_key == "state:TX" and rep.added == 2 and rep.rejected == 2
    csv_file = tmp_path / "lit.csv"
    csv_file.write_text("name,Phone\nA,4045550100\nB,12\n")
    rep = _import(
        settings, session_factory, operator, "custom:litigators", "csv", [csv_file], column="phone"
    )
    assert rep.added == 1 and rep.rejected == 1 and rep.errors[0]["line_no"] == 3
    ca = write_flat(tmp_path / "416.txt", [e164("4165550100")])
    _import(settings, session_factory, operator, "canada", "canada_flat", [ca])
    rt = _runtime(settings, session_factory)
    answers = {a.list_key: a for a in rt.lookup_one(e164("5125550100"), at=NOW)}
    assert answers["state:TX"].status == "hit"
    assert answers["custom:litigators"].status == "miss"
    assert answers["canada"].status == "miss" and answers["canada"].reason == "out_of_scope"
    answers = {a.list_key: a for a in rt.lookup_one(e164("4165550100"), at=NOW)}
    assert answers["canada"].status == "hit"
    assert answers["national"].status == "miss" if "national" in answers else True
    assert {a.list_key: a.status for a in rt.lookup_one(e164("4045550100"), at=NOW)}[
        "custom:litigators"
    ] == "hit"


def test_bad_import_arguments(tmp_path, settings, session_factory, operator):
    f = write_flat(tmp_path / "404.txt", [e164("4045550100")])
    for kwargs, field in [
        ({"list_key": "state:ZZ"}, "list"),
        ({"list_key": "internal"}, "list"),
        ({"obtained": "yesterday"}, "obtained"),
        ({"obtained": "2099-01-01"}, "obtained"),
        ({"paths": [tmp_path / "missing.txt"]}, "files"),
        ({"fmt": "xml"}, "format"),
    ]:
        args = {
            "list_key": "national",
            "fmt": "ftc_flat",
            "paths": [f],
            "obtained": OBTAINED,
            **kwargs,
        }
        with pytest.raises(ValidationFailed) as info:
            service.import_files(
                session_factory=session_factory, settings=settings, actor=operator, **args
            )
        assert info.value.field == field


def test_internal_entry_visible_to_other_runtimes_at_once(settings, session_factory, engine):
    """An internal addition is seen by the very next lookup of every process (two runtimes)."""
    from callwarden.db import make_engine, make_session_factory

    other_engine = make_engine(settings.resolved_database_url)
    other = _runtime(settings, make_session_factory(other_engine))
    mine = _runtime(settings, session_factory)
    number = phone.parse("(404) 555-0100")
    assert _status(other, number.digits, "internal") == "miss"
    agent = Principal(name="agent-7", role=Role.AGENT)
    with session_factory() as s:
        entry = service.add_internal(
            session=s,
            number=number,
            channel="sms",
            seller="acme",
            source="sms_keyword",
            actor=agent,
        )
        s.commit()
    other.sync()
    answer = next(a for a in other.lookup_one(number.digits) if a.list_key == "internal")
    assert answer.status == "hit" and answer.entries[0].seller == "acme"
    assert answer.entries[0].channel == "sms" and answer.entries[0].added_by == "agent-7"
    # removal: compliance only, audited, kept as history
    with session_factory() as s, pytest.raises(PermissionDenied):
        service.remove_internal(session=s, entry_id=entry.id, reason="asked", actor=agent)
    officer = Principal(name="officer", role=Role.COMPLIANCE)
    with session_factory() as s:
        service.remove_internal(
            session=s, entry_id=entry.id, reason="consumer re-consented in writing", actor=officer
        )
        s.commit()
    mine.sync()
    assert _status(mine, number.digits, "internal") == "miss"
    with session_factory() as s:
        history = service.internal_entries(session=s, number=number.digits, include_removed=True)
        assert history[0].removed_by == "officer" and not history[0].active
        ev = audit.events(session=s, type="dnc.internal.removed")
        assert ev and ev[0].actor == "officer" and ev[0].subject == "+14045550100"
    other_engine.dispose()


def test_internal_entries_never_expire(settings, session_factory):
    number = phone.parse("4045550100")
    with session_factory() as s:
        service.add_internal(session=s, number=number, actor=Principal("a", Role.AGENT))
        s.commit()
    rt = _runtime(settings, session_factory)
    far = NOW + timedelta(days=365 * 30)
    assert _status(rt, number.digits, "internal", at=far) == "hit"


def test_import_reaps_dead_importing_rows(tmp_path, settings, session_factory, operator):
    with session_factory() as s:
        lst = service.ensure_list(session=s, spec=service.list_spec("national"))
        import socket

        s.add(
            DncSnapshot(
                list_id=lst.id,
                kind="full",
                format="ftc_flat",
                obtained_at=NOW,
                started_at=NOW,
                status="importing",
                files="[]",
                imported_by="x",
                worker=f"{socket.gethostname()}:999999999",
            )
        )
        s.commit()
    _import(
        settings,
        session_factory,
        operator,
        "national",
        "ftc_flat",
        [write_flat(tmp_path / "404.txt", [e164("4045550100")])],
    )
    with session_factory() as s:
        statuses = list(s.scalars(select(DncSnapshot.status).order_by(DncSnapshot.id)))
    assert statuses == ["failed", "complete"]


def test_small_chunks_keep_line_numbers_and_evidence(
    tmp_path, settings, session_factory, operator, monkeypatch
):
    """Lines straddling read blocks, line numbers across chunks, and the archived copy."""
    import hashlib

    monkeypatch.setattr(service, "CHUNK_BYTES", 29)  # not a multiple of the 12-byte line
    good = [e164(f"404555{i:04d}") for i in range(200)]
    lines = [f"404,555{i:04d}" for i in range(200)]
    lines.insert(57, "404,55")
    lines.insert(150, "x")
    path = tmp_path / "404.txt"
    path.write_text("\n".join(lines) + "\n")
    rep = _import(settings, session_factory, operator, "national", "ftc_flat", [path])
    assert rep.lines_read == 202 and rep.added == 200 and rep.rejected == 2
    assert [(e["line_no"], e["content"]) for e in rep.errors] == [(58, "404,55"), (151, "x")]
    info = rep.files[0]
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["bytes"] == path.stat().st_size
    assert Path(info["archived"]).read_bytes() == path.read_bytes()
    rt = _runtime(settings, session_factory)
    assert all(_status(rt, n, "national") == "hit" for n in good[::17])


def test_batch_lookups_answer_as_single_lookups(tmp_path, settings, session_factory, operator):
    """`lookup_many` (answers shared per list, area code and hit) equals `lookup_one` per number.

    Numbers across covered, uncovered, stale and out-of-scope area codes, listed and not,
    with and without internal entries, at a moment where one area code's copy is stale.
    """
    listed = [e164(n) for n in ("2125550100", "2125550101", "4045550100", "5125550100")]
    national = partial(_import, settings, session_factory, operator, "national", "ftc_flat")
    national([write_flat(tmp_path / "a.txt", listed[:2])])
    # 404 is stale at NOW; 212 is not
    national([write_flat(tmp_path / "b.txt", listed[2:3])], obtained="2026-10-01")
    tx = tmp_path / "tx.txt"
    tx.write_text("5125550100\n")
    _import(settings, session_factory, operator, "state:tx", "numbers", [tx])
    ca = write_flat(tmp_path / "416.txt", [e164("4165550100")])
    _import(settings, session_factory, operator, "canada", "canada_flat", [ca])
    with session_factory() as s:
        service.add_internal(
            session=s,
            number=phone.parse("(212) 555-0101"),
            channel="all",
            seller="acme",
            source="agent_disposition",
            actor=Principal(name="agent-7", role=Role.AGENT),
        )
        s.commit()
    rt = _runtime(settings, session_factory)
    numbers = [
        *listed,
        e164("2125550199"),  # covered, not listed
        e164("4045550199"),  # stale copy, not listed
        e164("5125550199"),  # national copy does not cover 512
        e164("4165550100"),  # Canada: listed on the DNCL, out of the US registry's scope
        e164("4165550101"),
        442071838750,  # not NANP
    ]
    many = rt.lookup_many(numbers, at=NOW)
    assert many == [rt.lookup_one(n, at=NOW) for n in numbers]
    by_key = [{a.list_key: a for a in row} for row in many]
    assert by_key[0]["national"].status == "hit" and by_key[4]["national"].status == "miss"
    assert by_key[2]["national"].reason == "stale" and by_key[2]["national"].in_stale_data
    assert by_key[5]["national"].reason == "stale" and not by_key[5]["national"].in_stale_data
    assert by_key[6]["national"].reason == "not_covered"
    assert by_key[3]["state:TX"].status == "hit" and by_key[6]["state:TX"].status == "miss"
    assert by_key[7]["canada"].status == "hit" and by_key[8]["canada"].status == "miss"
    assert by_key[1]["internal"].status == "hit" and by_key[0]["internal"].status == "miss"
    assert by_key[9]["national"].reason == "not_nanp"


def test_only_a_warm_runtime_warms_in_the_background(
    tmp_path, settings, session_factory, operator, monkeypatch
):
    """The service warms a fresh index (pages, bulk kernel) on a thread; a one-shot command's
    runtime (`warm=False`) does not, and answers the same."""
    from callwarden.dnc import runtime

    warmed = threading.Event()
    monkeypatch.setattr(runtime, "_prefetch", lambda indexes, multi: warmed.set())
    _import(settings, session_factory, operator, "national", "ftc_flat",
            [write_flat(tmp_path / "404.txt", [e164("4045550100")])])  # fmt: skip
    cold = DncRuntime(settings=settings, session_factory=session_factory, warm=False)
    cold.load()
    assert not warmed.wait(0.5)
    assert _status(cold, e164("4045550100"), "national") == "hit"
    warm = _runtime(settings, session_factory)
    assert warmed.wait(10)
    assert _status(warm, e164("4045550100"), "national") == "hit"


def test_a_second_list_wide_coverage_row_is_folded_by_the_next_import(
    tmp_path, settings, session_factory, operator
):
    """NULL area codes are distinct to the unique index, so nothing stops a stray second
    list-wide row (a race, a hand edit); the next import leaves exactly one, its own."""
    from callwarden.dnc.models import DncCoverage, DncList

    numbers = tmp_path / "state.txt"
    numbers.write_text("+14045550100\n")
    first = _import(settings, session_factory, operator, "state:TX", "numbers", [numbers])
    with session_factory() as s:
        list_id = s.scalar(select(DncList.id).where(DncList.key == "state:TX"))
        s.add(DncCoverage(list_id=list_id, npa=None, snapshot_id=first.snapshot_id,
                          obtained_at=NOW, count=1))  # fmt: skip
        s.commit()
    second = _import(settings, session_factory, operator, "state:TX", "numbers", [numbers],
                     obtained="2026-11-25")  # fmt: skip
    with session_factory() as s:
        rows = s.scalars(select(DncCoverage).where(DncCoverage.list_id == list_id)).all()
        assert [(c.npa, c.snapshot_id) for c in rows] == [(None, second.snapshot_id)]
