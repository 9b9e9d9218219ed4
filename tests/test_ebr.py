"""Established business relationships: the expiry rule, the service, the loader, imports, API."""

from __future__ import annotations

import calendar
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from callwarden.audit import service as audit
from callwarden.db import transaction
from callwarden.ebr import service
from callwarden.ebr.models import EbrEvent
from callwarden.errors import Conflict, NotFound, ValidationFailed
from callwarden.gate.facts import EbrFact
from callwarden.security.roles import Role

from .conftest import Keys

N1 = 14045550100
TODAY = datetime.now(UTC).date()

# -- the window (rules.md §1.9, §11) ----------------------------------------


@pytest.mark.parametrize(
    ("kind", "on", "country", "expiry"),
    [
        ("purchase", date(2024, 8, 31), "US", date(2026, 2, 28)),
        ("purchase", date(2026, 8, 31), "US", date(2028, 2, 29)),  # leap year
        ("transaction", date(2026, 1, 31), "US", date(2027, 7, 31)),
        ("inquiry", date(2026, 11, 30), "US", date(2027, 2, 28)),
        ("application", date(2026, 3, 15), "US", date(2026, 6, 15)),
        ("inquiry", date(2026, 8, 31), "CA", date(2027, 2, 28)),  # Canada: 6 months
        ("application", date(2026, 3, 15), "ca", date(2026, 9, 15)),
        ("purchase", date(2026, 3, 15), "CA", date(2027, 9, 15)),
        ("inquiry", date(2026, 10, 31), "US", date(2027, 1, 31)),  # across a year end
    ],
)
def test_expiry_examples(kind, on, country, expiry):
    assert service.ebr_expiry(kind, on, country) == expiry


def test_the_anniversary_date_itself_is_expired():
    bought = date(2025, 1, 15)
    assert service.ebr_active("purchase", bought, "US", date(2026, 7, 14))
    assert not service.ebr_active("purchase", bought, "US", date(2026, 7, 15))
    assert not service.ebr_active("purchase", bought, "US", date(2025, 1, 14))  # not yet
    assert service.ebr_active("purchase", bought, "US", bought)
    ended = date(2025, 6, 1)
    assert service.ebr_active("purchase", bought, "US", date(2025, 5, 31), ended)
    assert not service.ebr_active("purchase", bought, "US", ended, ended)


def test_unknown_kind_or_country_is_refused():
    with pytest.raises(ValidationFailed) as info:
        service.ebr_expiry("visit", date(2026, 1, 1), "US")
    assert info.value.field == "kind"
    with pytest.raises(ValidationFailed) as info:
        service.ebr_expiry("purchase", date(2026, 1, 1), "MX")
    assert info.value.field == "country"


days = st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31))
kinds = st.sampled_from(service.KINDS)
countries = st.sampled_from(["US", "CA"])


@settings(max_examples=300, deadline=None)
@given(kind=kinds, a=days, b=days, country=countries)
def test_expiry_is_monotonic(kind, a, b, country):
    lo, hi = min(a, b), max(a, b)
    assert service.ebr_expiry(kind, lo, country) <= service.ebr_expiry(kind, hi, country)


@settings(max_examples=300, deadline=None)
@given(kind=kinds, on=days, country=countries)
def test_expiry_keeps_the_day_clamped_to_month_end(kind, on, country):
    months = service.WINDOW_MONTHS[(country, kind)]
    expiry = service.ebr_expiry(kind, on, country)
    assert (expiry.year * 12 + expiry.month) - (on.year * 12 + on.month) == months
    last = calendar.monthrange(expiry.year, expiry.month)[1]
    assert expiry.day == min(on.day, last)
    # never more than the window: the window is exactly `months` calendar months, or less
    # when the day is clamped (Aug 31 -> Feb 28)
    assert expiry - on <= timedelta(days=31 * months)


@settings(max_examples=300, deadline=None)
@given(kind=kinds, on=days, country=countries)
def test_valid_strictly_before_expiry(kind, on, country):
    expiry = service.ebr_expiry(kind, on, country)
    assert service.ebr_active(kind, on, country, expiry - timedelta(days=1))
    assert not service.ebr_active(kind, on, country, expiry)
    assert not service.ebr_active(kind, on, country, expiry + timedelta(days=1))


@settings(max_examples=200, deadline=None)
@given(on=days, kind=st.sampled_from(["inquiry", "application"]))
def test_canada_inquiry_window_is_longer(on, kind):
    assert service.ebr_expiry(kind, on, "CA") > service.ebr_expiry(kind, on, "US")
    assert service.ebr_expiry(kind, on, "US") < service.ebr_expiry("purchase", on, "US")


# -- the service -------------------------------------------------------------


def add(factory, **over: Any) -> EbrEvent:
    kwargs: dict[str, Any] = {
        "number": N1,
        "seller": "acme",
        "kind": "purchase",
        "occurred_on": TODAY - timedelta(days=30),
        "actor": "crm",
        "actor_role": "dialer",
    }
    kwargs.update(over)
    with transaction(factory) as s:
        return service.add_event(session=s, **kwargs)


def test_add_list_end_and_audit(session_factory):
    first = add(session_factory, reference="order-1")
    second = add(session_factory, kind="inquiry", occurred_on=TODAY)
    with session_factory() as s:
        assert [e.id for e in service.events_for(session=s, number=N1)] == [second.id, first.id]
    with transaction(session_factory) as s:
        ended = service.end_relationship(
            session=s, event_id=first.id, ended_on=TODAY, actor="officer", actor_role="compliance"
        )
    assert ended.ended_on == TODAY
    view = service.event_view(ended)
    assert view["number"] == "+14045550100"
    assert view["expires_on"] == {
        "US": service.ebr_expiry("purchase", first.occurred_on, "US"),
        "CA": service.ebr_expiry("purchase", first.occurred_on, "CA"),
    }
    with session_factory() as s:
        recorded = audit.events(session=s, type="ebr.recorded")
        [end] = audit.events(session=s, type="ebr.ended")
    assert len(recorded) == 2 and json.loads(recorded[1].body)["reference"] == "order-1"
    assert json.loads(end.body) == {
        "ebr_id": first.id,
        "seller": "acme",
        "ended_on": TODAY.isoformat(),
    }
    with pytest.raises(Conflict), transaction(session_factory) as s:
        service.end_relationship(
            session=s, event_id=first.id, ended_on=TODAY, actor="o", actor_role="compliance"
        )
    with pytest.raises(NotFound), transaction(session_factory) as s:
        service.end_relationship(
            session=s, event_id=999_999, ended_on=TODAY, actor="o", actor_role="compliance"
        )


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"kind": "visit"}, "kind"),
        ({"seller": "*"}, "seller"),
        ({"seller": " "}, "seller"),
        ({"occurred_on": TODAY + timedelta(days=1)}, "occurred_on"),
        ({"occurred_on": datetime.now(UTC)}, "occurred_on"),
        ({"ended_on": TODAY - timedelta(days=31)}, "ended_on"),  # before the event
        ({"ended_on": TODAY + timedelta(days=1)}, "ended_on"),
        ({"number": 404}, "number"),
    ],
)
def test_bad_events_name_the_field(session_factory, over, field):
    with pytest.raises(ValidationFailed) as info:
        add(session_factory, **over)
    assert info.value.field == field
    with session_factory() as s:
        assert s.scalars(select(EbrEvent)).all() == []


def test_an_end_before_the_event_is_refused(session_factory):
    event = add(session_factory)
    with pytest.raises(ValidationFailed) as info, transaction(session_factory) as s:
        service.end_relationship(
            session=s,
            event_id=event.id,
            ended_on=event.occurred_on - timedelta(days=1),
            actor="o",
            actor_role="compliance",
        )
    assert info.value.field == "ended_on"


def test_loader_returns_facts_and_replays(session_factory, monkeypatch):
    from callwarden import db

    monkeypatch.setattr(db, "IN_CHUNK", 2)  # the loaders' IN lists, two numbers each
    numbers = [N1 + i for i in range(5)]
    events = [add(session_factory, number=n, occurred_on=date(2026, 1, 31)) for n in numbers]
    with transaction(session_factory) as s:
        service.end_relationship(
            session=s,
            event_id=events[0].id,
            ended_on=date(2026, 2, 2),
            actor="o",
            actor_role="compliance",
        )
    with session_factory() as s:
        loaded = service.load_ebr(s, [*numbers, 19999999999])
    assert loaded[19999999999] == []
    assert loaded[N1] == [
        EbrFact(
            id=events[0].id,
            seller="acme",
            kind="purchase",
            occurred_on=date(2026, 1, 31),
            ended_on=date(2026, 2, 2),
        )
    ]
    assert all(len(loaded[n]) == 1 for n in numbers)
    cut = datetime.now(UTC) - timedelta(days=2)
    with transaction(session_factory) as s:
        s.execute(update(EbrEvent).where(EbrEvent.number == N1).values(recorded_at=cut))
    with session_factory() as s:
        replay = service.load_ebr(s, numbers, known_at=cut)
    assert [n for n, v in replay.items() if v] == [N1]


def test_replay_does_not_see_an_end_recorded_later(session_factory):
    """rules.md §1.9 and §0 (replay): an EBR ended after the replayed moment still held then."""
    event = add(session_factory, occurred_on=date(2026, 1, 31))
    before_end = datetime.now(UTC)
    with transaction(session_factory) as s:
        ended = service.end_relationship(
            session=s,
            event_id=event.id,
            ended_on=date(2026, 2, 2),
            actor="o",
            actor_role="compliance",
        )
        assert ended.ended_recorded_at is not None and ended.ended_recorded_at >= before_end
    with session_factory() as s:
        (then,) = service.load_ebr(s, [N1], known_at=before_end)[N1]
        (now_,) = service.load_ebr(s, [N1])[N1]
        (after,) = service.load_ebr(s, [N1], known_at=datetime.now(UTC))[N1]
    assert then.ended_on is None
    assert now_.ended_on == after.ended_on == date(2026, 2, 2)
    # an end given with the event is known from the event's own recording
    other = add(
        session_factory, number=N1 + 1, occurred_on=date(2026, 1, 31), ended_on=date(2026, 2, 2)
    )
    assert other.ended_recorded_at == other.recorded_at


# -- bulk --------------------------------------------------------------------


def test_rows_are_all_checked_before_anything_is_imported(session_factory):
    text = (
        "number,seller,kind,occurred_on,reference\n"
        "4045550100,acme,purchase,2026-01-31,o-1\n"
        "4045550100,*,purchase,2026-01-31,\n"
        "4045550100,acme,visit,31/01/2026,\n"
        f"4045550101,acme,inquiry,{TODAY.isoformat()},\n"
    )
    rows, errors = service.parse_ebr_rows(text, "csv")
    assert [(e.line, e.field) for e in errors] == [(3, "seller"), (4, "kind"), (4, "occurred_on")]
    good = "\n".join(line for i, line in enumerate(text.splitlines()) if i not in (2, 3))
    rows, errors = service.parse_ebr_rows(good, "csv")
    assert errors == [] and [r.line for r in rows] == [2, 3]
    with transaction(session_factory) as s:
        events = service.import_events(session=s, rows=rows, actor="crm", actor_role="dialer")
    assert [e.reference for e in events] == ["o-1", None]
    with session_factory() as s:
        [summary] = audit.events(session=s, type="ebr.imported")
    assert json.loads(summary.body)["rows"] == 2


ebr_rows = st.fixed_dictionaries(
    {
        "number": st.integers(0, 9999).map(lambda i: f"404555{i:04d}"),
        "seller": st.text(
            alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=10
        ),
        "kind": st.sampled_from(service.KINDS),
        "occurred_on": st.dates(min_value=date(2000, 1, 1), max_value=date(2026, 1, 1)).map(
            date.isoformat
        ),
    },
    optional={"reference": st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True)},
)
BAD = [("kind", "visit"), ("occurred_on", "2999-01-01"), ("number", "0"), ("seller", "*")]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(ebr_rows, min_size=1, max_size=8),
    spoil=st.lists(st.tuples(st.integers(0, 7), st.sampled_from(BAD)), max_size=3),
    fmt=st.sampled_from(["csv", "jsonl", "json"]),
)
def test_row_parser_property(rows, spoil, fmt):
    spoiled: dict[int, str] = {}
    for i, (field, value) in spoil:
        if i < len(rows) and i not in spoiled:
            rows[i] = {**rows[i], field: value}
            spoiled[i] = field
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=service.EBR_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        text, first = out.getvalue(), 2
    elif fmt == "jsonl":
        text, first = "\n".join(json.dumps(r) for r in rows), 1
    else:
        text, first = json.dumps(rows), 1
    parsed, errors = service.parse_ebr_rows(text, fmt)
    assert [(e.line, e.field) for e in errors] == [
        (i + first, f) for i, f in sorted(spoiled.items())
    ]
    good = [r for i, r in enumerate(rows) if i not in spoiled]
    assert [
        (p.number, p.seller, p.kind, p.occurred_on.isoformat(), p.reference) for p in parsed
    ] == [
        (int("1" + r["number"]), r["seller"], r["kind"], r["occurred_on"], r.get("reference"))
        for r in good
    ]


# -- HTTP --------------------------------------------------------------------


def test_api_add_list_end(app, client, keys: Keys, session_factory):
    h = keys.headers(Role.DIALER)
    r = client.post(
        "/v1/ebr",
        json={
            "number": "404 555 0100",
            "seller": "acme",
            "kind": "purchase",
            "occurred_on": "2026-01-31",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["expires_on"] == {"US": "2027-07-31", "CA": "2027-07-31"}
    listing = client.get(
        "/v1/ebr", params={"number": "4045550100"}, headers=keys.headers(Role.AGENT)
    )
    assert [e["id"] for e in listing.json()] == [made["id"]]
    end = client.post(f"/v1/ebr/{made['id']}/end", json={"ended_on": "2026-02-01"}, headers=h)
    assert end.status_code == 200 and end.json()["ended_on"] == "2026-02-01"
    again = client.post(f"/v1/ebr/{made['id']}/end", json={"ended_on": "2026-02-01"}, headers=h)
    assert again.status_code == 409
    assert (
        client.post("/v1/ebr/999999/end", json={"ended_on": "2026-02-01"}, headers=h).status_code
        == 404
    )
    app.state.audit_writer.flush()
    with session_factory() as s:
        [read] = audit.events(session=s, type="ebr.read")
    assert read.actor == "test-agent" and read.subject == "+14045550100"
    # agents read; only feeders (admin, compliance, dialer) write
    denied = client.post(
        "/v1/ebr",
        json={
            "number": "4045550100",
            "seller": "a",
            "kind": "purchase",
            "occurred_on": "2026-01-31",
        },
        headers=keys.headers(Role.AGENT),
    )
    assert denied.status_code == 403


def test_api_bad_input_and_bulk(client, keys: Keys):
    h = keys.headers(Role.COMPLIANCE)
    future = (TODAY + timedelta(days=2)).isoformat()
    for body, field in [
        (
            {
                "number": "4045550100",
                "seller": "acme",
                "kind": "visit",
                "occurred_on": "2026-01-31",
            },
            "kind",
        ),
        (
            {"number": "4045550100", "seller": "acme", "kind": "inquiry", "occurred_on": future},
            "occurred_on",
        ),
        (
            {"number": "123", "seller": "acme", "kind": "inquiry", "occurred_on": "2026-01-31"},
            "number",
        ),
    ]:
        r = client.post("/v1/ebr", json=body, headers=h)
        assert r.status_code == 422 and r.json()["field"] == field, r.text
    bad = client.post(
        "/v1/ebr/imports",
        content=b"number,seller,kind,occurred_on\n4045550100,acme,purchase,2026-01-31\n4045550100,acme,gift,2026-01-31\n",
        headers={**h, "Content-Type": "text/csv"},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"line": 3, "field": "kind", "message": bad.json()["errors"][0]["message"]}
    ]
    assert client.get("/v1/ebr", params={"number": "4045550100"}, headers=h).json() == []
    ok = client.post(
        "/v1/ebr/imports",
        content=b'{"number":"4045550100","seller":"acme","kind":"purchase","occurred_on":"2026-01-31"}\n',
        headers={**h, "Content-Type": "application/x-ndjson"},
    )
    assert ok.status_code == 201 and ok.json()["imported"] == 1
