"""Property tests for callwarden.phone (hypothesis)."""

from __future__ import annotations

import os

import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callwarden.phone import (
    InvalidPhoneNumber,
    PhoneNumber,
    candidate_time_zones,
    fast_nanp_digits,
    in_service_npas,
    normalize_many,
    parse,
    parse_e164_int,
)

# PHONE_EXAMPLES=20000 for a deeper run.
SETTINGS = settings(
    max_examples=int(os.environ.get("PHONE_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NPAS = in_service_npas(None, include_non_geographic=True)
STYLES = [
    "({npa}) {nxx}-{line}",
    "+1 {npa} {nxx} {line}",
    "{npa}{nxx}{line}",
    "1-{npa}-{nxx}-{line}",
    "{npa}.{nxx}.{line}",
    "+1 ({npa}) {nxx}-{line}",
    "+1{npa}{nxx}{line}",
    "1 {npa} {nxx} {line}",
    "{npa}-{nxx}-{line}",
    " 1.{npa}.{nxx}.{line} ",
]

nxxs = st.integers(200, 999).filter(lambda n: n % 100 != 11)
lines = st.integers(0, 9999).map(lambda n: f"{n:04d}")


def outcome(value: object) -> int | str:
    """parse's result as digits, or its reason; anything else it raises fails the test."""
    try:
        return parse(value).digits  # type: ignore[arg-type]
    except InvalidPhoneNumber as exc:
        return exc.reason


@SETTINGS
@given(st.sampled_from(NPAS), nxxs, lines, st.sampled_from(STYLES))
def test_every_valid_nanp_number_round_trips(npa: int, nxx: int, line: str, style: str) -> None:
    text = style.format(npa=npa, nxx=nxx, line=line)
    national = f"{npa}{nxx}{line}"
    number = parse(text)
    assert number.e164 == "+1" + national
    assert number.digits == int("1" + national)
    assert (number.npa, number.nxx, number.national) == (npa, nxx, national)
    assert parse(number.e164) == number
    assert parse_e164_int(number.digits) == number
    assert fast_nanp_digits(text) == number.digits
    assert candidate_time_zones(number.digits) == number.time_zones
    # Independent check of the digits: phonenumbers reads the same national number.
    assert phonenumbers.parse(text, "US").national_number == int(national)


@SETTINGS
@given(st.sampled_from(NPAS), nxxs, lines, st.sampled_from(["ext. 12", "x7", "ext 345"]))
def test_extensions_do_not_change_the_number(npa: int, nxx: int, line: str, ext: str) -> None:
    number = parse(f"({npa}) {nxx}-{line} {ext}")
    assert number.e164 == f"+1{npa}{nxx}{line}"
    assert number.extension == "".join(c for c in ext if c.isdigit())


formatting_soup = st.text(alphabet="0123456789 ()-.+1", min_size=0, max_size=20)


@SETTINGS
@given(st.one_of(formatting_soup, st.text(max_size=20)))
def test_fast_path_agrees_with_parse(text: str) -> None:
    fast = fast_nanp_digits(text)
    if fast is not None:
        assert outcome(text) == fast
        assert phonenumbers.parse(text, "US").national_number == fast - 10_000_000_000


@SETTINGS
@given(st.sampled_from(NPAS), nxxs, lines, st.lists(st.sampled_from(" ()-."), max_size=14))
def test_fast_path_handles_any_formatting(npa: int, nxx: int, line: str, junk: list[str]) -> None:
    digits = list(f"{npa}{nxx}{line}")
    for i, char in enumerate(junk):
        digits.insert((i * 7) % (len(digits) + 1), char)
    text = "".join(digits)
    assert fast_nanp_digits(text) == int(f"1{npa}{nxx}{line}")
    assert outcome(text) == int(f"1{npa}{nxx}{line}")


def decoded(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


anything = st.one_of(
    st.text(),
    st.text(max_size=400),
    st.binary().map(decoded),
    st.binary().map(lambda b: b.decode("latin-1")),
    st.integers().map(str),
    st.integers().map(lambda n: f"+{n}"),
    st.integers(min_value=0).map(lambda n: f"+1 {n}"),
    formatting_soup,
    st.from_regex(r"\+?[0-9 ().\-]{0,25}(ext\.? ?[0-9]{0,6})?", fullmatch=True),
    st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-+ ", max_size=20),
    st.none(),
    st.integers(),
    st.floats(),
    st.binary(),
)


@SETTINGS
@given(anything, st.sampled_from(["US", "CA", "GB", "DE", "ZZ", ""]))
def test_arbitrary_input_only_raises_invalid_phone_number(value: object, region: str) -> None:
    try:
        number = parse(value, default_region=region)  # type: ignore[arg-type]
    except InvalidPhoneNumber as exc:
        assert exc.reason in {
            "empty",
            "not_a_number",
            "too_short",
            "too_long",
            "invalid_country_code",
            "invalid_area_code",
            "invalid_exchange",
            "not_in_service",
            "invalid_number",
        }
        return
    assert isinstance(number, PhoneNumber)
    assert number.e164 == f"+{number.digits}"
    assert 0 < number.digits < 2**63
    assert parse(number.e164) == number
    assert list(number.time_zones) == sorted(set(number.time_zones))
    assert "Etc/Unknown" not in number.time_zones


@SETTINGS
@given(st.integers())
def test_parse_e164_int_only_raises_invalid_phone_number(n: int) -> None:
    try:
        number = parse_e164_int(n)
    except InvalidPhoneNumber:
        return
    assert number.digits == n


@SETTINGS
@given(st.integers(10_000_000_000, 19_999_999_999))
def test_candidate_time_zones_of_ints_agrees_with_parse(n: int) -> None:
    try:
        expected: tuple[str, ...] | str = parse_e164_int(n).time_zones
    except InvalidPhoneNumber as exc:
        expected = exc.reason
    try:
        got: tuple[str, ...] | str = candidate_time_zones(n)
    except InvalidPhoneNumber as exc:
        got = exc.reason
    assert got == expected


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.builds(
                lambda npa, nxx, line, style: style.format(npa=npa, nxx=nxx, line=line),
                st.sampled_from(NPAS),
                st.integers(0, 999),
                lines,
                st.sampled_from(STYLES),
            ),
            anything,
        ),
        max_size=30,
    ),
    st.sampled_from(["US", "CA", "GB"]),
)
def test_normalize_many_agrees_with_parse(values: list[object], region: str) -> None:
    digits, reasons = normalize_many(values, default_region=region)  # type: ignore[arg-type]
    assert len(digits) == len(reasons) == len(values)
    for value, got_digits, got_reason in zip(values, digits.tolist(), reasons, strict=True):
        try:
            expected = parse(value, default_region=region)  # type: ignore[arg-type]
        except InvalidPhoneNumber as exc:
            assert (got_digits, got_reason) == (0, exc.reason)
        else:
            assert (got_digits, got_reason) == (expected.digits, None)
