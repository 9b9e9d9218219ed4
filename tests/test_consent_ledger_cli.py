"""`callwarden consent ...` end to end, as a real process."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

GIVEN = (datetime.now(UTC) - timedelta(days=1)).isoformat()


def test_add_revoke_list(tmp_path, run_cli):
    language = tmp_path / "language.txt"
    language.write_text("Acme may call and text me using an autodialer. Not a condition.\n")
    proc = run_cli(
        "consent", "add", "(404) 555-0100", "--kind", "pewc", "--seller", "acme",
        "--seller", "beta", "--channel", "voice", "--channel", "sms",
        "--purpose", "telemarketing", "--given-at", GIVEN, "--language-file", str(language),
        "--signature", "esign:42", "--source", "web_form", "--ip", "203.0.113.7", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout)
    assert made["sellers"] == ["acme", "beta"]
    assert made["language_sha256"] == hashlib.sha256(language.read_bytes()).hexdigest()

    proc = run_cli(
        "consent", "revoke", "4045550100", "--channel", "sms", "--text", "STOP",
        "--seller", "acme", "--scope", "all",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "recorded revocation #1" in proc.stdout and "internal DNC entry" in proc.stdout

    proc = run_cli("consent", "revoke", "4045550100", "--channel", "sms", "--text", "ok, thanks")
    assert proc.returncode == 0 and "not a revocation" in proc.stdout

    proc = run_cli("consent", "list", "+14045550100", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert [c["id"] for c in listed["consents"]] == [made["id"]]
    assert listed["consents"][0]["evidence"]["ip"] == "203.0.113.7"
    assert [(r["text"], r["method"]) for r in listed["revocations"]] == [("STOP", "keyword")]

    lookup = run_cli("dnc", "lookup", "4045550100", "--json")
    assert [e["seller"] for e in json.loads(lookup.stdout)[0]["internal"]] == ["acme"]


def test_bad_input_exits_2_with_a_message(tmp_path, run_cli):
    proc = run_cli(
        "consent", "add", "4045550100", "--kind", "pewc", "--seller", "acme",
        "--channel", "voice", "--purpose", "telemarketing", "--given-at", GIVEN,
        "--source", "web_form",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "language" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("consent", "revoke", "4045550100", "--channel", "pigeon")
    assert proc.returncode == 2 and "channel" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli(
        "consent", "revoke", "4045550100", "--channel", "sms", "--received-at", "2026-01-01"
    )
    assert proc.returncode == 2 and "time zone" in proc.stderr


def test_imports_are_all_or_nothing(tmp_path, run_cli):
    bad = tmp_path / "consents.csv"
    bad.write_text(
        "number,kind,sellers,channels,purposes,given_at,source\n"
        "4045550100,pec,*,voice,informational,2026-01-05T10:00:00Z,agent\n"
        "4045550100,pec,*,pager,informational,2026-01-05T10:00:00Z,agent\n"
        "not-a-number,pec,*,voice,informational,2026-01-05T10:00:00Z,agent\n"
    )
    proc = run_cli("consent", "import", str(bad))
    assert proc.returncode == 2, proc.stderr
    assert f"{bad}:3: channels:" in proc.stderr and f"{bad}:4: number:" in proc.stderr
    assert "2 bad rows" in proc.stderr and "Traceback" not in proc.stderr
    listed = json.loads(run_cli("consent", "list", "4045550100", "--json").stdout)
    assert listed["consents"] == []

    good = tmp_path / "revocations.jsonl"
    good.write_text(
        json.dumps(
            {
                "number": "4045550100",
                "received_at": "2026-01-05T10:00:00Z",
                "channel": "email",
                "text": "unsubscribe",
            }
        )
        + "\n"
        + json.dumps(
            {"number": "4045550100", "received_at": "2026-01-05T10:00:00Z", "channel": "ivr"}
        )
        + "\n"
    )
    proc = run_cli("consent", "revocations-import", str(good), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["imported"] == 2
    bad.write_text(bad.read_text().splitlines()[0] + "\n" + bad.read_text().splitlines()[1] + "\n")
    proc = run_cli("consent", "import", str(bad), "--format", "csv")
    assert proc.returncode == 0 and "imported 1 consents" in proc.stdout
