"""The `callwarden` command as a user runs it: real processes, real files, real database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select

from callwarden.dnc.models import DncSnapshot

from .dnc_files import e164, write_flat

TODAY = datetime.now(UTC).date().isoformat()


def test_keys_create_list_revoke(run_cli):
    created = run_cli("keys", "create", "--name", "ops", "--role", "compliance", check=True)
    token = created.stdout.strip()
    assert token.startswith("cw_") and "will not be shown again" in created.stderr
    listing = run_cli("keys", "list", check=True)
    assert "ops" in listing.stdout and token not in listing.stdout
    bad = run_cli("keys", "create", "--name", "x", "--role", "root")
    assert bad.returncode == 2 and "unknown role" in bad.stderr and "Traceback" not in bad.stderr
    assert run_cli("keys", "revoke", "ops", check=True).returncode == 0
    assert run_cli("keys", "revoke", "nobody").returncode == 2


def test_import_status_lookup(tmp_path, run_cli):
    f = write_flat(tmp_path / "404.txt", [e164("4045550100")], extra_lines=["404,55"])
    imp = run_cli("dnc", "import", "national", str(f), "--obtained", TODAY, "--json", check=True)
    rep = json.loads(imp.stdout)
    assert rep["added"] == 1 and rep["rejected"] == 1 and rep["errors"][0]["line_no"] == 2
    status = run_cli("dnc", "status", "--json", check=True)
    national = next(r for r in json.loads(status.stdout) if r["list"] == "national")
    assert national["coverage"] == [404] and national["stale"] is False
    hit = run_cli("dnc", "lookup", "(404) 555-0100", "--json")
    assert hit.returncode == 1 and json.loads(hit.stdout)[0]["listed"] is True
    miss = run_cli("dnc", "lookup", "404-555-0199")
    assert miss.returncode == 0 and "not listed" in miss.stdout
    bad = run_cli("dnc", "lookup", "12")
    assert bad.returncode == 1 and "not a valid number" in bad.stdout
    errors = run_cli("dnc", "errors", str(rep["snapshot_id"]), check=True)
    assert "404.txt:2:" in errors.stdout


def test_add_and_remove_needs_compliance_key(run_cli):
    run_cli("dnc", "add", "4045550123", "--channel", "sms", "--source", "sms_keyword", check=True)
    looked = json.loads(run_cli("dnc", "lookup", "4045550123", "--json").stdout)[0]
    entry_id = looked["internal"][0]["id"]
    no_key = run_cli("dnc", "remove", str(entry_id), "--reason", "consumer asked")
    assert no_key.returncode == 2 and "compliance API key" in no_key.stderr
    agent = run_cli("keys", "create", "--name", "ag", "--role", "agent", check=True).stdout.strip()
    denied = run_cli(
        "dnc", "remove", str(entry_id), "--reason", "consumer asked", "--api-key", agent
    )
    assert denied.returncode == 2 and "compliance" in denied.stderr
    officer = run_cli(
        "keys", "create", "--name", "co", "--role", "compliance", check=True
    ).stdout.strip()
    ok = run_cli("dnc", "remove", str(entry_id), "--reason", "consumer asked", "--api-key", officer)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(run_cli("dnc", "lookup", "4045550123", "--json").stdout)[0]["listed"] is False


def test_bad_input_messages(tmp_path, run_cli):
    missing = run_cli("dnc", "import", "national", str(tmp_path / "nope.txt"), "--obtained", TODAY)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    f = write_flat(tmp_path / "404.txt", [e164("4045550100")])
    bad_date = run_cli("dnc", "import", "national", str(f), "--obtained", "28/11/2026")
    assert bad_date.returncode == 2 and "obtained" in bad_date.stderr
    unknown = run_cli("dnc", "frobnicate")
    assert unknown.returncode == 2
    for proc in (missing, bad_date, unknown):
        assert "Traceback" not in proc.stderr + proc.stdout


def test_scrub_command(tmp_path, run_cli):
    f = write_flat(tmp_path / "404.txt", [e164("4045550100")])
    run_cli("dnc", "import", "national", str(f), "--obtained", TODAY, check=True)
    src = tmp_path / "list.csv"
    src.write_text("first,phone_number,zip\nAnn,4045550100,30301\nBob,4045550101,30302\nCy,abc,1\n")
    out, rej = tmp_path / "clean.csv", tmp_path / "rejects.csv"
    proc = run_cli("scrub", str(src), "--out", str(out), "--rejects", str(rej))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == "first,phone_number,zip\nBob,4045550101,30302\n"
    rejects = rej.read_text().splitlines()
    assert rejects[0] == "first,phone_number,zip,scrub_reason,scrub_lists"
    assert rejects[1].startswith("Ann,4045550100,30301,listed: national")
    assert rejects[2].startswith("Cy,abc,1,invalid number")
    assert "rows" in proc.stderr and "3" in proc.stderr
    same = run_cli("scrub", str(src), "--out", str(src))
    assert same.returncode == 2 and "overwrite" in same.stderr


def test_killed_import_leaves_the_old_snapshot_answering(
    tmp_path, run_cli, cli_env, session_factory
):
    """Atomicity: SIGKILL in the middle of an import; the previous snapshot keeps answering."""
    old = write_flat(tmp_path / "old.txt", [e164("4045550100")])
    run_cli("dnc", "import", "national", str(old), "--obtained", TODAY, check=True)
    rng = np.random.default_rng(3)
    local = rng.integers(2_000_000, 10_000_000, size=6_000_000)
    local = local[(local // 10_000) % 100 != 11]
    big = tmp_path / "big.txt"
    big.write_bytes("".join(f"404,{v:07d}\n" for v in local.tolist()).encode())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "callwarden",
            "dnc",
            "import",
            "national",
            str(big),
            "--obtained",
            TODAY,
        ],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    killed_while_importing = False
    while time.monotonic() < deadline and proc.poll() is None:
        with session_factory() as s:
            statuses = list(s.scalars(select(DncSnapshot.status).order_by(DncSnapshot.id)))
        if len(statuses) == 2 and statuses[1] == "importing":
            time.sleep(0.2)  # let it get well into copying and parsing
            os.kill(proc.pid, signal.SIGKILL)
            killed_while_importing = True
            break
        time.sleep(0.005)
    proc.wait(timeout=60)
    assert killed_while_importing and proc.returncode == -signal.SIGKILL
    with session_factory() as s:
        statuses = list(s.scalars(select(DncSnapshot.status).order_by(DncSnapshot.id)))
    assert statuses == ["complete", "importing"]
    hit = json.loads(run_cli("dnc", "lookup", "4045550100", "--json").stdout)[0]
    assert hit["listed"] is True  # still the old snapshot
    status = json.loads(run_cli("dnc", "status", "--json", check=True).stdout)
    assert next(r for r in status if r["list"] == "national")["entries"] == 1
    # the next import of the list reaps the dead one and succeeds
    again = write_flat(tmp_path / "again.txt", [e164("4045550111")])
    run_cli("dnc", "import", "national", str(again), "--obtained", TODAY, check=True)
    with session_factory() as s:
        statuses = list(s.scalars(select(DncSnapshot.status).order_by(DncSnapshot.id)))
    assert statuses == ["complete", "failed", "complete"]


def test_serve_on_an_empty_database(tmp_path, cli_env):
    """`callwarden serve` creates the schema, prints an admin key once, and becomes ready."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(cli_env)
    env["CALLWARDEN_DATA_DIR"] = str(tmp_path / "fresh")
    env.pop("CALLWARDEN_DATABASE_URL")  # the embedded default: an SQLite file in the data dir
    proc = subprocess.Popen(
        [sys.executable, "-m", "callwarden", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert ready is not None and ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "schema": "ok", "dnc_index": "ok"}
        assert (tmp_path / "fresh" / "callwarden.db").is_file()
        anon = httpx.get(f"http://127.0.0.1:{port}/v1/dnc/status")
        assert anon.status_code == 401
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # printed before the server started, so already in the pipe
            seen.append(line)
            if f"http://127.0.0.1:{port}/docs" in line:
                break
        token = next(line.strip() for line in seen if line.startswith("cw_"))
        me = httpx.get(
            f"http://127.0.0.1:{port}/v1/keys", headers={"Authorization": f"Bearer {token}"}
        )
        assert me.status_code == 200 and me.json()[0]["name"].startswith("bootstrap-admin")
        assert me.json()[0]["role"] == "admin" and token not in me.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


_REPORT_COMPILED_MODULES = """
import atexit, sys
atexit.register(lambda: print("heavy:", sorted({m.split(".")[0] for m in sys.modules
    if m.split(".")[0] in ("numba", "llvmlite", "fastapi", "alembic")}), file=sys.stderr))
sys.argv = ["callwarden", *sys.argv[1:]]
from callwarden.cli import main
main()
"""


def test_one_number_commands_load_neither_numba_fastapi_nor_alembic(tmp_path, run_cli, cli_env):
    """`check` and `dnc lookup` answer a number from a loaded registry with pure-Python
    lookups: numba (its import and kernel cache), FastAPI and Alembic would cost each command
    more than half a second in all, for nothing it uses."""
    f = write_flat(tmp_path / "404.txt", [e164("4045550100")])
    run_cli("dnc", "import", "national", str(f), "--obtained", TODAY, check=True)
    answers = []
    for args in (
        ["check", "+14045550100", "--seller", "acme", "--json"],
        ["dnc", "lookup", "+14045550100", "+14045550101", "--json"],
    ):
        proc = subprocess.run(
            [sys.executable, "-c", _REPORT_COMPILED_MODULES, *args],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "heavy: []" in proc.stderr, proc.stderr
        answers.append(json.loads(proc.stdout))
    decision, lookup = answers
    # the pure-Python lookups found the listed number and only it
    assert decision["decision"] == "deny"
    assert "registry_listed" in [r["code"] for r in decision["reasons"]]
    assert [r["listed"] for r in lookup] == [True, False]
