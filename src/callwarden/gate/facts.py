"""The plain values the gate decides from: the attempt, and every fact known about its number.

Each domain's service loads its own facts into these dataclasses (`load_*` functions taking
many numbers at once, for batch decisions); `gate.decide` reads only these, never a table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime


def names(values: Iterable[str]) -> tuple[str, ...]:
    """The distinct names of a consent's sellers, channels or purposes, sorted."""
    return tuple(sorted(set(values)))


@dataclass(frozen=True, slots=True)
class ConsentFact:
    """Prior express consent (pec) or prior express written consent (pewc) on record."""

    id: int
    kind: str  # pec | pewc
    # Sorted tuples, not sets: a handful of names each, where `in` is as quick, and the
    # decision log encodes a tuple natively while a set costs a Python call per field.
    sellers: tuple[str, ...]  # the sellers named; "*" = any seller (pec only)
    channels: tuple[str, ...]  # voice, sms, email
    purposes: tuple[str, ...]  # telemarketing, informational, debt_collection
    given_at: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RevocationFact:
    """A revocation of consent received by any channel, with its scope."""

    id: int
    received_at: datetime
    seller: str  # business unit revoked from; "*" = every unit
    scope: str  # message type revoked (a purpose) or "all"
    message_channel: str  # voice | sms | email | all
    channel: str  # how it arrived: sms, ivr, agent, email, web, letter...
    method: str  # keyword, phrase, uncertain, keypress, designated, other


@dataclass(frozen=True, slots=True)
class EbrFact:
    """One established-business-relationship event with a seller."""

    id: int
    seller: str
    kind: str  # purchase | transaction | inquiry | application
    occurred_on: date
    ended_on: date | None = None


@dataclass(frozen=True, slots=True)
class CallFact:
    """One attempt in the history: placed, or reserved by the gate and not yet expired."""

    id: int
    number: int
    at: datetime
    state: str  # reserved | placed
    seller: str
    campaign: str | None
    subject: str | None
    debt_id: str | None
    channel: str
    purpose: str
    technology: str
    outcome: str | None = None
    connected: bool = True  # unknown outcome counts as connected (fail closed)
    conversation: bool = False
    dnc_request: bool = False


@dataclass(frozen=True, slots=True)
class RndFact:
    """A Reassigned Numbers Database answer for (number, consent date)."""

    consent_date: date
    result: str  # yes | no | no_data
    queried_at: datetime


@dataclass(frozen=True, slots=True)
class LocationFact:
    """A location the CRM knows for the customer behind the number."""

    country: str
    state: str | None
    zip: str | None = None


@dataclass(frozen=True, slots=True)
class EmergencyFact:
    """A declared state of emergency in a jurisdiction (e.g. "US-LA")."""

    id: int
    jurisdiction: str
    starts_at: datetime
    ends_at: datetime | None
    description: str


@dataclass(frozen=True, slots=True)
class RegistrationFact:
    """A seller's registration in a jurisdiction, valid on [valid_from, valid_to)."""

    seller: str
    jurisdiction: str
    registration_id: str
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True, slots=True)
class InternalDncFact:
    """An entry on the company's own Do-Not-Call list."""

    id: int
    seller: str  # "*" = every seller
    channel: str  # voice | sms | email | all
    added_at: datetime


@dataclass(frozen=True, slots=True)
class ListFact:
    """One registry list's answer for the number: hit, miss or unknown (and why)."""

    list_key: str  # national | canada | state:TX | custom:x
    kind: str
    code: str  # US, CA, a state code, or a custom list name
    status: str  # hit | miss | unknown
    reason: str | None = None  # not_covered | stale | not_nanp | no_data
    as_of: datetime | None = None
    snapshot_id: int | None = None
    listed_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class NumberFacts:
    """Everything known about one number (and, for debt caps, its debts) at decision time."""

    number: int
    lists: tuple[ListFact, ...] = ()  # one per list loaded; a list absent here is not loaded
    internal: tuple[InternalDncFact, ...] = ()
    consents: tuple[ConsentFact, ...] = ()
    revocations: tuple[RevocationFact, ...] = ()
    ebr: tuple[EbrFact, ...] = ()
    calls: tuple[CallFact, ...] = ()  # by this number, and by the attempt's debt id
    rnd: tuple[RndFact, ...] = ()
    line_type: str | None = None  # wireless | landline | voip | None (unknown)
    locations: tuple[LocationFact, ...] = ()
    emergencies: tuple[EmergencyFact, ...] = ()
    registrations: tuple[RegistrationFact, ...] = ()
    campaign_abandonment: float | None = None  # current 30-day period, for the campaign
    missing: tuple[str, ...] = field(default=())  # facts that could not be loaded (fail closed)
