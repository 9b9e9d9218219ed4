"""Phone-number parsing: callwarden's per-number fast path beside phonenumbers, and import time.

    python benchmarks/phone_bench.py

The fast path handles plain NANP spellings (the common case in dialer and CRM data) without
phonenumbers; everything else falls back to it. Figures print side by side, with the ratio.
"""

from __future__ import annotations

import subprocess
import sys
import time

import phonenumbers

from callwarden.phone import fast_nanp_digits

TEXTS = ["(404) 555-0100", "+1 404 555 0100", "4045550100", "1-404-555-0100"] * 25_000


def _per_number(fn: object) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for text in TEXTS:
            fn(text)  # type: ignore[operator]
        best = min(best, (time.perf_counter() - start) / len(TEXTS))
    return best


def main() -> None:
    """Print the figures."""
    ours = _per_number(fast_nanp_digits)
    peer = _per_number(lambda t: phonenumbers.parse(t, "US"))
    print(
        f"parse one number: callwarden fast path {ours * 1e6:.2f} µs, "
        f"phonenumbers.parse {peer * 1e6:.2f} µs ({peer / ours:.0f}x)"
    )
    code = (
        "import time; t = time.perf_counter(); import callwarden.phone; "
        "print(time.perf_counter() - t)"
    )
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(3)
    ]  # fmt: skip
    print(f"import callwarden.phone: best of 3 {min(runs) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
