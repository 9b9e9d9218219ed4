"""Property tests of the consent and revocation row parsers (CSV and JSON-lines)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from callwarden.consent import service

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

names = st.text(
    alphabet=st.characters(
        codec="utf-8",
        exclude_characters=";\r\n\x00",
        exclude_categories=["Cs", "Zs", "Zl", "Zp", "Cc"],
    ),
    min_size=1,
    max_size=12,
).filter(lambda t: t != service.ANY_SELLER)  # "*" alone means any seller (pec only)
numbers = st.integers(0, 9999).map(lambda i: f"404555{i:04d}")
moments = st.builds(
    lambda minutes, offset: (NOW - timedelta(minutes=minutes)).astimezone(
        timezone(timedelta(minutes=offset))
    ),
    st.integers(0, 5 * 365 * 24 * 60),
    st.sampled_from([-300, -240, 0, 60, 330]),
)
subsets = lambda pool: st.lists(st.sampled_from(pool), min_size=1, max_size=4)  # noqa: E731
prose = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00", exclude_categories=["Cs"]),
    min_size=1,
    max_size=60,
).filter(lambda t: t.strip() != "")


@st.composite
def consent_rows(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(service.KINDS))
    row: dict[str, Any] = {
        "number": draw(numbers),
        "kind": kind,
        "sellers": draw(st.lists(names, min_size=1, max_size=3)),
        "channels": draw(subsets(service.CHANNELS)),
        "purposes": draw(subsets(service.PURPOSES)),
        "given_at": draw(moments).isoformat(),
        "source": draw(st.sampled_from(["web_form", "paper", "ivr", "agent", "sms", "api"])),
    }
    if kind == "pewc":
        row["language_text"] = draw(prose)
        row["signature"] = draw(names)
    elif draw(st.booleans()):
        row["sellers"] = ["*"]
    return row


BAD = [("kind", "verbal"), ("channels", ["fax"]), ("number", "12"), ("given_at", "yesterday")]


@st.composite
def batches(draw: Any) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    rows = draw(st.lists(consent_rows(), min_size=1, max_size=8))
    spoiled: list[tuple[int, str]] = []
    for i in draw(st.sets(st.integers(0, len(rows) - 1), max_size=3)):
        field, value = draw(st.sampled_from(BAD))
        rows[i] = {**rows[i], field: value}
        spoiled.append((i, field))
    return rows, sorted(spoiled)


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=service.CONSENT_FIELDS)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in r.items()})
    return out.getvalue()


def to_jsonl(rows: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(r) for r in rows) + "\n"


def expected(row: dict[str, Any]) -> tuple[Any, ...]:
    text = row.get("language_text")
    return (
        int("1" + row["number"]),
        row["kind"],
        tuple(sorted(set(row["sellers"]))),
        tuple(sorted(set(row["channels"]))),
        tuple(sorted(set(row["purposes"]))),
        datetime.fromisoformat(row["given_at"]),
        hashlib.sha256(text.encode()).hexdigest() if text else None,
        row.get("signature"),
    )


def got(item: service.ConsentInput) -> tuple[Any, ...]:
    ev = item.evidence or {}
    return (
        item.number,
        item.kind,
        item.sellers,
        item.channels,
        item.purposes,
        item.given_at,
        item.language_sha256,
        ev.get("signature"),
    )


@settings(max_examples=60, deadline=None)
@given(batch=batches(), fmt=st.sampled_from(["csv", "jsonl"]))
def test_good_rows_round_trip_and_every_bad_row_is_named(batch, fmt):
    rows, spoiled = batch
    text = to_csv(rows) if fmt == "csv" else to_jsonl(rows)
    parsed, errors = service.parse_consent_rows(text, fmt, now=NOW)
    first_line = 2 if fmt == "csv" else 1  # the CSV header is line 1
    assert [(e.line, e.field) for e in errors] == [(i + first_line, f) for i, f in spoiled]
    bad = {i for i, _ in spoiled}
    good = [r for i, r in enumerate(rows) if i not in bad]
    assert [got(p) for p in parsed] == [expected(r) for r in good]
    assert [p.line for p in parsed] == [i + first_line for i in range(len(rows)) if i not in bad]


@st.composite
def revocation_rows(draw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "number": draw(numbers),
        "received_at": draw(moments).isoformat(),
        "channel": draw(st.sampled_from(service.REVOCATION_CHANNELS)),
        "scope": draw(st.sampled_from(service.SCOPES)),
        "message_channel": draw(st.sampled_from(service.MESSAGE_CHANNELS)),
        "seller": draw(st.one_of(st.just("*"), names)),
    }
    if draw(st.booleans()):
        row["text"] = draw(st.one_of(prose, st.sampled_from(["STOP", "Unsubscribe", "no más"])))
    return row


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(revocation_rows(), min_size=1, max_size=8), fmt=st.sampled_from(["csv", "jsonl"])
)
def test_revocation_rows_round_trip(rows, fmt):
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=service.REVOCATION_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        text = out.getvalue()
    else:
        text = to_jsonl(rows)
    parsed, errors = service.parse_revocation_rows(text, fmt, now=NOW)
    assert errors == []
    for row, item in zip(rows, parsed, strict=True):
        assert item.number == int("1" + row["number"])
        assert item.received_at == datetime.fromisoformat(row["received_at"])
        assert (item.channel, item.scope, item.message_channel, item.seller) == (
            row["channel"],
            row["scope"],
            row["message_channel"],
            row["seller"],
        )
        assert item.text == row.get("text")
        if "text" in row and row["channel"] in service.REPLY_CHANNELS:
            # a reply's words decide, the same way as for a single reply
            assert item.revoked == service.classify(row["text"]).revoked
        elif "text" in row:
            # an email, a letter, an agent's note: the request itself, whatever its words
            assert item.revoked and item.basis is None
        else:
            assert item.revoked and item.method in ("keypress", "designated", "other")
