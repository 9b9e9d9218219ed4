"""CDR parsing: CSV and JSON lines in, call records or row errors (line, field) out."""

from __future__ import annotations

import csv
import io
import json
import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwarden.bulk import RowError
from callwarden.calls import cdr
from callwarden.calls.cdr import CallRecord
from callwarden.errors import ValidationFailed

HEADER = (
    "number,at,seller,campaign,subject,debt_id,channel,purpose,technology,outcome,"
    "conversation,dnc_request,disposition,duration_seconds,caller_id,external_id,decision_id\n"
)


def test_csv_row_with_every_field():
    data = HEADER + (
        "(404) 555-0100,2026-03-02T14:05:00-05:00,acme,spring,solar,D-1,voice,debt_collection,"
        "manual,answered,yes,no,PTP,95,+1 404 555 0199,cdr-1,\n"
    )
    rows, errors, ignored = cdr.parse_csv(data.encode())
    assert errors == [] and ignored == []
    (r,) = rows
    assert r.line == 2
    assert r.number == 14045550100
    assert r.at == datetime(2026, 3, 2, 19, 5, tzinfo=UTC)
    assert (r.seller, r.campaign, r.subject, r.debt_id) == ("acme", "spring", "solar", "D-1")
    assert (r.channel, r.purpose, r.technology, r.outcome) == (
        "voice",
        "debt_collection",
        "manual",
        "answered",
    )
    assert r.conversation is True and r.dnc_request is False
    assert (r.disposition, r.duration_seconds) == ("PTP", 95)
    assert r.caller_id == "+14045550199" and r.external_id == "cdr-1" and r.decision_id is None


def test_aliases_unix_seconds_and_extra_columns():
    data = (
        "to,start_time,seller,channel,purpose,technology,outcome,call_id,agent\n"
        "4045550100,1767225600,acme,voice,telemarketing,autodialer,No-Answer,x-9,bob\n"
    )
    rows, errors, ignored = cdr.parse_csv(data)
    assert errors == []
    assert ignored == ["agent"]
    assert rows[0].at == datetime(2026, 1, 1, tzinfo=UTC)
    assert rows[0].outcome == "no_answer" and rows[0].external_id == "x-9"


def test_every_bad_field_of_every_row_is_reported_with_its_line():
    data = HEADER + (
        "4045550100,2026-03-02T14:05:00-05:00,acme,,,,voice,telemarketing,manual,answered,"
        ",,,,,,\n"
        "123,2026-03-02T14:05:00,acme,,,,fax,telemarketing,manual,answered,maybe,,,-4,,,\n"
        "\n"
        "4045550100,yesterday,,,,,voice,telemarketing,manual,voicemail,true,,,,,,\n"
    )
    rows, errors, _ = cdr.parse_csv(data)
    assert len(rows) == 1
    found = {(e.line, e.field) for e in errors}
    assert found == {
        (3, "number"),
        (3, "at"),  # no UTC offset
        (3, "channel"),
        (3, "conversation"),
        (3, "duration_seconds"),
        (5, "at"),
        (5, "seller"),
        (5, "conversation"),  # a conversation needs a live person
    }
    offset = next(e for e in errors if e.line == 3 and e.field == "at")
    assert "offset" in offset.message


def test_a_record_confirming_a_reservation_needs_only_the_decision_and_outcome():
    data = "decision_id,outcome,dnc_request\n6f1c,abandoned,1\n"
    rows, errors, _ = cdr.parse_csv(data)
    assert errors == []
    assert rows[0].decision_id == "6f1c" and rows[0].number is None and rows[0].dnc_request


def test_missing_columns_are_reported_once_on_the_header():
    rows, errors, _ = cdr.parse_csv("number,seller\n4045550100,acme\n4045550101,acme\n")
    assert rows == []
    assert {e.field for e in errors} == {"outcome", "at", "channel", "purpose", "technology"}
    assert all(e.line == 1 for e in errors)


def test_wrong_field_count_and_empty_file():
    extra = "4045550100,2026-01-01T00:00:00Z,a,,,,voice,telemarketing,manual,busy" + ",x" * 8
    rows, errors, _ = cdr.parse_csv(HEADER + extra + "\n")
    assert rows == [] and errors[0].line == 2 and "fields" in errors[0].message
    assert cdr.parse_csv(b"")[1][0].message.startswith("the file is empty")


def test_not_utf8_names_the_line():
    data = HEADER.encode() + b"4045550100,\xff\n"
    _, errors, _ = cdr.parse_csv(data)
    assert errors == [RowError(2, None, "the file is not UTF-8 text")]


def test_jsonl_rows_and_errors():
    good = {
        "number": "+14045550100",
        "at": "2026-01-01T10:00:00Z",
        "seller": "acme",
        "channel": "voice",
        "purpose": "telemarketing",
        "technology": "manual",
        "outcome": "busy",
        "duration_seconds": 0,
    }
    data = "\n".join(
        [
            json.dumps(good),
            "",
            "{not json",
            json.dumps([1, 2]),
            json.dumps({**good, "dnc_requested": True}),
            json.dumps({**good, "at": 1767261600.5, "conversation": 1}),
        ]
    )
    rows, errors, _ = cdr.parse_jsonl(data)
    assert [r.line for r in rows] == [1]
    assert [(e.line, e.field) for e in errors] == [
        (3, None),
        (4, None),
        (5, "dnc_requested"),  # a misspelt opt-out is an error, never silently dropped
        (6, "conversation"),  # busy: nobody to talk to
    ]
    assert cdr.flags("busy")["connected"] is False


def test_row_limit():
    data = HEADER + "".join(
        f"40455501{i:02d},2026-01-01T00:00:00Z,a,,,,voice,telemarketing,manual,no_answer,,,,,,,\n"
        for i in range(5)
    )
    rows, errors, _ = cdr.parse_csv(data, max_rows=3)
    assert len(rows) == 3 and len(errors) == 1 and errors[0].line == 5


def test_unknown_format_is_the_documented_exception():
    with pytest.raises(ValidationFailed):
        cdr.parse(b"", "xml")


# -- properties ------------------------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=30,
).filter(lambda s: s == s.strip())
_numbers = st.sampled_from([14045550100, 12125550123, 13125550188, 447911123456])
_times = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))]),
).map(lambda d: d.astimezone(UTC))


@st.composite
def records(draw: st.DrawFn) -> CallRecord:
    outcome = draw(st.sampled_from(cdr.OUTCOMES))
    return CallRecord(
        line=0,
        outcome=outcome,
        number=draw(_numbers),
        at=draw(_times),
        seller=draw(_text),
        campaign=draw(st.none() | _text),
        subject=draw(st.none() | _text),
        debt_id=draw(st.none() | _text),
        channel=draw(st.sampled_from(cdr.CHANNELS)),
        purpose=draw(st.sampled_from(cdr.PURPOSES)),
        technology=draw(st.sampled_from(cdr.TECHNOLOGIES)),
        conversation=draw(st.booleans()) if outcome in cdr.BY_PERSON else False,
        dnc_request=draw(st.booleans()),
        disposition=draw(st.none() | _text),
        duration_seconds=draw(st.none() | st.integers(0, 10**6)),
        caller_id=draw(st.none() | st.just("+14045550199")),
        external_id=draw(st.none() | _text),
        decision_id=draw(st.none() | st.uuids().map(str)),
    )


def _relined(rows: list[CallRecord], first: int) -> list[CallRecord]:
    return [replace(r, line=first + i) for i, r in enumerate(rows)]


@settings(max_examples=60, deadline=None)
@given(st.lists(records(), min_size=1, max_size=5))
def test_valid_rows_round_trip_through_csv(rows):
    parsed, errors, _ = cdr.parse_csv(cdr.to_csv(rows).encode())
    assert errors == []
    assert parsed == _relined(rows, 2)  # line 1 is the header


@settings(max_examples=60, deadline=None)
@given(st.lists(records(), min_size=1, max_size=5))
def test_valid_rows_round_trip_through_jsonl(rows):
    parsed, errors, _ = cdr.parse_jsonl(cdr.to_jsonl(rows))
    assert errors == []
    assert parsed == _relined(rows, 1)


_cells = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "4045550100", "2026-01-01T00:00:00Z", "answered", "voice", "1e99"]),
)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_bytes_never_raise(data):
    for fmt in cdr.FORMATS:
        rows, errors, _ = cdr.parse(data, fmt)
        assert all(isinstance(r, CallRecord) for r in rows)
        assert all(e.line is None or e.line >= 1 for e in errors)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_cells, min_size=0, max_size=19), min_size=1, max_size=6))
def test_garbage_csv_rows_give_errors_not_exceptions(cells):
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER.strip().split(","), *cells])
    rows, errors, _ = cdr.parse_csv(buf.getvalue())
    assert len(rows) + len({e.line for e in errors}) <= len(cells)
    assert all(e.field is None or e.field in cdr.FIELDS for e in errors)


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=15),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([*cdr.FIELDS, *cdr.ALIASES]), _json_values))
def test_garbage_json_values_give_errors_not_exceptions(obj):
    record, errors = cdr.parse_object(obj, line=7)
    assert (record is None) == bool(errors)
    assert all(e.line == 7 and (e.field in cdr.FIELDS or e.field is None) for e in errors)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=string.printable, max_size=300))
def test_garbage_text_lines_never_raise(text):
    cdr.parse_jsonl(text)
    cdr.parse_csv(text)


@pytest.mark.parametrize("value", ["2026", "12345", 2026, -5, True, "1767225600000"])
def test_implausible_unix_seconds_are_errors(value):
    record, errors = cdr.parse_record({"at": value, "decision_id": "d", "outcome": "busy"}, line=3)
    assert record is None and [(e.line, e.field) for e in errors] == [(3, "at")]


@pytest.mark.parametrize("column", ["DNC Requested", "do_not_call", "Opt-Out", "unsubscribe"])
def test_a_do_not_call_flag_under_another_name_is_refused_not_ignored(column):
    """An unused column is listed and ignored, but one that looks like a Do-Not-Call flag is
    an error naming it: a request must not vanish from the internal list."""
    data = (
        f"number,at,seller,channel,purpose,technology,outcome,{column}\n"
        "+14045550100,2026-03-02T15:00:00Z,acme,voice,telemarketing,manual,answered,yes\n"
    )
    rows, errors, _ = cdr.parse_csv(data)
    assert rows == []
    assert len(errors) == 1 and errors[0].line == 1 and "dnc_request" in errors[0].message
