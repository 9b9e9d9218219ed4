"""A writer killed mid-batch: the log still verifies and no acknowledged event is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import select

from callwarden.audit import log
from callwarden.audit.checkpoint import Verifier
from callwarden.audit.models import AuditEvent

WRITER = r"""
import sys, threading
from callwarden.audit import log
from callwarden.audit.service import AuditWriter
from callwarden.db import make_engine, make_session_factory
factory = make_session_factory(make_engine(sys.argv[1]))
signer = log.signer_for(__import__("pathlib").Path(sys.argv[2]))
# sequence and checkpoint as often as possible, so the kill can land in those too
writer = AuditWriter(factory, interval=0.001, sequence_every=0.0, checkpoint_every=0.05,
                     signer=signer)
out = threading.Lock()
def work(k):
    i = 0
    while True:
        event_id = writer.append(type="crash.test", actor=f"w{k}", actor_role="system",
                                 subject=str(i), body={"k": k, "i": i})
        with out:
            sys.stdout.write(f"{event_id}\n")
            sys.stdout.flush()
        i += 1
for k in range(4):
    threading.Thread(target=work, args=(k,), daemon=True).start()
threading.Event().wait()
"""


def test_kill_in_the_middle_of_batches(settings, session_factory):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, settings.resolved_database_url, str(settings.data_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    acknowledged: list[int] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while len(acknowledged) < 3000 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and len(acknowledged) >= 3000
    signer = log.signer_for(settings.data_dir)
    with session_factory() as s:
        stored = set(s.scalars(select(AuditEvent.id)))
        assert set(acknowledged) <= stored  # nothing acknowledged was lost
        assert log.latest_checkpoint(s) is not None  # checkpoints were made before the kill
        log.checkpoint(s, signer)  # the next sequencer picks up where the dead one stopped
        s.commit()
        report = log.verify_log(s, Verifier(signer.public_key_text()))
    assert report.ok, report.problems
    assert report.events == len(stored) and report.pending == 0
