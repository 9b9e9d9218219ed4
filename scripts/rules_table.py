"""Write docs/rules.md: every packaged rule with its citation, dates, tag and proving tests.

python scripts/rules_table.py            # rewrite docs/rules.md
python scripts/rules_table.py --check    # exit 1 when docs/rules.md is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from callwarden.rules import load_packs

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "rules.md"

HEAD = """# Rules implemented

Generated from the rule packs in `src/callwarden/rules/packs/` by `python scripts/rules_table.py`
(a test fails when this file is out of date). Each rule keeps the confidence tag of
`../shared/reference/rules.md`: **C** confirmed against primary text, **S** secondary sources,
**U** unconfirmed (have counsel verify before relying on it). "Tests" lists the tests whose code
names the rule.

"""


def _tests_naming(rule_id: str) -> list[str]:
    found = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        text = path.read_text()
        named = [
            f"`{path.name}::{chunk[4:].split('(')[0]}`"
            for chunk in re.split(r"\n(?=def test_)", text)
            if chunk.startswith("def test_") and rule_id in chunk
        ]
        if not named and rule_id in text:  # a row of a table-driven (parametrized) test
            named = [f"`{path.name}` (table-driven)"]
        found += named
    return found


def render() -> str:
    """The whole document."""
    rules = load_packs()
    lines = [
        HEAD,
        "| rule id | jurisdiction | kind | citation | effective | status | tag | tests |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rules.rules, key=lambda r: (r.jurisdiction != "US", r.jurisdiction, r.id)):
        until = f" to {r.effective_to}" if r.effective_to else ""
        tests = ", ".join(_tests_naming(r.id)) or "**none**"
        lines.append(
            f"| `{r.id}` | {r.jurisdiction} | {r.kind} | {r.citation} | from {r.effective_from}"
            f"{until} | {r.status} | {r.confidence} | {tests} |"
        )
    revisions = ", ".join(f"`{k}` {v}" for k, v in sorted(rules.revisions.items()))
    lines += ["", f"Pack revisions: {revisions}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if DOC.read_text() == text else 1)
    DOC.write_text(text)
    print(f"updated {DOC}")
