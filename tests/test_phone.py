"""Examples for callwarden.phone: formats, reasons, area-code data and candidate time zones."""

from __future__ import annotations

import csv
import subprocess
import sys
import zoneinfo
from importlib import resources

import phonenumbers
import pytest
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

from callwarden.errors import ValidationFailed
from callwarden.phone import (
    NANP_REGIONS,
    REASONS,
    AreaCodeInfo,
    InvalidPhoneNumber,
    PhoneNumber,
    area_code_info,
    candidate_time_zones,
    fast_nanp_digits,
    in_service_npas,
    normalize_many,
    parse,
    parse_e164_int,
)

NY = "America/New_York"
CHI = "America/Chicago"


def zones(text: str) -> tuple[str, ...]:
    return parse(text).time_zones


def pn_zones(e164: str) -> tuple[str, ...]:
    """What phonenumbers alone says, to show the correction is needed."""
    return tuple(pn_timezone.time_zones_for_number(phonenumbers.parse(e164)))


def reason(value: object, **kwargs: str) -> str:
    with pytest.raises(InvalidPhoneNumber) as info:
        parse(value, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


# --- Parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "(404) 555-0100",
        "+1 404 555 0100",
        "4045550100",
        "1-404-555-0100",
        "404.555.0100",
        "+1 (404) 555-0100",
        "+14045550100",
        "1 (404) 555-0100",
        "404/555-0100",
        "  404 555 0100\t",
        "tel:+1-404-555-0100",
        "011 1 404 555 0100",
        "٤٠٤٥٥٥٠١٠٠",  # Arabic-Indic digits
        "４０４５５５０１００",  # fullwidth digits
    ],
)
def test_accepted_styles_give_the_same_number(text: str) -> None:
    number = parse(text)
    assert number == PhoneNumber(
        e164="+14045550100",
        digits=14045550100,
        country_code=1,
        national="4045550100",
        is_nanp=True,
        npa=404,
        nxx=555,
        region="US",
        state="GA",
        time_zones=(NY,),
        states=("GA",),
    )
    assert str(number) == "+14045550100"


def test_fictional_555_01xx_numbers_are_valid() -> None:
    assert parse("202-555-0143").e164 == "+12025550143"
    assert fast_nanp_digits("202-555-0143") == 12025550143
    # NANP validity is structural: phonenumbers' metadata rejects some of these numbers.
    for e164 in ("+12425550100", "+16845550100", "+17295550100"):
        assert not phonenumbers.is_valid_number(phonenumbers.parse(e164))
        assert parse(e164).e164 == e164


def test_extension_is_stripped_and_kept() -> None:
    number = parse("+1 (404) 555-0100 ext. 12")
    assert number.e164 == "+14045550100"
    assert number.extension == "12"
    assert number == parse("404-555-0100")  # the extension takes no part in equality
    assert parse("(404) 555-0100 x7").extension == "7"
    assert fast_nanp_digits("404-555-0100 x7") is None  # the fast path leaves it to parse


def test_vanity_letters_are_converted() -> None:
    assert parse("1-800-FLOWERS").e164 == "+18003569377"


def test_international_numbers() -> None:
    uk = parse("+44 20 7946 0958")
    assert (uk.e164, uk.digits, uk.country_code, uk.national) == (
        "+442079460958",
        442079460958,
        44,
        "2079460958",
    )
    assert (uk.is_nanp, uk.npa, uk.nxx, uk.region, uk.state) == (False, None, None, "GB", None)
    assert uk.time_zones == ("Europe/London",)
    assert parse("011 44 20 7946 0958") == uk  # US international prefix
    assert parse("020 7946 0958", default_region="GB") == uk
    assert parse("+61 2 9374 4000").time_zones == ("Australia/Sydney",)


def test_default_region() -> None:
    # Without a country code, a NANP default region reads 10 digits as NANP...
    assert parse("4165550100", default_region="CA").state == "ON"
    assert parse("4165550100", default_region="ca").region == "CA"
    # ... and another region does not.
    assert reason("4045550100", default_region="GB") == "invalid_number"
    assert parse("+1 404 555 0100", default_region="GB").e164 == "+14045550100"


def test_integer_input_is_read_as_its_digits() -> None:
    assert parse(4045550100).e164 == "+14045550100"  # type: ignore[arg-type]


def test_parse_e164_int() -> None:
    assert parse_e164_int(14045550100) == parse("404-555-0100")
    assert parse_e164_int(442079460958).e164 == "+442079460958"
    for bad in (0, -14045550100, 4045550100, 12115550100, 32010000000, True, "1404", 1.4e10):
        with pytest.raises(InvalidPhoneNumber):
            parse_e164_int(bad)  # type: ignore[arg-type]


# --- Reasons ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "empty"),
        ("   \t\n", "empty"),
        (None, "empty"),
        (float("nan"), "empty"),
        ("abc", "not_a_number"),
        ("---", "not_a_number"),
        ("+", "not_a_number"),
        (b"4045550100", "not_a_number"),
        (True, "not_a_number"),
        ("555-0100", "too_short"),
        ("404 555 010", "too_short"),
        ("+1", "too_short"),
        ("+44 1234", "too_short"),
        ("+1 404 555 01000", "too_long"),
        ("404 555 0100 1", "too_long"),
        ("4" * 300, "too_long"),
        ("+999 555 0100", "invalid_country_code"),
        ("123-555-0100", "invalid_area_code"),  # NPA cannot start with 1
        ("1 123 456 7890", "invalid_area_code"),
        ("11234567890", "invalid_area_code"),
        ("023-555-0100", "invalid_area_code"),  # NPA cannot start with 0 (read as IDD)
        ("+1 023 555 0100", "invalid_area_code"),
        ("+1 211 555 0100", "invalid_area_code"),  # N11
        ("+1 290 555 0100", "invalid_area_code"),  # N9X expansion code
        ("+1 372 555 0100", "invalid_area_code"),  # 37X reserved
        ("+1 555 555 0100", "invalid_area_code"),  # directory assistance
        ("+1 880 555 0100", "invalid_area_code"),  # set aside for toll free
        ("221-555-0100", "not_in_service"),  # assignable, never assigned
        ("679-555-0100", "not_in_service"),  # assigned (MI) but not in service
        ("822-555-0100", "not_in_service"),  # future toll-free code
        ("404-155-0100", "invalid_exchange"),
        ("404-055-0100", "invalid_exchange"),
        ("404-911-0100", "invalid_exchange"),
        ("404-411-0100", "invalid_exchange"),
        ("+44 20 7946 095", "invalid_number"),
        ("+44 99 9999 9999", "invalid_number"),
    ],
)
def test_reason_codes(value: object, expected: str) -> None:
    assert expected in REASONS
    assert reason(value) == expected


def test_invalid_phone_number_is_a_validation_failure() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse("221-555-0100")
    err = info.value
    assert isinstance(err, InvalidPhoneNumber)
    assert err.code == "invalid_input"
    assert err.message == "Area code 221 is not in service."
    assert InvalidPhoneNumber("empty", field="phone").field == "phone"
    with pytest.raises(ValueError):
        InvalidPhoneNumber("no_such_reason")


def test_toll_free_and_non_geographic_numbers_are_valid_without_geography() -> None:
    for npa in (800, 833, 844, 855, 866, 877, 888, 500, 533, 700, 710, 900):
        number = parse(f"+1 {npa} 555 0100")
        assert number.is_nanp
        assert number.state is None
        assert number.states == ()
        assert number.time_zones == ()  # unknown: callers fail closed
        assert candidate_time_zones(number.digits) == ()
    assert parse("1-800-555-0100").region == "US"


# --- Area-code data ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("npa", "region", "state"),
    [
        (404, "US", "GA"),
        (212, "US", "NY"),
        (907, "US", "AK"),
        (202, "US", "DC"),
        (416, "CA", "ON"),
        (514, "CA", "QC"),
        (306, "CA", "SK"),
        (787, "PR", "PR"),
        (340, "VI", "VI"),
        (671, "GU", "GU"),
        (729, "US", "TN"),
        (656, "US", "FL"),  # in service after the 2020 NANPA file (from phonenumbers)
        (876, "JM", None),
        (902, "CA", None),  # Nova Scotia and Prince Edward Island
    ],
)
def test_state_lookup(npa: int, region: str, state: str | None) -> None:
    number = parse(f"+1 {npa} 555 0100")
    assert (number.region, number.state) == (region, state)
    info = area_code_info(npa)
    assert info is not None
    assert (info.region, info.state) == (region, state)


def test_area_code_info() -> None:
    info = area_code_info(930)
    assert isinstance(info, AreaCodeInfo)
    assert info.in_service and info.is_geographic
    assert info.status == "in_service"
    assert info.kind == "geographic"
    assert info.country == "US"
    assert info.overlay_complex == (812, 930)
    assert info.parent_npa == 812
    assert info.nanpa_time_zone == "E"
    assert info.time_zones == (CHI, NY)
    ns = area_code_info(902)
    assert ns is not None and ns.states == ("NS", "PE")
    assert area_code_info(800) is not None and area_code_info(800).kind == "toll_free"  # type: ignore[union-attr]
    assert area_code_info(211).status == "unassignable"  # type: ignore[union-attr]
    assert area_code_info(221).status == "unassigned"  # type: ignore[union-attr]
    assert area_code_info(679).status == "assigned"  # type: ignore[union-attr]
    assert area_code_info(123) is None
    assert area_code_info(1000) is None


def test_in_service_npas() -> None:
    us = in_service_npas()
    assert us == sorted(us)
    assert {201, 404, 729, 787, 907}.issubset(us)  # US includes its territories
    assert 416 not in us and 800 not in us
    assert 416 in in_service_npas("CA")
    assert in_service_npas("PR") == [787, 939]
    everything = in_service_npas(None, include_non_geographic=True)
    assert {800, 888, 416, 876}.issubset(everything)
    assert not {211, 221, 555, 679}.intersection(everything)


def test_nanp_regions_match_phonenumbers() -> None:
    assert set(phonenumbers.region_codes_for_country_code(1)) == NANP_REGIONS


# --- Candidate time zones ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overlay", "parent", "e164"),
    [
        (930, 812, "+19305550100"),
        (448, 850, "+14485550100"),
        (364, 270, "+13645550100"),
        (458, 541, "+14585550100"),
        (986, 208, "+19865550100"),
    ],
)
def test_overlays_take_the_zones_of_their_complex(overlay: int, parent: int, e164: str) -> None:
    ours = set(zones(e164))
    assert set(pn_zones(e164)) < ours  # phonenumbers alone gives too few
    parent_info = area_code_info(parent)
    assert parent_info is not None
    assert set(parent_info.time_zones) <= ours


def test_overlay_examples() -> None:
    assert zones("+1 930 555 0100") == (CHI, NY)  # Evansville is Central
    assert zones("+1 448 555 0100") == (CHI, NY)  # western panhandle is Central
    assert zones("+1 364 555 0100") == (CHI, NY)
    assert zones("+1 458 555 0100") == ("America/Boise", "America/Denver", "America/Los_Angeles")
    assert zones("+1 986 555 0100") == ("America/Boise", "America/Denver", "America/Los_Angeles")


def test_423_fallback_for_exchanges_phonenumbers_does_not_list() -> None:
    # 423-208 is not in phonenumbers' exchange data, so it falls back to the NPA default.
    assert "1423208" not in TIMEZONE_DATA
    assert pn_zones("+14232081234") == (CHI,)  # the minority zone: most of 423 is Eastern
    assert zones("+1 423 208 1234") == (CHI, NY)
    assert zones("+1 423 756 1234") == (CHI, NY)  # Chattanooga: listed, still both
    for npa in (219, 270, 850):
        assert zones(f"+1 {npa} 555 0100") == (CHI, NY)


def test_729_is_a_423_overlay() -> None:
    assert pn_zones("+17295550100") == ("Etc/Unknown",)
    assert zones("+1 729 555 0100") == (CHI, NY)
    info = area_code_info(729)
    assert info is not None
    assert info.overlay_complex == (423, 729)
    assert any(source.startswith("correction:") for source in info.sources)


def test_unalaska_is_on_alaska_time() -> None:
    assert pn_zones("+19075811234") == ("Pacific/Honolulu",)
    unalaska = zones("+1 907 581 1234")
    assert "Pacific/Honolulu" not in unalaska
    assert "America/Anchorage" in unalaska
    assert "America/Adak" in zones("+1 907 592 1234")  # Adak keeps America/Adak


def test_850_pensacola_and_tallahassee() -> None:
    assert pn_zones("+18504341234") == (CHI,)  # Pensacola
    assert pn_zones("+18502221234") == (NY,)  # Tallahassee
    assert zones("+1 850 434 1234") == zones("+1 850 222 1234") == (CHI, NY)


def test_arizona() -> None:
    navajo = zones("+1 928 871 1234")  # Window Rock
    assert "America/Denver" in navajo and "America/Phoenix" in navajo
    assert zones("+1 520 555 0100") == ("America/Phoenix",)
    assert zones("+1 602 555 0100") == ("America/Phoenix",)


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+12125550100", (NY,)),
        ("+14165550100", ("America/Toronto",)),
        ("+13125550100", (CHI,)),
        ("+13035550100", ("America/Denver",)),
        ("+14155550100", ("America/Los_Angeles",)),
        ("+18085550100", ("Pacific/Honolulu",)),
        ("+16715550100", ("Pacific/Guam",)),
        ("+16845550100", ("Pacific/Pago_Pago",)),
        ("+17875550100", ("America/Puerto_Rico",)),
        ("+18095550100", ("America/Santo_Domingo",)),  # NANPA's "E" is wrong: AST all year
        ("+17095550100", ("America/Halifax", "America/St_Johns")),  # NANPA "NA"
        ("+18795550100", ("America/Halifax", "America/St_Johns")),  # not America/Puerto_Rico
        ("+18405550100", ("America/Los_Angeles",)),  # NANPA's "E" for a CA overlay is wrong
        ("+14075550100", (NY,)),  # phonenumbers puts its overlay 689 in Chicago
        ("+16895550100", (NY,)),
    ],
)
def test_single_zone_area_codes(e164: str, expected: tuple[str, ...]) -> None:
    assert zones(e164) == expected


def test_saskatchewan() -> None:
    regina = zones("+1 306 555 0100")
    assert "America/Regina" in regina  # Saskatchewan keeps CST all year
    # Lloydminster (306-825) keeps Alberta time, and 306 exchanges are not trusted to narrow.
    assert "America/Edmonton" in regina
    assert zones("+1 306 825 1234") == regina


def test_candidate_time_zones_accepts_numbers_and_ints() -> None:
    number = parse("+1 930 555 0100")
    assert candidate_time_zones(number) == (CHI, NY)
    assert candidate_time_zones(19305550100) == (CHI, NY)
    assert candidate_time_zones(442079460958) == ("Europe/London",)
    with pytest.raises(InvalidPhoneNumber):
        candidate_time_zones(12115550100)
    with pytest.raises(InvalidPhoneNumber):
        candidate_time_zones(14041550100)


# --- Packaged data integrity ------------------------------------------------------------------


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("callwarden").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


def test_every_zone_is_an_iana_zone_never_an_offset() -> None:
    available = zoneinfo.available_timezones()
    for npa in range(200, 1000):
        info = area_code_info(npa)
        assert info is not None
        for zone in info.time_zones:
            assert zone in available, (npa, zone)
            assert "/" in zone and not zone.startswith("Etc/"), (npa, zone)
        if info.in_service and info.is_geographic:
            assert info.time_zones, npa
            assert info.region, npa
        if not info.is_geographic:
            assert info.time_zones == (), npa


def test_packaged_zones_cover_phonenumbers() -> None:
    """Every zone phonenumbers gives an in-service NPA is a candidate, except data removals."""
    removed: dict[int, set[str]] = {}
    for row in _rows("npa.csv"):
        removed[int(row["npa"])] = set(row["zones_removed"].split())
    for prefix, pn_zone_list in TIMEZONE_DATA.items():
        if not prefix.startswith("1") or len(prefix) < 4:
            continue
        npa = int(prefix[1:4])
        info = area_code_info(npa)
        assert info is not None
        if not info.in_service or not info.is_geographic:
            continue
        missing = set(pn_zone_list) - set(info.time_zones) - removed[npa] - {"Etc/Unknown"}
        if prefix == "1907581":
            missing -= {"Pacific/Honolulu"}
        assert not missing, (prefix, missing)


def test_corrections_are_cited_and_hold() -> None:
    rows = _rows("npa_corrections.csv")
    assert rows
    for row in rows:
        assert row["confidence"] in {"[V]", "[C]", "[S]", "[U]"}, row
        assert row["source"], row
        if row["confidence"] == "[U]":
            assert row["action"] in {"add", "require", "forbid"}, row
        if row["field"] != "time_zones" or row["nxx"]:
            continue
        info = area_code_info(int(row["npa"]))
        assert info is not None
        if row["action"] in {"add", "require"}:
            assert row["value"] in info.time_zones, row
        if row["action"] in {"remove", "forbid"}:
            assert row["value"] not in info.time_zones, row


# --- Bulk and performance ---------------------------------------------------------------------


def test_normalize_many() -> None:
    values = ["(404) 555-0100", "bad", "+44 20 7946 0958", None, "221-555-0100", "1-800-FLOWERS"]
    digits, reasons = normalize_many(values)  # type: ignore[arg-type]
    assert digits.dtype.name == "int64"
    assert digits.tolist() == [14045550100, 0, 442079460958, 0, 0, 18003569377]
    assert reasons == [None, "not_a_number", None, "empty", "not_in_service", None]
    digits, reasons = normalize_many(iter(["4165550100"]), default_region="GB")
    assert digits.tolist() == [0] and reasons == ["invalid_number"]
    digits, reasons = normalize_many([])
    assert digits.shape == (0,) and reasons == []


def _fresh_python(code: str) -> list[str]:
    # a new interpreter: what the code imports is not already loaded by the test session
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")


def test_fast_path_answers_common_spellings_without_phonenumbers() -> None:
    """The per-number fast path parses the usual spellings itself (its speed, about 1 µs, is
    measured by benchmarks/phone_bench.py, not here)."""
    code = (
        "import sys\n"
        "from callwarden.phone import fast_nanp_digits\n"
        "texts = ['(404) 555-0100', '+1 404 555 0100', '4045550100', '1-404-555-0100']\n"
        "print(sorted({fast_nanp_digits(t) for t in texts}))\n"
        "print('phonenumbers' in sys.modules)\n"
    )
    assert _fresh_python(code)[:2] == ["[14045550100]", "False"]


def test_import_is_lazy() -> None:
    """Importing callwarden.phone loads neither phonenumbers nor numpy (its import time is
    measured by benchmarks/phone_bench.py)."""
    code = (
        "import sys\n"
        "import callwarden.phone\n"
        "print('phonenumbers' in sys.modules, 'numpy' in sys.modules)\n"
    )
    assert _fresh_python(code)[0] == "False False"
