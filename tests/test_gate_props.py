"""Property tests for the pre-dial gate (hypothesis): monotonicity, totality, determinism.

Attempts and facts are generated around real numbers (several states, two-zone area codes,
Arizona, Canada, toll-free, a non-NANP number) and any time from mid-2025 to mid-2027.
GATE_EXAMPLES=1000 for a deeper run.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from callwarden.gate import locations
from callwarden.gate.decide import Attempt, Decision, GateRules, decide
from callwarden.gate.facts import (
    CallFact,
    ConsentFact,
    EbrFact,
    EmergencyFact,
    InternalDncFact,
    ListFact,
    LocationFact,
    NumberFacts,
    RegistrationFact,
    RevocationFact,
    RndFact,
    names,
)
from callwarden.gate.locations import candidate_locations
from callwarden.phone import InvalidPhoneNumber, in_service_npas
from callwarden.rules import load_packs
from callwarden.rules.windows import evaluate_hours
from tests.gate_helpers import (
    AZ,
    AZ_NAVAJO,
    CALLER_ID,
    CT,
    FL,
    FL_PANHANDLE,
    GA,
    KY,
    LA,
    LIST_KEYS,
    MA,
    MD,
    MS,
    NE,
    OK,
    OR,
    OTHER_SELLER,
    PA,
    RI,
    SELLER,
    TOLL_FREE,
    TORONTO,
    TX,
    UK,
    UT,
    VANCOUVER,
    attempt,
    list_fact,
    lists,
    nanp,
    registrations,
)

T = TypeVar("T")
GATE = GateRules(load_packs())
# A second prepared rule set over the same packs: an empty selection cache.
GATE_FRESH = GateRules(GATE.ruleset)
KNOWN_RULES = frozenset(r.id for r in GATE.ruleset.rules)

EXAMPLES = int(os.environ.get("GATE_EXAMPLES", "120"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

NUMBERS = [
    GA, FL, FL_PANHANDLE, OK, MD, CT, TX, UT, LA, MS, PA, RI, MA, AZ, AZ_NAVAJO, KY, NE, OR,
    TORONTO, VANCOUVER, TOLL_FREE, UK, nanp(915), nanp(308), nanp(787),
]  # fmt: skip
PURPOSES = ["telemarketing", "informational", "debt_collection"]
CHANNELS = ["voice", "sms", "email"]
TECHNOLOGIES = ["manual", "autodialer", "prerecorded", "artificial_voice"]
SELLERS = [SELLER, OTHER_SELLER]
HOURS_CODES = {"outside_calling_hours", "day_not_allowed", "holiday"}

START = datetime(2025, 6, 1)
END = datetime(2027, 6, 30)
ZONES = st.sampled_from(
    [UTC, ZoneInfo("America/New_York"), ZoneInfo("America/Denver"), timezone(timedelta(hours=5))]
)


def offsets(low_days: float, high_days: float) -> st.SearchStrategy[timedelta]:
    """A shift in seconds between `low_days` and `high_days` days."""
    return st.integers(int(low_days * 86400), int(high_days * 86400)).map(
        lambda s: timedelta(seconds=s)
    )


def subsets(values: list[str]) -> st.SearchStrategy[tuple[str, ...]]:
    """A non-empty subset of `values`, as a consent fact holds it (sorted names)."""
    return st.frozensets(st.sampled_from(values), min_size=1).map(names)


@st.composite
def attempts(draw: st.DrawFn) -> Attempt:
    """Any attempt: any number, purpose, channel, technology, time and optional fields."""
    return Attempt(
        number=draw(st.sampled_from(NUMBERS)),
        at=draw(st.datetimes(min_value=START, max_value=END, timezones=ZONES)),
        channel=draw(st.sampled_from(CHANNELS)),
        purpose=draw(st.sampled_from(PURPOSES)),
        technology=draw(st.sampled_from(TECHNOLOGIES)),
        seller=draw(st.sampled_from(SELLERS)),
        campaign=draw(st.sampled_from([None, "fall-promo"])),
        subject=draw(st.sampled_from([None, "solar", "insurance"])),
        debt_id=draw(st.sampled_from([None, "D1", "D2"])),
        caller_id=draw(st.sampled_from([None, CALLER_ID])),
        recorded=draw(st.booleans()),
        time_specific_consent=draw(st.booleans()),
    )


def _when(draw: st.DrawFn, at: datetime, low_days: float, high_days: float) -> datetime:
    return at + draw(offsets(low_days, high_days))


@st.composite
def consents(draw: st.DrawFn, at: datetime) -> ConsentFact:
    """A consent given up to two years before (or a little after) the attempt."""
    given = _when(draw, at, -730, 1)
    expires = draw(st.one_of(st.none(), offsets(-30, 400).map(lambda d: at + d)))
    return ConsentFact(
        id=draw(st.integers(1, 10**6)),
        kind=draw(st.sampled_from(["pec", "pewc"])),
        sellers=draw(subsets([SELLER, OTHER_SELLER, "*"])),
        channels=draw(subsets(CHANNELS)),
        purposes=draw(subsets(PURPOSES)),
        given_at=given,
        expires_at=expires,
    )


@st.composite
def revocations(draw: st.DrawFn, at: datetime) -> RevocationFact:
    """A revocation received up to two years before (or a little after) the attempt."""
    return RevocationFact(
        id=draw(st.integers(1, 10**6)),
        received_at=_when(draw, at, -730, 1),
        seller=draw(st.sampled_from([SELLER, OTHER_SELLER, "acme-loans", "*"])),
        scope=draw(st.sampled_from([*PURPOSES, "all"])),
        message_channel=draw(st.sampled_from(["voice", "sms", "email", "all"])),
        channel=draw(st.sampled_from(["sms", "ivr", "agent", "email"])),
        method=draw(st.sampled_from(["keyword", "phrase", "uncertain", "keypress"])),
    )


@st.composite
def internal_entries(draw: st.DrawFn, at: datetime) -> InternalDncFact:
    """An internal Do-Not-Call entry from up to six years before the attempt."""
    return InternalDncFact(
        id=draw(st.integers(1, 10**6)),
        seller=draw(st.sampled_from([SELLER, OTHER_SELLER, "*"])),
        channel=draw(st.sampled_from(["voice", "sms", "email", "all"])),
        added_at=_when(draw, at, -6 * 365, 0),
    )


@st.composite
def ebr_events(draw: st.DrawFn, at: datetime) -> EbrFact:
    """An EBR event from up to two years before the attempt."""
    occurred = _when(draw, at, -730, 2).date()
    ended = draw(st.one_of(st.none(), st.integers(0, 700).map(lambda n: occurred + timedelta(n))))
    return EbrFact(
        id=draw(st.integers(1, 10**6)),
        seller=draw(st.sampled_from(SELLERS)),
        kind=draw(st.sampled_from(["purchase", "transaction", "inquiry", "application"])),
        occurred_on=occurred,
        ended_on=ended,
    )


@st.composite
def call_facts(draw: st.DrawFn, a: Attempt, *, past_only: bool = False) -> CallFact:
    """An attempt in the history (or a reservation) on this number or about a debt."""
    return CallFact(
        id=draw(st.integers(1, 10**6)),
        number=draw(st.sampled_from([a.number, a.number + 1])),
        at=_when(draw, a.at, -40, -1 / 86400 if past_only else 1),
        state=draw(st.sampled_from(["placed", "reserved"])),
        seller=draw(st.sampled_from(SELLERS)),
        campaign=draw(st.sampled_from([None, "fall-promo"])),
        subject=draw(st.sampled_from([None, "solar", "insurance"])),
        debt_id=draw(st.sampled_from([None, "D1", "D2"])),
        channel=draw(st.sampled_from(CHANNELS)),
        purpose=draw(st.sampled_from(PURPOSES)),
        technology=draw(st.sampled_from(TECHNOLOGIES)),
        outcome=draw(st.sampled_from([None, "answered", "no_answer", "busy"])),
        connected=draw(st.booleans()),
        conversation=draw(st.booleans()),
        dnc_request=draw(st.booleans()),
    )


@st.composite
def rnd_answers(draw: st.DrawFn, at: datetime) -> RndFact:
    """An RND answer for some consent date, queried up to 90 days before the attempt."""
    return RndFact(
        consent_date=_when(draw, at, -730, 0).date(),
        result=draw(st.sampled_from(["yes", "no", "no_data"])),
        queried_at=_when(draw, at, -90, 1),
    )


@st.composite
def list_answers(draw: st.DrawFn, at: datetime) -> tuple[ListFact, ...]:
    """Every registry list: mostly a fresh miss, sometimes hit, stale, uncovered or absent."""
    out = []
    for key in LIST_KEYS:
        status = draw(st.sampled_from(["miss", "miss", "miss", "hit", "stale", "uncovered", "-"]))
        if status == "-":
            continue
        if status == "stale":
            out.append(list_fact(key, "unknown", at - timedelta(days=32), "stale"))
        elif status == "uncovered":
            out.append(list_fact(key, "unknown", None, "not_covered"))
        else:
            out.append(list_fact(key, status, at - timedelta(days=3)))
    return tuple(out)


@st.composite
def number_facts(draw: st.DrawFn, a: Attempt) -> NumberFacts:
    """Any facts about the attempt's number, some of them contradictory or irrelevant."""
    at = a.at

    def some(strategy: st.SearchStrategy[T], n: int) -> tuple[T, ...]:
        return tuple(draw(st.lists(strategy, max_size=n)))

    regs = draw(
        st.sampled_from(
            [
                registrations(a.seller),
                (),
                (RegistrationFact(a.seller, "US-TX", "T", date(2026, 1, 1), date(2026, 12, 1)),),
            ]
        )
    )
    return NumberFacts(
        number=a.number,
        lists=draw(list_answers(at)),
        internal=some(internal_entries(at), 2),
        consents=some(consents(at), 3),
        revocations=some(revocations(at), 2),
        ebr=some(ebr_events(at), 2),
        calls=some(call_facts(a), 8),
        rnd=some(rnd_answers(at), 2),
        line_type=draw(st.sampled_from([None, "wireless", "landline", "voip"])),
        locations=some(
            st.sampled_from(
                [
                    LocationFact("US", "FL"),
                    LocationFact("US", "TX"),
                    LocationFact("US", "GA"),
                    LocationFact("CA", "ON"),
                ]
            ),
            1,
        ),
        emergencies=some(
            st.builds(
                EmergencyFact,
                id=st.just(1),
                jurisdiction=st.sampled_from(["US-LA", "US-FL"]),
                starts_at=offsets(-10, 1).map(lambda d: at + d),
                ends_at=st.one_of(st.none(), offsets(-5, 5).map(lambda d: at + d)),
                description=st.just("storm"),
            ),
            1,
        ),
        registrations=regs,
        campaign_abandonment=draw(st.one_of(st.none(), st.floats(0, 0.1))),
        missing=draw(st.sampled_from([(), (), (), ("consents",)])),
    )


def _check_shape(d: Decision) -> None:
    assert d.allowed is (not d.reasons)
    for r in d.reasons:
        assert r.code and r.citation and r.rule_id and r.revision and r.message
        assert r.rule_id in KNOWN_RULES or r.rule_id.startswith("callwarden-"), r.rule_id
    for o in d.obligations:
        assert o.code and o.citation and o.rule_id and o.message


# --- (a) adverse facts never turn a deny into an allow -----------------------------------


@SETTINGS
@given(st.data())
def test_adding_an_adverse_fact_never_allows(data: st.DataObject) -> None:
    """A registry hit, an internal DNC entry, a revocation or a past call only add reasons."""
    a = data.draw(attempts())
    f = data.draw(number_facts(a))
    before = decide(a, f, GATE)

    variants: list[tuple[str, NumberFacts]] = []
    hit = f.lists
    misses = [x for x in f.lists if x.status == "miss"]
    if misses:
        key = data.draw(st.sampled_from([x.list_key for x in misses]))
        hit = tuple(replace(x, status="hit") if x.list_key == key else x for x in f.lists)
        variants.append((f"registry hit on {key}", replace(f, lists=hit)))
    entry = data.draw(internal_entries(a.at))
    variants.append(("internal DNC entry", replace(f, internal=(*f.internal, entry))))
    rev = data.draw(revocations(a.at))
    variants.append(("revocation", replace(f, revocations=(*f.revocations, rev))))
    past = data.draw(call_facts(a, past_only=True))
    variants.append(("past call", replace(f, calls=(*f.calls, past))))
    variants.append(
        (
            "all of them",
            replace(
                variants[-1][1],
                internal=(*f.internal, entry),
                revocations=(*f.revocations, rev),
                lists=hit,
            ),
        )
    )

    had = {(r.rule_id, r.code) for r in before.reasons}
    for what, g in variants:
        after = decide(a, g, GATE)
        if not before.allowed:
            assert not after.allowed, (what, sorted(had))
        if what not in ("revocation", "all of them"):
            # rules.md §13: each step only adds reasons. (A revocation may turn
            # "consent_missing" into "consent_revoked", so it is held to allow/deny only.)
            now = {(r.rule_id, r.code) for r in after.reasons}
            assert had <= now, (what, sorted(had - now))


# --- (b) moving an allowed attempt inside every window keeps the hours clean -------------


def _dates(at: datetime, zones: tuple[str, ...]) -> set[date]:
    return {at.astimezone(UTC).date(), *(at.astimezone(ZoneInfo(z)).date() for z in zones)}


def _inside_every_window(a: Attempt, facts: NumberFacts, at: datetime) -> bool:
    """evaluate_hours finds nothing at `at` in any covered country, with no lift at all."""
    loc = candidate_locations(a.number, facts.locations)
    if not loc.zones:
        return False
    days = _dates(at, loc.zones)
    rules = [r for r in GATE.ruleset.rules if any(r.in_force_on(d) for d in days)]
    for country in loc.countries:
        found = evaluate_hours(
            rules,
            at=at,
            zones=loc.zones,
            states=loc.states,
            country=country,
            purpose=a.purpose,
            channel=a.channel,
            technology=a.technology,
        )
        if found:
            return False
    return True


@st.composite
def clean_attempts(draw: st.DrawFn) -> tuple[Attempt, NumberFacts]:
    """An attempt on a local weekday daytime with facts that satisfy every non-hours rule."""
    number = draw(st.sampled_from([n for n in NUMBERS if n not in (TOLL_FREE, UK)]))
    zone = candidate_locations(number).zones[0]
    day = draw(st.dates(min_value=date(2025, 6, 2), max_value=date(2027, 6, 28)))
    clock = draw(st.integers(7 * 3600, 22 * 3600))
    at = datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)) + timedelta(seconds=clock)
    at = at.astimezone(UTC)
    a = Attempt(
        number=number,
        at=at,
        channel=draw(st.sampled_from(["voice", "sms"])),
        purpose=draw(st.sampled_from(PURPOSES)),
        technology=draw(st.sampled_from(TECHNOLOGIES)),
        seller=SELLER,
        campaign="fall-promo",
        subject="solar",
        debt_id="D1",
        caller_id=CALLER_ID,
        time_specific_consent=draw(st.booleans()),
    )
    given = at - timedelta(days=400)
    with_consent = draw(st.booleans())
    granted = (
        (
            ConsentFact(
                1,
                draw(st.sampled_from(["pec", "pewc"])),
                (SELLER,),
                names(CHANNELS),
                names(PURPOSES),
                given,
            ),
        )
        if with_consent
        else ()
    )
    f = NumberFacts(
        number=number,
        lists=lists(at),
        consents=granted,
        rnd=(RndFact(given.date(), "no", at - timedelta(days=10)),),
        line_type=draw(st.sampled_from(["wireless", "landline"])),
        registrations=registrations(),
        campaign_abandonment=0.01,
    )
    return a, f


@SETTINGS
@given(clean_attempts(), st.lists(st.integers(0, 86399), min_size=1, max_size=6))
def test_moving_inside_every_window_never_adds_an_hours_reason(
    case: tuple[Attempt, NumberFacts], seconds: list[int]
) -> None:
    """Monotonicity of time (rules.md §0.2-0.3): inside every candidate window, hours allow."""
    a, f = case
    assume(decide(a, f, GATE).allowed)
    zone = ZoneInfo(candidate_locations(a.number, f.locations).zones[0])
    today = a.at.astimezone(zone).date()
    moved = []
    for s in seconds:
        t = (datetime.combine(today, time(0), tzinfo=zone) + timedelta(seconds=s)).astimezone(UTC)
        if t.astimezone(zone).date() == today and _inside_every_window(a, f, t):
            moved.append(t)
    assume(moved)
    for t in moved:
        d = decide(replace(a, at=t), f, GATE)
        hours = [(r.rule_id, r.zone, r.message) for r in d.reasons if r.code in HOURS_CODES]
        assert not hours, (t.isoformat(), hours)


# --- (c) decide is total, and every reason is complete -----------------------------------


@SETTINGS
@given(st.data())
def test_decide_never_raises_and_reasons_are_complete(data: st.DataObject) -> None:
    """Any attempt and facts: a decision, every reason with a code, citation and rule id."""
    a = data.draw(attempts())
    f = data.draw(number_facts(a))
    d = decide(a, f, GATE)
    _check_shape(d)
    if d.retry_at is not None:
        assert d.retry_at >= a.at
        assert all(r.code in HOURS_CODES for r in d.reasons)


# --- (d) the same input gives the same reasons -------------------------------------------


@SETTINGS
@given(st.data())
def test_decisions_are_deterministic(data: st.DataObject) -> None:
    """Same attempt and facts: the same decision, with or without a warm selection cache."""
    a = data.draw(attempts())
    f = data.draw(number_facts(a))
    first = decide(a, f, GATE)
    assert decide(a, f, GATE) == first
    fresh = decide(a, f, GATE_FRESH)
    assert fresh.reasons == first.reasons
    assert fresh == first


@settings(max_examples=400, deadline=None)
@given(
    npa=st.sampled_from(in_service_npas(None, include_non_geographic=True)),
    nxx=st.integers(0, 999),
    line=st.integers(0, 9999),
    known=st.lists(
        st.builds(
            LocationFact,
            country=st.sampled_from(["US", "CA"]),
            state=st.one_of(st.none(), st.sampled_from(["FL", "AZ", "TX", "ON", "NY", "ZZ"])),
            zip=st.one_of(st.none(), st.sampled_from(["33101", "85001"])),
        ),
        max_size=3,
    ),
)
def test_locations_made_per_area_code_are_those_made_per_number(
    npa: int, nxx: int, line: int, known: list[LocationFact]
) -> None:
    """`candidate_locations`' shared per-area-code answer equals the number's own derivation.

    Any exchange (valid or not) and any CRM locations: a plain number takes the area code's
    cached answer, any other the per-number path; both must say the same.
    """
    number = 10_000_000_000 + npa * 10_000_000 + nxx * 10_000 + line
    try:
        own = locations._union(locations._from_number(number), known)
    except InvalidPhoneNumber:
        with pytest.raises(InvalidPhoneNumber):
            candidate_locations(number, known)
        return
    assert candidate_locations(number, known) == own
    assert candidate_locations(number, tuple(known)) == own


def test_the_repeated_hour_gives_two_local_times_not_one_cached() -> None:
    """rules.md §0 (IANA zones, DST change days): 01:30 on New York's fall-back day happens
    twice. The decision's local times are cached per instant and zone; the two readings,
    equal in Python but an hour apart, must each get their own."""
    ny = ZoneInfo("America/New_York")
    first = datetime(2026, 11, 1, 1, 30, tzinfo=ny)
    second = first.replace(fold=1)
    assert first == second  # what a plain cache would key on
    facts = NumberFacts(number=GA)
    local = {at.fold: decide(attempt(GA, at), facts, GATE).local_times for at in (first, second)}
    assert dict(local[0])["America/New_York"] == "2026-11-01T01:30:00-04:00"
    assert dict(local[1])["America/New_York"] == "2026-11-01T01:30:00-05:00"
