"""The audit log on a real database: sequencing, checkpoints, receipts, and tamper detection."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from callwarden.audit import log, merkle
from callwarden.audit import service as audit
from callwarden.audit.checkpoint import Verifier
from callwarden.security.roles import Role

from .conftest import Keys


def _events(session_factory, n: int, start: int = 0) -> None:
    with session_factory() as s:
        for i in range(start, start + n):
            audit.record(
                session=s,
                type="test.event",
                actor="tester",
                actor_role="admin",
                subject=f"+1404555{i:04d}",
                body={"i": i},
            )
        s.commit()


@pytest.fixture
def signed(settings, session_factory):
    """A log of 12 events with checkpoints at sizes 5 and 12."""
    signer = log.signer_for(settings.data_dir)
    _events(session_factory, 5)
    with session_factory() as s:
        log.checkpoint(s, signer)
        s.commit()
    _events(session_factory, 7, start=5)
    with session_factory() as s:
        log.checkpoint(s, signer)
        s.commit()
    return Verifier(signer.public_key_text())


def _verify(session_factory, verifier) -> log.VerifyReport:
    with session_factory() as s:
        return log.verify_log(s, verifier)


def _sql(session_factory, sql: str, **params) -> None:
    with session_factory() as s:
        s.execute(text(sql), params)
        s.commit()


def test_untouched_log_verifies(session_factory, signed):
    report = _verify(session_factory, signed)
    assert report.ok, report.problems
    assert (report.events, report.checkpoints, report.pending) == (12, 2, 0)


def test_sequencing_is_dense_and_in_order(session_factory, signed):
    with session_factory() as s:
        seqs = [r[0] for r in s.execute(text("SELECT seq FROM audit_events ORDER BY id"))]
    assert seqs == list(range(12))


def test_edited_body_is_caught_at_its_position(session_factory, signed):
    _sql(session_factory, "UPDATE audit_events SET body = :b WHERE seq = 7", b='{"i":99}')
    report = _verify(session_factory, signed)
    assert not report.ok and "position 7" in report.problems[0] and "changed" in report.problems[0]


def test_edit_with_recomputed_leaf_hash_is_caught_by_the_checkpoint(session_factory, signed):
    with session_factory() as s:
        row = s.execute(
            text(
                "SELECT occurred_at, type, actor, actor_role, subject"
                " FROM audit_events WHERE seq = 3"
            )
        ).one()
        forged = merkle.leaf_hash(
            log.leaf_bytes(3, row[0], row[1], row[2], row[3], row[4], '{"i":42}')
        )
        s.execute(
            text("UPDATE audit_events SET body = :b, leaf_hash = :h WHERE seq = 3"),
            {"b": '{"i":42}', "h": forged},
        )
        s.commit()
    report = _verify(session_factory, signed)
    assert not report.ok and "checkpoint of size 5" in report.problems[0]


def test_deleted_row_is_caught(session_factory, signed):
    _sql(session_factory, "DELETE FROM audit_events WHERE seq = 4")
    report = _verify(session_factory, signed)
    assert not report.ok and "position 4 is missing" in report.problems[0]


def test_inserted_row_is_caught(session_factory, signed):
    # make room at position 6 by shifting the later events, then insert a forged event there
    _sql(session_factory, "UPDATE audit_events SET seq = seq + 100 WHERE seq >= 6")
    _sql(session_factory, "UPDATE audit_events SET seq = seq - 99 WHERE seq >= 106")
    with session_factory() as s:
        forged_leaf = log.leaf_bytes(6, "2026-01-01T00:00:00+00:00", "x", "y", "admin", None, "{}")
        s.execute(
            text(
                "INSERT INTO audit_events (occurred_at, type, actor, actor_role, subject, body,"
                " seq,"
                " leaf_hash) VALUES (:t, 'x', 'y', 'admin', NULL, '{}', 6, :h)"
            ),
            {"t": "2026-01-01 00:00:00.000000", "h": merkle.leaf_hash(forged_leaf)},
        )
        s.commit()
    report = _verify(session_factory, signed)
    assert not report.ok and "position 7" in report.problems[0]


def test_swapped_rows_are_caught(session_factory, signed):
    _sql(session_factory, "UPDATE audit_events SET seq = 1000 WHERE seq = 2")
    _sql(session_factory, "UPDATE audit_events SET seq = 2 WHERE seq = 9")
    _sql(session_factory, "UPDATE audit_events SET seq = 9 WHERE seq = 1000")
    report = _verify(session_factory, signed)
    assert not report.ok and "position 2" in report.problems[0]


def test_replaced_checkpoint_is_caught(session_factory, signed):
    _sql(session_factory, "UPDATE audit_checkpoints SET note = replace(note, '\n5\n', '\n4\n')")
    report = _verify(session_factory, signed)
    assert not report.ok and "checkpoint" in report.problems[0]


def test_checkpoint_signed_by_another_key_is_caught(tmp_path, session_factory, signed):
    other = log.signer_for(tmp_path / "elsewhere")
    with session_factory() as s:
        log.checkpoint(s, other)
        s.commit()
    report = _verify(session_factory, signed)
    assert not report.ok and "checkpoint" in report.problems[0]


def test_truncated_log_is_caught(session_factory, signed):
    _sql(session_factory, "DELETE FROM audit_events WHERE seq >= 10")
    report = _verify(session_factory, signed)
    assert not report.ok and "truncated" in report.problems[0]


def test_receipt_proves_inclusion(session_factory, signed):
    with session_factory() as s:
        event_id = s.execute(text("SELECT id FROM audit_events WHERE seq = 8")).scalar_one()
        r = log.receipt(s, event_id)
    head = signed.verify(r["checkpoint"].encode())
    assert head.size == 12 and head.root.hex() == r["root"]
    leaf = merkle.leaf_hash(r["leaf"].encode())
    assert leaf.hex() == r["leaf_hash"]
    merkle.verify_inclusion(leaf, 8, 12, [bytes.fromhex(p) for p in r["proof"]], head.root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(leaf, 7, 12, [bytes.fromhex(p) for p in r["proof"]], head.root)


def test_receipts_and_checkpoints_over_http(app, client, keys: Keys, session_factory):
    h = keys.headers(Role.DIALER)
    mine = client.post("/v1/dnc/internal", json={"number": "4045550100"}, headers=h)
    assert mine.status_code == 201
    cp = client.post("/v1/audit/checkpoints", headers=keys.headers(Role.COMPLIANCE))
    assert cp.status_code == 201 and cp.json()["size"] >= 1
    events = client.get(
        "/v1/audit/events",
        params={"type": "dnc.internal.added"},
        headers=keys.headers(Role.AUDITOR),
    ).json()["events"]
    assert events and events[0]["actor"] == "test-dialer" and events[0]["seq"] is not None
    receipt = client.get(f"/v1/audit/events/{events[0]['id']}/proof", headers=h)
    assert receipt.status_code == 200
    vkey = client.get("/v1/audit/public-key", headers=h).json()["vkey"]
    head = Verifier(vkey).verify(receipt.json()["checkpoint"].encode())
    merkle.verify_inclusion(
        merkle.leaf_hash(receipt.json()["leaf"].encode()),
        receipt.json()["seq"],
        head.size,
        [bytes.fromhex(p) for p in receipt.json()["proof"]],
        head.root,
    )
    # someone else's event: no receipt for a dialer
    keyev = client.get(
        "/v1/audit/events", params={"type": "auth.failed"}, headers=keys.headers(Role.AUDITOR)
    )
    assert keyev.status_code == 200
    other = client.post(
        "/v1/dnc/internal", json={"number": "4045550101"}, headers=keys.headers(Role.AGENT)
    )
    client.post("/v1/audit/checkpoints", headers=keys.headers(Role.COMPLIANCE))
    other_id = client.get(
        "/v1/audit/events", params={"actor": "test-agent"}, headers=keys.headers(Role.AUDITOR)
    ).json()["events"][0]["id"]
    assert other.status_code == 201
    assert client.get(f"/v1/audit/events/{other_id}/proof", headers=h).status_code == 403


def test_verify_command(run_cli, session_factory, settings):
    _events(session_factory, 3)
    run_cli("audit", "checkpoint", check=True)
    ok = run_cli("audit", "verify")
    assert ok.returncode == 0 and "OK" in ok.stdout
    _sql(session_factory, "UPDATE audit_events SET actor = 'someone else' WHERE seq = 1")
    bad = run_cli("audit", "verify")
    assert bad.returncode == 1 and "position 1" in bad.stderr


def test_consistency_proof_over_http(client, keys: Keys, session_factory, settings):
    signer = log.signer_for(settings.data_dir)
    _events(session_factory, 5)
    with session_factory() as s:
        old = log.checkpoint(s, signer)
        s.commit()
    _events(session_factory, 9, start=5)
    with session_factory() as s:
        new = log.checkpoint(s, signer)
        s.commit()
    h = keys.headers(Role.AUDITOR)
    r = client.get("/v1/audit/consistency", params={"from": old.size, "to": new.size}, headers=h)
    assert r.status_code == 200
    proof = [bytes.fromhex(p) for p in r.json()["proof"]]
    merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(old.size, new.size, new.root, old.root, proof)
    too_far = client.get("/v1/audit/consistency", params={"from": 1, "to": 10_000}, headers=h)
    assert too_far.status_code == 409
    backwards = client.get("/v1/audit/consistency", params={"from": 9, "to": 3}, headers=h)
    assert backwards.status_code == 422


def test_a_prepared_sequencing_the_tree_outgrew_is_done_again(settings, session_factory):
    """A sequencer that hashed events before the lock, while another sequenced them, must not
    sequence them twice: under the lock it sees the tree moved and works from the log."""
    signer = log.signer_for(settings.data_dir)
    _events(session_factory, 6)
    with session_factory() as s:
        stale = log.prepare(s, max_batch=4)
    assert stale is not None and [u[0] for u in stale.updates] == [0, 1, 2, 3]
    with session_factory() as s:  # another process sequences the first four meanwhile
        assert log.integrate(s, max_batch=4) == 4
        s.commit()
    with session_factory() as s:
        assert log.integrate(s, max_batch=4, prepared=stale) == 2  # only the two left
        s.commit()
    with session_factory() as s:
        seqs = [r[0] for r in s.execute(text("SELECT seq FROM audit_events ORDER BY id"))]
        log.checkpoint(s, signer)
        s.commit()
    assert seqs == list(range(6))
    report = _verify(session_factory, Verifier(signer.public_key_text()))
    assert report.ok, report.problems


def test_a_fresh_prepared_sequencing_is_written_as_computed(session_factory):
    _events(session_factory, 3)
    with session_factory() as s:
        ready = log.prepare(s)
    with session_factory() as s:
        assert log.integrate(s, prepared=ready) == 3
        s.commit()
        leaves = [
            bytes(r[0]) for r in s.execute(text("SELECT leaf_hash FROM audit_events ORDER BY id"))
        ]
    assert ready is not None and leaves == [u[1] for u in ready.updates]


def _recorded(
    session_factory, n: int, *, sequence: bool, subjects: list[str] | None = None
) -> list[int]:
    with session_factory() as s:
        ids = audit.record_events(
            session=s,
            events=[
                {
                    "type": "gate.decision",
                    "actor": "d",
                    "actor_role": "dialer",
                    "subject": subjects[i] if subjects else f"x{i}",
                    "body": f'{{"i":{i}}}',
                }
                for i in range(n)
            ],
            sequence=sequence,
        )
        s.commit()
    return ids


def _seqs(session_factory, ids: list[int]) -> list[int | None]:
    with session_factory() as s:
        rows = dict(s.execute(text("SELECT id, seq FROM audit_events")).all())
    return [rows[i] for i in ids]


def test_a_writer_holding_the_lock_sequences_its_events_as_it_writes(settings, session_factory):
    """On SQLite, events written with sequence=True enter the tree in the same transaction
    when nothing is pending (no later rewrite of their rows); elsewhere they wait for the
    sequencer. Either way the sequence is dense, in id order, and the log verifies."""
    signer = log.signer_for(settings.data_dir)
    first = _recorded(session_factory, 5, sequence=True)
    sqlite = session_factory().get_bind().dialect.name == "sqlite"
    assert _seqs(session_factory, first) == (list(range(5)) if sqlite else [None] * 5)
    with session_factory() as s:
        log.checkpoint(s, signer)
        s.commit()
    report = _verify(session_factory, Verifier(signer.public_key_text()))
    assert report.ok and report.events == 5, report.problems


def test_events_behind_a_pending_one_wait_for_the_sequencer(settings, session_factory):
    signer = log.signer_for(settings.data_dir)
    pending = _recorded(session_factory, 2, sequence=False)
    later = _recorded(session_factory, 3, sequence=True)
    assert _seqs(session_factory, pending + later) == [None] * 5  # id order must be kept
    with session_factory() as s:
        assert log.integrate(s) == 5
        log.checkpoint(s, signer)
        s.commit()
    assert _seqs(session_factory, pending + later) == list(range(5))
    assert _verify(session_factory, Verifier(signer.public_key_text())).ok


@given(st.text() | st.text(alphabet=st.characters(max_codepoint=0x80)))
def test_a_body_is_quoted_in_a_leaf_exactly_as_every_earlier_leaf_quoted_it(body: str) -> None:
    """Leaf bytes must never change, or every receipt already given stops verifying.

    The fast quoting of a body (orjson for plain ASCII) writes what json.dumps wrote, for
    any text: control characters, DEL, non-ASCII, lone surrogates' escapes.
    """
    assert log._quoted(body) == json.dumps(body)
    leaf = log.leaf_bytes(7, "2026-11-28T00:00:00+00:00", "t", "a", "admin", None, body)
    assert json.loads(leaf)["body"] == body


def test_concurrent_writers_sequencing_as_they_write_keep_one_dense_tree(settings, session_factory):
    """Four threads, each committing groups of events with sequence=True (entered as written
    on SQLite, left to the sequencer on PostgreSQL) beside plain events left to the
    sequencer: every event gets one position, the positions are dense, each writer's ids come
    back in its rows' order, and the signed log verifies."""
    signer = log.signer_for(settings.data_dir)
    written: list[tuple[list[int], list[str]]] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        for g in range(6):
            subjects = [f"w{w}g{g}e{i}" for i in range(3)]
            # every third group is left pending
            ids = _recorded(session_factory, 3, sequence=g % 3 != 2, subjects=subjects)
            with lock:
                written.append((ids, subjects))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with session_factory() as s:
        while log.integrate(s):
            pass
        log.checkpoint(s, signer)
        s.commit()
    with session_factory() as s:
        rows = {
            i: (seq, sub)
            for i, seq, sub in s.execute(text("SELECT id, seq, subject FROM audit_events"))
        }
    assert sorted(seq for seq, _ in rows.values()) == list(range(72))
    for ids, subjects in written:
        assert [rows[i][1] for i in ids] == subjects
    report = _verify(session_factory, Verifier(signer.public_key_text()))
    assert report.ok and report.events == 72, report.problems


def test_the_events_of_one_call_share_their_time(session_factory):
    """`record_events` writes one transaction's events at one moment, in order."""
    with session_factory() as s:
        ids = audit.record_events(
            session=s,
            events=[
                {"type": "t.x", "actor": "a", "actor_role": "r", "subject": str(i), "body": "{}"}
                for i in range(3)
            ],
        )
        s.commit()
        rows = s.execute(
            text("SELECT id, occurred_at, subject FROM audit_events WHERE id IN (:a, :b, :c)"),
            dict(zip("abc", ids, strict=True)),
        ).all()
    assert [r.subject for r in sorted(rows)] == ["0", "1", "2"]
    assert len({r.occurred_at for r in rows}) == 1
