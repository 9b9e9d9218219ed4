"""Tests for the rule-pack data and its strict loader (callwarden.rules.models)."""

from __future__ import annotations

from datetime import date, datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callwarden.rules import Confidence, RulePackError, RuleSet, Status, load_packs, parse_pack
from callwarden.rules.windows import evaluate_hours, holiday_name, next_allowed

RULES = load_packs()
PACK_DIR = resources.files("callwarden.rules") / "packs"

# Every state row of rules.md §5.1 plus Oregon (§17.B), by postal code.
STATES_5_1 = [
    "FL", "OK", "MD", "CT", "WA", "TX", "UT", "RI", "LA", "MS", "AL", "KY", "MA",
    "MI", "MN", "NV", "NM", "SD", "NE", "PA", "IL", "OR", "VA",
]  # fmt: skip

MINIMAL = """
[pack]
id = "acme"
revision = "2026-11-28.1"
jurisdiction = "*"
source = "memo"

[[rules]]
id = "acme-hours"
jurisdiction = "*"
kind = "time_window"
applies_to = { purposes = ["telemarketing"], channels = ["voice"] }
window = { weekday = ["08:00", "20:00"] }
citation = "Acme CP-7"
effective_from = 2026-01-01
status = "in_force"
confidence = "C"
"""


def test_every_packaged_rule_has_citation_confidence_and_effective_from() -> None:
    """rules.md §0.7 and §13: every rule row carries a citation, a tag and effective dates."""
    assert len(RULES.rules) >= 30
    for rule in RULES.rules:
        assert rule.citation.strip()
        assert rule.confidence in set(Confidence)
        assert isinstance(rule.effective_from, date)
        assert rule.effective_to is None


def test_one_pack_per_section_5_1_state_plus_federal_and_canada() -> None:
    """Each §5.1 state has us-<state>.toml; federal (US) and CRTC (CA) packs exist."""
    names = {f.name for f in PACK_DIR.iterdir()}
    for state in STATES_5_1:
        assert f"us-{state.lower()}.toml" in names
        pack = next(p for p in RULES.packs if p.pack.id == f"us-{state.lower()}")
        assert pack.pack.jurisdiction == f"US-{state}"
        assert all(r.id.startswith(f"us-{state.lower()}-") for r in pack.rules)
        assert pack.rules
    assert {"us-federal.toml", "ca-federal.toml"} <= names


def test_revisions_name_every_pack() -> None:
    """RuleSet.revisions: pack id → revision, for decision logs."""
    revisions = RULES.revisions
    assert revisions["us-federal"] == "2026-11-29.2"
    # §5.1 states, federal, Canada, recording consent, the §5.2 list-only states, and Maine
    # (§17.B's other state facts)
    extra = {"us-recording-consent", "us-co", "us-in", "us-mo", "us-tn", "us-wy", "us-me"}
    assert extra <= set(revisions)
    assert len(revisions) == len(RULES.packs) == len(STATES_5_1) + 2 + len(extra)


def test_federal_rules_encoded() -> None:
    """47 CFR 64.1200(c)(1), 16 CFR 310.4(c) and 12 CFR 1006.6(b)(1)(i) are all 08:00-21:00."""
    for rule_id, citation in [
        ("us-tcpa-hours-telemarketing", "47 CFR 64.1200(c)(1)"),
        ("us-tsr-hours-telemarketing", "16 CFR 310.4(c)"),
        ("us-regf-hours-debt-collection", "12 CFR 1006.6(b)(1)(i)"),
    ]:
        rule = RULES.get(rule_id)
        assert rule.citation == citation
        assert rule.window is not None
        assert rule.window.weekday is not None and rule.window.weekday != "none"
        assert [t.strftime("%H:%M") for t in rule.window.weekday] == ["08:00", "21:00"]
    assert RULES.get("us-regf-hours-debt-collection").effective_from == date(2021, 11, 30)


def test_mississippi_reads_fixed_cst_as_data() -> None:
    """us-ms-hours-telemarketing: fixed CST is the zone Etc/GMT+6, read alongside local time."""
    tz = RULES.get("us-ms-hours-telemarketing").timezone_rule
    assert tz.local and tz.fixed == ("Etc/GMT+6",)


def test_pennsylvania_act_73_list() -> None:
    """us-pa-no-calls-holidays (Act 73 of 2019): 13 named holidays with observed dates."""
    cal = RULES.get("us-pa-no-calls-holidays").holidays
    assert cal is not None and len(cal.explicit) == 13
    assert holiday_name(cal, date(2026, 4, 3)) == "Good Friday"
    assert holiday_name(cal, date(2026, 6, 14)) == "Flag Day"
    assert holiday_name(cal, date(2026, 6, 15)) == "Flag Day (observed)"  # Sunday → Monday
    assert holiday_name(cal, date(2026, 11, 3)) == "Election Day"
    assert holiday_name(cal, date(2027, 1, 18)) == "Martin Luther King Jr. Day"
    assert holiday_name(cal, date(2026, 5, 25)) == "Memorial Day"
    assert holiday_name(cal, date(2026, 11, 26)) == "Thanksgiving Day"
    assert holiday_name(cal, date(2026, 11, 27)) is None


def test_every_holiday_calendar_resolves() -> None:
    """Each holiday calendar yields dates for 2025-2028 from the holidays package or data."""
    for rule in RULES.rules:
        if rule.holidays is not None:
            for year in range(2025, 2029):
                assert holiday_name(rule.holidays, date(year, 12, 25)) is not None


def test_in_force_respects_status_and_dates() -> None:
    """RuleSet.in_force: only status in_force, effective_from <= day < effective_to."""
    text = MINIMAL + MINIMAL.split("[[rules]]")[1].join(["[[rules]]", ""]).replace(
        'id = "acme-hours"', 'id = "acme-delayed"'
    ).replace('"in_force"', '"delayed"')
    text = text.replace('confidence = "C"\n', 'confidence = "C"\neffective_to = 2026-06-01\n', 1)
    rules = RuleSet((parse_pack(text),))
    assert [r.id for r in rules.in_force(date(2026, 5, 31))] == ["acme-hours"]
    assert rules.in_force(date(2026, 6, 1)) == []  # effective_to is exclusive
    assert rules.in_force(date(2025, 12, 31)) == []
    assert rules.get("acme-delayed").status is Status.DELAYED


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('citation = "Acme CP-7"', 'citation = "Acme CP-7"\ncolour = "red"', "Extra inputs"),
        ('["08:00", "20:00"]', '["8:00", "20:00"]', "HH:MM"),
        ('["08:00", "20:00"]', '["20:00", "08:00"]', "before its end"),
        ('["08:00", "20:00"]', '"closed"', "none"),
        ('revision = "2026-11-28.1"', 'revision = "latest"', "revision"),
        ('confidence = "C"', 'confidence = "X"', "confidence"),
        ("effective_from = 2026-01-01", 'effective_from = "soon"', "effective_from"),
        ('kind = "time_window"', 'kind = "no_calls_on_day"', "needs `days`"),
        ('jurisdiction = "*"\nkind', 'jurisdiction = "us-fl"\nkind', "jurisdiction"),
        ('citation = "Acme CP-7"', 'citation = ""', "citation"),
        ("window = ", "timezone_rule = { local = false }\nwindow = ", "timezone_rule"),
        ("window = ", 'timezone_rule = { fixed = ["Mars/Olympus"] }\nwindow = ', "IANA"),
        # a holiday window reads the rule's calendar: neither without the other
        ('["08:00", "20:00"] }', '["08:00", "20:00"], holiday = ["13:00", "21:00"] }', "calendar"),
        ("window = ", 'holidays = { package = "US-NE" }\nwindow = ', "not allowed"),
        ("window = ", 'channels_together = ["voice", "sms"]\nwindow = ', "internal_dnc"),
    ],
)
def test_strict_validation_rejects(old: str, new: str, message: str) -> None:
    """The loader rejects unknown keys, bad times, bad dates and inconsistent rules."""
    assert old in MINIMAL
    with pytest.raises(RulePackError, match=message):
        parse_pack(MINIMAL.replace(old, new, 1))


def test_bad_holiday_rule_rejected() -> None:
    """Explicit holidays must use a known date rule naming a real date."""
    base = MINIMAL.replace('kind = "time_window"', 'kind = "no_calls_on_holiday"').replace(
        'window = { weekday = ["08:00", "20:00"] }',
        "holidays = { explicit = [{ name = 'X', rule = 'RULE' }] }",
    )
    parse_pack(base.replace("RULE", "fixed 06-14"))
    for bad in ("fixed 02-30", "nth 5 mon 01", "someday"):
        with pytest.raises(RulePackError, match="holiday rule"):
            parse_pack(base.replace("RULE", bad))


def test_a_holiday_window_replaces_the_days_own_on_holidays_only() -> None:
    """A time window's `holiday` entry applies on the calendar's holidays, and only there."""
    pack = parse_pack(
        MINIMAL.replace(
            'window = { weekday = ["08:00", "20:00"] }',
            'window = { weekday = ["08:00", "20:00"], holiday = ["13:00", "21:00"] }\n'
            "holidays = { explicit = [{ name = 'Founders Day', rule = 'fixed 11-18' }] }",
        )
    )
    (rule,) = pack.rules
    zone = "America/New_York"

    def denied(at: datetime) -> bool:
        found = evaluate_hours(
            [rule], at=at, zones=[zone], states=[], country="US",
            purpose="telemarketing", channel="voice", technology="manual",
        )  # fmt: skip
        return bool(found)

    holiday, ordinary = date(2026, 11, 18), date(2026, 11, 19)  # both weekdays
    at = lambda d, hh: datetime(d.year, d.month, d.day, hh, tzinfo=ZoneInfo(zone))  # noqa: E731
    assert denied(at(holiday, 10)) and not denied(at(holiday, 13))
    assert not denied(at(holiday, 20)) and not denied(at(ordinary, 10))
    assert denied(at(ordinary, 20))
    found = evaluate_hours(
        [rule], at=at(holiday, 10), zones=[zone], states=[], country="US",
        purpose="telemarketing", channel="voice", technology="manual",
    )  # fmt: skip
    assert "on a holiday (Founders Day)" in found[0].message
    # the next allowed instant knows the holiday window opens at 13:00
    assert next_allowed(
        [rule], after=at(holiday, 10), zones=[zone], states=[], country="US",
        purpose="telemarketing", channel="voice", technology="manual",
    ) == at(holiday, 13)  # fmt: skip


def test_invalid_toml_rejected() -> None:
    """A file that is not TOML is reported with its name."""
    with pytest.raises(RulePackError, match=r"bad\.toml: not valid TOML"):
        parse_pack("[pack", source="bad.toml")


def test_duplicate_rule_id_across_packs_rejected(tmp_path: Path) -> None:
    """Rule ids are unique across packs (decision logs cite them)."""
    clash = MINIMAL.replace('id = "acme"', 'id = "acme2"').replace(
        'id = "acme-hours"', 'id = "us-fl-hours-telemarketing"'
    )
    (tmp_path / "clash.toml").write_text(clash, encoding="utf-8")
    with pytest.raises(RulePackError, match="us-fl-hours-telemarketing"):
        load_packs(extra_dirs=[tmp_path])


def test_extra_dirs_add_company_policy(tmp_path: Path) -> None:
    """load_packs(extra_dirs=...) adds a company policy pack beside the packaged ones."""
    (tmp_path / "acme.toml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "README.txt").write_text("not a pack", encoding="utf-8")
    rules = load_packs(extra_dirs=[tmp_path])
    assert rules.revisions["acme"] == "2026-11-28.1"
    assert rules.get("acme-hours").jurisdiction == "*"
    only = load_packs(tmp_path)
    assert [p.pack.id for p in only.packs] == ["acme"]


def test_missing_directory_rejected(tmp_path: Path) -> None:
    """A pack directory that does not exist is an error, not an empty rule set."""
    with pytest.raises(RulePackError, match="does not exist"):
        load_packs(extra_dirs=[tmp_path / "nope"])


def test_docs_rules_table_is_current_and_every_rule_is_tested() -> None:
    """docs/rules.md is generated from the packs; regenerate with scripts/rules_table.py."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "rules_table.py"
    spec = importlib.util.spec_from_file_location("rules_table", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render()
    assert "**none**" not in text, "a rule has no test that names it"
    assert module.DOC.read_text() == text, "docs/rules.md is out of date"
