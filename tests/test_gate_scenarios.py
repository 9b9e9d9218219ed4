"""Scenarios for the pre-dial gate: one attempt, its facts, the packaged rules -> the decision.

Each row of the table names the rule id it proves (its pytest id starts with it), and states
the exact set of rules that deny (empty: allowed) and their reason codes. Facts start clean
(tests/gate_helpers.py: fresh registry copies answering "miss", registrations on file), so
only the rule under test can deny; asserting the whole set also proves that a denial
returns every reason (rules.md §0.1). Expected values are read from rules.md, not the packs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from callwarden.gate.decide import Attempt, GateRules, decide, ebr_expiry
from callwarden.gate.facts import (
    ConsentFact,
    LocationFact,
    NumberFacts,
    RegistrationFact,
    RevocationFact,
    RndFact,
)
from callwarden.rules import load_packs
from tests.gate_helpers import (
    AZ,
    AZ_NAVAJO,
    CHI,
    CT,
    DEN,
    FL,
    FL_PANHANDLE,
    GA,
    KY,
    LA,
    LAX,
    MA,
    MD,
    MS,
    NE,
    NY,
    OK,
    OR,
    OTHER_SELLER,
    PA,
    PHX,
    RI,
    SELLER,
    TOLL_FREE,
    TOR,
    TORONTO,
    TX,
    UK,
    UT,
    VAN,
    VANCOUVER,
    attempt,
    call,
    calls,
    codes,
    dnc,
    ebr,
    emergency,
    facts,
    local,
    nanp,
    obligation_codes,
    pec,
    pewc,
    revocation,
    rnd,
    rule_ids,
    utc,
)

GATE = GateRules(load_packs())

WED = "2026-11-18"  # an ordinary Wednesday after every effective date used below
SAT = "2026-11-21"
SUN = "2026-11-22"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)

OUT = "outside_calling_hours"
FED = ("us-tcpa-hours-telemarketing", "us-tsr-hours-telemarketing")


@dataclass(frozen=True)
class Case:
    """One scenario: the rule it proves, the attempt, its facts, and who must deny."""

    rule: str
    what: str
    attempt: Attempt
    facts: NumberFacts
    deny: frozenset[str] = field(default_factory=frozenset)
    codes: frozenset[str] = field(default_factory=frozenset)
    applied: bool = True  # the rule under test is in force and selected

    @property
    def id(self) -> str:
        return f"{self.rule}: {self.what}"


CASES: list[Case] = []


def case(
    rule: str,
    what: str,
    a: Attempt,
    f: NumberFacts | None = None,
    *,
    deny: tuple[str, ...] = (),
    codes: tuple[str, ...] = (),
    applied: bool = True,
) -> None:
    assert bool(deny) == bool(codes), "a denial names its rules and codes"
    CASES.append(
        Case(
            rule,
            what,
            a,
            f if f is not None else facts(a.number, a.at),
            frozenset(deny),
            frozenset(codes),
            applied,
        )
    )


def hours(
    rule: str,
    what: str,
    number: int,
    at: datetime,
    deny: tuple[str, ...] = (),
    code: str = OUT,
    applied: bool = True,
    with_facts: dict[str, Any] | None = None,
    **kw: Any,
) -> None:
    """A clean manual telemarketing call at `at`: only hours, days or holidays can deny.

    `with_facts` adds fields to the clean facts; other keywords change the attempt.
    """
    a = attempt(number, at, **kw)
    f = facts(number, at, **with_facts) if with_facts else None
    case(rule, what, a, f, deny=deny, codes=(code,) if deny else (), applied=applied)


# --- Federal calling hours (47 CFR 64.1200(c)(1); 16 CFR 310.4(c)) in local time -----------

R = "us-tcpa-hours-telemarketing"
hours(R, "07:59:59 local is before 08:00", GA, local(f"{WED}T07:59:59", NY), FED)
hours(R, "08:00:00 local is inside", GA, local(f"{WED}T08:00:00", NY))
hours(R, "20:59:59 local is inside (half-open)", GA, local(f"{WED}T20:59:59", NY))
hours(R, "21:00:00 local is outside (half-open)", GA, local(f"{WED}T21:00:00", NY), FED)
case(
    R,
    "a consumer's time-specific request lifts the TSR rule but never the TCPA rule",
    attempt(GA, local(f"{WED}T21:30", NY), time_specific_consent=True),
    deny=("us-tcpa-hours-telemarketing",),
    codes=(OUT,),
)
case(
    R,
    "EBR does not lift quiet hours for marketing",
    attempt(GA, local(f"{WED}T21:00", NY)),
    facts(GA, local(f"{WED}T21:00", NY), ebr=(ebr("purchase", date(2026, 10, 1)),)),
    deny=FED,
    codes=(OUT,),
)


def _debt(number: int, at: datetime, **kw: Any) -> Attempt:
    base = {"purpose": "debt_collection", "debt_id": "D1", "subject": None, "campaign": None}
    return attempt(number, at, **{**base, **kw})


R = "us-regf-hours-debt-collection"
case(
    R,
    "21:00:00 local denies a collection call",
    _debt(GA, local(f"{WED}T21:00", NY)),
    deny=(R,),
    codes=(OUT,),
)
case(R, "20:59:59 local allows a collection call", _debt(GA, local(f"{WED}T20:59:59", NY)))
case(
    R,
    "07:59:59 local denies a collection text",
    _debt(GA, local(f"{WED}T07:59:59", NY), channel="sms"),
    deny=(R,),
    codes=(OUT,),
)
case(
    R,
    "the consumer's request to be called at this time lifts it",
    _debt(GA, local(f"{WED}T21:30", NY), time_specific_consent=True),
)

R = "us-tcpa-hours-telemarketing"
PR, AK = nanp(787), nanp(907)
hours(
    R,
    "Puerto Rico (a territory: federal rules reach it) 20:59:59 AST allowed",
    PR,
    local(f"{WED}T20:59:59", "America/Puerto_Rico"),
)
hours(R, "Puerto Rico 21:00 AST denied", PR, local(f"{WED}T21:00", "America/Puerto_Rico"), FED)
hours(
    R,
    "907 at 08:30 Anchorage is 07:30 on Adak: denied",
    AK,
    local(f"{WED}T08:30", "America/Anchorage"),
    FED,
)
hours(
    R,
    "907 at 09:00 Anchorage (08:00 on Adak) allowed",
    AK,
    local(f"{WED}T09:00", "America/Anchorage"),
)

# --- DST change days (2026-03-08, 2026-11-01): the zone's offset of that instant -----------

R = "us-tcpa-hours-telemarketing"
hours(R, "spring-forward day 07:59:59 EDT (11:59:59Z)", GA, utc("2026-03-08T11:59:59"), FED)
hours(R, "spring-forward day 08:00 EDT (12:00Z)", GA, utc("2026-03-08T12:00:00"))
hours(R, "spring-forward day 20:59:59 EDT (00:59:59Z)", GA, utc("2026-03-09T00:59:59"))
hours(R, "spring-forward day 21:00 EDT (01:00Z)", GA, utc("2026-03-09T01:00:00"), FED)
hours(R, "fall-back day 07:30 EST (12:30Z; 08:30 under EDT)", GA, utc("2026-11-01T12:30"), FED)
hours(R, "fall-back day 08:00 EST (13:00Z)", GA, utc("2026-11-01T13:00:00"))
hours(R, "fall-back day 20:59:59 EST (01:59:59Z)", GA, utc("2026-11-02T01:59:59"))
hours(R, "fall-back day 21:00 EST (02:00Z)", GA, utc("2026-11-02T02:00:00"), FED)
R = "us-tx-hours-telemarketing"
hours(R, "spring-forward Sunday 11:59:59 CDT", TX, utc("2026-03-08T16:59:59"), (R,))
hours(R, "spring-forward Sunday 12:00 CDT (11:00 under CST)", TX, utc("2026-03-08T17:00"))
hours(R, "fall-back Sunday 11:30 CST (12:30 under CDT)", TX, utc("2026-11-01T17:30"), (R,))
hours(R, "fall-back Sunday 12:00 CST", TX, utc("2026-11-01T18:00"))

# --- State windows (rules.md §5.1, §17.B) ---------------------------------------------------

R = "us-fl-hours-telemarketing"
hours(R, "19:59:59 allowed", FL, local(f"{WED}T19:59:59", NY))
hours(R, "20:00:00 denied (8 pm cut-off)", FL, local(f"{WED}T20:00", NY), (R,))
hours(R, "07:59:59 denied by Florida and federal", FL, local(f"{WED}T07:59:59", NY), (R, *FED))
hours(
    R,
    "a Georgia area code with a Florida address is judged in Florida too (§0.2)",
    GA,
    local(f"{WED}T20:30", NY),
    (R,),
    with_facts={"locations": (LocationFact("US", "FL"),)},
)

R = "us-tx-hours-telemarketing"
hours(R, "weekday 08:59:59 denied", TX, local(f"{WED}T08:59:59", CHI), (R,))
hours(R, "weekday 09:00 allowed", TX, local(f"{WED}T09:00", CHI))
hours(R, "Sunday 11:59:59 denied", TX, local(f"{SUN}T11:59:59", CHI), (R,))
hours(R, "Sunday 12:00 allowed", TX, local(f"{SUN}T12:00", CHI))
hours(R, "Sunday 20:59:59 allowed", TX, local(f"{SUN}T20:59:59", CHI))

R = "us-ri-hours-telemarketing"
hours(R, "weekday 08:59:59 denied", RI, local(f"{WED}T08:59:59", NY), (R,))
hours(R, "weekday 17:59:59 allowed", RI, local(f"{WED}T17:59:59", NY))
hours(R, "weekday 18:00 denied", RI, local(f"{WED}T18:00", NY), (R,))
hours(R, "Saturday 09:59:59 denied", RI, local(f"{SAT}T09:59:59", NY), (R,))
hours(R, "Saturday 10:00 allowed", RI, local(f"{SAT}T10:00", NY))
hours(R, "Saturday 16:59:59 allowed", RI, local(f"{SAT}T16:59:59", NY))
hours(R, "Saturday 17:00 denied", RI, local(f"{SAT}T17:00", NY), (R,))
hours(R, "Sunday noon denied (closed all day)", RI, local(f"{SUN}T12:00", NY), (R,))
R = "us-ri-no-calls-holidays"
hours(
    R,
    "Veterans Day (Wed 2026-11-11) denied",
    RI,
    local("2026-11-11T12:00", NY),
    (R,),
    code="holiday",
)
hours(R, "Victory Day (2026-08-10) denied", RI, local("2026-08-10T12:00", NY), (R,), code="holiday")

R = "us-ms-hours-telemarketing"
SUMMER = "2026-07-15"
hours(R, "summer 08:30 CDT is 07:30 CST: denied", MS, local(f"{SUMMER}T08:30", CHI), (R,))
hours(R, "summer 09:00 CDT is 08:00 CST: allowed", MS, local(f"{SUMMER}T09:00", CHI))
hours(R, "summer 19:59:59 CDT allowed", MS, local(f"{SUMMER}T19:59:59", CHI))
hours(R, "summer 20:00 CDT denied", MS, local(f"{SUMMER}T20:00", CHI), (R,))
hours(R, "winter 07:59:59 CST denied", MS, local(f"{WED}T07:59:59", CHI), (R, *FED))
hours(R, "winter 08:00 CST allowed", MS, local(f"{WED}T08:00", CHI))
hours(R, "Saturday noon allowed", MS, local(f"{SAT}T12:00", CHI))
R = "us-ms-no-calls-sunday"
hours(R, "Sunday noon denied", MS, local(f"{SUN}T12:00", CHI), (R,), code="day_not_allowed")

R = "us-pa-hours-telemarketing"
hours(R, "weekday 08:59:59 denied", PA, local(f"{WED}T08:59:59", NY), (R,))
hours(R, "weekday 09:00 allowed", PA, local(f"{WED}T09:00", NY))
hours(R, "weekday 18:59:59 allowed", PA, local(f"{WED}T18:59:59", NY))
hours(R, "weekday 19:00 denied", PA, local(f"{WED}T19:00", NY), (R,))
hours(R, "Sunday noon denied", PA, local(f"{SUN}T12:00", NY), (R,))
hours(
    R,
    "Monday 2026-10-19 20:00 denied (in force 2026-10-18)",
    PA,
    local("2026-10-19T20:00", NY),
    (R,),
)
CASES.append(
    Case(
        R,
        "Wednesday 2026-10-14 20:00 allowed: not yet in force, federal 21:00 applies",
        attempt(PA, local("2026-10-14T20:00", NY)),
        facts(PA, local("2026-10-14T20:00", NY)),
        applied=False,
    )
)
R = "us-pa-no-calls-holidays"
hours(R, "Thanksgiving denied", PA, local("2026-11-26T12:00", NY), (R,), code="holiday")
hours(R, "Election Day denied", PA, local("2026-11-03T12:00", NY), (R,), code="holiday")
hours(
    R,
    "Flag Day on a Sunday: observed Monday 2026-06-15 denied",
    PA,
    local("2026-06-15T12:00", NY),
    (R,),
    code="holiday",
)
hours(R, "Good Friday 2026-04-03 denied", PA, local("2026-04-03T12:00", NY), (R,), code="holiday")
hours(
    R,
    "New Year's Day 2028 is a Saturday: observed Friday 2027-12-31 denied (a year earlier)",
    PA,
    local("2027-12-31T12:00", NY),
    (R,),
    code="holiday",
)

R = "us-la-hours-telemarketing"
hours(R, "weekday 19:59:59 allowed", LA, local(f"{WED}T19:59:59", CHI))
hours(R, "weekday 20:00 denied", LA, local(f"{WED}T20:00", CHI), (R,))
hours(R, "Saturday noon allowed", LA, local(f"{SAT}T12:00", CHI))
R = "us-la-no-calls-sunday"
hours(R, "Sunday noon denied", LA, local(f"{SUN}T12:00", CHI), (R,), code="day_not_allowed")
_la_sun = local(f"{SUN}T12:00", CHI)
case(
    R,
    "Sunday denied even with PEWC and an EBR (GO R-29617 §V(A))",
    attempt(LA, _la_sun),
    facts(
        LA,
        _la_sun,
        consents=(pewc(_la_sun - 30 * DAY),),
        ebr=(ebr("purchase", date(2026, 9, 1)),),
    ),
    deny=(R,),
    codes=("day_not_allowed",),
)
R = "us-la-no-calls-holidays"
hours(R, "Mardi Gras 2027-02-09 denied", LA, local("2027-02-09T12:00", CHI), (R,), code="holiday")

R = "us-ut-no-calls-sunday"
_ut_sun = local(f"{SUN}T12:00", DEN)
hours(R, "Sunday without consent denied", UT, _ut_sun, (R,), code="day_not_allowed")
case(
    R,
    "Sunday with prior express consent naming the seller allowed",
    attempt(UT, _ut_sun),
    facts(UT, _ut_sun, consents=(pec(_ut_sun - 10 * DAY),)),
)
case(
    R,
    "consent naming another seller does not lift it",
    attempt(UT, _ut_sun),
    facts(UT, _ut_sun, consents=(pec(_ut_sun - 10 * DAY, sellers=(OTHER_SELLER,)),)),
    deny=(R,),
    codes=("day_not_allowed",),
)
case(
    R,
    "revoked consent does not lift it",
    attempt(UT, _ut_sun),
    facts(
        UT,
        _ut_sun,
        consents=(pec(_ut_sun - 10 * DAY),),
        revocations=(revocation(_ut_sun - 2 * DAY),),
    ),
    deny=(R,),
    codes=("day_not_allowed",),
)
R = "us-ut-no-calls-holidays"
_pioneer = local("2026-07-24T12:00", DEN)
hours(R, "Pioneer Day without consent denied", UT, _pioneer, (R,), code="holiday")
case(
    R,
    "Pioneer Day with prior express consent allowed",
    attempt(UT, _pioneer),
    facts(UT, _pioneer, consents=(pec(_pioneer - 10 * DAY),)),
)
R = "us-ut-hours-telemarketing"
_ut_late = local(f"{WED}T21:00", DEN)
hours(R, "21:00 without consent: Utah and federal deny", UT, _ut_late, (R, *FED))
case(
    R,
    "21:00 with consent: Utah lifted, the federal rules still deny",
    attempt(UT, _ut_late),
    facts(UT, _ut_late, consents=(pec(_ut_late - 10 * DAY),)),
    deny=FED,
    codes=(OUT,),
)

R = "us-fl-hours-telemarketing"
hours(
    R,
    "a time-specific request does not lift Florida's 20:00 (state rules forbid it)",
    FL,
    local(f"{WED}T20:30", NY),
    (R,),
    time_specific_consent=True,
)
R = "us-pa-no-calls-holidays"
hours(
    R,
    "Independence Day on a Saturday: observed Friday 2026-07-03 denied",
    PA,
    local("2026-07-03T12:00", NY),
    (R,),
    code="holiday",
)
R = "us-il-hours-autodialed-recorded"
IL = nanp(312)
hours(
    R,
    "dialer call at 08:30 (live calls may start at 08:00) denied",
    IL,
    local(f"{WED}T08:30", CHI),
    (R,),
    technology="autodialer",
    with_facts={"line_type": "landline"},
)
hours(R, "a live call at 08:30 allowed", IL, local(f"{WED}T08:30", CHI), applied=False)
R = "us-sd-hours-adad"
SD = nanp(605)
hours(
    R,
    "dialer call on a Saturday denied (weekdays only)",
    SD,
    local(f"{SAT}T12:00", CHI),
    (R,),
    technology="autodialer",
    with_facts={"line_type": "landline"},
)
hours(
    R,
    "dialer call on a weekday at noon allowed",
    SD,
    local(f"{WED}T12:00", CHI),
    technology="autodialer",
    with_facts={"line_type": "landline"},
)
R = "us-ne-sunday-prerecorded"
for _clock, _deny in (("12:59:59", (R,)), ("13:00:00", ())):
    _t = local(f"{SUN}T{_clock}", CHI)
    _c = pewc(utc("2026-01-10T15:00"))
    case(
        R,
        f"prerecorded solicitation to a landline on Sunday at {_clock}",
        attempt(NE, _t, technology="prerecorded"),
        facts(NE, _t, consents=(_c,), rnd=(rnd(_c, _t),), line_type="landline"),
        deny=_deny,
        codes=(OUT,) if _deny else (),
    )

# Every other state window of rules.md §5.1 at its four edges (typed from the reference).
_CT_OK = {"consents": (pewc(utc("2026-01-10T15:00")),)}  # Connecticut needs PEWC for any call
STATE_WINDOWS: list[tuple[str, int, str, str, str, dict[str, Any] | None]] = [
    ("us-al-hours-telemarketing", 205, CHI, "08:00", "20:00", None),
    ("us-ct-hours-telemarketing", 203, NY, "09:00", "20:00", _CT_OK),
    ("us-il-hours-telemarketing", 312, CHI, "08:00", "21:00", None),
    ("us-ma-hours-telemarketing", 617, NY, "08:00", "20:00", None),
    ("us-md-hours-telemarketing", 410, NY, "08:00", "20:00", None),
    ("us-mi-hours-telemarketing", 313, NY, "09:00", "21:00", None),
    ("us-mn-hours-telemarketing", 612, CHI, "09:00", "21:00", None),
    ("us-nm-hours-telemarketing", 505, DEN, "09:00", "21:00", None),
    ("us-nv-hours-telemarketing", 702, LAX, "09:00", "20:00", None),
    ("us-ok-hours-telemarketing", 405, CHI, "08:00", "20:00", None),
    ("us-or-hours-telemarketing", 503, LAX, "08:00", "20:00", None),
    ("us-va-hours-telemarketing", 804, NY, "08:00", "21:00", None),
    ("us-wa-hours-telemarketing", 206, LAX, "08:00", "20:00", None),
]
for _rule, _npa, _zone, _start, _end, _extra in STATE_WINDOWS:
    _n = nanp(_npa)
    _s, _e = local(f"{WED}T{_start}", _zone), local(f"{WED}T{_end}", _zone)
    _early = (_rule, *FED) if _start == "08:00" else (_rule,)
    _late = (_rule, *FED) if _end == "21:00" else (_rule,)
    hours(_rule, f"{_npa}: 1 s before {_start} denied", _n, _s - SECOND, _early, with_facts=_extra)
    hours(_rule, f"{_npa}: {_start} allowed", _n, _s, with_facts=_extra)
    hours(_rule, f"{_npa}: 1 s before {_end} allowed", _n, _e - SECOND, with_facts=_extra)
    hours(_rule, f"{_npa}: {_end} denied", _n, _e, _late, with_facts=_extra)
AL = nanp(205)
hours(
    "us-al-no-calls-sunday",
    "Sunday noon denied",
    AL,
    local(f"{SUN}T12:00", CHI),
    ("us-al-no-calls-sunday",),
    code="day_not_allowed",
)
hours(
    "us-al-no-calls-holidays",
    "Mardi Gras 2027-02-09 (a Mobile and Baldwin county holiday, applied statewide) denied",
    AL,
    local("2027-02-09T10:00", CHI),
    ("us-al-no-calls-holidays",),
    code="holiday",
)
hours(
    "us-al-no-calls-holidays",
    "Confederate Memorial Day 2026-04-27 denied",
    AL,
    local("2026-04-27T12:00", CHI),
    ("us-al-no-calls-holidays",),
    code="holiday",
)
R = "us-ne-hours-adad"
for _clock, _deny in (("20:59:59", ()), ("21:00:00", (R,))):
    case(
        R,
        f"non-solicitation prerecorded message to a landline at {_clock}",
        attempt(
            NE,
            local(f"{WED}T{_clock}", CHI),
            purpose="informational",
            technology="prerecorded",
            subject=None,
        ),
        facts(NE, local(f"{WED}T{_clock}", CHI), line_type="landline"),
        deny=_deny,
        codes=(OUT,) if _deny else (),
    )

# --- Area codes spanning two zones: allowed only when allowed in both ---------------------

R = "us-fl-hours-telemarketing"
hours(
    R,
    "850 at 08:30 Eastern is 07:30 Central: denied",
    FL_PANHANDLE,
    local(f"{WED}T08:30", NY),
    (R, *FED),
)
hours(R, "850 at 09:00 Eastern (08:00 Central) allowed", FL_PANHANDLE, local(f"{WED}T09:00", NY))
hours(
    R,
    "850 at 18:59:59 Central (19:59:59 Eastern) allowed",
    FL_PANHANDLE,
    local(f"{WED}T18:59:59", CHI),
)
hours(
    R,
    "850 at 19:00 Central is 20:00 Eastern: denied",
    FL_PANHANDLE,
    local(f"{WED}T19:00", CHI),
    (R,),
)
R = "us-ky-hours-telemarketing"
hours(R, "270 at 10:30 Eastern is 09:30 Central: denied", KY, local(f"{WED}T10:30", NY), (R,))
hours(R, "270 at 11:00 Eastern (10:00 Central) allowed", KY, local(f"{WED}T11:00", NY))
hours(R, "270 at 19:59:59 Central (20:59:59 Eastern) allowed", KY, local(f"{WED}T19:59:59", CHI))
hours(R, "270 at 20:00 Central is 21:00 Eastern: denied", KY, local(f"{WED}T20:00", CHI), (R, *FED))

# --- Arizona (America/Phoenix, no DST) vs the Navajo Nation (America/Denver) ---------------

R = "us-tcpa-hours-telemarketing"
_az_summer = local("2026-07-15T20:30", PHX)  # 21:30 MDT
hours(R, "602 (Phoenix only) at 20:30 MST in July allowed", AZ, _az_summer)
hours(
    R,
    "928 (Navajo Nation: Denver) at 20:30 MST in July is 21:30 MDT: denied",
    AZ_NAVAJO,
    _az_summer,
    FED,
)
hours(
    R,
    "928 at 20:30 MST in January (Denver also on MST) allowed",
    AZ_NAVAJO,
    local("2027-01-13T20:30", PHX),
)
hours(R, "602 at 07:59:59 MST in July denied", AZ, local("2026-07-15T07:59:59", PHX), FED)
hours(
    R,
    "928 at 07:30 MST (08:30 MDT) in July denied in Phoenix",
    AZ_NAVAJO,
    local("2026-07-15T07:30", PHX),
    FED,
)

# --- National registry (47 CFR 64.1200(c)(2); 16 CFR 310.4(b)(1)(iii)(B), (b)(3)(iv)) -----

R = "us-tcpa-national-dnc"
T = local(f"{WED}T12:00", NY)
_listed = {"hits": ("national",)}
case(
    R,
    "listed: denied",
    attempt(GA, T),
    facts(GA, T, **_listed),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "listed with PEWC naming the seller: allowed",
    attempt(GA, T),
    facts(GA, T, consents=(pewc(T - 60 * DAY),), **_listed),
)
case(
    R,
    "listed with PEWC naming seller and another seller: allowed",
    attempt(GA, T),
    facts(GA, T, consents=(pewc(T - 60 * DAY, sellers=(SELLER, OTHER_SELLER)),), **_listed),
)
case(
    R,
    "listed with only prior express (oral) consent: denied",
    attempt(GA, T),
    facts(GA, T, consents=(pec(T - 60 * DAY),), **_listed),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "listed with PEWC naming another seller: denied",
    attempt(GA, T),
    facts(GA, T, consents=(pewc(T - 60 * DAY, sellers=(OTHER_SELLER,)),), **_listed),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "listed with PEWC revoked by STOP: denied",
    attempt(GA, T),
    facts(GA, T, consents=(pewc(T - 60 * DAY),), revocations=(revocation(T - DAY),), **_listed),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "listed with an EBR purchase 17 months ago: allowed",
    attempt(GA, T),
    facts(GA, T, ebr=(ebr("purchase", date(2025, 6, 18)),), **_listed),
)
case(
    R,
    "listed with an EBR transaction 17 months ago: allowed",
    attempt(GA, T),
    facts(GA, T, ebr=(ebr("transaction", date(2025, 6, 18)),), **_listed),
)
case(
    R,
    "listed with an EBR with another seller: denied",
    attempt(GA, T),
    facts(GA, T, ebr=(ebr("purchase", date(2026, 6, 1), seller=OTHER_SELLER),), **_listed),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "listed with an EBR the customer ended: denied",
    attempt(GA, T),
    facts(GA, T, ebr=(ebr("purchase", date(2026, 6, 1), ended_on=date(2026, 9, 1)),), **_listed),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "listed with an EBR purchase dated after the call: denied",
    attempt(GA, T),
    facts(GA, T, ebr=(ebr("purchase", date(2026, 12, 1)),), **_listed),
    deny=(R,),
    codes=("registry_listed",),
)
for _day, _ok in (("2026-11-29", True), ("2026-11-30", False)):
    _t = local(f"{_day}T12:00", NY)
    case(
        R,
        f"EBR purchase 2025-05-31, call {_day}: {'valid' if _ok else 'expired (anniversary)'}",
        attempt(GA, _t),
        facts(GA, _t, ebr=(ebr("purchase", date(2025, 5, 31)),), **_listed),
        deny=() if _ok else (R,),
        codes=() if _ok else ("registry_listed",),
    )
for _day, _ok in (("2027-02-27", True), ("2027-02-28", False)):
    _t = local(f"{_day}T12:00", NY)
    case(
        R,
        f"EBR purchase 2025-08-31 (+18 months clamps to 2027-02-28), call {_day}",
        attempt(GA, _t),
        facts(GA, _t, ebr=(ebr("purchase", date(2025, 8, 31)),), **_listed),
        deny=() if _ok else (R,),
        codes=() if _ok else ("registry_listed",),
    )
for _day, _ok in (("2026-11-17", True), ("2026-11-18", False)):
    _t = local(f"{_day}T12:00", NY)
    case(
        R,
        f"EBR inquiry 2026-08-18 (3 months), call {_day}",
        attempt(GA, _t),
        facts(GA, _t, ebr=(ebr("inquiry", date(2026, 8, 18)),), **_listed),
        deny=() if _ok else (R,),
        codes=() if _ok else ("registry_listed",),
    )
_eve = local(f"{WED}T20:00", NY)  # 01:00Z on the 19th
case(
    R,
    "EBR purchase dated the next local day (the UTC date) does not exempt: denied",
    attempt(GA, _eve),
    facts(GA, _eve, ebr=(ebr("purchase", date(2026, 11, 19)),), **_listed),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "EBR application 4 months ago (3-month window) is over: denied",
    attempt(GA, T),
    facts(GA, T, ebr=(ebr("application", date(2026, 7, 18)),), **_listed),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "an internal Do-Not-Call request ends the EBR: both reasons",
    attempt(GA, T),
    facts(
        GA, T, ebr=(ebr("purchase", date(2026, 3, 1)),), internal=(dnc(T - 30 * DAY),), **_listed
    ),
    deny=(R, "us-fcc-company-dnc"),
    codes=("registry_listed", "internal_dnc"),
)
case(
    R,
    "an email-only Do-Not-Call request still ends the EBR for voice (64.1200(f)(5)(i))",
    attempt(GA, T),
    facts(
        GA,
        T,
        ebr=(ebr("purchase", date(2026, 3, 1)),),
        internal=(dnc(T - 30 * DAY, channel="email"),),
        **_listed,
    ),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "stale copy (32 days): denied, registry unavailable",
    attempt(GA, T),
    facts(GA, T, stale=("national",)),
    deny=(R,),
    codes=("registry_unavailable",),
)
case(
    R,
    "copy does not cover the area code: denied",
    attempt(GA, T),
    facts(GA, T, uncovered=("national",)),
    deny=(R,),
    codes=("registry_unavailable",),
)
case(
    R,
    "list not loaded at all: denied",
    attempt(GA, T),
    facts(GA, T, unloaded=("national",)),
    deny=(R,),
    codes=("registry_unavailable",),
)
case(
    R,
    "a listed number may get an informational call",
    attempt(GA, T, purpose="informational"),
    facts(GA, T, **_listed),
    applied=False,
)
case(
    R,
    "a listed number may get a debt-collection call",
    _debt(GA, T),
    facts(GA, T, **_listed),
    applied=False,
)

R = "us-fl-state-dnc"
_tf = local(f"{WED}T12:00", NY)
case(
    R,
    "on Florida's own list: denied",
    attempt(FL, _tf),
    facts(FL, _tf, hits=("state:FL",)),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "Florida's list not loaded: denied",
    attempt(FL, _tf),
    facts(FL, _tf, unloaded=("state:FL",)),
    deny=(R,),
    codes=("registry_unavailable",),
)
case(
    R,
    "Florida's copy stale: denied",
    attempt(FL, _tf),
    facts(FL, _tf, stale=("state:FL",)),
    deny=(R,),
    codes=("registry_unavailable",),
)
case(
    R,
    "on Florida's list with PEWC naming the seller: allowed",
    attempt(FL, _tf),
    facts(FL, _tf, hits=("state:FL",), consents=(pewc(_tf - 60 * DAY),)),
)
R = "us-tx-state-dnc"
_tt = local(f"{WED}T12:00", CHI)
case(
    R,
    "on the Texas no-call list: denied",
    attempt(TX, _tt),
    facts(TX, _tt, hits=("state:TX",)),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "on the Texas list with a live EBR: allowed",
    attempt(TX, _tt),
    facts(TX, _tt, hits=("state:TX",), ebr=(ebr("purchase", date(2026, 1, 5)),)),
)

# --- Company-specific Do-Not-Call list (47 CFR 64.1200(d)) ---------------------------------

R = "us-fcc-company-dnc"
case(
    R,
    "entry for the seller: denied",
    attempt(GA, T),
    facts(GA, T, internal=(dnc(T - DAY),)),
    deny=(R,),
    codes=("internal_dnc",),
)
case(
    R,
    "entry recorded one second before the call: denied at once",
    attempt(GA, T),
    facts(GA, T, internal=(dnc(T - SECOND),)),
    deny=(R,),
    codes=("internal_dnc",),
)
case(
    R,
    "entry for another seller: allowed",
    attempt(GA, T),
    facts(GA, T, internal=(dnc(T - DAY, seller=OTHER_SELLER),)),
)
case(
    R,
    'entry for every seller ("*"): denied',
    attempt(GA, T),
    facts(GA, T, internal=(dnc(T - DAY, seller="*"),)),
    deny=(R,),
    codes=("internal_dnc",),
)
case(
    R,
    "a 6-year-old entry still denies (never expires)",
    attempt(GA, T),
    facts(GA, T, internal=(dnc(T - 6 * 365 * DAY),)),
    deny=(R,),
    codes=("internal_dnc",),
)
case(
    R,
    "a request made by text (an SMS entry) stops voice telemarketing too (rules.md §1.3)",
    attempt(GA, T),
    facts(GA, T, internal=(dnc(T - DAY, channel="sms"),)),
    deny=(R,),
    codes=("internal_dnc",),
)
case(
    R,
    "a request made by voice stops texts too",
    attempt(GA, T, channel="sms"),
    facts(
        GA,
        T,
        internal=(dnc(T - DAY, channel="voice"),),
        consents=(pewc(T - 90 * DAY),),
        rnd=(rnd(pewc(T - 90 * DAY), T),),
        line_type="landline",
    ),
    deny=(R,),
    codes=("internal_dnc",),
)
case(
    R,
    "an email opt-out does not stop calls: allowed",
    attempt(GA, T),
    facts(GA, T, internal=(dnc(T - DAY, channel="email"),)),
)
VA = nanp(703)  # Virginia, America/New_York
case(
    "us-va-dnc-10-years",
    "a Virginia number that answered STOP to a text: both the federal and Virginia rules deny",
    attempt(VA, T),
    facts(VA, T, internal=(dnc(T - 9 * 365 * DAY, channel="sms"),)),
    deny=("us-fcc-company-dnc", "us-va-dnc-10-years"),
    codes=("internal_dnc",),
)
case(
    R,
    "consent naming the seller given after the entry lifts it",
    attempt(GA, T),
    facts(GA, T, internal=(dnc(T - 60 * DAY),), consents=(pec(T - 30 * DAY),)),
)
case(
    R,
    "consent given before the entry does not lift it",
    attempt(GA, T),
    facts(GA, T, internal=(dnc(T - 30 * DAY),), consents=(pec(T - 60 * DAY),)),
    deny=(R,),
    codes=("internal_dnc",),
)
case(
    R,
    'a later "*" consent (no seller named) does not lift it',
    attempt(GA, T),
    facts(GA, T, internal=(dnc(T - 60 * DAY),), consents=(pec(T - 30 * DAY, sellers=("*",)),)),
    deny=(R,),
    codes=("internal_dnc",),
)
R = "us-regf-medium-opt-out"
case(
    R,
    "collection call to a number that opted out of voice: denied",
    _debt(GA, T),
    facts(GA, T, internal=(dnc(T - DAY, channel="voice"),)),
    deny=(R,),
    codes=("internal_dnc",),
)
case(
    R,
    "collection call by voice after an opt-out of texts only: allowed (per medium, 1006.14(h))",
    _debt(GA, T),
    facts(GA, T, internal=(dnc(T - DAY, channel="sms"),)),
)
case(
    R,
    "opted out of email only: a collection call is allowed",
    _debt(GA, T),
    facts(GA, T, internal=(dnc(T - DAY, channel="email"),)),
)
R = "can-spam-opt-out"
case(
    R,
    "marketing email after an email opt-out: denied",
    attempt(GA, T, channel="email"),
    facts(GA, T, internal=(dnc(T - DAY, channel="email"),), line_type="landline"),
    deny=(R,),
    codes=("internal_dnc",),
)

# --- Consent against technology (47 CFR 64.1200(a)(1)-(3), (f)(9); state mini-TCPAs) -------

CONSENT_AT = utc("2026-01-10T15:00")


def robo(
    number: int,
    at: datetime,
    *consents: ConsentFact,
    line: str | None = "wireless",
    fresh_rnd: bool = True,
    technology: str = "autodialer",
    **kw: Any,
) -> tuple[Attempt, NumberFacts]:
    """A telemarketing call (by dialer unless told) with these consents and a fresh RND "no"."""
    a = attempt(number, at, technology=technology, **kw)
    answers = tuple(rnd(c, at) for c in consents) if fresh_rnd else ()
    return a, facts(number, at, consents=consents, rnd=answers, line_type=line)


R = "us-tcpa-wireless-autodialed-telemarketing-pewc"
MISSING = ("consent_missing",)
case(R, "wireless, dialer, no consent: denied", *robo(GA, T), deny=(R,), codes=MISSING)
case(R, "wireless, dialer, PEWC naming the seller: allowed", *robo(GA, T, pewc(CONSENT_AT)))
case(
    R,
    "wireless, prerecorded, PEWC naming the seller: allowed",
    *robo(GA, T, pewc(CONSENT_AT), technology="prerecorded"),
)
case(
    R,
    "wireless, AI voice, no consent: denied (FCC 24-17)",
    *robo(GA, T, technology="artificial_voice"),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "prior express (not written) consent is not enough",
    *robo(GA, T, pec(CONSENT_AT)),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "PEWC naming another seller is not enough",
    *robo(GA, T, pewc(CONSENT_AT, sellers=(OTHER_SELLER,))),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    'PEWC with seller "*" is not enough',
    *robo(GA, T, pewc(CONSENT_AT, sellers=("*",))),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "PEWC for texts only does not cover a voice call",
    *robo(GA, T, pewc(CONSENT_AT, channels=("sms",))),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "PEWC for informational calls does not cover telemarketing",
    *robo(GA, T, pewc(CONSENT_AT, purposes=("informational",))),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "PEWC expired before the call",
    *robo(GA, T, pewc(CONSENT_AT, expires_at=T - DAY)),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "PEWC given after the call",
    *robo(GA, T, pewc(T + HOUR), fresh_rnd=False),
    deny=(R,),
    codes=MISSING,
)
case(
    R, "unknown line type is treated as wireless", *robo(GA, T, line=None), deny=(R,), codes=MISSING
)
case(
    R,
    "landline, dialer (no prerecorded voice): no consent needed",
    *robo(GA, T, line="landline"),
    applied=False,
)
R = "us-tcpa-marketing-sms-pewc"
case(
    R,
    "marketing text to a landline without PEWC: denied",
    *robo(GA, T, line="landline", technology="manual", channel="sms"),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "marketing text with PEWC: allowed",
    *robo(GA, T, pewc(CONSENT_AT), line="landline", technology="manual", channel="sms"),
)
R = "us-tcpa-wireless-autodialed-consent"
_info = {"purpose": "informational", "subject": None}
case(
    R,
    "informational, dialer, wireless, no consent: denied",
    *robo(GA, T, **_info),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "informational, dialer, wireless, prior express consent: allowed",
    *robo(GA, T, pec(CONSENT_AT, purposes=("informational",)), **_info),
)
case(
    R,
    'informational with a "*" prior express consent: allowed',
    *robo(GA, T, pec(CONSENT_AT, purposes=("informational",), sellers=("*",)), **_info),
)
case(
    R,
    "informational consent does not cover a collection call",
    *robo(
        GA,
        T,
        pec(CONSENT_AT, purposes=("informational",)),
        purpose="debt_collection",
        debt_id="D1",
        subject=None,
    ),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "informational, dialer, unknown line type: treated as wireless, denied",
    *robo(GA, T, line=None, **_info),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "informational, dialer, landline: no consent needed",
    *robo(GA, T, line="landline", **_info),
    applied=False,
)
case(
    R,
    "informational, manual dial, wireless: no consent needed",
    *robo(GA, T, technology="manual", **_info),
    applied=False,
)
R = "us-tcpa-residential-prerecorded-telemarketing-pewc"
case(
    R,
    "prerecorded telemarketing to a landline without PEWC: denied",
    *robo(GA, T, line="landline", technology="prerecorded"),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "prerecorded telemarketing to a landline with PEWC: allowed",
    *robo(GA, T, pewc(CONSENT_AT), line="landline", technology="prerecorded"),
)
case(
    R,
    "prerecorded telemarketing to a landline with only pec: denied",
    *robo(GA, T, pec(CONSENT_AT), line="landline", technology="prerecorded"),
    deny=(R,),
    codes=MISSING,
)
R = "us-ct-pewc-all-sales-calls"
_tct = local(f"{WED}T12:00", NY)
case(
    R,
    "manual sales call without PEWC: denied",
    *robo(CT, _tct, technology="manual"),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "manual sales call with PEWC naming the seller: allowed",
    *robo(CT, _tct, pewc(CONSENT_AT), technology="manual"),
)
case(
    R,
    "manual sales call with only pec: denied",
    *robo(CT, _tct, pec(CONSENT_AT), technology="manual"),
    deny=(R,),
    codes=MISSING,
)
R = "us-fl-ftsa-automated-pewc"
case(
    R,
    "dialer call to a Florida landline without PEWC: denied",
    *robo(FL, T, line="landline"),
    deny=(R,),
    codes=MISSING,
)
case(R, "with PEWC: allowed", *robo(FL, T, pewc(CONSENT_AT), line="landline"))
R = "us-ok-automated-pewc"
_tok = local(f"{WED}T12:00", CHI)
case(
    R,
    "dialer call to an Oklahoma landline without PEWC: denied",
    *robo(OK, _tok, line="landline"),
    deny=(R,),
    codes=MISSING,
)
R = "us-md-automated-pewc"
case(
    R,
    "dialer call to a Maryland landline without PEWC: denied",
    *robo(MD, T, line="landline"),
    deny=(R,),
    codes=MISSING,
)
R = "us-ut-atds-consent-or-ebr"
_tut = local(f"{WED}T12:00", DEN)
case(
    R,
    "dialer call to a Utah landline without consent or EBR: denied",
    *robo(UT, _tut, line="landline"),
    deny=(R,),
    codes=MISSING,
)
case(R, "with prior express consent: allowed", *robo(UT, _tut, pec(CONSENT_AT), line="landline"))
_ut_a, _ut_f = robo(UT, _tut, line="landline")
case(R, "with a live EBR: allowed", _ut_a, replace(_ut_f, ebr=(ebr("purchase", date(2026, 5, 1)),)))

# --- Revocations (47 CFR 64.1200(a)(10); revoke-all from 2027-01-31, DA 26-12) --------------


def revoked(
    at: datetime, *revs: RevocationFact, given: datetime = CONSENT_AT
) -> tuple[Attempt, NumberFacts]:
    """The PEWC dialer call of `robo` with these revocations on file."""
    a, f = robo(GA, at, pewc(given))
    return a, replace(f, revocations=revs)


R = "us-tcpa-wireless-autodialed-telemarketing-pewc"
REVOKED = ("consent_revoked",)
case(
    R,
    "STOP keyword by text revokes: denied",
    *revoked(T, revocation(utc("2026-06-01T10:00"), method="keyword")),
    deny=(R,),
    codes=REVOKED,
)
case(
    R,
    "a phrase ('please stop calling me') revokes: denied",
    *revoked(T, revocation(utc("2026-06-01T10:00"), method="phrase")),
    deny=(R,),
    codes=REVOKED,
)
case(
    R,
    "an IVR key-press revocation: denied",
    *revoked(T, revocation(utc("2026-06-01T10:00"), channel="ivr", method="keypress")),
    deny=(R,),
    codes=REVOKED,
)
case(
    R,
    'revocation of everything ("*", all): denied',
    *revoked(T, revocation(utc("2026-06-01T10:00"), seller="*", scope="all")),
    deny=(R,),
    codes=REVOKED,
)
case(
    R,
    "consent given again after the revocation is valid",
    *revoked(T, revocation(utc("2026-06-01T10:00")), given=utc("2026-07-01T10:00")),
)
case(
    R, "a revocation received after the attempt does not apply", *revoked(T, revocation(T + SECOND))
)
case(
    R,
    "a revocation of texts only leaves voice consent (scope and unit)",
    *revoked(T, revocation(utc("2026-06-01T10:00"), message_channel="sms")),
)
R = "us-fcc-revocation-reasonable-means"
_before = local("2027-01-30T12:00", NY)
_on = local("2027-01-31T12:00", NY)
_other_unit = revocation(utc("2026-06-01T10:00"), seller="acme-loans")
_other_type = revocation(utc("2026-06-01T10:00"), scope="informational")
case(
    R,
    "before 2027-01-31 a revocation to another business unit leaves consent valid",
    *revoked(_before, _other_unit),
)
case(
    R,
    "before 2027-01-31 a revocation of another message type leaves consent valid",
    *revoked(_before, _other_type),
)
R = "us-fcc-revoke-all"
PEWC_RULE = "us-tcpa-wireless-autodialed-telemarketing-pewc"
case(
    R,
    "on 2027-01-31 a revocation to another business unit revokes everything",
    *revoked(_on, _other_unit),
    deny=(PEWC_RULE,),
    codes=REVOKED,
)
case(
    R,
    "after 2027-01-31 a revocation of another message type revokes everything",
    *revoked(local("2027-02-03T12:00", NY), _other_type),
    deny=(PEWC_RULE,),
    codes=REVOKED,
)
case(
    R,
    "after 2027-01-31 consent given after the revocation is still valid",
    *revoked(local("2027-02-03T12:00", NY), _other_unit, given=utc("2026-07-01T10:00")),
)

# --- Reassigned Numbers Database (47 CFR 64.1200(m)) ---------------------------------------

R = "us-fcc-rnd-check"
_c = pewc(CONSENT_AT)
_ra, _rf = robo(GA, T, _c, fresh_rnd=False)


def with_rnd(*answers: RndFact) -> NumberFacts:
    return replace(_rf, rnd=answers)


case(
    R,
    'RND "yes": reassigned, denied',
    _ra,
    with_rnd(rnd(_c, T, "yes")),
    deny=(R,),
    codes=("reassigned_number",),
)
case(
    R,
    'RND "no data": denied',
    _ra,
    with_rnd(rnd(_c, T, "no_data")),
    deny=(R,),
    codes=("rnd_no_data",),
)
case(R, "no RND answer on file: denied", _ra, with_rnd(), deny=(R,), codes=("rnd_missing",))
case(R, 'fresh RND "no": allowed', _ra, with_rnd(rnd(_c, T, "no")))
case(
    R,
    'RND "no" queried exactly 31 days ago: allowed',
    _ra,
    with_rnd(rnd(_c, T, "no", age=31 * DAY)),
)
case(
    R,
    'RND "no" queried 31 days and 1 second ago: older than the last monthly update, denied',
    _ra,
    with_rnd(rnd(_c, T, "no", age=31 * DAY + SECOND)),
    deny=(R,),
    codes=("rnd_missing",),
)
_day = CONSENT_AT.date()
case(
    R,
    'a "yes" 40 days old still voids the consent, whatever later "no" for that date says',
    _ra,
    with_rnd(rnd(_c, T, "yes", age=40 * DAY), rnd(_c, T, "no", age=DAY)),
    deny=(R,),
    codes=("reassigned_number",),
)
case(
    R,
    'a "yes" for a date after the consent: disconnected after it, the consent is void',
    _ra,
    with_rnd(RndFact(_day + 30 * DAY, "yes", T - DAY), rnd(_c, T, "no", age=2 * DAY)),
    deny=(R,),
    codes=("reassigned_number",),
)
case(
    R,
    'a "yes" for a date before the consent, then "no" for the consent date: a new subscriber\'s '
    "consent, valid",
    _ra,
    with_rnd(RndFact(_day - 60 * DAY, "yes", T - 9 * DAY), rnd(_c, T, "no", age=DAY)),
)
case(
    R,
    'a "yes" for a date before the consent and nothing since: may predate it, void (fail closed)',
    _ra,
    with_rnd(RndFact(_day - 60 * DAY, "yes", T - 9 * DAY)),
    deny=(R,),
    codes=("reassigned_number",),
)
_listed_pewc = pewc(CONSENT_AT)
case(
    "us-tcpa-national-dnc",
    'a live call to a listed number: a PEWC voided by RND "yes" exempts from nothing',
    attempt(GA, T),
    facts(GA, T, hits=("national",), consents=(_listed_pewc,), rnd=(rnd(_listed_pewc, T, "yes"),)),
    deny=("us-tcpa-national-dnc",),
    codes=("registry_listed",),
)
case(
    "us-tcpa-national-dnc",
    'the same with RND "no": the PEWC exempts',
    attempt(GA, T),
    facts(GA, T, hits=("national",), consents=(_listed_pewc,), rnd=(rnd(_listed_pewc, T),)),
)
R = "us-fcc-rnd-check-marketing-sms"
_sms = attempt(GA, T, channel="sms")
_sms_facts = facts(GA, T, consents=(_listed_pewc,), line_type="landline")
case(R, "a marketing text sent by hand with PEWC and no RND answer: denied", _sms, _sms_facts,
     deny=(R,), codes=("rnd_missing",))  # fmt: skip
case(
    R,
    'the same with RND "yes": reassigned, denied',
    _sms,
    replace(_sms_facts, rnd=(rnd(_listed_pewc, T, "yes"),)),
    deny=(R,),
    codes=("reassigned_number",),
)
case(R, 'the same with a fresh RND "no": allowed', _sms,
     replace(_sms_facts, rnd=(rnd(_listed_pewc, T),)))  # fmt: skip
R = "us-fcc-rnd-check"
case(
    R,
    'RND "no" for an earlier date also covers the consent date',
    _ra,
    with_rnd(RndFact(date(2025, 12, 1), "no", T - 5 * DAY)),
)
case(
    R,
    'RND "no" for a later date does not cover the consent date',
    _ra,
    with_rnd(RndFact(date(2026, 2, 1), "no", T - 5 * DAY)),
    deny=(R,),
    codes=("rnd_missing",),
)
case(
    R,
    "an RND answer queried after the attempt does not count",
    _ra,
    with_rnd(RndFact(date(2026, 1, 10), "no", T + HOUR)),
    deny=(R,),
    codes=("rnd_missing",),
)
case(
    R,
    'the latest answer decides: "no" then "yes" is denied',
    _ra,
    with_rnd(rnd(_c, T, "no", age=20 * DAY), rnd(_c, T, "yes", age=2 * DAY)),
    deny=(R,),
    codes=("reassigned_number",),
)

# --- Frequency caps ------------------------------------------------------------------------


def prior(number: int, at: datetime, *ago: timedelta, **kw: Any) -> tuple[Attempt, NumberFacts]:
    """A manual telemarketing attempt with earlier attempts `ago` before it."""
    a = attempt(number, at)
    return a, facts(number, at, calls=calls(number, [at - d for d in ago], **kw))


CAP = ("frequency_cap",)
_t_fl = local(f"{WED}T12:00", NY)
R = "us-fl-3-per-24h-same-subject"
case(
    R,
    "3 earlier attempts in 24h, same subject: 4th denied",
    *prior(FL, _t_fl, HOUR, 2 * HOUR, 3 * HOUR),
    deny=(R,),
    codes=CAP,
)
case(R, "2 earlier attempts: 3rd allowed", *prior(FL, _t_fl, HOUR, 2 * HOUR))
case(
    R,
    "the oldest of 3 exactly 24 hours earlier: still within 24 hours (conservative), denied",
    *prior(FL, _t_fl, HOUR, 2 * HOUR, 24 * HOUR),
    deny=(R,),
    codes=CAP,
)
case(
    R,
    "one of 3 earlier attempts 24h+1s old: allowed",
    *prior(FL, _t_fl, HOUR, 2 * HOUR, 24 * HOUR + SECOND),
)
case(
    R,
    "one of 3 earlier attempts 23h59m59s old: denied",
    *prior(FL, _t_fl, HOUR, 2 * HOUR, 24 * HOUR - SECOND),
    deny=(R,),
    codes=CAP,
)
case(
    R,
    "unanswered attempts count too",
    *prior(FL, _t_fl, HOUR, 2 * HOUR, 3 * HOUR, connected=False, outcome="no_answer"),
    deny=(R,),
    codes=CAP,
)
case(
    R,
    "attempts on another subject do not count",
    *prior(FL, _t_fl, HOUR, 2 * HOUR, 3 * HOUR, subject="insurance"),
)
case(
    R,
    "attempts by another seller on the same subject count (any number used)",
    *prior(FL, _t_fl, HOUR, 2 * HOUR, 3 * HOUR, seller=OTHER_SELLER),
    deny=(R,),
    codes=CAP,
)
_fl_a, _fl_f = prior(FL, _t_fl, HOUR, 2 * HOUR)
case(
    R,
    "a reservation counts like a placed call",
    _fl_a,
    replace(
        _fl_f, calls=(*_fl_f.calls, call(FL, _t_fl - 30 * 60 * SECOND, id=9, state="reserved"))
    ),
    deny=(R,),
    codes=CAP,
)
case(
    R,
    "no subject on the attempt: denied, missing fact",
    attempt(FL, _t_fl, subject=None),
    deny=(R,),
    codes=("missing_fact",),
)
R = "us-ok-3-per-24h-same-subject"
_t_ok = local(f"{WED}T12:00", CHI)
case(
    R,
    "3 earlier attempts: denied",
    *prior(OK, _t_ok, HOUR, 2 * HOUR, 3 * HOUR),
    deny=(R,),
    codes=CAP,
)
case(R, "2 earlier attempts: allowed", *prior(OK, _t_ok, HOUR, 2 * HOUR))
R = "us-md-3-per-24h-same-subject"
case(
    R,
    "3 earlier attempts: denied",
    *prior(MD, _t_fl, HOUR, 5 * HOUR, 20 * HOUR),
    deny=(R,),
    codes=CAP,
)
case(R, "one of them 25 hours old: allowed", *prior(MD, _t_fl, HOUR, 5 * HOUR, 25 * HOUR))
R = "us-or-3-per-24h"
_t_or = local(f"{WED}T12:00", LAX)
case(
    R,
    "3 earlier attempts by the seller: denied",
    *prior(OR, _t_or, HOUR, 2 * HOUR, 3 * HOUR),
    deny=(R,),
    codes=CAP,
)
case(
    R,
    "3 earlier attempts by another seller count too (no per-seller limit in rules.md §5.1)",
    *prior(OR, _t_or, HOUR, 2 * HOUR, 3 * HOUR, seller=OTHER_SELLER),
    deny=(R,),
    codes=CAP,
)
case(R, "2 earlier attempts by two sellers: 3rd allowed", *prior(OR, _t_or, HOUR, 2 * HOUR))
_or_a, _or_f = prior(OR, _t_or, HOUR, 2 * HOUR, 3 * HOUR)
case(
    R,
    "an EBR (purchase 10 months ago) lifts the cap",
    _or_a,
    replace(_or_f, ebr=(ebr("purchase", date(2026, 1, 15)),)),
)
case(
    R,
    "an inquiry is not a purchase: the cap still applies (rules.md §5.1)",
    _or_a,
    replace(_or_f, ebr=(ebr("inquiry", date(2026, 10, 20)),)),
    deny=(R,),
    codes=CAP,
)

R = "us-regf-7-in-7"
_t_debt = local(f"{WED}T12:00", NY)
_seven = [_t_debt - 2 * HOUR - n * DAY for n in range(7)]  # days 0..-6, 10:00 local


def debt_calls(times: list[datetime], **kw: Any) -> tuple[Attempt, NumberFacts]:
    a = _debt(GA, _t_debt)
    base = {"purpose": "debt_collection", "debt_id": "D1", "subject": None}
    return a, facts(GA, _t_debt, calls=calls(GA, times, **{**base, **kw}))


case(
    R,
    "7 connected calls in 7 consecutive days: the 8th denied",
    *debt_calls(_seven),
    deny=(R,),
    codes=CAP,
)
case(R, "6 calls: the 7th allowed", *debt_calls(_seven[:6]))
case(
    R,
    "the oldest of 7 on day -7 is outside the window: allowed",
    *debt_calls([*_seven[:6], _t_debt - 7 * DAY]),
)
case(R, "calls about another debt do not count", *debt_calls(_seven, debt_id="D2"))
_d_a, _d_f = debt_calls(_seven[:6])
case(
    R,
    "a call not connected (busy, network error) does not count",
    _d_a,
    replace(
        _d_f,
        calls=(
            *_d_f.calls,
            call(
                GA,
                _seven[6],
                id=7,
                purpose="debt_collection",
                debt_id="D1",
                subject=None,
                connected=False,
            ),
        ),
    ),
)
case(
    R,
    "a call to another number about the same debt counts",
    _d_a,
    replace(
        _d_f,
        calls=(
            *_d_f.calls,
            call(GA + 1, _seven[6], id=7, purpose="debt_collection", debt_id="D1", subject=None),
        ),
    ),
    deny=(R,),
    codes=CAP,
)
case(
    R,
    "a reservation counts like a placed call",
    _d_a,
    replace(
        _d_f,
        calls=(
            *_d_f.calls,
            call(
                GA,
                _t_debt - HOUR,
                id=7,
                state="reserved",
                purpose="debt_collection",
                debt_id="D1",
                subject=None,
            ),
        ),
    ),
    deny=(R,),
    codes=CAP,
)
case(
    R,
    "no debt id on a collection call: denied, missing fact (both Reg F rules)",
    _debt(GA, _t_debt, debt_id=None),
    deny=(R, "us-regf-after-conversation"),
    codes=("missing_fact",),
)

R = "us-regf-after-conversation"
_talk = local("2026-11-10T12:00", NY)  # day 1


def after_talk(
    at: datetime, talk: datetime = _talk, debt: str = "D1"
) -> tuple[Attempt, NumberFacts]:
    a = _debt(GA, at)
    talked = call(
        GA,
        talk,
        id=1,
        purpose="debt_collection",
        debt_id=debt,
        subject=None,
        conversation=True,
        outcome="conversation",
    )
    return a, facts(GA, at, calls=(talked,))


case(
    R,
    "conversation on day 1: a call on day 1 is denied",
    *after_talk(_talk + 3 * HOUR),
    deny=(R,),
    codes=("conversation_cooloff",),
)
case(
    R,
    "conversation on day 1: a call on day 7 is denied",
    *after_talk(local("2026-11-16T20:00", NY)),
    deny=(R,),
    codes=("conversation_cooloff",),
)
case(
    R,
    "conversation on day 1: a call on day 8 is allowed",
    *after_talk(local("2026-11-17T08:00", NY)),
)
case(
    R,
    "day counted in local time: 23:30 on day 1 (04:30Z next day), call on day 8 allowed",
    *after_talk(local("2026-11-17T09:00", NY), talk=local("2026-11-10T23:30", NY)),
)
case(
    R,
    "a conversation about another debt does not count",
    *after_talk(local("2026-11-12T12:00", NY), debt="D2"),
)

R = "us-ma-debt-2-per-7-days"
_t_ma = local(f"{WED}T12:00", NY)


def ma_calls(*ago: timedelta, **kw: Any) -> tuple[Attempt, NumberFacts]:
    a = _debt(MA, _t_ma)
    base = {"purpose": "debt_collection", "debt_id": "D1", "subject": None}
    return a, facts(MA, _t_ma, calls=calls(MA, [_t_ma - d for d in ago], **{**base, **kw}))


case(
    R,
    "2 calls in 7 days about the debt: the 3rd denied",
    *ma_calls(DAY, 3 * DAY),
    deny=(R,),
    codes=CAP,
)
case(R, "1 call: the 2nd allowed", *ma_calls(DAY))
case(
    R,
    "a voicemail / unanswered call counts",
    *ma_calls(DAY, 3 * DAY, connected=False),
    deny=(R,),
    codes=CAP,
)
case(
    R,
    "the older call 7 days and 1 second ago is outside the period: allowed",
    *ma_calls(DAY, 7 * DAY + SECOND),
)
case(
    R,
    "the older call 6 days 21 hours ago, a calendar day further back: a sliding 7 x 24 h "
    "holds it (rules.md §0.5), denied",
    *ma_calls(DAY, 6 * DAY + 21 * HOUR),
    deny=(R,),
    codes=CAP,
)
case(
    R,
    "the older call exactly 168 hours ago: inside on the conservative reading, denied",
    *ma_calls(DAY, 7 * DAY),
    deny=(R,),
    codes=CAP,
)
case(R, "texts count too", *ma_calls(DAY, 2 * DAY, channel="sms"), deny=(R,), codes=CAP)

R = "us-tcpa-exempt-prerecorded-3-in-30"
_t_pr = local(f"{WED}T12:00", NY)


def prerecorded(*ago: timedelta, line: str = "landline", **kw: Any) -> tuple[Attempt, NumberFacts]:
    a = attempt(GA, _t_pr, purpose="informational", technology="prerecorded", subject=None)
    base = {"purpose": "informational", "technology": "prerecorded", "subject": None}
    hist = calls(GA, [_t_pr - d for d in ago], **{**base, **kw})
    return a, facts(GA, _t_pr, calls=hist, line_type=line)


case(
    R,
    "3 exempt prerecorded calls to a landline in 30 days: 4th denied",
    *prerecorded(2 * DAY, 10 * DAY, 20 * DAY),
    deny=(R,),
    codes=CAP,
)
case(R, "2 calls: 3rd allowed", *prerecorded(2 * DAY, 10 * DAY))
case(
    R,
    "the oldest 30 days and 1 second ago is outside the period: allowed",
    *prerecorded(2 * DAY, 10 * DAY, 30 * DAY + SECOND),
)
case(
    R,
    "the oldest 29 days 2 hours ago: inside a sliding 30 x 24 h, denied",
    *prerecorded(2 * DAY, 10 * DAY, 29 * DAY + 2 * HOUR),
    deny=(R,),
    codes=CAP,
)
case(
    R,
    "another seller's calls do not count",
    *prerecorded(2 * DAY, 10 * DAY, 20 * DAY, seller=OTHER_SELLER),
)
case(
    R,
    "live (manual) calls do not count",
    *prerecorded(2 * DAY, 10 * DAY, 20 * DAY, technology="manual"),
)

# --- Louisiana emergency, registrations, caller ID, Nebraska, abandonment -----------------

R = "us-la-emergency-ban"
_t_la = local(f"{WED}T12:00", CHI)
case(
    R,
    "declared emergency active: denied",
    attempt(LA, _t_la),
    facts(LA, _t_la, emergencies=(emergency(_t_la - 2 * DAY, None),)),
    deny=(R,),
    codes=("state_of_emergency",),
)
case(
    R,
    "emergency ended before the call: allowed",
    attempt(LA, _t_la),
    facts(LA, _t_la, emergencies=(emergency(_t_la - 5 * DAY, _t_la - DAY),)),
)
case(
    R,
    "emergency ending exactly at the call: allowed (half-open)",
    attempt(LA, _t_la),
    facts(LA, _t_la, emergencies=(emergency(_t_la - 5 * DAY, _t_la),)),
)
case(
    R,
    "emergency starting exactly at the call: denied",
    attempt(LA, _t_la),
    facts(LA, _t_la, emergencies=(emergency(_t_la, None),)),
    deny=(R,),
    codes=("state_of_emergency",),
)
case(
    R,
    "consent and EBR do not lift it",
    attempt(LA, _t_la),
    facts(
        LA,
        _t_la,
        emergencies=(emergency(_t_la - 2 * DAY, None),),
        consents=(pewc(CONSENT_AT),),
        ebr=(ebr("purchase", date(2026, 9, 1)),),
    ),
    deny=(R,),
    codes=("state_of_emergency",),
)
case(
    R,
    "a Georgia number whose customer lives in Louisiana: denied",
    attempt(GA, T),
    facts(
        GA, T, locations=(LocationFact("US", "LA"),), emergencies=(emergency(T - 2 * DAY, None),)
    ),
    deny=(R,),
    codes=("state_of_emergency",),
)
case(
    R,
    "a Florida emergency does not reach a Louisiana number",
    attempt(LA, _t_la),
    facts(LA, _t_la, emergencies=(emergency(_t_la - 2 * DAY, None, "US-FL"),)),
)
case(
    R,
    "an informational call during the emergency is allowed",
    attempt(LA, _t_la, purpose="informational"),
    facts(LA, _t_la, emergencies=(emergency(_t_la - 2 * DAY, None),)),
    applied=False,
)

R = "us-tx-registration"
_t_tx = local(f"{WED}T12:00", CHI)
case(
    R,
    "no registration on record: denied",
    attempt(TX, _t_tx),
    facts(TX, _t_tx, registrations=()),
    deny=(R,),
    codes=("registration_missing",),
)
case(
    R,
    "valid registration: allowed",
    attempt(TX, _t_tx),
    facts(
        TX, _t_tx, registrations=(RegistrationFact(SELLER, "US-TX", "T1", date(2025, 9, 1), None),)
    ),
)
case(
    R,
    "registration expired before the call: denied",
    attempt(TX, _t_tx),
    facts(
        TX,
        _t_tx,
        registrations=(
            RegistrationFact(SELLER, "US-TX", "T1", date(2025, 9, 1), date(2026, 11, 1)),
        ),
    ),
    deny=(R,),
    codes=("registration_missing",),
)
case(
    R,
    "registration not yet valid: denied",
    attempt(TX, _t_tx),
    facts(
        TX, _t_tx, registrations=(RegistrationFact(SELLER, "US-TX", "T1", date(2026, 12, 1), None),)
    ),
    deny=(R,),
    codes=("registration_missing",),
)
case(
    R,
    "another seller's registration: denied",
    attempt(TX, _t_tx),
    facts(
        TX,
        _t_tx,
        registrations=(RegistrationFact(OTHER_SELLER, "US-TX", "T1", date(2025, 9, 1), None),),
    ),
    deny=(R,),
    codes=("registration_missing",),
)
_tx_eve = local(f"{WED}T19:00", CHI)  # 01:00Z on the 19th
_from_19 = (RegistrationFact(SELLER, "US-TX", "T1", date(2026, 11, 19), None),)
case(
    R,
    "registration valid from the next local day (the UTC date): denied",
    attempt(TX, _tx_eve),
    facts(TX, _tx_eve, registrations=_from_19),
    deny=(R,),
    codes=("registration_missing",),
)
_tx_next = local("2026-11-19T10:00", CHI)
case(
    R,
    "the same registration on its first day: allowed",
    attempt(TX, _tx_next),
    facts(TX, _tx_next, registrations=_from_19),
)
R = "us-ms-registration"
case(
    R,
    "no Mississippi registration: denied",
    attempt(MS, _t_tx),
    facts(MS, _t_tx, registrations=()),
    deny=(R,),
    codes=("registration_missing",),
)

R = "us-fcc-caller-id"
case(
    R,
    "telemarketing without caller ID: denied",
    attempt(GA, T, caller_id=None),
    deny=(R,),
    codes=("caller_id_missing",),
)
case(
    "ca-crtc-caller-id",
    "Canadian telemarketing without caller ID: denied (CRTC Telemarketing Rules)",
    attempt(TORONTO, local(f"{WED}T12:00", TOR), caller_id=None),
    deny=("ca-crtc-caller-id",),
    codes=("caller_id_missing",),
)
case(
    R,
    "telemarketing with an empty caller ID: denied",
    attempt(GA, T, caller_id=""),
    deny=(R,),
    codes=("caller_id_missing",),
)
case(
    R,
    "informational call without caller ID: allowed",
    attempt(GA, T, caller_id=None, purpose="informational"),
    applied=False,
)

R = "us-ne-adad-to-wireless-banned"
_t_ne = local(f"{WED}T12:00", CHI)
case(
    R,
    "prerecorded solicitation to a wireless number, even with PEWC: prohibited",
    *robo(NE, _t_ne, pewc(CONSENT_AT), technology="prerecorded"),
    deny=(R,),
    codes=("prohibited",),
)
case(
    R,
    "unknown line type counts as wireless: prohibited",
    *robo(NE, _t_ne, pewc(CONSENT_AT), technology="prerecorded", line=None),
    deny=(R,),
    codes=("prohibited",),
)
case(
    R,
    "prerecorded solicitation to a landline with PEWC: allowed",
    *robo(NE, _t_ne, pewc(CONSENT_AT), technology="prerecorded", line="landline"),
    applied=False,
)
case(R, "a live call to a wireless number: allowed", attempt(NE, _t_ne), applied=False)
case(
    R,
    "an autodialed solicitation to a wireless number is an ADAD call: prohibited",
    *robo(NE, _t_ne, pewc(CONSENT_AT)),
    deny=(R,),
    codes=("prohibited",),
)
R = "us-ne-hours-adad"
case(
    R,
    "autodialed call to a Nebraska landline at 21:00 local: denied (ADAD 08:00-21:00)",
    *robo(NE, local(f"{WED}T21:00", CHI), pewc(CONSENT_AT), line="landline"),
    deny=(R, *FED),
    codes=(OUT,),
)
R = "us-ne-holidays-prerecorded"
_ne_thanksgiving = local("2026-11-26T10:00", CHI)
case(
    R,
    "prerecorded solicitation on Thanksgiving at 10:00: only 13:00-21:00 on holidays [U]",
    *robo(NE, _ne_thanksgiving, pewc(CONSENT_AT), technology="prerecorded", line="landline"),
    deny=(R,),
    codes=(OUT,),
)
case(
    R,
    "the same on Thanksgiving at 13:00: allowed",
    *robo(NE, _ne_thanksgiving + 3 * HOUR, pewc(CONSENT_AT), technology="prerecorded",
          line="landline"),
)  # fmt: skip
case(
    R,
    "the same on an ordinary Thursday at 10:00: allowed",
    *robo(NE, local("2026-11-19T10:00", CHI), pewc(CONSENT_AT), technology="prerecorded",
          line="landline"),
)  # fmt: skip

WY = nanp(307)  # Wyoming, America/Denver
R = "us-wy-hours-telemarketing"
hours(R, "20:00 local is outside Wyoming's 08:00-20:00 (federal: 21:00)", WY,
      local(f"{WED}T20:00", DEN), (R,))  # fmt: skip
hours(R, "19:59:59 local is inside", WY, local(f"{WED}T19:59:59", DEN))

ME = nanp(207)  # Maine, America/New_York
R = "us-me-hours-automated"
case(
    R,
    "autodialed call on a weekday at 17:00: outside 09:00-17:00",
    *robo(ME, local(f"{WED}T17:00", NY), pewc(CONSENT_AT)),
    deny=(R,),
    codes=(OUT,),
)
case(R, "autodialed call at 16:59:59: allowed",
     *robo(ME, local(f"{WED}T16:59:59", NY), pewc(CONSENT_AT)))  # fmt: skip
case(
    R,
    "autodialed call on a Saturday at noon: no automated calls on weekends",
    *robo(ME, local(f"{SAT}T12:00", NY), pewc(CONSENT_AT)),
    deny=(R,),
    codes=(OUT,),
)
hours(R, "a live call on a Saturday at noon: allowed", ME, local(f"{SAT}T12:00", NY),
      applied=False)  # fmt: skip

R = "us-tsr-abandonment-3pct"
_ab_a, _ab_f = robo(GA, T, line="landline")
case(
    R,
    "campaign abandonment 3.1%: dialer telemarketing denied",
    _ab_a,
    replace(_ab_f, campaign_abandonment=0.031),
    deny=(R,),
    codes=("abandonment_rate",),
)
case(
    R, "campaign abandonment exactly 3%: allowed", _ab_a, replace(_ab_f, campaign_abandonment=0.03)
)
case(
    R,
    "dialer telemarketing without a campaign: denied, missing fact",
    replace(_ab_a, campaign=None),
    _ab_f,
    deny=(R,),
    codes=("missing_fact",),
)
case(
    R,
    "a manual call is not measured",
    replace(_ab_a, technology="manual"),
    replace(_ab_f, campaign_abandonment=0.2),
    applied=False,
)

# --- Canada (CRTC Unsolicited Telecommunications Rules, rules.md §11) ----------------------

R = "ca-crtc-hours-telemarketing"
hours(R, "weekday 08:59:59 denied", TORONTO, local(f"{WED}T08:59:59", TOR), (R,))
hours(R, "weekday 09:00 allowed", TORONTO, local(f"{WED}T09:00", TOR))
hours(
    R,
    "weekday 21:15 allowed (the U.S. 21:00 limit does not apply)",
    TORONTO,
    local(f"{WED}T21:15", TOR),
)
hours(R, "weekday 21:29:59 allowed", TORONTO, local(f"{WED}T21:29:59", TOR))
hours(R, "weekday 21:30 denied", TORONTO, local(f"{WED}T21:30", TOR), (R,))
hours(R, "Saturday 09:59:59 denied", TORONTO, local(f"{SAT}T09:59:59", TOR), (R,))
hours(R, "Saturday 10:00 allowed", TORONTO, local(f"{SAT}T10:00", TOR))
hours(R, "Saturday 17:59:59 allowed", TORONTO, local(f"{SAT}T17:59:59", TOR))
hours(R, "Saturday 18:00 denied", TORONTO, local(f"{SAT}T18:00", TOR), (R,))
hours(R, "Vancouver Sunday 09:59:59 denied", VANCOUVER, local(f"{SUN}T09:59:59", VAN), (R,))
hours(R, "Vancouver Sunday 10:00 allowed", VANCOUVER, local(f"{SUN}T10:00", VAN))
hours(R, "Vancouver Sunday 17:59:59 allowed", VANCOUVER, local(f"{SUN}T17:59:59", VAN))
hours(R, "Vancouver Sunday 18:00 denied", VANCOUVER, local(f"{SUN}T18:00", VAN), (R,))
hours(
    R,
    "a Florida number whose customer lives in Ontario: CRTC weekend hours apply (§0.1, §11)",
    FL,
    local(f"{SAT}T18:30", NY),
    (R,),
    with_facts={"locations": (LocationFact("CA", "ON"),)},
)
hours(
    "us-fl-hours-telemarketing",
    "a Toronto number whose customer lives in Florida: Florida's 20:00 applies (§0.1, §11)",
    TORONTO,
    local(f"{WED}T20:30", TOR),
    ("us-fl-hours-telemarketing",),
    with_facts={"locations": (LocationFact("US", "FL"),)},
)

R = "ca-crtc-dncl"
_t_ca = local(f"{WED}T12:00", TOR)
_dncl = {"hits": ("canada",)}
case(
    R,
    "on the National DNCL: denied",
    attempt(TORONTO, _t_ca),
    facts(TORONTO, _t_ca, **_dncl),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "listed with express (oral, recorded) consent naming the seller: allowed",
    attempt(TORONTO, _t_ca),
    facts(TORONTO, _t_ca, consents=(pec(_t_ca - 30 * DAY),), **_dncl),
)
case(
    R,
    'listed with a "*" consent (seller not named): denied',
    attempt(TORONTO, _t_ca),
    facts(TORONTO, _t_ca, consents=(pec(_t_ca - 30 * DAY, sellers=("*",)),), **_dncl),
    deny=(R,),
    codes=("registry_listed",),
)
case(
    R,
    "listed with a purchase 17 months ago: allowed",
    attempt(TORONTO, _t_ca),
    facts(TORONTO, _t_ca, ebr=(ebr("purchase", date(2025, 6, 18)),), **_dncl),
)
case(
    R,
    "listed with an inquiry 4 months ago (6-month window): allowed",
    attempt(TORONTO, _t_ca),
    facts(TORONTO, _t_ca, ebr=(ebr("inquiry", date(2026, 7, 18)),), **_dncl),
)
for _day, _ok in (("2026-11-17", True), ("2026-11-18", False)):
    _t = local(f"{_day}T12:00", TOR)
    case(
        R,
        f"inquiry 2026-05-18 (+6 months), call {_day}",
        attempt(TORONTO, _t),
        facts(TORONTO, _t, ebr=(ebr("inquiry", date(2026, 5, 18)),), **_dncl),
        deny=() if _ok else (R,),
        codes=() if _ok else ("registry_listed",),
    )
case(
    "us-tcpa-national-dnc",
    "the 4-month inquiry that exempts a Canadian number does not exempt a U.S. one",
    attempt(GA, T),
    facts(GA, T, ebr=(ebr("inquiry", date(2026, 7, 18)),), **_listed),
    deny=("us-tcpa-national-dnc",),
    codes=("registry_listed",),
)
case(
    R,
    "DNCL copy stale: denied",
    attempt(TORONTO, _t_ca),
    facts(TORONTO, _t_ca, stale=("canada",)),
    deny=(R,),
    codes=("registry_unavailable",),
)
case(
    R,
    "DNCL not loaded: denied",
    attempt(TORONTO, _t_ca),
    facts(TORONTO, _t_ca, unloaded=("canada",)),
    deny=(R,),
    codes=("registry_unavailable",),
)
R = "ca-crtc-adad-consent"
case(
    R,
    "prerecorded solicitation without express consent: denied",
    *robo(TORONTO, _t_ca, technology="prerecorded"),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "prerecorded solicitation with express consent: allowed",
    *robo(TORONTO, _t_ca, pec(CONSENT_AT), technology="prerecorded"),
)
R = "ca-casl-consent"
case(
    R,
    "commercial text without consent: denied",
    *robo(TORONTO, _t_ca, technology="manual", channel="sms"),
    deny=(R,),
    codes=MISSING,
)
R = "ca-crtc-internal-dnc"
case(
    R,
    "internal list entry for the seller: denied",
    attempt(VANCOUVER, _t_ca),
    facts(VANCOUVER, _t_ca, internal=(dnc(_t_ca - DAY),)),
    deny=(R,),
    codes=("internal_dnc",),
)

# --- Every state Do-Not-Call list is scrubbed (rules.md §5.2) -----------------------------

STATE_LISTS = [
    ("us-co-state-dnc", 303, DEN, "CO"),
    ("us-in-state-dnc", 317, NY, "IN"),
    ("us-la-state-dnc", 504, CHI, "LA"),
    ("us-ma-state-dnc", 617, NY, "MA"),
    ("us-mo-state-dnc", 314, CHI, "MO"),
    ("us-ms-state-dnc", 601, CHI, "MS"),
    ("us-ok-state-dnc", 405, CHI, "OK"),
    ("us-pa-state-dnc", 215, NY, "PA"),
    ("us-tn-state-dnc", 615, CHI, "TN"),
    ("us-wy-state-dnc", 307, DEN, "WY"),
]
for _rule, _npa, _zone, _state in STATE_LISTS:
    _t = local(f"{WED}T12:00", _zone)
    case(
        _rule,
        f"{_npa} on the {_state} list: denied",
        attempt(nanp(_npa), _t),
        facts(nanp(_npa), _t, hits=(f"state:{_state}",)),
        deny=(_rule,),
        codes=("registry_listed",),
    )
    case(
        _rule,
        f"{_npa} with the {_state} list not loaded: denied",
        attempt(nanp(_npa), _t),
        facts(nanp(_npa), _t, unloaded=(f"state:{_state}",)),
        deny=(_rule,),
        codes=("registry_unavailable",),
    )

# --- Email -----------------------------------------------------------------------------------

R = "us-can-spam-mscm-authorization"
case(
    R,
    "marketing email to a wireless-domain address without authorization: denied",
    attempt(GA, T, channel="email"),
    deny=(R,),
    codes=MISSING,
)
case(
    R,
    "with express prior authorization for email: allowed",
    attempt(GA, T, channel="email"),
    facts(GA, T, consents=(pec(CONSENT_AT, channels=("email",)),)),
)

# --- Fail closed ---------------------------------------------------------------------------

R = "callwarden-missing-fact"
case(
    R,
    "a fact that could not be loaded denies",
    attempt(GA, T),
    facts(GA, T, missing=("consents",)),
    deny=(R,),
    codes=("missing_fact",),
)
case(
    R,
    "every missing fact is reported (one reason each, same rule)",
    attempt(GA, T),
    facts(GA, T, missing=("consents", "calls")),
    deny=(R,),
    codes=("missing_fact",),
)
R = "callwarden-unknown-local-time"
case(
    R,
    "toll-free number: unknown local time denies telemarketing",
    attempt(TOLL_FREE, T),
    deny=(R,),
    codes=("unknown_local_time",),
)
case(
    R,
    "toll-free number: unknown local time denies a collection call",
    _debt(TOLL_FREE, T),
    deny=(R,),
    codes=("unknown_local_time",),
)
case(
    R,
    "toll-free number: an informational call has no hours rule to judge",
    attempt(TOLL_FREE, T, purpose="informational"),
)
case(
    R,
    "toll-free number with a Hawaii address on file: still anywhere, so still unknown",
    attempt(TOLL_FREE, T),
    facts(TOLL_FREE, T, locations=(LocationFact("US", "HI"),)),
    deny=(R,),
    codes=("unknown_local_time",),
)
R = "callwarden-jurisdiction-not-covered"
case(
    R,
    "+44 20 7946 0958: no rule pack covers the country",
    attempt(UK, T),
    deny=(R,),
    codes=("jurisdiction_not_covered",),
)
case(
    R,
    "+44 informational call: still not covered",
    attempt(UK, T, purpose="informational"),
    deny=(R,),
    codes=("jurisdiction_not_covered",),
)
case(
    R,
    "a UK number with a US address on file: the UK still cannot be judged",
    attempt(UK, T),
    facts(UK, T, locations=(LocationFact("US", "NY"),)),
    deny=(R,),
    codes=("jurisdiction_not_covered",),
)
case(
    R,
    "a Georgia number with an address in Jalisco, Mexico on file: Mexico cannot be judged",
    attempt(GA, T),
    facts(GA, T, locations=(LocationFact("MX", "JAL"),)),
    deny=(R,),
    codes=("jurisdiction_not_covered",),
)
R = "callwarden-location-unplaced"
case(
    R,
    "a New York number with a ZIP-only address (90210) on file: its zone is unknown",
    attempt(nanp(212), T),
    facts(nanp(212), T, locations=(LocationFact("US", None, "90210"),)),
    deny=(R,),
    codes=("location_unplaced",),
)

# --- Every reason at once ------------------------------------------------------------------

_t3 = local(f"{WED}T20:30", NY)
case(
    "us-fl-hours-telemarketing",
    "with us-tcpa-national-dnc and us-fcc-company-dnc: all three reasons",
    attempt(FL, _t3),
    facts(FL, _t3, hits=("national",), internal=(dnc(_t3 - DAY),)),
    deny=("us-fl-hours-telemarketing", "us-tcpa-national-dnc", "us-fcc-company-dnc"),
    codes=(OUT, "registry_listed", "internal_dnc"),
)
_t_sun_tx = local(f"{SUN}T11:00", CHI)
case(
    "us-tx-registration",
    "with us-tx-hours-telemarketing (Sunday 11:00) and us-fcc-caller-id: all three reasons",
    attempt(TX, _t_sun_tx, caller_id=None),
    facts(TX, _t_sun_tx, registrations=()),
    deny=("us-tx-hours-telemarketing", "us-tx-registration", "us-fcc-caller-id"),
    codes=(OUT, "registration_missing", "caller_id_missing"),
)
_t5 = local(f"{WED}T21:30", NY)
case(
    "us-tcpa-wireless-autodialed-telemarketing-pewc",
    "dialer at 21:30, listed, no consent, no caller ID, no campaign: every reason",
    attempt(GA, _t5, technology="autodialer", caller_id=None, campaign=None),
    facts(GA, _t5, hits=("national",)),
    deny=(
        *FED,
        "us-tcpa-national-dnc",
        "us-tcpa-wireless-autodialed-telemarketing-pewc",
        "us-fcc-caller-id",
        "us-tsr-abandonment-3pct",
    ),
    codes=(OUT, "registry_listed", "consent_missing", "caller_id_missing", "missing_fact"),
)


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_scenario(c: Case) -> None:
    """The rules that deny (and their codes) are exactly the expected ones."""
    d = decide(c.attempt, c.facts, GATE)
    got = sorted((r.rule_id, r.code, r.message) for r in d.reasons)
    assert rule_ids(d) == c.deny, got
    assert codes(d) == c.codes, got
    assert d.allowed is (not c.deny)
    if not c.rule.startswith("callwarden-"):
        assert (c.rule in d.rules_applied) is c.applied, d.rules_applied


def test_table_is_large_and_names_rules() -> None:
    """At least 60 scenarios, each naming a rule the packs (or the fail-closed code) define."""
    known = {r.id for r in GATE.ruleset.rules}
    assert len(CASES) >= 60
    for c in CASES:
        assert c.rule in known or c.rule.startswith("callwarden-"), c.rule
        assert c.deny <= known | {c.rule}, c.id
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate scenario ids"


# --- Decisions beyond allow/deny: evidence, obligations, retry ------------------------------


def test_ebr_exemption_is_recorded() -> None:
    """us-tcpa-national-dnc: an allowed listed number names the EBR that exempted it."""
    f = facts(GA, T, hits=("national",), ebr=(ebr("purchase", date(2025, 6, 18), id=42),))
    d = decide(attempt(GA, T), f, GATE)
    assert d.allowed
    assert d.ebr_id == 42
    assert any(e.startswith("us-tcpa-national-dnc:") for e in d.exemptions)


def test_consent_used_is_recorded() -> None:
    """us-tcpa-wireless-autodialed-telemarketing-pewc: the decision names the consent used."""
    c = pewc(CONSENT_AT, id=7)
    a, f = robo(GA, T, c)
    d = decide(a, f, GATE)
    assert d.allowed
    assert d.consent_id == 7


# rules.md §5.3: all-party and contested states (GA: one-party; none when not recorded).
RECORDING = [
    (415, LAX, True, "us-ca-recording-disclosure"),
    (203, NY, True, "us-ct-recording-disclosure"),
    (302, NY, True, "us-de-recording-disclosure"),
    (305, NY, True, "us-fl-recording-disclosure"),
    (312, CHI, True, "us-il-recording-disclosure"),
    (410, NY, True, "us-md-recording-disclosure"),
    (617, NY, True, "us-ma-recording-disclosure"),
    (313, NY, True, "us-mi-recording-disclosure"),
    (406, DEN, True, "us-mt-recording-disclosure"),
    (603, NY, True, "us-nh-recording-disclosure"),
    (702, LAX, True, "us-nv-recording-disclosure"),
    (503, LAX, True, "us-or-recording-disclosure"),
    (215, NY, True, "us-pa-recording-disclosure"),
    (802, NY, True, "us-vt-recording-disclosure"),
    (206, LAX, True, "us-wa-recording-disclosure"),
    (404, NY, True, None),
    (305, NY, False, None),
]


@pytest.mark.parametrize(
    ("npa", "zone", "recorded", "expected"),
    RECORDING,
    ids=[f"{npa}-{'recorded' if rec else 'not recorded'}" for npa, _, rec, _ in RECORDING],
)
def test_recording_announcement(npa: int, zone: str, recorded: bool, expected: str | None) -> None:
    """A recorded call into an all-party state must announce the recording first."""
    at = local(f"{WED}T12:00", zone)
    a = attempt(nanp(npa), at, purpose="informational", recorded=recorded)
    d = decide(a, facts(nanp(npa), at), GATE)
    assert d.allowed
    found = [o.rule_id for o in d.obligations if o.code == "announce_recording"]
    assert found == ([expected] if expected else [])
    if expected:  # telemarketing too (Connecticut needs PEWC for any sales call)
        f = facts(nanp(npa), at, consents=(pewc(CONSENT_AT),))
        d = decide(replace(a, purpose="telemarketing"), f, GATE)
        assert d.allowed
        assert [o.rule_id for o in d.obligations if o.code == "announce_recording"] == [expected]


def test_recording_announcement_unknown_location() -> None:
    """callwarden-recording-unknown-location: no known location is treated as all-party."""
    d = decide(
        attempt(TOLL_FREE, T, purpose="informational", recorded=True), facts(TOLL_FREE, T), GATE
    )
    assert d.allowed
    assert [o.rule_id for o in d.obligations if o.code == "announce_recording"] == [
        "callwarden-recording-unknown-location"
    ]
    quiet = decide(attempt(TOLL_FREE, T, purpose="informational"), facts(TOLL_FREE, T), GATE)
    assert "announce_recording" not in obligation_codes(quiet)


def test_dialer_and_connecticut_obligations() -> None:
    """us-tsr-abandonment-ring-and-message, us-ct-identify-within-10s,
    us-tcpa-prerecorded-identification-opt-out: duties attached to an allowed attempt."""
    a, f = robo(GA, T, line="landline")
    assert obligation_codes(decide(a, f, GATE)) == {"ring_15s_and_2s_message"}
    a, f = robo(CT, T, pewc(CONSENT_AT), technology="manual")
    assert obligation_codes(decide(a, f, GATE)) == {"ct_identify_within_10s"}
    a, f = robo(GA, T, pewc(CONSENT_AT), line="landline", technology="prerecorded")
    assert "prerecorded_identify_and_opt_out" in obligation_codes(decide(a, f, GATE))


def test_email_and_text_obligations() -> None:
    """can-spam-required-content and us-regf-electronic-opt-out: content duties."""
    d = decide(attempt(GA, T, channel="email"), facts(GA, T, line_type="landline"), GATE)
    assert d.allowed
    assert obligation_codes(d) == {"can_spam_content"}
    d = decide(_debt(GA, T, channel="sms"), facts(GA, T), GATE)
    assert d.allowed
    assert obligation_codes(d) == {"electronic_opt_out_notice"}


def test_retry_at_when_only_hours_deny() -> None:
    """us-tcpa-hours-telemarketing: a call denied only for the hour may retry at 08:00 local."""
    at = local(f"{WED}T21:00", NY)
    d = decide(attempt(GA, at), facts(GA, at), GATE)
    assert not d.allowed
    assert d.retry_at == local("2026-11-19T08:00", NY)
    listed = decide(attempt(GA, at), facts(GA, at, hits=("national",)), GATE)
    assert listed.retry_at is None  # waiting does not cure a registry listing


def test_retry_at_respects_every_zone() -> None:
    """us-ky-hours-telemarketing: the retry instant is 10:00 Central (11:00 Eastern)."""
    at = local(f"{WED}T07:00", NY)
    d = decide(attempt(KY, at), facts(KY, at), GATE)
    assert d.retry_at == local(f"{WED}T10:00", CHI)


@pytest.mark.parametrize(
    ("kind", "occurred", "country", "expiry"),
    [
        ("purchase", date(2025, 5, 31), "US", date(2026, 11, 30)),
        ("purchase", date(2025, 8, 31), "US", date(2027, 2, 28)),
        ("purchase", date(2026, 8, 31), "US", date(2028, 2, 29)),
        ("transaction", date(2026, 1, 31), "US", date(2027, 7, 31)),
        ("inquiry", date(2026, 11, 30), "US", date(2027, 2, 28)),
        ("application", date(2026, 8, 18), "US", date(2026, 11, 18)),
        ("inquiry", date(2026, 5, 31), "CA", date(2026, 11, 30)),
        ("inquiry", date(2026, 8, 31), "CA", date(2027, 2, 28)),
        ("purchase", date(2025, 5, 31), "CA", date(2026, 11, 30)),
    ],
)
def test_ebr_expiry(kind: str, occurred: date, country: str, expiry: date) -> None:
    """rules.md §1.9 / §11: 18 months (purchase), 3 months (inquiry; 6 in Canada), clamped."""
    assert ebr_expiry(kind, occurred, country) == expiry


def test_naive_attempt_time_is_refused() -> None:
    """The gate never guesses a zone for a naive time."""
    with pytest.raises(ValueError):
        decide(attempt(GA, datetime(2026, 11, 18, 12, 0)), facts(GA, T), GATE)


def test_rnd_tie_between_no_and_no_data_fails_closed() -> None:
    """us-fcc-rnd-check: two answers queried at the same moment, "no" and "no data": deny."""
    at = utc("2026-11-30T17:00:00")
    given = at - timedelta(days=200)
    consent_ = pec(given, purposes=("informational",))
    for order in (("no", "no_data"), ("no_data", "no")):
        answers = tuple(rnd(consent_, at, result=r, age=timedelta(days=2)) for r in order)
        f = replace(facts(GA, at), consents=(consent_,), rnd=answers, line_type="wireless")
        d = decide(attempt(GA, at, purpose="informational", technology="autodialer"), f, GATE)
        assert codes(d) == {"rnd_no_data"}, order
