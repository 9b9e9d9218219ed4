"""Pure calling-hours logic: is an attempt inside every applicable window, and when is it next?

No clock, no I/O: callers pass the instant, the candidate zones and states, and the rules.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_pkg

from callwarden.rules.models import (
    DAY_NAMES,
    HOURS_KINDS,
    Channel,
    Confidence,
    HolidayCalendar,
    Purpose,
    Rule,
    RuleKind,
    Technology,
)

__all__ = [
    "UNKNOWN_LOCAL_TIME",
    "Violation",
    "applicable_rules",
    "evaluate_hours",
    "evaluate_selected",
    "holiday_name",
    "next_allowed",
    "next_allowed_selected",
]

# Rule id of the fail-closed reason given when no candidate zone is known (rules.md §0.2).
UNKNOWN_LOCAL_TIME = "callwarden-unknown-local-time"
SEARCH_HORIZON = timedelta(days=8)


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason an attempt is outside a rule's hours, days or holidays."""

    rule_id: str
    citation: str
    message: str
    confidence: Confidence
    zone: str | None


# phonenumbers' regions for U.S. territories: federal law (TCPA, TSR, Reg F) reaches them.
_US_REGIONS = frozenset({"US", "PR", "VI", "GU", "MP", "AS"})


def _jurisdiction_applies(jurisdiction: str, country: str, states: Sequence[str]) -> bool:
    if jurisdiction == "*":  # company policy packs: every location
        return True
    if country in _US_REGIONS:
        country = "US"
    if "-" not in jurisdiction:
        return jurisdiction == country
    nation, _, region = jurisdiction.partition("-")
    return nation == country and region in states


def applicable_rules(
    rules: Iterable[Rule],
    *,
    states: Sequence[str],
    country: str,
    purpose: Purpose | str,
    channel: Channel | str,
    technology: Technology | str,
    line_type: str | None = None,
) -> list[Rule]:
    """The rules whose jurisdiction and scope (purpose, channel, technology) cover the attempt.

    An unknown line type (None) meets every line-type condition: the rules for every line
    type apply (fail closed).
    """
    out = []
    for rule in rules:
        scope = rule.applies_to
        if not _jurisdiction_applies(rule.jurisdiction, country, states):
            continue
        if purpose not in scope.purposes or channel not in scope.channels:
            continue
        if scope.technologies and technology not in scope.technologies:
            continue
        if scope.line_types and line_type is not None and line_type not in scope.line_types:
            continue
        out.append(rule)
    return out


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * l_) // 433
    month = (h + l_ - 7 * m + 90) // 25
    return date(year, month, (h + l_ - 7 * m + 33 * month + 19) % 32)


_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def _explicit_date(rule: str, year: int) -> date:
    parts = rule.split()
    if parts[0] == "fixed":
        mm, dd = parts[1].split("-")
        return date(year, int(mm), int(dd))
    if parts[0] == "nth":
        n, wd, month = int(parts[1]), _WEEKDAYS[parts[2]], int(parts[3])
        first = date(year, month, 1)
        return first + timedelta(days=(wd - first.weekday()) % 7 + 7 * (n - 1))
    if parts[0] == "last":
        wd, month = _WEEKDAYS[parts[1]], int(parts[2])
        last = date(year, month, calendar.monthrange(year, month)[1])
        return last - timedelta(days=(last.weekday() - wd) % 7)
    if parts[0] == "easter":
        return _easter(year) + timedelta(days=int(parts[1]))
    # election-day: the Tuesday after the first Monday in November.
    first = date(year, 11, 1)
    first_monday = first + timedelta(days=(0 - first.weekday()) % 7)
    return first_monday + timedelta(days=1)


@lru_cache(maxsize=256)
def _holidays_for(cal: HolidayCalendar, year: int) -> dict[date, str]:
    days: dict[date, str] = {}
    if cal.package is not None:
        country, _, subdiv = cal.package.partition("-")
        pkg = holidays_pkg.country_holidays(
            country, subdiv=subdiv or None, years=year, observed=cal.observed != "none"
        )
        days.update(pkg.items())
    for item in cal.explicit:
        actual = _explicit_date(item.rule, year)
        days.setdefault(actual, item.name)
        if cal.observed != "sat_fri_sun_mon":
            continue
        # a neighbouring year's holiday can be observed in this one (Saturday 1 January is
        # observed on Friday 31 December)
        for near in (
            _explicit_date(item.rule, year - 1),
            actual,
            _explicit_date(item.rule, year + 1),
        ):
            if near.weekday() in (5, 6):
                observed = near + timedelta(days=-1 if near.weekday() == 5 else 1)
                if observed.year == year:
                    days.setdefault(observed, f"{item.name} (observed)")
    return days


def holiday_name(cal: HolidayCalendar, day: date) -> str | None:
    """The holiday's name when `day` is a holiday in `cal`, else None."""
    return _holidays_for(cal, day.year).get(day)


def _fmt(t: time) -> str:
    return t.strftime("%H:%M")


def _check(rule: Rule, local: datetime) -> str | None:
    """Why `local` (an aware local time) breaks `rule`, or None."""

    def stamp() -> str:  # only formatted for a violation
        return f"{local:%a %Y-%m-%d %H:%M:%S %Z} ({local.tzinfo})"

    if rule.kind is RuleKind.TIME_WINDOW:
        assert rule.window is not None
        spec = rule.window.for_weekday(local.weekday())
        day, on = DAY_NAMES[local.weekday()].title(), ""
        if rule.window.holiday is not None and rule.holidays is not None:
            holiday = holiday_name(rule.holidays, local.date())
            if holiday is not None:
                spec = rule.window.holiday
                day = on = f"a holiday ({holiday})"
        if spec is None:
            return None
        if spec == "none":
            return f"no calls on {day}; local time {stamp()}"
        start, end = spec
        # Half-open window (rules.md §0.3): 21:00:00 is outside 08:00-21:00.
        if start <= local.time() < end:
            return None
        return f"local time {stamp()} is outside {_fmt(start)}-{_fmt(end)}" + (on and f" on {on}")
    if rule.kind is RuleKind.NO_CALLS_ON_DAY:
        name = DAY_NAMES[local.weekday()]
        if name in rule.days:
            return f"no calls on {name.title()}; local time {stamp()}"
        return None
    assert rule.holidays is not None
    holiday = holiday_name(rule.holidays, local.date())
    if holiday is not None:
        return f"no calls on a holiday ({holiday}); local time {stamp()}"
    return None


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)  # ZoneInfo caches instances itself


def _evaluate(
    rules: Sequence[Rule], at: datetime, zones: Sequence[str], consents: frozenset[str] | set[str]
) -> list[Violation]:
    out: list[Violation] = []
    rules = [rule for rule in rules if rule.kind in HOURS_KINDS]
    if not zones:
        out.append(
            Violation(
                rule_id=UNKNOWN_LOCAL_TIME,
                citation="47 CFR 64.1200(c)(1); 16 CFR 310.4(c); rules.md §0.2 (fail closed)",
                message="unknown local time: no candidate time zone for the called party",
                confidence=Confidence.C,
                zone=None,
            )
        )
    # Convert once per zone: the gate calls this on every attempt.
    local_times: dict[str, datetime] = {}
    for rule in rules:
        if rule.lifted_by & consents:
            continue
        refs: list[str] = list(zones) if rule.timezone_rule.local else []
        refs.extend(rule.timezone_rule.fixed)
        for zone in dict.fromkeys(refs):
            local_at = local_times.get(zone)
            if local_at is None:
                local_at = local_times[zone] = at.astimezone(_zone(zone))
            reason = _check(rule, local_at)
            if reason is not None:
                out.append(
                    Violation(
                        rule_id=rule.id,
                        citation=rule.citation,
                        message=reason,
                        confidence=rule.confidence,
                        zone=zone,
                    )
                )
    return out


def _require_aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {at!r}")


def evaluate_hours(
    rules: Iterable[Rule],
    *,
    at: datetime,
    zones: Sequence[str],
    states: Sequence[str],
    country: str,
    purpose: Purpose | str,
    channel: Channel | str,
    technology: Technology | str,
    consents: frozenset[str] | set[str] = frozenset(),
) -> list[Violation]:
    """Every hours/day/holiday violation of the attempt, checked in every candidate zone."""
    _require_aware(at, "at")
    selected = applicable_rules(
        rules,
        states=states,
        country=country,
        purpose=purpose,
        channel=channel,
        technology=technology,
    )
    return _evaluate(selected, at, zones, consents)


# Answers for a selection of rules, an instant, zones and lifting consents. A batch asks the
# same question for every attempt at the same time in the same area code. Keyed by the rule
# sequence's identity, whose entry keeps it alive, so the identity cannot be reused meanwhile.
_MEMO: dict[tuple[Any, ...], tuple[Sequence[Rule], Any]] = {}
_MEMO_SIZE = 8192


def _memo(
    kind: str,
    rules: Sequence[Rule],
    at: datetime,
    zones: Sequence[str],
    consents: frozenset[str] | set[str],
    compute: Callable[[], Any],
) -> Any:
    # `fold` too: the two readings of a repeated local hour are equal in Python
    key = (kind, id(rules), at, at.fold, tuple(zones), frozenset(consents))
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is rules:
        return hit[1]
    value = compute()
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.clear()
    _MEMO[key] = (rules, value)
    return value


def evaluate_selected(
    rules: Sequence[Rule],
    *,
    at: datetime,
    zones: Sequence[str],
    consents: frozenset[str] | set[str] = frozenset(),
) -> list[Violation]:
    """`evaluate_hours` for rules the caller already selected (several countries at once)."""
    _require_aware(at, "at")
    found = _memo(
        "hours", rules, at, zones, consents, lambda: tuple(_evaluate(rules, at, zones, consents))
    )
    return list(found)


def next_allowed_selected(
    rules: Sequence[Rule],
    *,
    after: datetime,
    zones: Sequence[str],
    consents: frozenset[str] | set[str] = frozenset(),
) -> datetime | None:
    """`next_allowed` for rules the caller already selected."""
    _require_aware(after, "after")
    if not zones:
        return None
    found: datetime | None = _memo(
        "next", rules, after, zones, consents, lambda: _first_allowed(rules, zones, after, consents)
    )
    return found


def _candidate_instants(
    rules: Sequence[Rule], zones: Sequence[str], after: datetime
) -> list[datetime]:
    rules = [rule for rule in rules if rule.kind in HOURS_KINDS]
    # The allowed set is a union of local [start, end) intervals, so its first instant at or
    # after `after` is `after` itself, a window start, or a local midnight (day or holiday
    # boundary) in one of the zones the rules are read in.
    starts = {time(0, 0)}
    all_zones = set(zones)
    for rule in rules:
        all_zones.update(rule.timezone_rule.fixed)
        if rule.window is not None:
            window = rule.window
            for spec in (window.weekday, window.saturday, window.sunday, window.holiday):
                if isinstance(spec, tuple):
                    starts.add(spec[0])
    limit = after + SEARCH_HORIZON
    out = {after}
    for name in all_zones:
        tz = _zone(name)
        first = after.astimezone(tz).date() - timedelta(days=1)
        for offset in range(SEARCH_HORIZON.days + 3):
            day = first + timedelta(days=offset)
            for start in starts:
                for fold in (0, 1):  # both readings of an ambiguous/nonexistent local time
                    local = datetime.combine(day, start, tzinfo=tz).replace(fold=fold)
                    instant = local.astimezone(after.tzinfo)
                    if after <= instant <= limit:
                        out.add(instant)
    return sorted(out)


def next_allowed(
    rules: Iterable[Rule],
    *,
    after: datetime,
    zones: Sequence[str],
    states: Sequence[str],
    country: str,
    purpose: Purpose | str,
    channel: Channel | str,
    technology: Technology | str,
    consents: frozenset[str] | set[str] = frozenset(),
) -> datetime | None:
    """The first instant >= `after` (within 8 days) that every applicable rule allows, or None."""
    _require_aware(after, "after")
    if not zones:
        return None  # unknown local time never becomes allowed by waiting
    selected = applicable_rules(
        rules,
        states=states,
        country=country,
        purpose=purpose,
        channel=channel,
        technology=technology,
    )
    return _first_allowed(selected, zones, after, consents)


def _first_allowed(
    rules: Sequence[Rule],
    zones: Sequence[str],
    after: datetime,
    consents: frozenset[str] | set[str],
) -> datetime | None:
    # the first candidate instant (window openings, midnights) that no rule denies
    for instant in _candidate_instants(rules, zones, after):
        if not _evaluate(rules, instant, zones, consents):
            return instant
    return None
