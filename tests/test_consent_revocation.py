"""Revocation replies: the seven per-se words, reasonable-person phrases, and fail-closed doubt."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwarden.consent.revocation import Basis, classify

PER_SE = ["stop", "quit", "end", "revoke", "opt out", "cancel", "unsubscribe"]


@pytest.mark.parametrize("word", PER_SE)
def test_each_per_se_word_alone_revokes(word: str) -> None:
    """47 CFR 64.1200(a)(10): a reply of stop/quit/end/revoke/opt out/cancel/unsubscribe."""
    v = classify(word)
    assert v.revoked and v.basis is Basis.PER_SE and v.citation == "47 CFR 64.1200(a)(10)"
    assert not v.needs_review


@given(
    word=st.sampled_from(PER_SE),
    case=st.sampled_from([str.upper, str.lower, str.title, str.capitalize]),
    before=st.sampled_from(["", " ", "  ", "\n"]),
    after=st.sampled_from(["", ".", "!", "!!", " ", "?", " 🙏"]),
)
def test_per_se_ignores_case_spacing_and_punctuation(word, case, before, after) -> None:
    """47 CFR 64.1200(a)(10) keywords are honoured case-insensitively, however punctuated."""
    v = classify(before + case(word) + after)
    assert v.revoked and v.basis is Basis.PER_SE


@pytest.mark.parametrize(
    "text",
    [
        "Stop texting me",
        "please don't call me again",
        "REMOVE ME from your list",
        "wrong number",
        "No más por favor",
        "no mas",
        "leave me alone!!",
        "Opt-out",
        "STOP ALL",
    ],
)
def test_reasonable_person_phrases_revoke(text: str) -> None:
    """47 CFR 64.1200(a)(10): other words a reasonable person reads as a revocation."""
    v = classify(text)
    assert v.revoked and v.basis in (Basis.REASONABLE_PERSON, Basis.PER_SE)


@pytest.mark.parametrize("text", ["stpo", "unsubcribe", "cancle", "plz stop", "stop it now"])
def test_uncertain_replies_are_treated_as_revoked_and_flagged(text: str) -> None:
    """rules.md §1.5: uncertain cases are treated as revoked (fail closed) and reviewed."""
    v = classify(text)
    assert v.revoked and v.basis is Basis.UNCERTAIN and v.needs_review


@pytest.mark.parametrize("text", ["yes", "What time is my appointment?", "thanks!", "ok", ""])
def test_ordinary_replies_do_not_revoke(text: str) -> None:
    v = classify(text)
    assert not v.revoked and v.basis is Basis.NONE


@given(st.text(max_size=200))
def test_any_text_is_classified_without_error(text: str) -> None:
    v = classify(text)
    assert v.revoked == (v.basis is not Basis.NONE)


@given(word=st.sampled_from(PER_SE), prefix=st.text(alphabet="abc xyz.,", max_size=20))
def test_a_keyword_anywhere_is_never_ignored(word: str, prefix: str) -> None:
    """Adding words around a per-se keyword never turns a revocation into none."""
    assert classify(f"{prefix} {word}").revoked
