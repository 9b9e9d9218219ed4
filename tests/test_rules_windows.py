"""Scenario and property tests for callwarden.rules.windows (calling hours, days, holidays).

Each scenario's docstring names the rule (by rule id and citation) it proves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callwarden.phone import parse
from callwarden.rules import (
    UNKNOWN_LOCAL_TIME,
    Rule,
    Violation,
    applicable_rules,
    evaluate_hours,
    load_packs,
    next_allowed,
    windows,
)
from callwarden.rules.windows import evaluate_selected, next_allowed_selected

RULES = load_packs()
NY, CHI, DEN, PHX, LA_ZONE, TOR = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Toronto",
)


def local(text: str, zone: str) -> datetime:
    """An aware datetime from a naive ISO string read in `zone`."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def check(
    at: datetime,
    zones: Sequence[str],
    states: Sequence[str] = (),
    *,
    country: str = "US",
    purpose: str = "telemarketing",
    channel: str = "voice",
    technology: str = "manual",
    consents: frozenset[str] = frozenset(),
    rules: Sequence[Rule] | None = None,
) -> list[Violation]:
    """Evaluate the attempt against the rules in force on its UTC date."""
    in_force = RULES.in_force(at.astimezone(UTC).date()) if rules is None else rules
    return evaluate_hours(
        in_force,
        at=at,
        zones=zones,
        states=states,
        country=country,
        purpose=purpose,
        channel=channel,
        technology=technology,
        consents=consents,
    )


def ids(violations: list[Violation]) -> set[str]:
    return {v.rule_id for v in violations}


# --- Florida, federal, half-open windows -------------------------------------------------


def test_florida_1959_allowed() -> None:
    """us-fl-hours-telemarketing (Fla. Stat. §501.616(6)(a)): 19:59 is inside 08:00-20:00."""
    assert check(local("2026-07-15T19:59", NY), [NY], ["FL"]) == []


def test_florida_2000_denied() -> None:
    """us-fl-hours-telemarketing (Fla. Stat. §501.616(6)(a)): 20:00 is outside (half-open)."""
    found = check(local("2026-07-15T20:00", NY), [NY], ["FL"])
    assert ids(found) == {"us-fl-hours-telemarketing"}
    assert "20:00:00" in found[0].message and "America/New_York" in found[0].message
    assert found[0].citation == "Fla. Stat. §501.616(6)(a)"
    assert found[0].confidence == "C"


def test_federal_2100_exactly_denied_205959_allowed() -> None:
    """us-tcpa-hours-telemarketing (47 CFR 64.1200(c)(1)): 21:00:00 denied, 20:59:59 allowed."""
    assert check(local("2026-07-15T20:59:59", NY), [NY], ["NY"]) == []
    found = ids(check(local("2026-07-15T21:00:00", NY), [NY], ["NY"]))
    assert found == {"us-tcpa-hours-telemarketing", "us-tsr-hours-telemarketing"}


def test_federal_0759_denied_0800_allowed() -> None:
    """us-tcpa-hours-telemarketing (47 CFR 64.1200(c)(1)): the window opens at 08:00."""
    assert "us-tcpa-hours-telemarketing" in ids(check(local("2026-07-15T07:59:59", NY), [NY]))
    assert check(local("2026-07-15T08:00", NY), [NY]) == []


def test_tsr_lifted_by_time_specific_consent_but_tcpa_is_not() -> None:
    """us-tsr-hours-telemarketing (16 CFR 310.4(c)) yields to consent; 64.1200(c)(1) does not."""
    found = ids(
        check(local("2026-07-15T21:30", NY), [NY], consents=frozenset({"time_specific_consent"}))
    )
    assert found == {"us-tcpa-hours-telemarketing"}


def test_regf_debt_collection_hours_and_no_state_telemarketing_rules() -> None:
    """us-regf-hours-debt-collection (12 CFR 1006.6(b)(1)(i)); FL 20:00 is telemarketing only."""
    at = local("2026-07-15T20:30", NY)
    assert check(at, [NY], ["FL"], purpose="debt_collection") == []
    late = check(
        local("2026-07-15T21:00", NY), [NY], ["FL"], purpose="debt_collection", channel="sms"
    )
    assert ids(late) == {"us-regf-hours-debt-collection"}


def test_informational_call_has_no_hours_rule() -> None:
    """No hours rule covers informational manual calls (rules.md §5 scope)."""
    assert check(local("2026-07-15T22:00", NY), [NY], ["FL"], purpose="informational") == []


# --- Texas, Rhode Island, Louisiana, Utah, Mississippi, Alabama, Pennsylvania --------------


def test_texas_sunday_1159_denied_1200_allowed() -> None:
    """us-tx-hours-telemarketing (Tex. Bus. & Com. Code §301.051): Sunday opens at 12:00."""
    assert ids(check(local("2026-07-19T11:59", CHI), [CHI], ["TX"])) == {
        "us-tx-hours-telemarketing"
    }
    assert check(local("2026-07-19T12:00", CHI), [CHI], ["TX"]) == []


def test_texas_weekday_0859_denied() -> None:
    """us-tx-hours-telemarketing (Tex. Bus. & Com. Code §301.051): weekdays open at 09:00."""
    assert ids(check(local("2026-07-15T08:59", CHI), [CHI], ["TX"])) == {
        "us-tx-hours-telemarketing"
    }


def test_rhode_island_saturday_1700_denied_1659_allowed() -> None:
    """us-ri-hours-telemarketing (R.I. Gen. Laws §5-61-3.6): Saturday 10:00-17:00."""
    assert check(local("2026-07-18T16:59", NY), [NY], ["RI"]) == []
    assert ids(check(local("2026-07-18T17:00", NY), [NY], ["RI"])) == {"us-ri-hours-telemarketing"}


def test_rhode_island_weekday_1800_denied() -> None:
    """us-ri-hours-telemarketing (R.I. Gen. Laws §5-61-3.6): weekdays 09:00-18:00."""
    assert ids(check(local("2026-07-15T18:00", NY), [NY], ["RI"])) == {"us-ri-hours-telemarketing"}


def test_rhode_island_holidays_denied() -> None:
    """us-ri-no-calls-holidays (R.I. Gen. Laws §5-61-2): Thanksgiving and Victory Day closed."""
    thanksgiving = check(local("2026-11-26T12:00", NY), [NY], ["RI"])
    assert ids(thanksgiving) == {"us-ri-no-calls-holidays"}
    assert "Thanksgiving" in thanksgiving[0].message
    assert ids(check(local("2026-08-10T12:00", NY), [NY], ["RI"])) == {"us-ri-no-calls-holidays"}


def test_rhode_island_sunday_denied() -> None:
    """us-ri-hours-telemarketing (R.I. Gen. Laws §5-61-3.6): no calls on Sunday."""
    found = check(local("2026-07-19T12:00", NY), [NY], ["RI"])
    assert ids(found) == {"us-ri-hours-telemarketing"} and "Sunday" in found[0].message


def test_louisiana_sunday_denied_even_with_consent() -> None:
    """us-la-no-calls-sunday (LPSC GO R-29617 §V(A)): consent and EBR do not lift it."""
    every = frozenset({"prior_express_consent", "time_specific_consent", "ebr"})
    found = check(local("2026-07-19T12:00", CHI), [CHI], ["LA"], consents=every)
    assert ids(found) == {"us-la-no-calls-sunday"}


def test_louisiana_holiday_denied() -> None:
    """us-la-no-calls-holidays (LPSC GO R-29617 §V(A)): Mardi Gras (holidays US-LA) is closed."""
    assert ids(check(local("2026-02-17T12:00", CHI), [CHI], ["LA"])) == {"us-la-no-calls-holidays"}


def test_utah_sunday_denied_without_consent_allowed_with_it() -> None:
    """us-ut-no-calls-sunday (Utah Code §13-25a-103(3)): lifted by prior express consent."""
    at = local("2026-07-19T12:00", DEN)
    assert ids(check(at, [DEN], ["UT"])) == {"us-ut-no-calls-sunday"}
    assert check(at, [DEN], ["UT"], consents=frozenset({"prior_express_consent"})) == []


def test_utah_pioneer_day_denied_without_consent() -> None:
    """us-ut-no-calls-holidays (Utah Code §13-25a-103(3)): Pioneer Day (Jul 24) is a holiday."""
    at = local("2026-07-24T12:00", DEN)
    assert ids(check(at, [DEN], ["UT"])) == {"us-ut-no-calls-holidays"}
    assert check(at, [DEN], ["UT"], consents=frozenset({"prior_express_consent"})) == []


def test_utah_consent_does_not_lift_federal_hours() -> None:
    """us-tcpa-hours-telemarketing still applies when consent lifts us-ut-hours-*."""
    at = local("2026-07-15T21:30", DEN)
    found = ids(check(at, [DEN], ["UT"], consents=frozenset({"prior_express_consent"})))
    assert found == {"us-tcpa-hours-telemarketing", "us-tsr-hours-telemarketing"}


def test_mississippi_fixed_cst_summer_2030_cdt_denied() -> None:
    """us-ms-hours-telemarketing (Miss. Code §77-3-723(1)): 20:30 CDT is past 20:00 local."""
    found = check(local("2026-07-15T20:30", CHI), [CHI], ["MS"])
    assert ids(found) == {"us-ms-hours-telemarketing"}
    assert {v.zone for v in found} == {CHI}


def test_mississippi_fixed_cst_summer_0830_cdt_denied() -> None:
    """us-ms-hours-telemarketing (Miss. Code §77-3-723(1)): 08:30 CDT = 07:30 CST: denied."""
    found = check(local("2026-07-15T08:30", CHI), [CHI], ["MS"])
    assert ids(found) == {"us-ms-hours-telemarketing"}
    assert {v.zone for v in found} == {"Etc/GMT+6"}
    assert "07:30" in found[0].message
    assert check(local("2026-07-15T09:00", CHI), [CHI], ["MS"]) == []


def test_mississippi_winter_0800_cst_allowed_and_sunday_denied() -> None:
    """us-ms-hours-telemarketing and us-ms-no-calls-sunday (Miss. Code §77-3-723(1))."""
    assert check(local("2026-01-15T08:00", CHI), [CHI], ["MS"]) == []
    assert "us-ms-no-calls-sunday" in ids(check(local("2026-07-19T12:00", CHI), [CHI], ["MS"]))


def test_mississippi_holidays_allowed() -> None:
    """No Mississippi holiday rule (PSC rule repealed, rules.md §0): Thanksgiving noon allowed."""
    assert check(local("2026-11-26T12:00", CHI), [CHI], ["MS"]) == []


def test_alabama_observed_independence_day_denied() -> None:
    """us-al-no-calls-holidays (r. 770-X-5-.17; Ala. Code §1-3-8): Jul 4 (Sat) → Fri."""
    assert ids(check(local("2026-07-03T12:00", CHI), [CHI], ["AL"])) == {"us-al-no-calls-holidays"}


def test_pennsylvania_good_friday_and_sb992_hours() -> None:
    """us-pa-no-calls-holidays (Act 73 of 2019); us-pa-hours-telemarketing (SB 992)."""
    assert ids(check(local("2026-04-03T12:00", NY), [NY], ["PA"])) == {"us-pa-no-calls-holidays"}
    assert ids(check(local("2026-11-18T19:00", NY), [NY], ["PA"])) == {"us-pa-hours-telemarketing"}
    # Before SB 992's effective date only the federal window applied.
    assert check(local("2026-07-15T19:30", NY), [NY], ["PA"]) == []


def test_south_dakota_adad_only() -> None:
    """us-sd-hours-adad (SDCL 37-30-28): no automated calls on Saturday; live calls unaffected."""
    at = local("2026-07-18T12:00", CHI)
    assert ids(check(at, [CHI], ["SD"], technology="autodialer")) == {"us-sd-hours-adad"}
    assert check(at, [CHI], ["SD"], technology="manual") == []


def test_illinois_recorded_message_opens_at_0900() -> None:
    """us-il-hours-autodialed-recorded (815 ILCS 305/15(a)): 08:30 prerecorded denied."""
    at = local("2026-07-15T08:30", CHI)
    assert ids(check(at, [CHI], ["IL"], technology="prerecorded")) == {
        "us-il-hours-autodialed-recorded"
    }
    assert check(at, [CHI], ["IL"], technology="manual") == []


# --- Time zones and DST -------------------------------------------------------------------


def test_arizona_vs_denver_in_summer() -> None:
    """us-tcpa-hours-telemarketing: in July Phoenix (MST, no DST) is an hour behind Denver (MDT)."""
    at = datetime(2026, 7, 15, 14, 30, tzinfo=UTC)  # 08:30 MDT, 07:30 MST
    assert check(at, [DEN]) == []
    found = check(at, [PHX, DEN])
    assert {v.zone for v in found} == {PHX}
    assert "07:30" in found[0].message


def test_arizona_and_denver_agree_in_winter() -> None:
    """us-tcpa-hours-telemarketing: in January Phoenix and Denver (Navajo Nation) share UTC-7."""
    assert check(datetime(2026, 1, 15, 15, 0, tzinfo=UTC), [PHX, DEN]) == []
    assert {v.zone for v in check(datetime(2026, 1, 15, 14, 59, tzinfo=UTC), [PHX, DEN])} == {
        PHX,
        DEN,
    }


@pytest.mark.parametrize(
    ("utc", "allowed"),
    [
        # 2026-03-08: spring forward, 08:00 EDT = 12:00 UTC (the day before it was 13:00 UTC).
        (datetime(2026, 3, 8, 11, 59, 59, tzinfo=UTC), False),
        (datetime(2026, 3, 8, 12, 0, tzinfo=UTC), True),
        (datetime(2026, 3, 9, 0, 59, 59, tzinfo=UTC), True),  # 20:59:59 EDT
        (datetime(2026, 3, 9, 1, 0, tzinfo=UTC), False),  # 21:00 EDT
        # 2026-11-01: fall back, 08:00 EST = 13:00 UTC; 21:00 EST = 02:00 UTC next day.
        (datetime(2026, 11, 1, 12, 59, 59, tzinfo=UTC), False),
        (datetime(2026, 11, 1, 13, 0, tzinfo=UTC), True),
        (datetime(2026, 11, 2, 1, 59, 59, tzinfo=UTC), True),
        (datetime(2026, 11, 2, 2, 0, tzinfo=UTC), False),
    ],
)
def test_new_york_dst_change_days_at_window_edges(utc: datetime, allowed: bool) -> None:
    """us-tcpa-hours-telemarketing (47 CFR 64.1200(c)(1)) on New York DST days."""
    assert (check(utc, [NY]) == []) is allowed


def test_area_code_spanning_two_zones() -> None:
    """rules.md §0.2 intersection: 08:30 Eastern is 07:30 Central, so Chicago+New_York denies."""
    at = local("2026-07-15T08:30", NY)
    assert check(at, [NY]) == []
    found = check(at, [CHI, NY])
    assert {v.zone for v in found} == {CHI}
    assert ids(found) == {"us-tcpa-hours-telemarketing", "us-tsr-hours-telemarketing"}


def test_unknown_zones_fail_closed() -> None:
    """rules.md §0.2 fail closed: no candidate zone gives 'unknown local time'."""
    found = check(local("2026-07-15T12:00", NY), [], ["FL"])
    assert UNKNOWN_LOCAL_TIME in ids(found)
    assert "unknown local time" in found[0].message
    nxt = next_allowed(
        RULES.rules,
        after=local("2026-07-15T12:00", NY),
        zones=[],
        states=["FL"],
        country="US",
        purpose="telemarketing",
        channel="voice",
        technology="manual",
    )
    assert nxt is None


def test_naive_datetime_rejected() -> None:
    """evaluate_hours refuses a naive datetime: local time would be a guess."""
    with pytest.raises(ValueError, match="timezone-aware"):
        check(datetime(2026, 7, 15, 12, 0), [NY], rules=RULES.rules)


# --- Canada ------------------------------------------------------------------------------


def test_canada_weekday_2129_allowed_2130_denied() -> None:
    """ca-crtc-hours-telemarketing (CRTC UTR): weekdays 09:00-21:30."""
    assert check(local("2026-07-15T21:29", TOR), [TOR], ["ON"], country="CA") == []
    found = check(local("2026-07-15T21:30", TOR), [TOR], ["ON"], country="CA")
    assert ids(found) == {"ca-crtc-hours-telemarketing"}


def test_canada_saturday_0959_denied_1000_allowed() -> None:
    """ca-crtc-hours-telemarketing (CRTC UTR): weekends 10:00-18:00."""
    found = check(local("2026-07-18T09:59", TOR), [TOR], ["ON"], country="CA")
    assert ids(found) == {"ca-crtc-hours-telemarketing"}
    assert check(local("2026-07-18T10:00", TOR), [TOR], ["ON"], country="CA") == []
    assert check(local("2026-07-18T18:00", TOR), [TOR], ["ON"], country="CA") != []


def test_us_rules_do_not_apply_to_canada() -> None:
    """Jurisdiction matching: US rules apply to US numbers only (21:15 Toronto weekday allowed)."""
    assert check(local("2026-07-15T21:15", TOR), [TOR], ["ON"], country="CA") == []


# --- Effective dates and company policy --------------------------------------------------


def test_oregon_rule_effective_2026_01_01() -> None:
    """us-or-hours-telemarketing (HB 3865) is in force from 2026-01-01, not before."""
    assert check(local("2025-12-15T20:30", LA_ZONE), [LA_ZONE], ["OR"]) == []
    found = check(local("2026-01-15T20:30", LA_ZONE), [LA_ZONE], ["OR"])
    assert ids(found) == {"us-or-hours-telemarketing"}


def test_future_effective_from_does_not_apply(tmp_path: Path) -> None:
    """RuleSet.in_force: a rule with effective_from in the future is not applied yet."""
    (tmp_path / "policy.toml").write_text(
        """
[pack]
id = "acme-policy"
revision = "2026-11-28.1"
jurisdiction = "*"
source = "Acme compliance memo 2026-11"

[[rules]]
id = "acme-no-calls-after-2000"
jurisdiction = "*"
kind = "time_window"
applies_to = { purposes = ["telemarketing"], channels = ["voice", "sms"] }
window.weekday = ["08:00", "20:00"]
window.saturday = ["08:00", "20:00"]
window.sunday = ["08:00", "20:00"]
citation = "Acme policy CP-7"
effective_from = 2027-01-01
status = "in_force"
confidence = "C"
""",
        encoding="utf-8",
    )
    rules = load_packs(extra_dirs=[tmp_path])
    assert rules.revisions["acme-policy"] == "2026-11-28.1"
    at = local("2026-12-15T20:30", NY)
    assert check(at, [NY], rules=rules.in_force(date(2026, 12, 15))) == []
    later = check(local("2027-01-15T20:30", NY), [NY], rules=rules.in_force(date(2027, 1, 15)))
    assert ids(later) == {"acme-no-calls-after-2000"}


# --- next_allowed ------------------------------------------------------------------------


def nxt(
    after: datetime, zones: Sequence[str], states: Sequence[str] = (), **kw: str
) -> datetime | None:
    return next_allowed(
        RULES.in_force(date(2026, 11, 28)),
        after=after,
        zones=zones,
        states=states,
        country=kw.get("country", "US"),
        purpose=kw.get("purpose", "telemarketing"),
        channel="voice",
        technology="manual",
    )


def test_next_allowed_cases() -> None:
    """next_allowed: FL Fri 20:30 → Sat 08:00; TX Sat 21:30 → Sun 12:00; LA Sat → Mon 08:00."""
    assert nxt(local("2026-07-17T20:30", NY), [NY], ["FL"]) == local("2026-07-18T08:00", NY)
    assert nxt(local("2026-07-18T21:30", CHI), [CHI], ["TX"]) == local("2026-07-19T12:00", CHI)
    assert nxt(local("2026-07-18T20:30", CHI), [CHI], ["LA"]) == local("2026-07-20T08:00", CHI)
    allowed_now = local("2026-07-15T12:34:56", NY)
    assert nxt(allowed_now, [NY]) == allowed_now


def test_next_allowed_on_dst_days_and_spanning_zones() -> None:
    """next_allowed uses IANA zones: 08:00 EDT on 2026-03-08 and the later zone of two."""
    assert nxt(datetime(2026, 3, 8, 5, 0, tzinfo=UTC), [NY]) == datetime(
        2026, 3, 8, 12, 0, tzinfo=UTC
    )
    assert nxt(datetime(2026, 11, 1, 5, 0, tzinfo=UTC), [NY]) == datetime(
        2026, 11, 1, 13, 0, tzinfo=UTC
    )
    assert nxt(local("2026-07-15T07:00", NY), [NY, CHI]) == local("2026-07-15T08:00", CHI)


# --- Properties --------------------------------------------------------------------------

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
US_ZONES = [
    NY,
    CHI,
    DEN,
    PHX,
    LA_ZONE,
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Indiana/Indianapolis",
]
STATES = [
    "FL",
    "TX",
    "RI",
    "LA",
    "UT",
    "MS",
    "AL",
    "PA",
    "KY",
    "CT",
    "NY",
    "CA",
    "OR",
    "SD",
    "IL",
    "NE",
]
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
TECHS = st.sampled_from(["manual", "autodialer", "prerecorded", "artificial_voice"])


@SETTINGS
@given(at=INSTANTS, zones=st.lists(st.sampled_from(US_ZONES), min_size=1, max_size=3, unique=True))
def test_inside_every_candidate_window_is_allowed(at: datetime, zones: list[str]) -> None:
    """An attempt inside every candidate window (FL 08:00-20:00) has no violation."""
    inside = all(8 <= at.astimezone(ZoneInfo(z)).hour < 20 for z in zones)
    found = check(at, zones, ["FL"], rules=RULES.in_force(date(2026, 11, 28)))
    assert (found == []) is inside


@SETTINGS
@given(
    at=INSTANTS,
    zones=st.lists(st.sampled_from(US_ZONES), min_size=1, max_size=3, unique=True),
    states=st.lists(st.sampled_from(STATES), max_size=3, unique=True),
    extra_zone=st.sampled_from(US_ZONES),
    extra_state=st.sampled_from(STATES),
    purpose=st.sampled_from(["telemarketing", "debt_collection", "informational"]),
    tech=TECHS,
    consent=st.sampled_from([frozenset(), frozenset({"prior_express_consent"})]),
)
def test_more_candidates_never_turn_deny_into_allow(
    at: datetime,
    zones: list[str],
    states: list[str],
    extra_zone: str,
    extra_state: str,
    purpose: str,
    tech: str,
    consent: frozenset[str],
) -> None:
    """rules.md §0.1-0.2: adding a candidate zone or state never turns a deny into an allow."""
    rules = RULES.in_force(at.date())
    kw = {"purpose": purpose, "technology": tech, "consents": consent, "rules": rules}
    before = check(at, zones, states, **kw)  # type: ignore[arg-type]
    bigger = check(at, [*zones, extra_zone], [*states, extra_state], **kw)  # type: ignore[arg-type]
    assert ids(before) <= ids(bigger)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    at=INSTANTS,
    zones=st.lists(st.sampled_from(US_ZONES), min_size=1, max_size=2, unique=True),
    state=st.sampled_from(STATES),
)
def test_next_allowed_matches_minute_scan(at: datetime, zones: list[str], state: str) -> None:
    """next_allowed returns an allowed instant and no allowed minute boundary comes before it."""
    rules = RULES.in_force(at.date())
    found = next_allowed(
        rules,
        after=at,
        zones=zones,
        states=[state],
        country="US",
        purpose="telemarketing",
        channel="voice",
        technology="manual",
    )
    assert found is not None  # no packaged US rule closes 8 whole days
    assert check(found, zones, [state], rules=rules) == []
    probe = at
    while probe < found:
        assert check(probe, zones, [state], rules=rules) != []
        probe = (probe + timedelta(minutes=1)).replace(second=0, microsecond=0)


@SETTINGS
@given(
    at=INSTANTS,
    zones=st.lists(st.sampled_from(US_ZONES), min_size=1, max_size=3, unique=True),
    states=st.lists(st.sampled_from(STATES), min_size=1, max_size=3, unique=True),
    lifted=st.sets(st.sampled_from(["prior_express_consent", "ebr", "time_specific_consent"])),
)
def test_remembered_hours_answers_equal_fresh_ones(
    at: datetime, zones: list[str], states: list[str], lifted: set[str]
) -> None:
    """rules.md §0.3: the batch memo of the hours check answers what a fresh evaluation does.

    Asked twice (the second answer comes from the memo) and beside a selection that differs
    only in its state: each selection keeps its own answer, and mutating a returned list does
    not change the next one.
    """

    def selection(state_list: list[str]) -> tuple[Rule, ...]:
        return tuple(
            applicable_rules(
                RULES.in_force(at.date()),
                states=state_list,
                country="US",
                purpose="telemarketing",
                channel="voice",
                technology="autodialer",
            )
        )

    mine, other = selection(states), selection(["FL"])
    fresh = windows._evaluate(mine, at, zones, lifted)
    first = evaluate_selected(mine, at=at, zones=zones, consents=lifted)
    first.append(fresh[0] if fresh else None)  # type: ignore[arg-type]
    assert evaluate_selected(mine, at=at, zones=zones, consents=lifted) == fresh
    assert evaluate_selected(other, at=at, zones=zones, consents=lifted) == windows._evaluate(
        other, at, zones, lifted
    )
    expected_next = windows._first_allowed(mine, zones, at, lifted)
    for _ in range(2):
        assert next_allowed_selected(mine, after=at, zones=zones, consents=lifted) == expected_next


# --- With callwarden.phone ---------------------------------------------------------------


def test_arizona_928_number_spans_phoenix_and_navajo_denver() -> None:
    """rules.md §0.4: area code 928 spans America/Phoenix and America/Denver (Navajo Nation)."""
    number = parse("+1 928 555 0123")
    assert set(number.time_zones) == {PHX, DEN}
    at = datetime(2026, 7, 15, 14, 30, tzinfo=UTC)  # 08:30 MDT, 07:30 MST
    found = check(at, number.time_zones, number.states, country=number.region or "")
    assert {v.zone for v in found} == {PHX}
    assert check(at + timedelta(minutes=30), number.time_zones, number.states) == []


def test_puerto_rico_gets_federal_hours() -> None:
    """us-tcpa-hours-telemarketing reaches U.S. territories (phone region PR)."""
    number = parse("+1 787 555 0123")
    at = local("2026-07-15T21:30", "America/Puerto_Rico")
    found = check(at, number.time_zones, number.states, country=number.region or "")
    assert "us-tcpa-hours-telemarketing" in ids(found)


def test_the_memo_keeps_the_two_readings_of_a_repeated_hour_apart() -> None:
    """London's 01:30 on 2026-10-25 happens twice (00:30 and 01:30 UTC), and Python calls the
    two equal; in New York they are 20:30 (inside 08:00-21:00) and 21:30 (outside). The
    answer remembered for the first must not be handed to the second."""
    rules = [r for r in RULES.in_force(date(2026, 10, 25)) if r.id == "us-tcpa-hours-telemarketing"]
    first = datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo("Europe/London"))
    second = first.replace(fold=1)
    assert first == second and first.astimezone(UTC) != second.astimezone(UTC)
    zones = ["America/New_York"]
    assert evaluate_selected(rules, at=first, zones=zones) == []
    assert [v.rule_id for v in evaluate_selected(rules, at=second, zones=zones)] == [
        "us-tcpa-hours-telemarketing"
    ]
