"""Builders for the gate's scenario and property tests: real numbers, clean facts, one attempt.

`facts()` gives a number every fact a clean call needs (a fresh copy of every registry list
answering "miss", the seller's state registrations), so that in a scenario only the rule
under test can deny. Everything else is added by the scenario itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callwarden.gate.decide import Attempt, Decision
from callwarden.gate.facts import (
    CallFact,
    ConsentFact,
    EbrFact,
    EmergencyFact,
    InternalDncFact,
    ListFact,
    NumberFacts,
    RegistrationFact,
    RevocationFact,
    RndFact,
    names,
)
from callwarden.rules import RuleKind, load_packs

SELLER = "acme"
OTHER_SELLER = "globex"
CALLER_ID = "+14045550199"

NY = "America/New_York"
CHI = "America/Chicago"
DEN = "America/Denver"
PHX = "America/Phoenix"
LAX = "America/Los_Angeles"
TOR = "America/Toronto"
VAN = "America/Vancouver"


def nanp(npa: int, line: int = 100) -> int:
    """A real-looking number in area code `npa` (NXX 555), as E.164 digits."""
    return int(f"1{npa}555{line:04d}")


GA = nanp(404)  # Georgia, America/New_York; no state pack
FL = nanp(305)  # Florida, America/New_York
FL_PANHANDLE = nanp(850)  # Florida, Central and Eastern
OK = nanp(405)  # Oklahoma, America/Chicago
MD = nanp(410)  # Maryland
CT = nanp(203)  # Connecticut
TX = nanp(512)  # Texas, America/Chicago
UT = nanp(801)  # Utah, America/Denver
LA = nanp(504)  # Louisiana, America/Chicago
MS = nanp(601)  # Mississippi, America/Chicago
PA = nanp(215)  # Pennsylvania
RI = nanp(401)  # Rhode Island
MA = nanp(617)  # Massachusetts
AZ = nanp(602)  # Arizona, America/Phoenix only
AZ_NAVAJO = nanp(928)  # Arizona incl. the Navajo Nation: America/Denver and America/Phoenix
KY = nanp(270)  # Kentucky, Central and Eastern
NE = nanp(402)  # Nebraska, America/Chicago
OR = nanp(503)  # Oregon, America/Los_Angeles
TORONTO = nanp(416)  # Ontario, Canada
VANCOUVER = nanp(604)  # British Columbia, Canada
TOLL_FREE = nanp(800)  # no location at all
UK = 442079460958  # +44 20 7946 0958, not NANP

# Every registry list a pack scrubs against, and every jurisdiction needing a registration.
_RULES = load_packs()
LIST_KEYS: tuple[str, ...] = tuple(
    sorted({r.registry.list for r in _RULES.rules if r.registry is not None})
)
REGISTRATION_JURISDICTIONS: tuple[str, ...] = tuple(
    sorted({r.jurisdiction for r in _RULES.rules if r.kind is RuleKind.REGISTRATION_REQUIRED})
)


def local(text: str, zone: str) -> datetime:
    """An aware datetime from a naive ISO string read in `zone`."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def utc(text: str) -> datetime:
    """An aware UTC datetime from a naive ISO string."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def attempt(number: int, at: datetime, **overrides: Any) -> Attempt:
    """A manual telemarketing voice call by SELLER with subject, campaign and caller ID."""
    base = Attempt(
        number=number,
        at=at,
        channel="voice",
        purpose="telemarketing",
        technology="manual",
        seller=SELLER,
        campaign="fall-promo",
        subject="solar",
        caller_id=CALLER_ID,
    )
    return replace(base, **overrides)


def list_fact(key: str, status: str, as_of: datetime | None, reason: str | None = None) -> ListFact:
    """One registry answer; the kind and code follow from the list key."""
    if key == "national":
        kind, code = "national", "US"
    elif key == "canada":
        kind, code = "canada", "CA"
    else:
        kind, code = "state", key.split(":", 1)[1]
    return ListFact(key, kind, code, status, reason, as_of, 1)


def lists(
    at: datetime,
    *,
    hits: Iterable[str] = (),
    stale: Iterable[str] = (),
    uncovered: Iterable[str] = (),
    unloaded: Iterable[str] = (),
) -> tuple[ListFact, ...]:
    """An answer from every list: "miss" from a copy 3 days old unless told otherwise."""
    hits, stale, uncovered, unloaded = set(hits), set(stale), set(uncovered), set(unloaded)
    out = []
    for key in LIST_KEYS:
        if key in unloaded:
            continue
        if key in stale:
            out.append(list_fact(key, "unknown", at - timedelta(days=32), "stale"))
        elif key in uncovered:
            out.append(list_fact(key, "unknown", None, "not_covered"))
        else:
            out.append(list_fact(key, "hit" if key in hits else "miss", at - timedelta(days=3)))
    return tuple(out)


def registrations(seller: str = SELLER) -> tuple[RegistrationFact, ...]:
    """The seller registered, from 2025-01-01 on, everywhere a pack requires it."""
    return tuple(
        RegistrationFact(seller, jur, f"REG-{jur}", date(2025, 1, 1), None)
        for jur in REGISTRATION_JURISDICTIONS
    )


def facts(
    number: int,
    at: datetime,
    *,
    hits: Iterable[str] = (),
    stale: Iterable[str] = (),
    uncovered: Iterable[str] = (),
    unloaded: Iterable[str] = (),
    **fields: Any,
) -> NumberFacts:
    """Clean facts for `number` at `at` (fresh lists, registrations, a wireless line)."""
    base = NumberFacts(
        number=number,
        lists=lists(at, hits=hits, stale=stale, uncovered=uncovered, unloaded=unloaded),
        registrations=registrations(),
        line_type="wireless",
    )
    return replace(base, **fields)


def consent(
    kind: str,
    given_at: datetime,
    *,
    sellers: Iterable[str] = (SELLER,),
    channels: Iterable[str] = ("voice", "sms"),
    purposes: Iterable[str] = ("telemarketing",),
    expires_at: datetime | None = None,
    id: int = 1,
) -> ConsentFact:
    """A consent of `kind` (pec | pewc)."""
    return ConsentFact(
        id,
        kind,
        names(sellers),
        names(channels),
        names(purposes),
        given_at,
        expires_at,
    )


def pewc(given_at: datetime, **kw: Any) -> ConsentFact:
    """Prior express written consent naming SELLER unless told otherwise."""
    return consent("pewc", given_at, **kw)


def pec(given_at: datetime, **kw: Any) -> ConsentFact:
    """Prior express consent naming SELLER unless told otherwise."""
    return consent("pec", given_at, **kw)


def rnd(
    c: ConsentFact, at: datetime, result: str = "no", age: timedelta = timedelta(days=5)
) -> RndFact:
    """An RND answer for the consent's date, queried `age` before `at`."""
    return RndFact(c.given_at.astimezone(UTC).date(), result, at - age)


def revocation(
    received_at: datetime,
    *,
    seller: str = SELLER,
    scope: str = "telemarketing",
    message_channel: str = "all",
    channel: str = "sms",
    method: str = "keyword",
    id: int = 1,
) -> RevocationFact:
    """A revocation (by default a STOP keyword by SMS from SELLER's telemarketing)."""
    return RevocationFact(id, received_at, seller, scope, message_channel, channel, method)


def ebr(
    kind: str,
    occurred_on: date,
    *,
    seller: str = SELLER,
    ended_on: date | None = None,
    id: int = 1,
) -> EbrFact:
    """One EBR event with SELLER."""
    return EbrFact(id, seller, kind, occurred_on, ended_on)


def dnc(
    added_at: datetime, *, seller: str = SELLER, channel: str = "all", id: int = 1
) -> InternalDncFact:
    """An internal Do-Not-Call entry."""
    return InternalDncFact(id, seller, channel, added_at)


def call(number: int, at: datetime, **overrides: Any) -> CallFact:
    """A placed, connected manual telemarketing call by SELLER (subject solar) in the history."""
    base = CallFact(
        id=0,
        number=number,
        at=at,
        state="placed",
        seller=SELLER,
        campaign="fall-promo",
        subject="solar",
        debt_id=None,
        channel="voice",
        purpose="telemarketing",
        technology="manual",
    )
    return replace(base, **overrides)


def calls(number: int, times: Iterable[datetime], **overrides: Any) -> tuple[CallFact, ...]:
    """One `call` per instant, numbered from 1."""
    return tuple(replace(call(number, t, **overrides), id=i) for i, t in enumerate(times, start=1))


def emergency(
    starts_at: datetime, ends_at: datetime | None, jurisdiction: str = "US-LA"
) -> EmergencyFact:
    """A declared state of emergency."""
    return EmergencyFact(1, jurisdiction, starts_at, ends_at, "Hurricane")


def codes(decision: Decision) -> set[str]:
    """The reason codes of a decision."""
    return {r.code for r in decision.reasons}


def rule_ids(decision: Decision) -> set[str]:
    """The rule ids behind a decision's reasons."""
    return {r.rule_id for r in decision.reasons}


def obligation_codes(decision: Decision) -> set[str]:
    """The obligation codes attached to a decision."""
    return {o.code for o in decision.obligations}


def record_pec(session: Any, data_dir: Any, number: int, given_at: datetime) -> None:
    """Record (not commit) a prior express consent naming SELLER for informational voice calls."""
    from callwarden.consent import service as consent
    from callwarden.security.crypto import cipher_for

    consent.add_consent(
        session=session,
        cipher=cipher_for(data_dir),
        number=number,
        kind="pec",
        sellers=[SELLER],
        channels=["voice"],
        purposes=["informational"],
        given_at=given_at,
        source="agent",
        actor="tests",
        actor_role="compliance",
    )
