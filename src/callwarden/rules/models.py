"""Rule packs: pydantic models for calling-hour, day and holiday rules, and the pack loader."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from callwarden.errors import ValidationFailed

__all__ = [
    "HOURS_KINDS",
    "AppliesTo",
    "CapSpec",
    "Channel",
    "Confidence",
    "ConsentSpec",
    "DayName",
    "ExplicitHoliday",
    "HolidayCalendar",
    "LineType",
    "ObligationSpec",
    "PackHeader",
    "Purpose",
    "RegistrySpec",
    "RevocationSpec",
    "Rule",
    "RuleKind",
    "RulePack",
    "RulePackError",
    "RuleSet",
    "Status",
    "Technology",
    "TimezoneRule",
    "WeeklyWindow",
    "load_packs",
    "parse_pack",
]


class RulePackError(ValidationFailed):
    """A rule pack file is unreadable, malformed, or conflicts with another pack."""


class Purpose(StrEnum):
    TELEMARKETING = "telemarketing"
    DEBT_COLLECTION = "debt_collection"
    INFORMATIONAL = "informational"


class Channel(StrEnum):
    VOICE = "voice"
    SMS = "sms"
    EMAIL = "email"


class LineType(StrEnum):
    WIRELESS = "wireless"
    LANDLINE = "landline"
    VOIP = "voip"


class Technology(StrEnum):
    MANUAL = "manual"
    AUTODIALER = "autodialer"
    PRERECORDED = "prerecorded"
    ARTIFICIAL_VOICE = "artificial_voice"


class RuleKind(StrEnum):
    TIME_WINDOW = "time_window"
    NO_CALLS_ON_DAY = "no_calls_on_day"
    NO_CALLS_ON_HOLIDAY = "no_calls_on_holiday"
    REGISTRY = "registry"  # a Do-Not-Call registry must be scrubbed (and be fresh)
    INTERNAL_DNC = "internal_dnc"  # the company-specific Do-Not-Call list
    CONSENT_REQUIRED = "consent_required"  # prior express (written) consent naming the seller
    REVOCATION = "revocation"  # how far a revocation reaches
    REASSIGNED_NUMBERS = "reassigned_numbers"  # RND check before relying on consent
    FREQUENCY_CAP = "frequency_cap"  # at most N attempts per rolling window
    CONVERSATION_COOLOFF = "conversation_cooloff"  # no call for N days after a conversation
    EMERGENCY_BAN = "emergency_ban"  # no calls while a declared emergency is active
    REGISTRATION_REQUIRED = "registration_required"  # the seller must be registered
    CALLER_ID_REQUIRED = "caller_id_required"  # a callable caller ID must be sent
    ABANDONMENT_LIMIT = "abandonment_limit"  # campaign abandonment rate ceiling
    PROHIBITED = "prohibited"  # the attempt's kind is banned outright
    OBLIGATION = "obligation"  # an allowed attempt carries a duty (announce the recording...)


HOURS_KINDS = frozenset(
    {RuleKind.TIME_WINDOW, RuleKind.NO_CALLS_ON_DAY, RuleKind.NO_CALLS_ON_HOLIDAY}
)


class Status(StrEnum):
    IN_FORCE = "in_force"
    DELAYED = "delayed"
    VACATED = "vacated"
    PROPOSED = "proposed"


class Confidence(StrEnum):
    """rules.md §0 tags: Confirmed, Secondary-sourced, Unconfirmed."""

    C = "C"
    S = "S"
    U = "U"


DayName = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
DAY_NAMES: tuple[DayName, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _parse_hhmm(value: object) -> time:
    # Packs spell times as "HH:MM" strings only: TOML local times or "8:00" would diff badly.
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ValueError(f'expected a time as "HH:MM", got {value!r}')
    return time.fromisoformat(value)


def _parse_day(value: object) -> tuple[time, time] | Literal["none"] | None:
    if value is None or value == "none":
        return value  # type: ignore[return-value]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f'expected ["HH:MM", "HH:MM"] or "none", got {value!r}')
    start, end = _parse_hhmm(value[0]), _parse_hhmm(value[1])
    if not start < end:
        raise ValueError(f"window start {value[0]} must be before its end {value[1]}")
    return (start, end)


# A day's window: a half-open (start, end) pair, "none" (no calls that day), or
# None (this rule says nothing about that day).
def _dump_day(value: tuple[time, time] | str | None) -> list[str] | str | None:
    # Written back as the pack spells it, so a stored pack parses again (replay).
    if isinstance(value, tuple):
        return [value[0].strftime("%H:%M"), value[1].strftime("%H:%M")]
    return value


DaySpec = Annotated[
    tuple[time, time] | Literal["none"] | None,
    BeforeValidator(_parse_day),
    PlainSerializer(_dump_day),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeeklyWindow(_Strict):
    """Allowed local hours per day type; windows are half-open (start <= t < end)."""

    weekday: DaySpec = None
    saturday: DaySpec = None
    sunday: DaySpec = None
    # on a holiday of the rule's `holidays` calendar, this window instead of the day's own
    holiday: DaySpec = None

    def for_weekday(self, weekday: int) -> tuple[time, time] | Literal["none"] | None:
        """The window for a `date.weekday()` number (0 = Monday)."""
        if weekday == 5:
            return self.saturday
        if weekday == 6:
            return self.sunday
        return self.weekday


class AppliesTo(_Strict):
    """Which attempts a rule covers; an empty `technologies` means every technology."""

    purposes: frozenset[Purpose] = Field(min_length=1)
    channels: frozenset[Channel] = Field(min_length=1)
    technologies: frozenset[Technology] = frozenset()
    # an empty set means every line type; an unknown line type meets every rule (fail closed)
    line_types: frozenset[LineType] = frozenset()


CapKey = Literal["number", "seller", "subject", "debt", "campaign"]


class CapSpec(_Strict):
    """A frequency cap: at most `max_attempts` in the window, counted per `key`.

    `window_hours` is a sliding window ending at the attempt; `window_days` counts calendar
    days in the called party's local date, the attempt's day being the last (Reg F's
    "7 consecutive days"). `counts = "connected"` leaves out attempts that never reached the
    number (12 CFR 1006.14(b)(3)); "placed" counts every attempt.
    """

    max_attempts: int = Field(ge=0)
    window_hours: int | None = Field(default=None, gt=0)
    window_days: int | None = Field(default=None, gt=0)
    key: tuple[CapKey, ...] = Field(min_length=1)
    counts: Literal["placed", "connected"] = "placed"

    @model_validator(mode="after")
    def _check(self) -> CapSpec:
        if (self.window_hours is None) == (self.window_days is None):
            raise ValueError("a cap needs exactly one of window_hours or window_days")
        return self


class ConsentSpec(_Strict):
    """Which consent an attempt needs: prior express (pec) or prior express written (pewc)."""

    level: Literal["pec", "pewc"]


class RegistrySpec(_Strict):
    """A registry to scrub against, and what exempts a seller from it."""

    list: str = Field(pattern=r"^(national|canada|state:[A-Z]{2})$")
    # written_consent: PEWC / signed agreement naming the seller; consent: any express
    # consent naming the seller (Canada accepts oral); ebr: a live business relationship
    exempt_by: frozenset[Literal["written_consent", "consent", "ebr"]] = frozenset()


class RevocationSpec(_Strict):
    """How far a revocation reaches: its message type and business unit, or everything."""

    reach: Literal["scope_and_unit", "all"]


class ObligationSpec(_Strict):
    """A duty an allowed attempt carries; `when_recorded` limits it to recorded calls."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    message: str = Field(min_length=1)
    when_recorded: bool = False


class TimezoneRule(_Strict):
    """Where the window is read: the called party's local zone(s) and/or fixed IANA zones."""

    local: bool = True
    fixed: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> TimezoneRule:
        if not self.local and not self.fixed:
            raise ValueError("timezone_rule needs local = true or at least one fixed zone")
        for zone in self.fixed:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown IANA zone {zone!r}") from exc
        return self


_RULE_SPEC = re.compile(
    r"^(?:fixed (?P<fm>\d\d)-(?P<fd>\d\d)"
    r"|nth (?P<n>[1-4]) (?P<nwd>mon|tue|wed|thu|fri|sat|sun) (?P<nmon>\d\d)"
    r"|last (?P<lwd>mon|tue|wed|thu|fri|sat|sun) (?P<lmon>\d\d)"
    r"|easter (?P<eoff>[+-]\d+)"
    r"|election-day)$"
)


class ExplicitHoliday(_Strict):
    """One holiday given as data: a name and a date rule.

    Rules: "fixed MM-DD", "nth N DOW MM" (3rd Monday of January: "nth 3 mon 01"),
    "last DOW MM", "easter +/-N" (Good Friday: "easter -2"), "election-day"
    (the Tuesday after the first Monday in November).
    """

    name: str = Field(min_length=1)
    rule: str

    @model_validator(mode="after")
    def _check(self) -> ExplicitHoliday:
        match = _RULE_SPEC.match(self.rule)
        if not match:
            raise ValueError(f"unknown holiday rule {self.rule!r}")
        month = match["fm"] or match["nmon"] or match["lmon"]
        try:  # a leap year accepts every real month-day, so only impossible dates fail
            date(2024, int(month or 1), int(match["fd"] or 1))
        except ValueError as exc:
            raise ValueError(f"holiday rule {self.rule!r} names no real date") from exc
        return self


class HolidayCalendar(_Strict):
    """A holiday calendar: a `holidays` package code (e.g. "US-LA") and/or explicit dates.

    `observed = "package"` keeps the package's own observed dates (it lists both the actual
    and the observed day); "sat_fri_sun_mon" adds, for explicit holidays, Friday for a
    Saturday holiday and Monday for a Sunday one (the actual day stays a holiday too);
    "none" uses actual dates only.
    """

    package: str | None = Field(default=None, pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
    explicit: tuple[ExplicitHoliday, ...] = ()
    observed: Literal["package", "sat_fri_sun_mon", "none"] = "package"

    @model_validator(mode="after")
    def _check(self) -> HolidayCalendar:
        if self.package is None and not self.explicit:
            raise ValueError("a holiday calendar needs a package code or explicit holidays")
        return self


# The parameter block each kind must carry (kinds not listed need none).
_NEEDS: dict[RuleKind, str] = {
    RuleKind.TIME_WINDOW: "window",
    RuleKind.NO_CALLS_ON_DAY: "days",
    RuleKind.NO_CALLS_ON_HOLIDAY: "holidays",
    RuleKind.FREQUENCY_CAP: "cap",
    RuleKind.CONSENT_REQUIRED: "consent",
    RuleKind.REGISTRY: "registry",
    RuleKind.REVOCATION: "revocation",
    RuleKind.OBLIGATION: "obligation",
    RuleKind.CONVERSATION_COOLOFF: "cooloff_days",
    RuleKind.ABANDONMENT_LIMIT: "max_rate",
    RuleKind.REASSIGNED_NUMBERS: "max_result_age_days",
}


class Rule(_Strict):
    """One rule of any kind, with its scope, citation, effective dates and confidence tag."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    jurisdiction: str = Field(pattern=r"^(\*|[A-Z]{2}(-[A-Z]{2})?)$")
    kind: RuleKind
    applies_to: AppliesTo
    window: WeeklyWindow | None = None
    days: frozenset[DayName] = frozenset()
    holidays: HolidayCalendar | None = None
    cap: CapSpec | None = None
    consent: ConsentSpec | None = None
    registry: RegistrySpec | None = None
    revocation: RevocationSpec | None = None
    obligation: ObligationSpec | None = None
    cooloff_days: int | None = Field(default=None, gt=0)
    max_rate: float | None = Field(default=None, ge=0, le=1)
    max_result_age_days: int | None = Field(default=None, gt=0)
    # internal_dnc: channels one request covers together, whichever it was made on
    channels_together: frozenset[Channel] = frozenset()
    # facts of the attempt the rule cannot be judged without (missing: deny, fail closed)
    requires: frozenset[Literal["subject", "debt", "campaign", "caller_id"]] = frozenset()
    timezone_rule: TimezoneRule = TimezoneRule()
    lifted_by: frozenset[str] = frozenset()
    citation: str = Field(min_length=1)
    effective_from: date
    effective_to: date | None = None
    status: Status
    confidence: Confidence
    notes: str = ""

    @model_validator(mode="after")
    def _check_kind(self) -> Rule:
        needs = _NEEDS.get(self.kind)
        if needs is not None and not getattr(self, needs):
            raise ValueError(f"a {self.kind.value} rule needs `{needs}`")
        if self.channels_together and self.kind is not RuleKind.INTERNAL_DNC:
            raise ValueError("`channels_together` is only for internal_dnc rules")
        holiday_window = self.window is not None and self.window.holiday is not None
        if holiday_window and self.holidays is None:
            raise ValueError("a window with a `holiday` entry needs a `holidays` calendar")
        for kind, name in _NEEDS.items():
            if name == "holidays" and holiday_window:
                continue  # a time window's holiday entry reads this calendar
            if kind is not self.kind and name != needs and getattr(self, name):
                raise ValueError(f"`{name}` is not allowed on a {self.kind.value} rule")
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        return self

    def in_force_on(self, day: date) -> bool:
        """True when the rule is in force on `day` (effective_to is exclusive)."""
        return (
            self.status is Status.IN_FORCE
            and self.effective_from <= day
            and (self.effective_to is None or day < self.effective_to)
        )


class PackHeader(_Strict):
    """A pack's identity: decision logs name the pack id and revision they used."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    revision: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}\.\d+$")
    jurisdiction: str = Field(pattern=r"^(\*|[A-Z]{2}(-[A-Z]{2})?)$")
    source: str = Field(min_length=1)


class RulePack(_Strict):
    """One TOML file: a `[pack]` header and `[[rules]]`."""

    pack: PackHeader
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _check_jurisdictions(self) -> RulePack:
        scope = self.pack.jurisdiction
        for rule in self.rules:
            # A "*" (company policy) pack may hold any rule; otherwise rules stay inside
            # the pack's jurisdiction so a reader finds a state's rules in its own file.
            inside = scope in ("*", rule.jurisdiction) or (
                "-" not in scope and rule.jurisdiction.startswith(scope + "-")
            )
            if not inside:
                raise ValueError(f"rule {rule.id} ({rule.jurisdiction}) is outside pack {scope}")
        return self


@dataclass(frozen=True)
class RuleSet:
    """Every loaded pack; rule ids are unique across packs."""

    packs: tuple[RulePack, ...]
    rules: tuple[Rule, ...] = field(init=False)

    def __post_init__(self) -> None:
        rules = tuple(rule for pack in self.packs for rule in pack.rules)
        seen: dict[str, str] = {}
        for pack in self.packs:
            for rule in pack.rules:
                if rule.id in seen:
                    raise RulePackError(
                        f"rule id {rule.id!r} is in both {seen[rule.id]} and {pack.pack.id}"
                    )
                seen[rule.id] = pack.pack.id
        pack_ids = [p.pack.id for p in self.packs]
        if len(set(pack_ids)) != len(pack_ids):
            raise RulePackError(f"duplicate pack ids in {sorted(pack_ids)}")
        object.__setattr__(self, "rules", rules)

    @property
    def revisions(self) -> dict[str, str]:
        """Pack id → revision, for decision logs and replay."""
        return {p.pack.id: p.pack.revision for p in self.packs}

    def in_force(self, at: date) -> list[Rule]:
        """Rules with status in_force whose effective dates cover `at`."""
        if isinstance(at, datetime):  # a datetime is a date, but compares only with datetimes
            at = at.date()
        return [rule for rule in self.rules if rule.in_force_on(at)]

    def get(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError if absent)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


def parse_pack(text: str, *, source: str = "<string>") -> RulePack:
    """Parse and validate one pack from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulePackError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return RulePack.model_validate(data)
    except ValidationError as exc:
        raise RulePackError(f"{source}: {exc}") from exc


def _pack_files(directory: Traversable) -> Iterable[Traversable]:
    return sorted(
        (f for f in directory.iterdir() if f.is_file() and f.name.endswith(".toml")),
        key=lambda f: f.name,
    )


def load_packs(directory: Path | None = None, *, extra_dirs: Sequence[Path] = ()) -> RuleSet:
    """Load every `*.toml` pack from `directory` (default: the packaged packs) and `extra_dirs`."""
    base: Traversable = (
        directory if directory is not None else resources.files("callwarden.rules") / "packs"
    )
    sources: list[Traversable] = [base, *extra_dirs]
    packs: list[RulePack] = []
    for src in sources:
        if not src.is_dir():
            raise RulePackError(f"rule pack directory {src} does not exist")
        for file in _pack_files(src):
            packs.append(parse_pack(file.read_text(encoding="utf-8"), source=str(file)))
    return RuleSet(tuple(packs))
