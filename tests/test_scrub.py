"""Scrubbing CSV call lists: detection, reasons, columns kept, normalisation equals phone.parse."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from callwarden import phone
from callwarden.dnc import scrub, service
from callwarden.dnc.runtime import DncRuntime
from callwarden.errors import ValidationFailed
from callwarden.security.roles import Role
from callwarden.security.service import Principal

from .dnc_files import e164, write_flat

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


@pytest.fixture
def rt(tmp_path, settings, session_factory, operator):
    service.import_files(
        session_factory=session_factory,
        settings=settings,
        list_key="national",
        fmt="ftc_flat",
        paths=[
            write_flat(tmp_path / "404.txt", [e164("4045550100")]),
            write_flat(tmp_path / "770.txt", [e164("7702345678")]),
        ],
        obtained="2026-11-20",
        actor=operator,
    )
    with session_factory() as s:
        service.add_internal(
            session=s,
            number=phone.parse("4045550150"),
            seller="acme",
            channel="voice",
            actor=Principal("agent", Role.AGENT),
        )
        s.commit()
    runtime = DncRuntime(settings=settings, session_factory=session_factory)
    runtime.load()
    return runtime


def _run(rt, tmp_path, text, **kw):
    src = tmp_path / "in.csv"
    src.write_text(text)
    plan = scrub.plan(src, column=kw.pop("column", None))
    clean, rejects = io.BytesIO(), io.BytesIO()
    summary = scrub.scrub_file(rt, plan, clean_out=clean, rejects_out=rejects, at=NOW, **kw)
    return (
        plan,
        summary,
        list(csv.DictReader(io.StringIO(clean.getvalue().decode()))),
        list(csv.DictReader(io.StringIO(rejects.getvalue().decode()))),
    )


def test_reasons_and_columns_kept(rt, tmp_path):
    text = (
        "id,mobile,amount,comment\n"
        '1,(404) 555-0100,0012.50,"said ""call me"", later"\n'
        "2,404.555.0199,7,\n"
        "3,+1 770 234 5678,3,x\n"
        "4,911,1,y\n"
        "5,2125550100,1,z\n"
        "6,4045550150,1,w\n"
    )
    plan, summary, clean, rejects = _run(rt, tmp_path, text)
    assert plan.column == "mobile"
    assert [r["id"] for r in clean] == ["2"]
    assert clean[0] == {"id": "2", "mobile": "404.555.0199", "amount": "7", "comment": ""}
    by_id = {r["id"]: r for r in rejects}
    assert by_id["1"]["amount"] == "0012.50" and by_id["1"]["comment"] == 'said "call me", later'
    assert by_id["1"]["scrub_reason"] == "listed: national"
    assert by_id["3"]["scrub_lists"] == "national"
    assert by_id["4"]["scrub_reason"].startswith("invalid number:")
    assert "unknown coverage: national (area code not covered)" in by_id["5"]["scrub_reason"]
    assert by_id["6"]["scrub_reason"] == "listed: internal"
    assert (summary.rows, summary.clean, summary.rejected) == (6, 1, 5)
    assert (summary.listed, summary.unknown, summary.invalid) == (3, 1, 1)
    assert summary.per_list == {"national": 2, "internal": 1}


def test_internal_scope_filters(rt, tmp_path):
    text = "phone\n4045550150\n"
    _, s1, clean, _ = _run(rt, tmp_path, text, seller="other-brand")
    assert len(clean) == 1 and s1.rejected == 0
    _, _, clean, _ = _run(rt, tmp_path, text, seller="acme", channel="sms")
    assert len(clean) == 1
    _, s3, clean, _ = _run(rt, tmp_path, text, seller="acme", channel="voice")
    assert clean == [] and s3.listed == 1


def test_only_some_lists(rt, tmp_path):
    _, summary, clean, _ = _run(rt, tmp_path, "phone\n4045550100\n2125550100\n", only=["internal"])
    assert len(clean) == 2 and summary.rejected == 0


def test_column_detection_by_content_and_errors(rt, tmp_path):
    plan, *_ = _run(rt, tmp_path, "a,b\nx,4045550199\ny,(404) 555-0198\n")
    assert plan.column == "b"
    with pytest.raises(ValidationFailed) as info:
        _run(rt, tmp_path, "a,b\nx,y\n")
    assert info.value.field == "column"
    with pytest.raises(ValidationFailed):
        _run(rt, tmp_path, "a,b\nx,4045550199\n", column="nope")
    with pytest.raises(ValidationFailed):
        _run(rt, tmp_path, "")


def test_streaming_outputs(rt, tmp_path):
    src = tmp_path / "big.csv"
    rows = ["phone,k"] + [f"404555{i % 10000:04d},{i}" for i in range(2_500)]
    src.write_text("\n".join(rows) + "\n")
    plan = scrub.plan(src)
    chunks = list(scrub.scrub_stream(rt, plan, output="annotated", at=NOW, batch_rows=1000))
    assert len(chunks) == 3
    out = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert len(out) == 2_500 and [r["k"] for r in out[:3]] == ["0", "1", "2"]
    assert {r["scrub_status"] for r in out} == {"clean", "reject"}
    assert sum(r["scrub_status"] == "reject" for r in out) == 2  # 4045550100 and 4045550150


PHONE_TEXT = st.one_of(
    st.text(alphabet="0123456789()-. +", max_size=20),
    st.builds(
        lambda a, b, c: f"({a}) {b}-{c}",
        st.integers(100, 999),
        st.integers(100, 999),
        st.integers(0, 9999),
    ),
    st.text(max_size=15),
)


@hsettings(max_examples=300, deadline=None)
@given(st.lists(PHONE_TEXT, min_size=1, max_size=30))
def test_vectorised_normalisation_agrees_with_parse(values):
    nums, reasons = scrub.normalize(pl.Series(values, dtype=pl.String))
    for value, n, reason in zip(values, nums.tolist(), reasons, strict=True):
        try:
            expected = phone.parse(value).digits
        except phone.InvalidPhoneNumber as exc:
            assert n == 0 and reason == exc.reason, value
        else:
            assert n == expected and reason is None, value
    assert nums.dtype == np.int64
