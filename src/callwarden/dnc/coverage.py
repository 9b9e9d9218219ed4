"""How a completed import changes what a list covers: one rule for the import and its replay.

`service._commit_snapshot` applies it to the coverage rows when an import completes, and
`history.list_then` applies it to the snapshots completed by a past instant, so a replay sees
the coverage exactly as the imports left it then. `None` stands for every area code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from callwarden.dnc.enums import ImportFormat

CoverageMode = Literal["refresh", "merge", "replace"]


def coverage_mode(fmt: str) -> CoverageMode:
    """How a completed import of `fmt` changes a list's coverage.

    `refresh`: a change list renews the dates of what the list covers; `merge`: full files of
    some area codes replace those and keep the others; `replace`: a list-wide file replaces
    all coverage.
    """
    if fmt == ImportFormat.FTC_CHANGES:
        return "refresh"
    if fmt in (ImportFormat.FTC_FLAT, ImportFormat.CANADA_FLAT):
        return "merge"
    return "replace"


def coverage_change(
    mode: CoverageMode, codes: Sequence[int] | None, covered: Iterable[int | None]
) -> tuple[list[int | None], list[int | None]]:
    """(area codes whose coverage ends, area codes covered anew or renewed) by an import.

    `codes` are the area codes the import named (None: the whole list); `covered` what the
    list covered before it.
    """
    before = list(covered)
    if mode == "refresh":  # a change list renews what it names, else all the list covers
        return [], before if codes is None else list(codes)
    renewed: list[int | None] = [None] if codes is None else list(codes)
    if mode == "merge":  # these area codes; the others keep their coverage
        return [], renewed
    return [npa for npa in before if npa not in renewed], renewed
