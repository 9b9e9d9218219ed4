"""Evidence bundles: export, offline verification, and every kind of tampering with a bundle."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from callwarden.audit import bundle, log, merkle
from callwarden.audit import service as audit
from callwarden.audit.models import AuditEvent


@pytest.fixture
def exported(tmp_path, settings, session_factory):
    """A log of 20 events with 2 checkpoints, and a bundle of positions 5..14."""
    signer = log.signer_for(settings.data_dir)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    with session_factory() as s:
        for i in range(20):
            audit.record(
                session=s, type="t", actor="a", actor_role="admin", subject=str(i), body={"i": i}
            )
        s.commit()
        # spread the events over 20 days so a date range selects a slice
        for i in range(20):
            s.execute(
                update(AuditEvent)
                .where(AuditEvent.subject == str(i))
                .values(occurred_at=base + timedelta(days=i))
            )
        s.commit()
        log.integrate(s)
        s.commit()
        log.checkpoint(s, signer)
        s.commit()
        out = tmp_path / "bundle.zip"
        manifest = bundle.export_bundle(
            s,
            out,
            since=base + timedelta(days=5),
            until=base + timedelta(days=15),
            vkey=signer.public_key_text(),
        )
    return out, manifest, signer.public_key_text()


def _rewrite(src: Path, dst: Path, change: dict[str, bytes | None]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = change.get(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)
    return dst


def test_bundle_verifies_offline(exported):
    out, manifest, vkey = exported
    assert (manifest["from_seq"], manifest["to_seq"], manifest["events"]) == (5, 15, 10)
    report = bundle.verify_bundle(out, vkey=vkey)
    assert report.ok, report.problems
    assert (report.events, report.tree_size) == (10, 20) and not report.warnings
    assert bundle.verify_bundle(out).warnings  # no pinned key: said out loud


def test_only_the_range_travels_in_clear(exported):
    out, _, _ = exported
    with zipfile.ZipFile(out) as zf:
        subjects = [json.loads(line)["subject"] for line in zf.read("events.jsonl").splitlines()]
    assert subjects == [str(i) for i in range(5, 15)]


def test_altered_event_is_caught(tmp_path, exported):
    out, _, vkey = exported
    with zipfile.ZipFile(out) as zf:
        lines = zf.read("events.jsonl").splitlines()
    lines[3] = lines[3].replace(b'"actor":"a"', b'"actor":"b"')
    bad = _rewrite(out, tmp_path / "b.zip", {"events.jsonl": b"\n".join(lines) + b"\n"})
    report = bundle.verify_bundle(bad, vkey=vkey)
    assert not report.ok and "position 8 was altered" in report.problems[0]


def test_altered_event_with_forged_leaf_is_caught_by_the_signature(tmp_path, exported):
    out, _, vkey = exported
    with zipfile.ZipFile(out) as zf:
        lines = zf.read("events.jsonl").splitlines()
        leaves = bytearray(zf.read("leaves.bin"))
    lines[0] = lines[0].replace(b'"actor":"a"', b'"actor":"b"')
    leaves[5 * 32 : 6 * 32] = merkle.leaf_hash(lines[0])
    bad = _rewrite(
        out,
        tmp_path / "b.zip",
        {"events.jsonl": b"\n".join(lines) + b"\n", "leaves.bin": bytes(leaves)},
    )
    report = bundle.verify_bundle(bad, vkey=vkey)
    assert not report.ok and "does not match the leaves" in report.problems[0]


def test_wrong_tree_size_is_caught(tmp_path, exported):
    out, manifest, vkey = exported
    forged = dict(manifest, tree_size=19, to_seq=15)
    bad = _rewrite(out, tmp_path / "b.zip", {"manifest.json": json.dumps(forged).encode()})
    report = bundle.verify_bundle(bad, vkey=vkey)
    assert not report.ok and "size 19" in report.problems[0]


def test_truncated_pieces_are_caught(tmp_path, exported):
    out, _, vkey = exported
    with zipfile.ZipFile(out) as zf:
        leaves = zf.read("leaves.bin")
        events = zf.read("events.jsonl")
    short = _rewrite(out, tmp_path / "a.zip", {"leaves.bin": leaves[:-32]})
    assert "truncated" in bundle.verify_bundle(short, vkey=vkey).problems[0]
    fewer = _rewrite(
        out, tmp_path / "b.zip", {"events.jsonl": b"\n".join(events.splitlines()[:-1])}
    )
    assert "truncated" in bundle.verify_bundle(fewer, vkey=vkey).problems[0]
    missing = _rewrite(out, tmp_path / "c.zip", {"leaves.bin": None})
    assert "no leaves.bin" in bundle.verify_bundle(missing, vkey=vkey).problems[0]
    cut = tmp_path / "cut.zip"
    cut.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    assert not bundle.verify_bundle(cut, vkey=vkey).ok


def test_bad_signature_and_wrong_key_are_caught(tmp_path, exported):
    out, _, vkey = exported
    with zipfile.ZipFile(out) as zf:
        name = sorted(n for n in zf.namelist() if n.startswith("checkpoints/"))[-1]
        note = zf.read(name)
    lines = note.split(b"\n")
    sig = lines[-2]
    flipped = sig[:-3] + (b"A" if sig[-3:-2] != b"A" else b"B") + sig[-2:]
    bad = _rewrite(out, tmp_path / "b.zip", {name: note.replace(sig, flipped)})
    assert not bundle.verify_bundle(bad, vkey=vkey).ok
    other = log.signer_for(tmp_path / "other").public_key_text()
    assert not bundle.verify_bundle(out, vkey=other).ok


def test_cli_export_and_offline_verify(tmp_path, run_cli, cli_env, session_factory):
    import subprocess
    import sys

    with session_factory() as s:
        audit.record(session=s, type="t", actor="a", actor_role="admin", body={})
        s.commit()
    run_cli("audit", "checkpoint", check=True)
    out = tmp_path / "evidence.zip"
    run_cli("audit", "export", str(out), check=True)
    vkey = run_cli("audit", "public-key", check=True).stdout.strip()
    # the auditor's machine: no database, no data directory
    env = dict(
        cli_env,
        CALLWARDEN_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none",
        CALLWARDEN_DATA_DIR=str(tmp_path / "empty"),
    )
    ok = subprocess.run(
        [sys.executable, "-m", "callwarden", "audit", "verify-bundle", str(out), "--vkey", vkey],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stderr
    assert not (tmp_path / "empty").exists()


def test_forged_consistency_proof_is_caught(tmp_path, settings, session_factory):
    signer = log.signer_for(settings.data_dir)
    for n in (3, 4):
        with session_factory() as s:
            for i in range(n):
                audit.record(session=s, type="t", actor="a", actor_role="admin", body={"i": i})
            s.commit()
            log.checkpoint(s, signer)
            s.commit()
    out = tmp_path / "two.zip"
    with session_factory() as s:
        bundle.export_bundle(s, out, since=None, until=None, vkey=signer.public_key_text())
    vkey = signer.public_key_text()
    assert bundle.verify_bundle(out, vkey=vkey).ok
    with zipfile.ZipFile(out) as zf:
        item = json.loads(zf.read("consistency.jsonl"))
    assert (item["from"], item["to"]) == (3, 7) and item["proof"]
    first = bytearray(bytes.fromhex(item["proof"][0]))
    first[0] ^= 1
    item["proof"][0] = first.hex()
    bad = _rewrite(out, tmp_path / "bad.zip", {"consistency.jsonl": json.dumps(item).encode()})
    report = bundle.verify_bundle(bad, vkey=vkey)
    assert not report.ok and "consistency proof 3 -> 7" in report.problems[0]
