"""`callwarden ebr ...` end to end, as a real process."""

from __future__ import annotations

import json


def test_add_list_end_import(tmp_path, run_cli):
    proc = run_cli(
        "ebr", "add", "404-555-0100", "--seller", "acme", "--kind", "purchase",
        "--on", "2025-08-31", "--reference", "order-9", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout)
    assert made["expires_on"] == {"US": "2027-02-28", "CA": "2027-02-28"}

    proc = run_cli("ebr", "end", str(made["id"]), "--on", "2025-09-01")
    assert proc.returncode == 0 and "ended EBR event" in proc.stdout
    proc = run_cli("ebr", "end", str(made["id"]), "--on", "2025-09-02")
    assert proc.returncode == 2 and "already ended" in proc.stderr

    rows = tmp_path / "ebr.csv"
    rows.write_text(
        "number,seller,kind,occurred_on\n"
        "4045550100,beta,inquiry,2026-01-15\n"
        "4045550100,beta,browse,2026-01-15\n"
        "4045550100,,inquiry,2026-13-01\n"
    )
    proc = run_cli("ebr", "import", str(rows))
    assert proc.returncode == 2
    for where in (":3: kind:", ":4: seller:", ":4: occurred_on:"):
        assert where in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    rows.write_text("\n".join(rows.read_text().splitlines()[:2]) + "\n")
    assert run_cli("ebr", "import", str(rows)).returncode == 0

    listed = json.loads(run_cli("ebr", "list", "4045550100", "--json").stdout)
    assert [(e["seller"], e["kind"], e["ended_on"]) for e in listed] == [
        ("beta", "inquiry", None),
        ("acme", "purchase", "2025-09-01"),
    ]
    proc = run_cli(
        "ebr", "add", "4045550100", "--seller", "acme", "--kind", "visit", "--on", "2026-01-01"
    )
    assert proc.returncode == 2 and "kind" in proc.stderr
