"""Do-Not-Call answers as they stood at a past moment (replays): coverage, membership, internal."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from callwarden import phone
from callwarden.config import Settings
from callwarden.dnc import history
from callwarden.dnc import service as dnc
from callwarden.dnc.coverage import coverage_change
from callwarden.dnc.models import DncCoverage, DncList
from callwarden.dnc.runtime import DncRuntime, ListAnswer
from callwarden.gate.facts import InternalDncFact
from callwarden.security.roles import Role
from callwarden.security.service import Principal

from .dnc_files import e164, write_changes, write_flat

A, B, C, D = (e164(f"40455501{i:02d}") for i in range(4))
OTHER_NPA = e164("7705550100")  # an area code no import covers
AT = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def _full(settings: Settings, factory: Any, tmp: Path, name: str, numbers: list[int], obtained: str,
          operator: Principal) -> None:  # fmt: skip
    dnc.import_files(
        session_factory=factory,
        settings=settings,
        list_key="national",
        fmt="ftc_flat",
        paths=[write_flat(tmp / name, numbers)],
        obtained=obtained,
        actor=operator,
    )


@pytest.fixture
def timeline(settings: Settings, session_factory: Any, tmp_path: Path, operator: Principal) -> Any:
    """Full import (A, B), a change list (+C, -B), a full re-import (A, C, D), moments between."""
    marks = {"before": datetime.now(UTC)}
    _full(settings, session_factory, tmp_path, "full1.txt", [A, B], "2026-11-20", operator)
    marks["after_full"] = datetime.now(UTC)
    dnc.import_files(
        session_factory=session_factory,
        settings=settings,
        list_key="national",
        fmt="ftc_changes",
        paths=[
            write_changes(
                tmp_path / "changes.txt",
                [(C, "2026-11-24T10:00:00", "A"), (B, "2026-11-24T11:00:00", "D")],
            )
        ],
        obtained="2026-11-25",
        actor=operator,
        area_codes=[404],
    )
    marks["after_changes"] = datetime.now(UTC)
    _full(settings, session_factory, tmp_path, "full2.txt", [A, C, D], "2026-11-27", operator)
    rt = DncRuntime(settings=settings, session_factory=session_factory)
    rt.load()
    yield rt, marks
    rt.close()


def _then(rt: DncRuntime, settings: Settings, factory: Any, known_at: datetime,
          numbers: list[int]) -> dict[int, ListAnswer]:  # fmt: skip
    now = rt.lookup_many(numbers, at=AT)
    with factory() as s:
        rows = history.answers_then(
            s, rt.lists, numbers, now, dnc_dir=settings.dnc_dir, known_at=known_at, at=AT
        )
    pairs = zip(numbers, rows, strict=True)
    return {n: next(a for a in row if a.list_key == "national") for n, row in pairs}


def test_before_any_import_nothing_was_covered(timeline, settings, session_factory):
    rt, marks = timeline
    got = _then(rt, settings, session_factory, marks["before"], [A, C])
    assert {(a.status, a.reason) for a in got.values()} == {("unknown", "not_covered")}


def test_the_previous_index_answers_exactly_while_it_is_kept(timeline, settings, session_factory):
    """After the change list: A listed, B deleted, C added, D not yet (the old file answers)."""
    rt, marks = timeline
    got = _then(rt, settings, session_factory, marks["after_changes"], [A, B, C, D])
    assert {n: a.status for n, a in got.items()} == {A: "hit", B: "miss", C: "hit", D: "miss"}
    # the coverage then: the change list renewed the date to its own
    assert {a.as_of for a in got.values()} == {datetime(2026, 11, 25, tzinfo=UTC)}
    pairs = zip([A, B, C, D], rt.lookup_many([A, B, C, D], at=AT), strict=True)
    now = {n: next(a for a in row if a.list_key == "national") for n, row in pairs}
    assert {n: a.status for n, a in now.items()} == {A: "hit", B: "miss", C: "hit", D: "hit"}


def test_change_records_decide_once_the_old_index_is_gone(timeline, settings, session_factory):
    """Three imports keep two index files. As of the first: B's later deletion proves it was
    listed; C's later addition proves nothing (a change list may add a listed number); A and D
    have no record and were re-imported in full since: all three unknown."""
    rt, marks = timeline
    got = _then(rt, settings, session_factory, marks["after_full"], [A, B, C, D, OTHER_NPA])
    assert got[B].status == "hit"
    assert {(got[n].status, got[n].reason) for n in (A, C, D)} == {
        ("unknown", "history_unavailable")
    }
    assert got[A].as_of == datetime(2026, 11, 20, tzinfo=UTC)
    assert (got[OTHER_NPA].status, got[OTHER_NPA].reason) == ("unknown", "not_covered")


def test_keeping_more_indexes_keeps_replays_exact_further_back(
    settings, session_factory, tmp_path, operator
):
    """CALLWARDEN_DNC_KEEP_INDEXES=3: the first snapshot's file survives three imports."""
    keep = settings.model_copy(update={"dnc_keep_indexes": 3})
    marks = []
    for i, numbers in enumerate(([A, B], [A], [A, C, D])):
        _full(keep, session_factory, tmp_path, f"f{i}.txt", numbers, f"2026-11-2{i}", operator)
        marks.append(datetime.now(UTC))
    rt = DncRuntime(settings=keep, session_factory=session_factory)
    rt.load()
    try:
        got = _then(rt, keep, session_factory, marks[0], [A, B, C, D])
    finally:
        rt.close()
    assert {n: a.status for n, a in got.items()} == {A: "hit", B: "hit", C: "miss", D: "miss"}
    assert len(list(keep.dnc_dir.rglob("*.idx"))) == 3


def test_list_then_replays_each_kind_of_snapshot(timeline, session_factory):
    rt, marks = timeline
    (national,) = [lst for lst in rt.lists if lst.key == "national"]
    with session_factory() as s:
        first = history.list_then(s, national.id, marks["after_full"])
        second = history.list_then(s, national.id, marks["after_changes"])
        now = history.list_then(s, national.id, datetime.now(UTC))
    assert set(first.coverage) == {404}
    assert first.last_full_before(404) is not None and first.first_full_after(404) is not None
    assert second.coverage[404].obtained_at == datetime(2026, 11, 25, tzinfo=UTC)
    # the change list renewed the date, not the numbers: the last full import is still the first
    assert second.last_full_before(404) == first.last_full_before(404)
    assert second.first_full_after(404) is not None and second.first_full_after(770) is None
    assert now.coverage[404].obtained_at == datetime(2026, 11, 27, tzinfo=UTC)
    assert not now.full_after and now.coverage_for(404) == now.coverage[404]


def test_stale_then_even_if_fresh_now(timeline, settings, session_factory):
    """The copy in force then was obtained 2026-11-20: 35 days before an attempt on 12-25."""
    rt, marks = timeline
    late = datetime(2026, 12, 25, 17, 0, tzinfo=UTC)
    now = rt.lookup_many([B], at=late)
    with session_factory() as s:
        (row,) = history.answers_then(
            s, rt.lists, [B], now, dnc_dir=settings.dnc_dir, known_at=marks["after_full"], at=late
        )
    (answer,) = [a for a in row if a.list_key == "national"]
    assert (answer.status, answer.reason, answer.in_stale_data) == ("unknown", "stale", True)


def test_internal_entries_removed_since_still_count_then(settings, session_factory, operator):
    compliance = Principal(name="officer", role=Role.COMPLIANCE)
    with session_factory() as s:
        entry = dnc.add_internal(session=s, number=phone.parse(str(A)), actor=operator)
        s.commit()
        listed = datetime.now(UTC)
        dnc.remove_internal(session=s, entry_id=entry.id, reason="added in error", actor=compliance)
        s.commit()
        removed = datetime.now(UTC)
        assert history.internal_then(s, [A, B], listed)[A] == (
            InternalDncFact(entry.id, "*", "all", entry.added_at),
        )
        assert history.internal_then(s, [A], removed) == {A: ()}
        assert history.internal_then(s, [A], entry.added_at.replace(year=2025)) == {A: ()}


def test_the_gate_fails_closed_when_the_list_then_is_unknown():
    """rules.md §0 fail closed: an unknown past membership denies a replayed telemarketing call."""
    from callwarden.gate.decide import GateRules, decide
    from callwarden.rules import load_packs

    from . import gate_helpers as g

    at = g.local("2026-11-27 12:00", "America/New_York")
    facts = g.facts(g.nanp(404), at, consents=(g.pewc(at.replace(year=2026, month=1)),))
    unknown = tuple(
        g.list_fact("national", "unknown", at, "history_unavailable") if f.list_key == "national"
        else f
        for f in facts.lists
    )  # fmt: skip
    d = decide(g.attempt(g.nanp(404), at), replace(facts, lists=unknown), GateRules(load_packs()))
    assert not d.allowed
    (reason,) = [r for r in d.reasons if r.code == "registry_unavailable"]
    assert "no longer kept" in reason.message and "national" in reason.message


def test_replay_as_of_before_a_change_list_addition(
    settings, session_factory, tmp_path, operator, keys
):
    """The number was added by a change list after as_of: then the gate allowed it."""
    from fastapi.testclient import TestClient

    from callwarden.app import create_app

    number = "4045550177"
    _full(settings, session_factory, tmp_path, "full.txt", [A], "2026-11-24", operator)
    before = datetime.now(UTC)
    dnc.import_files(
        session_factory=session_factory,
        settings=settings,
        list_key="national",
        fmt="ftc_changes",
        paths=[write_changes(tmp_path / "c.txt", [(e164(number), "2026-11-26T09:00:00", "A")])],
        obtained="2026-11-26",
        actor=operator,
        area_codes=[404],
    )
    body = {"number": number, "seller": "acme", "technology": "manual", "at": AT.isoformat(),
            "caller_id": "+14045550199"}  # fmt: skip
    with TestClient(create_app(settings)) as c:
        h = keys.headers(Role.DIALER)
        now_view = c.post("/v1/decisions", json=body, headers=h).json()
        then_view = c.post(
            "/v1/decisions", json={**body, "as_of": before.isoformat()}, headers=h
        ).json()
    assert "registry_listed" in {r["code"] for r in now_view["reasons"]}
    national = [s for s in then_view["lists"] if s["list"] == "national"]
    assert then_view["decision"] == "allow", then_view["reasons"]
    assert national and national[0]["status"] == "miss"


def test_a_change_superseded_by_a_full_import_does_not_decide(
    settings, session_factory, tmp_path, operator
):
    """+C by a change list, then a full import without C, then two more: as of after that
    import (its file collected), C's old addition no longer counts: unknown, not listed."""
    _full(settings, session_factory, tmp_path, "f1.txt", [A, B], "2026-11-20", operator)
    dnc.import_files(
        session_factory=session_factory,
        settings=settings,
        list_key="national",
        fmt="ftc_changes",
        paths=[write_changes(tmp_path / "c.txt", [(C, "2026-11-21T10:00:00", "A")])],
        obtained="2026-11-21",
        actor=operator,
        area_codes=[404],
    )
    after_change = datetime.now(UTC)
    _full(settings, session_factory, tmp_path, "f2.txt", [A], "2026-11-22", operator)
    known = datetime.now(UTC)
    _full(settings, session_factory, tmp_path, "f3.txt", [A, C, D], "2026-11-23", operator)
    _full(settings, session_factory, tmp_path, "f4.txt", [A], "2026-11-24", operator)
    rt = DncRuntime(settings=settings, session_factory=session_factory)
    rt.load()
    try:
        got = _then(rt, settings, session_factory, known, [A, C])
        early = _then(rt, settings, session_factory, after_change, [B, C])
    finally:
        rt.close()
    assert {(got[n].status, got[n].reason) for n in (A, C)} == {("unknown", "history_unavailable")}
    # as of just after the change list, its record decides C; B has no record: unknown
    assert early[C].status == "hit"
    assert (early[B].status, early[B].reason) == ("unknown", "history_unavailable")


_CODES = st.none() | st.lists(st.sampled_from([404, 770, 212]), min_size=1, max_size=3, unique=True)
_FULL = st.tuples(st.sampled_from(["ftc_flat", "numbers"]), _CODES)
_IMPORT = st.tuples(st.sampled_from(["ftc_flat", "ftc_changes", "numbers"]), _CODES)
_examples = itertools.count()


@hypothesis_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(first=_FULL, later=st.lists(_IMPORT, max_size=3))
# the cases the docstring names, whatever hypothesis draws: a list-wide file drops area codes;
# one of some area codes replaces a list-wide one; a change list names an area code anew
@example(first=("numbers", [404, 770]), later=[("numbers", None)])
@example(first=("numbers", None), later=[("numbers", [404])])
@example(first=("ftc_flat", [404]), later=[("ftc_changes", [212]), ("ftc_changes", None)])
def test_replayed_coverage_is_what_each_import_left(
    first, later, settings, session_factory, tmp_path, operator
):
    """Any sequence of full, change-list and list-wide imports: after each, the coverage that
    `list_then` replays up to now is the coverage the import committed (area codes, snapshot,
    date), including area codes a list-wide file dropped and ones a change list named anew."""
    key = f"custom:p{next(_examples)}"
    model: dict[int | None, int] = {}  # the documented rule, restated: npa -> import number
    for i, (fmt, codes) in enumerate([first, *later]):  # a change list needs a full one first
        named: list[int | None] = list(codes) if codes is not None else [None]
        if fmt == "ftc_changes":  # renews what it names, else everything covered
            model |= dict.fromkeys(list(model) if codes is None else named, i)
        elif fmt == "ftc_flat":  # its area codes (those of its lines); the others kept
            model |= dict.fromkeys(codes or [404], i)
        else:  # a list-wide file replaces all coverage
            model = dict.fromkeys(named, i)
        numbers = [e164(f"{npa}5550{i}00") for npa in codes or (404,)]
        path = tmp_path / f"{key[7:]}-{i}.txt"
        if fmt == "ftc_changes":
            write_changes(path, [(n, "2026-11-24T10:00:00", "A") for n in numbers])
        elif fmt == "ftc_flat":
            write_flat(path, numbers)
        else:
            path.write_text("".join(f"+{n}\n" for n in numbers))
        dnc.import_files(
            session_factory=session_factory,
            settings=settings,
            list_key=key,
            fmt=fmt,
            paths=[path],
            obtained=f"2026-11-{10 + i}",
            actor=operator,
            area_codes=codes,
        )
        with session_factory() as s:
            list_id = s.scalar(select(DncList.id).where(DncList.key == key))
            rows = {
                c.npa: (c.snapshot_id, c.obtained_at)
                for c in s.scalars(select(DncCoverage).where(DncCoverage.list_id == list_id))
            }
            then = history.list_then(s, list_id, datetime.now(UTC))
        assert {npa: (c.snapshot_id, c.obtained_at) for npa, c in then.coverage.items()} == rows
        dates = {npa: obtained.day - 10 for npa, (_, obtained) in rows.items()}
        assert dates == model


@pytest.mark.parametrize(
    ("mode", "codes", "ended", "renewed"),
    [
        # a change list renews what it names, else everything the list covers
        ("refresh", None, [], [None, 404, 770]),
        ("refresh", [212], [], [212]),
        # full files of some area codes: those, the others kept (an empty file names none)
        ("merge", [404, 212], [], [404, 212]),
        ("merge", [], [], []),
        ("merge", None, [], [None]),
        # a list-wide file: everything it does not name ends
        ("replace", None, [404, 770], [None]),
        ("replace", [404], [None, 770], [404]),
    ],
)
def test_coverage_change_for_each_kind_of_import(mode, codes, ended, renewed):
    """The rule itself, on a list that covered every area code and 404 and 770."""
    assert coverage_change(mode, codes, [None, 404, 770]) == (ended, renewed)
