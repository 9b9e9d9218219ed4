"""Helpers that write registry files in the formats the importers read."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


def e164(national: str) -> int:
    """'4045550100' → 14045550100."""
    return 10_000_000_000 + int(national)


def flat_line(number: int) -> str:
    """An FTC / DNCL flat line `AAA,NNNNNNN` for an E.164 integer."""
    local = number - 10_000_000_000
    return f"{local // 10_000_000:03d},{local % 10_000_000:07d}"


def write_flat(path: Path, numbers: Iterable[int], extra_lines: Sequence[str] = ()) -> Path:
    """Write a flat full-list file (LF endings), with optional raw lines appended."""
    lines = [flat_line(n) for n in numbers] + list(extra_lines)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def write_changes(path: Path, changes: Iterable[tuple[int, str, str]]) -> Path:
    """Write an FTC change list: (number, 'YYYY-MM-DDThh:mm:ss', 'A'|'D') per line."""
    path.write_text("".join(f"{n - 10_000_000_000:010d},{ts},{op}\n" for n, ts, op in changes))
    return path


def write_zip(path: Path, members: dict[str, str]) -> Path:
    """A zip archive with the given member names and texts."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def random_numbers(npa: int, count: int, seed: int = 0) -> list[int]:
    """Distinct valid numbers in one area code (exchanges 200-999, no N11)."""
    rng = np.random.default_rng(seed)
    out: set[int] = set()
    while len(out) < count:
        local = rng.integers(2_000_000, 10_000_000, size=count * 2)
        nxx = local // 10_000
        local = local[(nxx % 100) != 11]
        for v in local.tolist():
            out.add(10_000_000_000 + npa * 10_000_000 + v)
            if len(out) == count:
                break
    return sorted(out)
