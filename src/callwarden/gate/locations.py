"""Candidate locations of a called party (rules.md §0.2): area code zones and states, plus CRM.

Pure: reads only the packaged area-code data. The call is judged in every candidate location.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from callwarden import phone
from callwarden.gate.facts import LocationFact

# phonenumbers' regions for U.S. territories: federal rules reach them as "US".
_US_REGIONS = frozenset({"US", "PR", "VI", "GU", "MP", "AS"})


@dataclass(frozen=True, slots=True)
class Locations:
    """Where the called party may be: countries, states/provinces and IANA zones."""

    countries: tuple[str, ...]
    states: tuple[str, ...]
    zones: tuple[str, ...]
    sources: tuple[str, ...]  # area_code, customer_location


def country_of(region: str | None) -> str | None:
    """The rule-pack country of a phonenumbers region (territories fold into US)."""
    if region is None:
        return None
    return "US" if region in _US_REGIONS else region


@lru_cache(maxsize=1)
def _zones_by_state() -> dict[str, tuple[str, ...]]:
    # A state's zones are those of its geographic area codes: a customer known to live in
    # Florida may be in either of Florida's zones (rules.md §0.2).
    out: dict[str, set[str]] = {}
    for npa in range(200, 1000):
        info = phone.area_code_info(npa)
        if info is None or not info.is_geographic:
            continue
        for state in info.states:
            out.setdefault(state, set()).update(info.time_zones)
    return {state: tuple(sorted(zones)) for state, zones in out.items()}


def warm() -> None:
    """Build the state-to-zones table now (it takes a few hundred ms), not on a first call."""
    _zones_by_state()


def zones_of_state(state: str) -> tuple[str, ...]:
    """Every IANA zone of a state or province's geographic area codes."""
    return _zones_by_state().get(state, ())


@lru_cache(maxsize=65536)
def _from_number(number: int) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    zones = phone.candidate_time_zones(number)
    npa = (number - 10_000_000_000) // 10_000_000 if 10**10 <= number < 2 * 10**10 else None
    if npa is not None:
        info = phone.area_code_info(npa)
        if info is None:
            return None, (), zones
        return country_of(info.region or info.country), info.states, zones
    parsed = phone.parse_e164_int(number)
    return country_of(parsed.region), parsed.states, zones


def candidate_locations(number: int, known: Sequence[LocationFact] = ()) -> Locations:
    """The union of the area code's locations and every location the CRM knows."""
    # A plain NANP number's locations depend only on its area code: a batch of 10,000 numbers
    # makes a few hundred, not one per number (the per-number cache misses on a cold batch).
    npa = phone.in_service_area_code(number)
    if npa is not None:
        return _locations(npa, tuple(known))
    return _union(_from_number(number), known)


@lru_cache(maxsize=65536)
def _locations(npa: int, known: tuple[LocationFact, ...]) -> Locations:
    # `npa`'s first number stands for all of them (see `phone.in_service_area_code`)
    return _union(_from_number(10_000_000_000 + npa * 10_000_000 + 2_000_000), known)


def _union(
    origin: tuple[str | None, tuple[str, ...], tuple[str, ...]], known: Sequence[LocationFact]
) -> Locations:
    country, states, zones = origin
    countries = [country] if country else []
    all_states = list(states)
    all_zones = list(zones)
    sources = ["area_code"] if (states or zones) else []
    # No zone from the number (toll-free, non-geographic, unknown) means the party may be
    # anywhere: a CRM address adds states but cannot make the local time known.
    placed = bool(zones)
    for loc in known:
        if loc.country not in countries:
            countries.append(loc.country)
        if loc.state:
            if loc.state not in all_states:
                all_states.append(loc.state)
            for zone in zones_of_state(loc.state) if placed else ():
                if zone not in all_zones:
                    all_zones.append(zone)
        if "customer_location" not in sources:
            sources.append("customer_location")
    return Locations(tuple(countries), tuple(all_states), tuple(all_zones), tuple(sources))
