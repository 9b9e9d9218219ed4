"""The decision: one attempt, every fact about its number, every rule in force -> allow or deny.

Pure: no database, no clock, no network. Rules are data (rule packs); this module only knows
what each *kind* of rule means. Evaluation follows rules.md §13: every step can only add
reasons to deny, all reasons are returned (most restrictive wins, rules.md §0.1), and a fact
the rules need but nobody supplied denies (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from zoneinfo import ZoneInfo

from callwarden.ebr.service import ebr_expiry
from callwarden.gate.facts import (
    CallFact,
    ConsentFact,
    EbrFact,
    NumberFacts,
    RevocationFact,
    RndFact,
)
from callwarden.gate.locations import Locations, candidate_locations
from callwarden.rules.models import HOURS_KINDS, Rule, RuleKind, RuleSet
from callwarden.rules.windows import evaluate_selected, next_allowed_selected

__all__ = [
    "Attempt",
    "Decision",
    "Frame",
    "GateRules",
    "Obligation",
    "Reason",
    "Selection",
    "decide",
    "frame",
]


@dataclass(frozen=True, slots=True)
class Attempt:
    """A proposed call or text, as the dialer describes it."""

    number: int  # E.164 digits as an integer
    at: datetime  # aware
    channel: str  # voice | sms | email
    purpose: str  # telemarketing | informational | debt_collection
    technology: str  # manual | autodialer | prerecorded | artificial_voice
    seller: str
    campaign: str | None = None
    subject: str | None = None
    debt_id: str | None = None
    caller_id: str | None = None
    recorded: bool = False
    # the consumer asked to be called at this time (logged); lifts rules that allow it
    time_specific_consent: bool = False


@dataclass(frozen=True, slots=True)
class Reason:
    """Why an attempt is denied: a stable code, a message, and the rule behind it."""

    code: str
    message: str
    rule_id: str
    citation: str
    confidence: str
    revision: str  # the rule pack's revision ("callwarden" for built-in fail-closed reasons)
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class Obligation:
    """A duty the caller must carry out when it places an allowed attempt."""

    code: str
    message: str
    rule_id: str
    citation: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: allowed or not, every reason, obligations, and what was considered."""

    allowed: bool
    reasons: tuple[Reason, ...]
    obligations: tuple[Obligation, ...]
    locations: Locations
    local_times: tuple[tuple[str, str], ...]  # (zone, ISO local time)
    rules_applied: tuple[str, ...]
    consent_id: int | None = None
    ebr_id: int | None = None
    retry_at: datetime | None = None  # when only calling hours deny: the next allowed instant
    exemptions: tuple[str, ...] = field(default=())


BUILTIN = "callwarden"


def _builtin(code: str, message: str, citation: str) -> Reason:
    return Reason(code, message, f"callwarden-{code.replace('_', '-')}", citation, "C", BUILTIN)


# --- Rule selection ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Selection:
    """The rules that apply to one shape of attempt, prepared once and cached."""

    by_kind: dict[RuleKind, tuple[Rule, ...]]
    hours: tuple[Rule, ...]
    ids: tuple[str, ...]
    reach_all: bool  # a revocation reaches every message of the caller (revoke-all in force)
    lift_tokens: frozenset[str]  # every lifted_by token any selected rule knows
    counting: bool  # a cap or cool-off is selected: the decision needs the call history
    # the duties of an allowed attempt, first rule per code: [0] unrecorded, [1] recorded
    duties: tuple[tuple[Obligation, ...], tuple[Obligation, ...]]


def _duties(rules: Sequence[Rule], recorded: bool) -> tuple[Obligation, ...]:
    out: dict[str, Obligation] = {}
    for rule in rules:
        duty = rule.obligation
        assert duty is not None
        if (duty.when_recorded and not recorded) or duty.code in out:
            continue
        out[duty.code] = Obligation(duty.code, duty.message, rule.id, rule.citation)
    return tuple(out.values())


_COUNTING_KINDS = (RuleKind.FREQUENCY_CAP, RuleKind.CONVERSATION_COOLOFF)


def _prepare(rules: Sequence[Rule]) -> Selection:
    by_kind: dict[RuleKind, list[Rule]] = {}
    for rule in rules:
        by_kind.setdefault(rule.kind, []).append(rule)
    return Selection(
        by_kind={k: tuple(v) for k, v in by_kind.items()},
        hours=tuple(r for r in rules if r.kind in HOURS_KINDS),
        ids=tuple(r.id for r in rules),
        reach_all=any(
            r.revocation is not None and r.revocation.reach == "all"
            for r in by_kind.get(RuleKind.REVOCATION, ())
        ),
        lift_tokens=frozenset(t for r in rules for t in r.lifted_by),
        counting=any(k in by_kind for k in _COUNTING_KINDS),
        duties=(
            _duties(by_kind.get(RuleKind.OBLIGATION, ()), recorded=False),
            _duties(by_kind.get(RuleKind.OBLIGATION, ()), recorded=True),
        ),
    )


class GateRules:
    """A rule set prepared for the gate: rules grouped by jurisdiction, selection cached."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.revision_of = {r.id: p.pack.revision for p in ruleset.packs for r in p.rules}
        self.pack_of = {r.id: p.pack.id for p in ruleset.packs for r in p.rules}
        self.pack_revisions = ruleset.revisions
        by_jur: dict[str, list[Rule]] = {}
        for rule in ruleset.rules:
            by_jur.setdefault(rule.jurisdiction, []).append(rule)
        self._by_jur = {k: tuple(v) for k, v in by_jur.items()}
        self.countries = frozenset(j.split("-")[0] for j in by_jur if j != "*")
        # rules whose answer depends on the call history (re-checked under the write lock)
        self.counting = frozenset(r.id for r in ruleset.rules if r.kind in _COUNTING_KINDS)
        self.select = lru_cache(maxsize=4096)(self._select)
        # a decision's rules_applied is its selection's `ids`: a few distinct tuples
        self.counts = lru_cache(maxsize=4096)(self._counts)
        self.revisions_for = lru_cache(maxsize=4096)(self._revisions_for)

    def _counts(self, rule_ids: tuple[str, ...]) -> bool:
        # a cap or cool-off took part: the answer depends on the call history
        return any(rid in self.counting for rid in rule_ids)

    def _revisions_for(self, rule_ids: tuple[str, ...]) -> Mapping[str, str]:
        # the revision of every pack one of the rules belongs to (one dict shared by every
        # decision of the selection: typed read-only)
        packs = {self.pack_of[r] for r in rule_ids if r in self.pack_of}
        return {p: self.pack_revisions[p] for p in sorted(packs)}

    def _select(
        self,
        days: tuple[date, ...],
        countries: tuple[str, ...],
        states: tuple[str, ...],
        purpose: str,
        channel: str,
        technology: str,
        line_type: str | None,
    ) -> Selection:
        keys = ["*", *countries]
        keys += [f"{c}-{s}" for c in countries for s in states]
        out = []
        for key in keys:
            for rule in self._by_jur.get(key, ()):
                scope = rule.applies_to
                if purpose not in scope.purposes or channel not in scope.channels:
                    continue
                if scope.technologies and technology not in scope.technologies:
                    continue
                if scope.line_types and line_type is not None and line_type not in scope.line_types:
                    continue
                # In force on the UTC date or any candidate local date: a rule that starts or
                # ends at midnight applies wherever its date has come (the stricter reading).
                if not any(rule.in_force_on(d) for d in days):
                    continue
                out.append(rule)
        return _prepare(out)


# --- EBR -----------------------------------------------------------------------------------


def _live_ebr(
    events: Sequence[EbrFact],
    facts: NumberFacts,
    seller: str,
    first: date,
    last: date,
    countries: Sequence[str],
    kinds: frozenset[str] = frozenset({"purchase", "transaction", "inquiry", "application"}),
) -> EbrFact | None:
    # The relationship must hold on every candidate local date of the call: it must have
    # begun by the earliest and not have ended by the latest. The strictest country's window
    # decides when a number may be in more than one.
    country = "US" if "US" in countries or not countries else countries[0]
    newest_first = sorted(events, key=_occurred_on, reverse=True) if len(events) > 1 else events
    for event in newest_first:
        if event.seller != seller or event.kind not in kinds or event.occurred_on > first:
            continue
        if event.ended_on is not None and event.ended_on <= last:
            continue
        if last >= ebr_expiry(event.kind, event.occurred_on, country):
            continue
        # A seller-specific Do-Not-Call request ends the relationship (64.1200(f)(5)(i)).
        ended = any(
            e.seller in ("*", seller) and e.added_at.date() >= event.occurred_on
            for e in facts.internal
        )
        if not ended:
            return event
    return None


# --- Consent -------------------------------------------------------------------------------


def _covers(c: ConsentFact, a: Attempt, *, named: bool) -> bool:
    if a.seller not in c.sellers and (named or "*" not in c.sellers):
        return False
    return a.channel in c.channels and a.purpose in c.purposes


def _revokes(r: RevocationFact, c: ConsentFact, a: Attempt, reach_all: bool) -> bool:
    if r.received_at > a.at or r.received_at < c.given_at:
        return False  # not yet received, or consent given again afterwards
    if reach_all:
        return True
    return (
        r.seller in ("*", a.seller)
        and r.scope in ("all", a.purpose)
        and r.message_channel in ("all", a.channel)
    )


@dataclass(slots=True)
class _ConsentView:
    valid: list[ConsentFact]
    revoked: list[tuple[ConsentFact, RevocationFact]]
    # ids of valid consents the number's disconnection voided (RND "yes"): they exempt from
    # nothing and lift nothing; the RND rule names them for calls it covers
    void: frozenset[int] = frozenset()


def _disconnected_since(day: date, answers: Sequence[RndFact], at: datetime) -> bool:
    """True when an RND "yes" known by `at` says a consent given on `day` may be void.

    "yes" for date D: permanently disconnected on or after D. With D on or after the consent
    day the consent is void, however old the answer (a disconnection is permanent). With D
    before it the disconnection may predate the consent (a new subscriber's consent): void
    unless a later "no" for a date after D, up to the consent day, shows no disconnection
    since (a "no" for D itself contradicts the "yes": it stays void).
    """
    known = [r for r in answers if r.queried_at <= at]
    for y in known:
        if y.result != "yes":
            continue
        if y.consent_date >= day:
            return True
        if not any(
            n.result == "no"
            and y.consent_date < n.consent_date <= day
            and n.queried_at >= y.queried_at
            for n in known
        ):
            return True
    return False


def _rnd_void(consents: list[ConsentFact], facts: NumberFacts, at: datetime) -> frozenset[int]:
    # consents a "yes" may void: they exempt from nothing and lift nothing
    if not any(r.result == "yes" for r in facts.rnd):  # the common case: one "no" on file
        return frozenset()
    return frozenset(
        c.id
        for c in consents
        if _disconnected_since(c.given_at.astimezone(UTC).date(), facts.rnd, at)
    )


def _consents(a: Attempt, facts: NumberFacts, reach_all: bool) -> _ConsentView:
    view = _ConsentView([], [])
    revocations = facts.revocations
    for c in facts.consents:
        if c.given_at > a.at or (c.expires_at is not None and c.expires_at <= a.at):
            continue
        if not _covers(c, a, named=False):
            continue
        hit = (
            next((r for r in revocations if _revokes(r, c, a, reach_all)), None)
            if revocations
            else None
        )
        if hit is None:
            view.valid.append(c)
        else:
            view.revoked.append((c, hit))
    if facts.rnd and view.valid:
        view.void = _rnd_void(view.valid, facts, a.at)
    if len(view.valid) > 1:
        # newest first, once: `_best` is asked two or three times per attempt (stable, so
        # consents given at the same instant keep their order, as the sort per ask did)
        view.valid.sort(key=_given_at, reverse=True)
    return view


def _best(view: _ConsentView, a: Attempt, level: str, *, live: bool = False) -> ConsentFact | None:
    # `live`: not voided by a disconnection (for exemptions and lifts; the consent rules
    # leave that judgement to the RND rule, which says why)
    for c in view.valid:  # newest first
        if level == "pewc" and (c.kind != "pewc" or a.seller not in c.sellers):
            continue
        if live and c.id in view.void:
            continue
        return c
    return None


# --- Caps ----------------------------------------------------------------------------------


def _key_matches(rule: Rule, call: CallFact, a: Attempt) -> bool:
    assert rule.cap is not None
    for key in rule.cap.key:
        if key == "number" and call.number != a.number:
            return False
        if key == "seller" and call.seller != a.seller:
            return False
        if key == "subject" and call.subject != a.subject:
            return False
        if key == "debt" and call.debt_id != a.debt_id:
            return False
        if key == "campaign" and call.campaign != a.campaign:
            return False
    return True


def _in_scope(rule: Rule, call: CallFact) -> bool:
    scope = rule.applies_to
    return (
        call.purpose in scope.purposes
        and call.channel in scope.channels
        and (not scope.technologies or call.technology in scope.technologies)
    )


_occurred_on = attrgetter("occurred_on")
_given_at = attrgetter("given_at")


def _local(at: datetime, zone: str) -> tuple[datetime, str]:
    """The attempt's time in `zone`, and as the decision writes it (ISO text)."""
    # A batch's attempts share a few instants and zones: convert each pair once. `fold` is
    # part of the key: two times of one zone that differ only in it are equal (and hash
    # alike) in Python, yet an hour apart.
    return _local_at(at, at.fold, zone)


@lru_cache(maxsize=8192)
def _local_at(at: datetime, fold: int, zone: str) -> tuple[datetime, str]:
    local = at.astimezone(_zone(zone))
    return local, local.isoformat()


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _cap_count(rule: Rule, calls: Iterable[CallFact], a: Attempt, zones: Sequence[str]) -> int:
    assert rule.cap is not None
    cap = rule.cap
    counted = [
        c
        for c in calls
        if _in_scope(rule, c)
        and _key_matches(rule, c, a)
        and (cap.counts == "placed" or c.connected)
    ]
    if cap.window_hours is not None:
        # Every window holding the attempt must stay within the cap, so attempts already
        # reserved after it count too: [at - W, at + W], both ends included (an attempt
        # exactly W before is still "within 24 hours" on the conservative reading, §0.1).
        span = timedelta(hours=cap.window_hours)
        return sum(1 for c in counted if abs(c.at - a.at) <= span)
    assert cap.window_days is not None
    reach = cap.window_days - 1
    best = 0
    for name in zones or ("UTC",):
        tz = _zone(name)
        day = a.at.astimezone(tz).date()
        n = sum(1 for c in counted if abs((c.at.astimezone(tz).date() - day).days) <= reach)
        best = max(best, n)
    return best


# --- The decision --------------------------------------------------------------------------


def _reason(gr: GateRules, rule: Rule, code: str, message: str, zone: str | None = None) -> Reason:
    return Reason(
        code=code,
        message=message,
        rule_id=rule.id,
        citation=rule.citation,
        confidence=rule.confidence.value,
        revision=gr.revision_of.get(rule.id, BUILTIN),
        zone=zone,
    )


_HOURS_CODES = {
    RuleKind.TIME_WINDOW: "outside_calling_hours",
    RuleKind.NO_CALLS_ON_DAY: "day_not_allowed",
    RuleKind.NO_CALLS_ON_HOLIDAY: "holiday",
}


@dataclass(frozen=True, slots=True)
class Frame:
    """Where and when an attempt lands: candidate locations, local times, the rules selected.

    It needs only the attempt, the number's locations and line type, so the gate can tell
    which attempts need the call history before it reads any.
    """

    locations: Locations
    local_at: dict[str, datetime]  # zone -> local time of the attempt
    zone_days: frozenset[date]  # the candidate local dates
    covered: tuple[str, ...]  # candidate countries some rule pack covers
    selection: Selection


def frame(a: Attempt, facts: NumberFacts, gr: GateRules) -> Frame:
    """The attempt's candidate locations, local times and the rules in force for it."""
    if a.at.tzinfo is None:
        raise ValueError("attempt time must be timezone-aware")
    loc = candidate_locations(a.number, facts.locations)
    local_at = {z: _local(a.at, z)[0] for z in loc.zones}
    zone_days = frozenset(t.date() for t in local_at.values())
    days = tuple(sorted(zone_days | {a.at.astimezone(UTC).date()}))
    covered = tuple(c for c in loc.countries if c in gr.countries)
    selected = gr.select(
        days, covered, loc.states, a.purpose, a.channel, a.technology, facts.line_type
    )
    return Frame(loc, local_at, zone_days, covered, selected)


def decide(a: Attempt, facts: NumberFacts, gr: GateRules, fr: Frame | None = None) -> Decision:
    """Allow or deny one attempt from its facts and the rules in force; every reason.

    `fr` is `frame(a, facts, gr)` when the caller has already computed it.
    """
    if fr is None:
        fr = frame(a, facts, gr)
    reasons: list[Reason] = []
    exemptions: list[str] = []
    for missing in facts.missing:
        reasons.append(
            _builtin(
                "missing_fact",
                f"could not load {missing}; the gate cannot judge without it",
                "rules.md §0 (fail closed)",
            )
        )

    loc, local_at, zone_days, covered = fr.locations, fr.local_at, fr.zone_days, fr.covered
    selected = fr.selection
    if len(covered) < len(loc.countries) or not covered:
        # every candidate country must be judged: one no pack covers cannot be, even when
        # another is (a CRM address abroad for a covered number, or the reverse)
        outside = [c for c in loc.countries if c not in covered]
        reasons.append(
            _builtin(
                "jurisdiction_not_covered",
                f"no rule pack covers the called party's country ({', '.join(outside)})"
                if outside
                else "the called party's country is unknown",
                "rules.md §0.2 (fail closed)",
            )
        )
    for place in facts.locations:
        if not place.state:
            # a ZIP or postal code alone is not placed in a state (nor its zones): the rules
            # and local time of that place are unknown
            where = f"{place.country} {place.zip}" if place.zip else place.country
            reasons.append(
                _builtin(
                    "location_unplaced",
                    f"a known location of the called party ({where}) has no state or province, "
                    "so its local time and state rules are unknown",
                    "rules.md §0.2 (fail closed)",
                )
            )
    by_kind, reach_all = selected.by_kind, selected.reach_all
    # the called party's candidate dates (UTC only when no zone is known)
    local_days = sorted(zone_days) or [a.at.astimezone(UTC).date()]
    first, last = local_days[0], local_days[-1]
    ebr = _live_ebr(facts.ebr, facts, a.seller, first, last, covered) if facts.ebr else None
    purchase = (
        _live_ebr(
            facts.ebr, facts, a.seller, first, last, covered, frozenset({"purchase", "transaction"})
        )
        if ebr is not None and "ebr_purchase" in selected.lift_tokens
        else None
    )
    consents = _consents(a, facts, reach_all)
    lifts: set[str] = set()
    if ebr is not None:
        lifts.add("ebr")
    if purchase is not None:
        lifts.add("ebr_purchase")
    if a.time_specific_consent:
        lifts.add("time_specific_consent")
    if _best(consents, a, "pec", live=True) is not None:
        lifts.add("prior_express_consent")

    consent_used: ConsentFact | None = None

    def lifted(rule: Rule) -> bool:
        return bool(rule.lifted_by & lifts)

    # (3) the company's own list and revocations
    for rule in by_kind.get(RuleKind.INTERNAL_DNC, ()):
        together = rule.channels_together
        for entry in facts.internal:
            if entry.seller not in ("*", a.seller):
                continue
            # a request made by text stops calls too where the rule joins the channels
            # (rules.md §1.3: across voice and SMS)
            if entry.channel not in ("all", a.channel) and not (
                entry.channel in together and a.channel in together
            ):
                continue
            # only new express consent naming the seller, given after the request, lifts it
            renewed = any(
                c.given_at > entry.added_at and a.seller in c.sellers for c in consents.valid
            )
            if renewed:
                exemptions.append(f"{rule.id}: consent given after the request")
                continue
            reasons.append(
                _reason(
                    gr,
                    rule,
                    "internal_dnc",
                    f"on the company's Do-Not-Call list for {entry.seller} "
                    f"({entry.channel}) since {entry.added_at:%Y-%m-%d %H:%M:%S} UTC",
                )
            )
            break

    # (4) consent against technology, and the Reassigned Numbers Database
    for rule in by_kind.get(RuleKind.CONSENT_REQUIRED, ()):
        assert rule.consent is not None
        if lifted(rule):
            exemptions.append(f"{rule.id}: lifted by {', '.join(sorted(rule.lifted_by & lifts))}")
            continue
        found = _best(consents, a, rule.consent.level)
        if found is not None:
            if consent_used is None or found.given_at > consent_used.given_at:
                consent_used = found
            continue
        level = (
            "prior express written consent"
            if rule.consent.level == "pewc"
            else ("prior express consent")
        )
        if consents.revoked:
            _, rev = consents.revoked[0]
            reasons.append(
                _reason(
                    gr,
                    rule,
                    "consent_revoked",
                    f"{level} naming {a.seller} was revoked by {rev.channel} "
                    f"({rev.method}) at {rev.received_at:%Y-%m-%d %H:%M:%S} UTC",
                )
            )
        else:
            reasons.append(
                _reason(
                    gr,
                    rule,
                    "consent_missing",
                    f"no {level} naming {a.seller} for {a.purpose} by {a.channel} on record",
                )
            )
    if consent_used is not None:
        for rule in by_kind.get(RuleKind.REASSIGNED_NUMBERS, ()):
            reason = _rnd_reason(
                gr, rule, consent_used, facts, a, void=consent_used.id in consents.void
            )
            if reason is not None:
                reasons.append(reason)

    # (5) registries with exemptions and freshness
    by_list = {f.list_key: f for f in facts.lists}
    for rule in by_kind.get(RuleKind.REGISTRY, ()):
        assert rule.registry is not None
        spec = rule.registry
        answer = by_list.get(spec.list)
        if answer is None or answer.status == "unknown":
            why = (
                "no copy of the list is loaded"
                if answer is None
                else {
                    "stale": f"the copy is stale (obtained {answer.as_of:%Y-%m-%d})"
                    if answer.as_of
                    else "the copy is stale",
                    "not_covered": "the copy does not cover this area code",
                    "history_unavailable": "the list was re-imported in full since the replayed "
                    "moment and the copy in force then is no longer kept",
                }.get(answer.reason or "", f"the list cannot answer ({answer.reason})")
            )
            reasons.append(
                _reason(
                    gr, rule, "registry_unavailable", f"cannot check the {spec.list} list: {why}"
                )
            )
            continue
        if answer.status != "hit":
            continue
        exempt = None
        if "written_consent" in spec.exempt_by and _best(consents, a, "pewc", live=True):
            exempt = "written consent naming the seller"
        elif "consent" in spec.exempt_by and any(
            a.seller in c.sellers and c.id not in consents.void for c in consents.valid
        ):
            exempt = "express consent naming the seller"
        elif "ebr" in spec.exempt_by and ebr is not None:
            exempt = f"established business relationship ({ebr.kind} on {ebr.occurred_on})"
        if exempt is not None:
            exemptions.append(f"{rule.id}: {exempt}")
            continue
        void = (
            "; the consent on file does not exempt it: the number was permanently disconnected "
            "after it was given (RND: yes)"
            if any(a.seller in c.sellers and c.id in consents.void for c in consents.valid)
            else ""
        )
        reasons.append(
            _reason(
                gr, rule, "registry_listed", f"listed on the {spec.list} Do-Not-Call list{void}"
            )
        )

    # (6) hours, days, holidays (every candidate zone), emergencies
    hours_rules = selected.hours
    if hours_rules:
        # rules are already selected for every covered country and candidate state
        for v in evaluate_selected(hours_rules, at=a.at, zones=loc.zones, consents=lifts):
            if v.rule_id == "callwarden-unknown-local-time":
                reasons.append(
                    Reason(
                        "unknown_local_time",
                        v.message,
                        v.rule_id,
                        v.citation,
                        v.confidence.value,
                        BUILTIN,
                    )
                )
                continue
            rule = gr.ruleset.get(v.rule_id)
            reasons.append(_reason(gr, rule, _HOURS_CODES[rule.kind], v.message, v.zone))
    for rule in by_kind.get(RuleKind.EMERGENCY_BAN, ()):
        if lifted(rule):
            continue
        for em in facts.emergencies:
            active = em.starts_at <= a.at and (em.ends_at is None or a.at < em.ends_at)
            if em.jurisdiction == rule.jurisdiction and active:
                reasons.append(
                    _reason(
                        gr,
                        rule,
                        "state_of_emergency",
                        f"declared emergency in {em.jurisdiction} since "
                        f"{em.starts_at:%Y-%m-%d}: {em.description}",
                    )
                )
                break

    # (7) frequency caps and the conversation cool-off
    for rule in by_kind.get(RuleKind.FREQUENCY_CAP, ()):
        assert rule.cap is not None
        if lifted(rule):
            exemptions.append(f"{rule.id}: lifted by {', '.join(sorted(rule.lifted_by & lifts))}")
            continue
        if _missing_requirement(gr, rule, a, reasons):
            continue
        count = _cap_count(rule, facts.calls, a, loc.zones)
        if count >= rule.cap.max_attempts:
            span = (
                f"{rule.cap.window_hours} hours"
                if rule.cap.window_hours
                else f"{rule.cap.window_days} consecutive days"
            )
            reasons.append(
                _reason(
                    gr,
                    rule,
                    "frequency_cap",
                    f"{count} attempts already within {span}; the limit is "
                    f"{rule.cap.max_attempts} (per {' + '.join(rule.cap.key)})",
                )
            )
    for rule in by_kind.get(RuleKind.CONVERSATION_COOLOFF, ()):
        assert rule.cooloff_days is not None
        if _missing_requirement(gr, rule, a, reasons):
            continue
        for zone in loc.zones or ("UTC",):
            tz = _zone(zone)
            today = a.at.astimezone(tz).date()
            talks = [
                c.at.astimezone(tz).date()
                for c in facts.calls
                if c.conversation and c.debt_id == a.debt_id and c.at <= a.at
            ]
            recent = [d for d in talks if 0 <= (today - d).days < rule.cooloff_days]
            if recent:
                reasons.append(
                    _reason(
                        gr,
                        rule,
                        "conversation_cooloff",
                        f"a telephone conversation about debt {a.debt_id} on {max(recent)} "
                        f"(day 1 of {rule.cooloff_days})",
                        zone if loc.zones else None,
                    )
                )
                break

    # other outright conditions
    for rule in by_kind.get(RuleKind.REGISTRATION_REQUIRED, ()):
        ok = any(
            r.seller == a.seller
            and r.jurisdiction == rule.jurisdiction
            and r.valid_from <= first
            and (r.valid_to is None or last < r.valid_to)
            for r in facts.registrations
        )
        if not ok:
            reasons.append(
                _reason(
                    gr,
                    rule,
                    "registration_missing",
                    f"{a.seller} has no registration on record in {rule.jurisdiction}",
                )
            )
    for rule in by_kind.get(RuleKind.CALLER_ID_REQUIRED, ()):
        if not a.caller_id:
            reasons.append(
                _reason(gr, rule, "caller_id_missing", "no outbound caller ID given for the call")
            )
    for rule in by_kind.get(RuleKind.ABANDONMENT_LIMIT, ()):
        assert rule.max_rate is not None
        if _missing_requirement(gr, rule, a, reasons):
            continue
        rate = facts.campaign_abandonment
        if rate is not None and rate > rule.max_rate:
            reasons.append(
                _reason(
                    gr,
                    rule,
                    "abandonment_rate",
                    f"campaign {a.campaign} abandoned {rate:.2%} of live-answered calls in the "
                    f"current 30-day period or the last 30 days; the limit is {rule.max_rate:.0%}",
                )
            )
    for rule in by_kind.get(RuleKind.PROHIBITED, ()):
        if not lifted(rule):
            reasons.append(
                _reason(gr, rule, "prohibited", f"{a.technology} {a.purpose} calls are banned here")
            )

    # (8) obligations attached to an allowed attempt (prepared with the selection)
    obligations: list[Obligation] = list(selected.duties[a.recorded])
    unknown_place = a.recorded and a.channel == "voice" and not loc.states
    if unknown_place and not any(o.code == "announce_recording" for o in obligations):
        obligations.append(
            Obligation(
                "announce_recording",
                "The called party's location is unknown: announce the recording first.",
                "callwarden-recording-unknown-location",
                "rules.md §5.3 (unknown location: treat as all-party)",
            )
        )

    retry_at = None
    if reasons and all(r.code in _HOURS_CODES.values() for r in reasons):
        retry_at = next_allowed_selected(hours_rules, after=a.at, zones=loc.zones, consents=lifts)
    local_times = tuple((z, _local(a.at, z)[1]) for z in local_at)
    return Decision(  # positional: a batch makes 10,000 (allowed, reasons, obligations...)
        not reasons,
        tuple(reasons),
        tuple(obligations) if not reasons else (),  # duties belong to a call that may be placed
        loc,
        local_times,
        selected.ids,
        consent_used.id if consent_used else None,
        ebr.id if ebr else None,
        retry_at,
        tuple(exemptions),
    )


def _missing_requirement(gr: GateRules, rule: Rule, a: Attempt, reasons: list[Reason]) -> bool:
    if not rule.requires:
        return False
    missing = [
        name
        for name, value in (
            ("subject", a.subject),
            ("debt", a.debt_id),
            ("campaign", a.campaign),
            ("caller_id", a.caller_id),
        )
        if name in rule.requires and not value
    ]
    if missing:
        reasons.append(
            _reason(
                gr,
                rule,
                "missing_fact",
                f"the rule needs the attempt's {', '.join(missing)} to count attempts",
            )
        )
    return bool(missing)


def _rnd_reason(
    gr: GateRules, rule: Rule, consent: ConsentFact, facts: NumberFacts, a: Attempt, *, void: bool
) -> Reason | None:
    assert rule.max_result_age_days is not None
    consent_day = consent.given_at.astimezone(UTC).date()
    # A disconnection is permanent: a "yes" of any age, for the consent date or a later one,
    # outweighs any later answer (`void`: `_disconnected_since`, as `_consents` judged it).
    if void:
        return _reason(
            gr,
            rule,
            "reassigned_number",
            f"the number was permanently disconnected after consent was given on {consent_day} "
            "(RND: yes); the consent no longer counts",
        )
    oldest = a.at - timedelta(days=rule.max_result_age_days)
    # An answer for the consent date (or an earlier one: "not disconnected since" then
    # covers the consent date too), queried recently enough and before the attempt.
    usable = [
        r for r in facts.rnd if r.consent_date <= consent_day and oldest <= r.queried_at <= a.at
    ]
    if not usable:
        return _reason(
            gr,
            rule,
            "rnd_missing",
            f"no Reassigned Numbers Database answer for consent date {consent_day} from the "
            f"last {rule.max_result_age_days} days",
        )
    # the newest answer; on a tie "no data" wins over "no" (fail closed)
    latest = (
        usable[0]
        if len(usable) == 1
        else max(usable, key=lambda r: (r.queried_at, r.consent_date, r.result != "no"))
    )
    if latest.result != "no":
        return _reason(
            gr,
            rule,
            "rnd_no_data",
            f"the Reassigned Numbers Database has no data for consent date {consent_day}; no "
            "safe harbor for an autodialed or prerecorded call",
        )
    return None
