"""Does a consumer's reply revoke consent? Pure classification from data, no I/O.

rules.md §1.5 asks the gate to honour the seven per-se keywords case-insensitively, to honour
other words a reasonable person would read as revocation, and to treat uncertain replies as
revoked. The verdict says which of the three applied, so the decision and its audit record can
cite the rule and a person can review the uncertain ones.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any


class Basis(StrEnum):
    """Why a reply counts as a revocation (or does not)."""

    PER_SE = "per_se"  # one of the regulation's words, alone
    REASONABLE_PERSON = "reasonable_person"  # a phrase a reasonable person reads as revocation
    UNCERTAIN = "uncertain"  # a keyword inside other words, or a near-miss spelling
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome for one reply."""

    revoked: bool
    basis: Basis
    matched: str | None
    citation: str | None
    confidence: str | None
    needs_review: bool


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("callwarden.consent").joinpath("revocation_words.toml").read_text()
    return tomllib.loads(text)


def _normalise(text: str) -> str:
    # Case, accents-as-typed, punctuation and spacing do not change what a consumer meant.
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = folded.replace("’", "'")
    folded = re.sub(r"[^\w\s'-]|_", " ", folded)  # "opt_out" is "opt out"
    return re.sub(r"\s+", " ", folded).strip()


def _near(word: str, keyword: str) -> bool:
    """One edit (insert, delete, replace or swap of neighbours) away: a likely typo."""
    if word == keyword or abs(len(word) - len(keyword)) > 1 or len(keyword) < 4:
        return False
    if len(word) == len(keyword):
        diffs = [i for i, (a, b) in enumerate(zip(word, keyword, strict=True)) if a != b]
        if len(diffs) == 1:
            return True
        if len(diffs) == 2:
            i, j = diffs
            return j == i + 1 and word[i] == keyword[j] and word[j] == keyword[i]
        return False
    short, long_ = (word, keyword) if len(word) < len(keyword) else (keyword, word)
    return any(long_[:k] + long_[k + 1 :] == short for k in range(len(long_)))


def _phrase(section: dict[str, Any], norm: str, basis: Basis, *, review: bool) -> Verdict | None:
    for phrase in section["phrases"]:
        if re.search(rf"(?<!\w){re.escape(_normalise(phrase))}(?!\w)", norm):
            return Verdict(True, basis, phrase, section["citation"], section["confidence"], review)
    return None


def classify(text: str) -> Verdict:
    """Classify a reply; anything that might be a revocation is treated as one."""
    data = _data()
    per_se, reasonable = data["per_se"], data["reasonable_person"]
    norm = _normalise(text)
    squeezed = norm.replace("-", " ").replace("'", "")
    for word in per_se["words"]:
        if squeezed == word or squeezed.replace(" ", "") == word.replace(" ", ""):
            return Verdict(
                True, Basis.PER_SE, word, per_se["citation"], per_se["confidence"], False
            )
    # a doubtful phrase fails closed: honoured, and flagged for a person to look at
    found = _phrase(reasonable, norm, Basis.REASONABLE_PERSON, review=False) or _phrase(
        data["uncertain"], norm, Basis.UNCERTAIN, review=True
    )
    if found is not None:
        return found
    tokens = squeezed.split()
    joined = " ".join(tokens)
    for word in per_se["words"]:
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", joined) or any(
            _near(t, word) for t in tokens if " " not in word
        ):
            # Fail closed: honour it and flag it for a person to look at.
            return Verdict(
                True, Basis.UNCERTAIN, word, per_se["citation"], per_se["confidence"], True
            )
    return Verdict(False, Basis.NONE, None, None, None, False)
