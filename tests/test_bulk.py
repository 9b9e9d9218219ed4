"""The shared bulk reader: rows with their line numbers, or row errors; never another exception."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwarden import bulk
from callwarden.errors import ValidationFailed

HEADER = ["a", "b", "c"]
PROPS = settings(max_examples=200, deadline=None)

# A bare carriage return is a line break to the reader but not quoted by the writer.
_cell = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r"),
    max_size=12,
)
_not_object = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.lists(st.integers(), max_size=3)
)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


def _csv_text(records: list[list[str]]) -> tuple[str, list[int]]:
    """CSV text of a header and records, and the line each record starts on."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    starts = []
    for cells in records:
        starts.append(buf.getvalue().count("\n") + 1)
        writer.writerow(cells)
    return buf.getvalue(), starts


@PROPS
@given(st.lists(st.lists(_cell, min_size=1, max_size=3), min_size=1, max_size=8))
def test_csv_rows_keep_their_first_line(records):
    text, starts = _csv_text(records)
    rows, errors, _, columns = bulk.read_rows(text, "csv")
    assert columns == HEADER
    expected = [
        (line, {k: v for k, v in zip(HEADER, cells, strict=False) if v.strip()})
        for line, cells in zip(starts, records, strict=True)
    ]
    kept = [(line, row) for line, row in expected if row]
    if kept:
        assert errors == [] and rows == kept
    else:
        assert rows == [] and [e.message for e in errors] == ["the file holds no rows"]


@PROPS
@given(st.lists(st.one_of(st.dictionaries(st.sampled_from(HEADER), _json_value), _not_object)))
def test_jsonl_objects_are_rows_and_anything_else_is_a_row_error(values):
    text = "\n".join(json.dumps(v) for v in values)
    rows, errors, _, _ = bulk.read_rows(text, "jsonl")
    for line, row in rows:
        assert row == values[line - 1] and any(not bulk.blank(v) for v in row.values())
    for e in errors:
        if e.line is None:
            assert e.message in ("the file holds no rows", "the file is empty") and rows == []
        else:
            assert not isinstance(values[e.line - 1], dict)


@PROPS
@given(st.lists(st.dictionaries(st.text(max_size=6), st.text(max_size=6)), max_size=6))
def test_unknown_keys_are_named_with_the_line(values):
    rows, errors, _, _ = bulk.read_rows(json.dumps(values), "json", fields=HEADER)
    bad = {e.line for e in errors if e.line is not None}
    for line, row in rows:
        assert line not in bad and set(row) <= set(HEADER)
    for e in errors:
        if e.line is not None:
            assert e.field is not None and e.message == f"unknown field {e.field!r}"


@PROPS
@given(st.binary(max_size=300), st.sampled_from([None, *bulk.FORMATS]))
def test_any_bytes_give_rows_or_row_errors(data, fmt):
    rows, errors, _, _ = bulk.read_rows(data, fmt, fields=HEADER, required=("a",))
    assert rows or errors
    assert all(line >= 1 and isinstance(row, dict) for line, row in rows)
    assert all(isinstance(e, bulk.RowError) and (e.line is None or e.line >= 1) for e in errors)


@PROPS
@given(st.text(max_size=300), st.sampled_from([None, *bulk.FORMATS]))
def test_any_text_gives_rows_or_row_errors(text, fmt):
    rows, errors, _, _ = bulk.read_rows(text, fmt)
    assert all(line >= 1 and isinstance(row, dict) for line, row in rows)
    assert all(e.line is None or e.line >= 1 for e in errors)


def test_header_problems_and_ignored_columns():
    strict = bulk.read_rows("a,a,z\n1,2,3\n", "csv", fields=HEADER, strict_columns=True)
    assert [(e.line, e.field) for e in strict.errors] == [(1, "a"), (1, "z")]
    assert strict.rows == []
    lenient = bulk.read_rows("A,Other Col\n1,2\n", "csv", fields=HEADER, required=("b",))
    assert [(e.line, e.field, e.message) for e in lenient.errors] == [
        (1, "b", "missing column 'b'")
    ]
    ignored = bulk.read_rows("A,Other Col\n1,2\n", "csv", fields=HEADER)
    assert ignored.rows == [(2, {"a": "1"})] and ignored.ignored == ["other_col"]


def test_extra_cells_limits_and_aliases():
    read = bulk.read_rows("a,b\n1,2,3\n1,2\n,\n", "csv")
    assert read.rows == [(3, {"a": "1", "b": "2"})]
    assert [(e.line, e.message) for e in read.errors] == [(2, "3 fields for a header of 2")]
    many = bulk.read_rows("a\n1\n2\n3\n", "csv", max_rows=2)
    assert [e.line for e in many.errors] == [4] and len(many.rows) == 2
    aliased = bulk.read_rows('{"Phone": "1"}\n', None, aliases={"phone": "number"})
    assert aliased.rows == [(1, {"number": "1"})]
    with pytest.raises(ValidationFailed) as info:
        bulk.read_rows("a", "xml")
    assert info.value.field == "format"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.jsonl", "jsonl"),
        ("application/x-ndjson; charset=utf-8", "jsonl"),
        ("application/json", "json"),
        ("rows.csv", "csv"),
        ("text/csv", "csv"),
        ("application/octet-stream", None),
        (None, None),
    ],
)
def test_format_for(name, fmt):
    assert bulk.format_for(name) == fmt


def test_a_rejected_import_lists_every_row():
    errors = [
        bulk.RowError(3, "kind", "bad"),
        bulk.RowError(2, None, "x"),
        bulk.RowError(3, "n", "y"),
    ]
    exc = bulk.ImportRejected(errors)
    body: dict[str, Any] = exc.as_dict()
    assert exc.message == "2 bad rows (3 problems); nothing was imported"
    assert body["field"] == "rows" and body["errors_total"] == 3
    assert [e["line"] for e in body["errors"]] == [2, 3, 3]
    assert exc.as_dict(limit=1)["errors"] == [{"line": 2, "field": None, "message": "x"}]


def test_field_checks_keep_every_problem():
    checks = bulk.FieldChecks({"number": "12", "at": "2026-01-01", "kind": "x"})
    checks.get("number", bulk.parse_number)
    checks.get("at", bulk.instant, "at")
    checks.get("kind", bulk.choice, ("a", "b"), "kind")
    with pytest.raises(bulk.InvalidRecord) as info:
        checks.done()
    assert [f for f, _ in info.value.errors] == ["number", "at", "kind"]
    assert info.value.field == "number"
