"""Pre-dial gate benchmark: in-process decisions, batch decisions, POST /v1/decisions over HTTP.

    python benchmarks/gate_bench.py                  # SQLite (the embedded default)
    python benchmarks/gate_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

Setup (not timed): a national registry of --registry numbers imported through the CLI, and
--numbers called numbers spread over 12 area codes, each with what a real book holds: a PEWC
and a PEC consent, an EBR, three past calls, an RND answer, a line type and a CRM address;
one in ten is on the registry (exempted by the PEWC). Attempts are autodialed telemarketing
calls, so every rule kind that can apply is evaluated: registry, internal list, consent,
RND, hours in every candidate zone, caps, caller ID, abandonment, obligations.

Targets (issue 4): a full decision in process p99 < 250 µs (facts loaded from the database,
warm caches); POST /v1/decisions >= 500/s with p99 < 20 ms (load generator in a second
process); batch decisions >= 20,000 attempts/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

from callwarden.calls.models import CallAttempt
from callwarden.config import Settings
from callwarden.consent.models import ConsentRecord
from callwarden.db import (
    WalCheckpointer,
    fetch_all,
    make_engine,
    make_session_factory,
    statements_for,
    utcnow,
)
from callwarden.dnc.runtime import DncRuntime
from callwarden.ebr.models import EbrEvent
from callwarden.gate.decide import Attempt
from callwarden.gate.service import Gate, slow_fact_queries
from callwarden.numbers.models import CustomerLocation, LineTypeRecord
from callwarden.rnd.models import RndResult
from callwarden.runtime import tune_gc

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "callwarden"]
# Area codes in states whose rules do not need a state list or a subject, so allowed
# decisions are the common case (a denied attempt costs the gate less, not more).
NPAS = [404, 678, 212, 718, 213, 415, 312, 614, 704, 206, 919, 602]
STATES = {404: "GA", 678: "GA", 212: "NY", 718: "NY", 213: "CA", 415: "CA", 312: "IL",
          614: "OH", 704: "NC", 206: "WA", 919: "NC", 602: "AZ"}  # fmt: skip
SELLER = "acme"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> int:
    # listening TCP sockets on the port: one per service worker (Linux: /proc/net/tcp)
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                count += 1
    return count


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def _run(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"callwarden {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def _attempt_time() -> datetime:
    # The next weekday at 18:00 UTC (13:00 Eastern, 10:00 Pacific): inside every window.
    day = utcnow().date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 18, 0, tzinfo=UTC)


def setup(work: Path, env: dict[str, str], a: argparse.Namespace) -> tuple[list[int], set[int]]:
    """Create the database, the registry and the facts; returns the called numbers."""
    rng = random.Random(7)
    _run(env, "db", "upgrade")

    def subscriber() -> int:
        while True:  # a valid line: exchange 200-999 and not N11
            line = rng.randrange(2_000_000, 10_000_000)
            if line // 10_000 % 100 != 11:
                return line

    called = sorted(
        {
            (10_000_000_000 + npa * 10_000_000 + subscriber())
            for npa in NPAS
            for _ in range(a.numbers // len(NPAS) + 50)
        }
    )[: a.numbers]
    rng.shuffle(called)
    listed = set(called[: len(called) // 10])
    reg = work / "national.txt"
    with reg.open("w") as fh:
        for n in listed:
            national = n - 10_000_000_000
            fh.write(f"{national // 10_000_000},{national % 10_000_000:07d}\n")
        for _ in range(a.registry):
            npa = rng.choice(NPAS)
            fh.write(f"{npa},{subscriber():07d}\n")
    today = utcnow().date().isoformat()
    _run(env, "dnc", "import", "national", str(reg), "--obtained", today)

    engine = make_engine(env.get("CALLWARDEN_DATABASE_URL") or _sqlite_url(work))
    now = utcnow()
    given = now - timedelta(days=200)
    rows: dict[Any, list[dict[str, Any]]] = {
        k: [] for k in (ConsentRecord, EbrEvent, CallAttempt, RndResult, LineTypeRecord,
                        CustomerLocation)
    }  # fmt: skip
    for n in called:
        base = {"number": n, "recorded_at": given, "recorded_by": "bench"}
        for kind in ("pewc", "pec"):
            rows[ConsentRecord].append(
                base
                | {
                    "kind": kind,
                    "sellers": json.dumps([SELLER]),
                    "channels": json.dumps(["voice", "sms"]),
                    "purposes": json.dumps(["telemarketing", "informational"]),
                    "given_at": given,
                    "source": "web_form",
                    "language_sha256": "0" * 64,
                }
            )
        rows[EbrEvent].append(
            base | {"seller": SELLER, "kind": "purchase", "occurred_on": date.today()}
        )
        for k in range(3):
            rows[CallAttempt].append(
                base
                | {
                    "at": now - timedelta(days=2 + k),
                    "state": "placed",
                    "seller": SELLER,
                    "campaign": "spring",
                    "subject": "solar",
                    "channel": "voice",
                    "purpose": "telemarketing",
                    "technology": "autodialer",
                    "outcome": "no_answer",
                    "connected": True,
                    "source": "import",
                }
            )
        rows[RndResult].append(
            base
            | {"consent_date": given.date(), "result": "no", "queried_at": now, "source": "bench"}
        )
        rows[LineTypeRecord].append(
            base | {"line_type": "wireless", "source": "bench", "as_of": given}
        )
        npa = (n - 10_000_000_000) // 10_000_000
        rows[CustomerLocation].append(
            base | {"country": "US", "state": STATES[npa], "kind": "billing", "source": "bench"}
        )
    with engine.begin() as conn:
        for model, values in rows.items():
            for i in range(0, len(values), 20_000):
                conn.execute(insert(model), values[i : i + 20_000])
    engine.dispose()
    return called, listed


def _sqlite_url(work: Path) -> str:
    return f"sqlite:///{(work / 'data' / 'callwarden.db').resolve()}"


def _attempt(n: int, at: datetime) -> Attempt:
    return Attempt(
        number=n,
        at=at,
        channel="voice",
        purpose="telemarketing",
        technology="autodialer",
        seller=SELLER,
        campaign="spring",
        subject="solar",
        caller_id="+14045550199",
        recorded=True,
    )


def in_process(
    work: Path, env: dict[str, str], called: list[int], a: argparse.Namespace
) -> dict[str, Any]:
    """Latency of one full decision in process, and batch throughput."""
    settings = Settings(data_dir=work / "data", database_url=env.get("CALLWARDEN_DATABASE_URL"))
    # The engine as the service makes it: SQLite commits leave WAL checkpoints to their thread.
    engine = make_engine(settings.resolved_database_url, checkpoint_apart=True)
    wal = WalCheckpointer(engine)
    factory = make_session_factory(engine)
    rt = DncRuntime(settings=settings, session_factory=factory)
    rt.load()
    gate = Gate(settings=settings, session_factory=factory, dnc=rt)
    tune_gc()  # as the service does once it has started
    at = _attempt_time()
    out: dict[str, Any] = {}

    # (1) facts + decision, no write: what the dialer waits for before the reservation.
    # Warm caches (the condition): one pass over the numbers first, then measure.
    # `Gate.evaluate` is the read half of `decide_many`: a pooled connection, the sync
    # markers, every fact, the decision; the connection is released at the end.
    working = called[: min(len(called), a.iterations)]
    samples = []
    for rnd_ in range(2):
        for n in working:
            t0 = time.perf_counter()
            gate.evaluate([_attempt(n, at)])
            took = time.perf_counter() - t0
            if rnd_ == 1:
                samples.append(took * 1e6)
    sample = gate.evaluate([_attempt(n, at) for n in called[:200]])
    allowed = sum(1 for d, _ in sample if d.allowed)
    out["decide_p50_us"] = _pct(samples, 50)
    out["decide_p99_us"] = _pct(samples, 99)
    out["allowed_share"] = allowed / 200
    print(
        f"in process, facts + decision: p50 {out['decide_p50_us']:.0f} µs, "
        f"p99 {out['decide_p99_us']:.0f} µs (target p99 < 250 µs); "
        f"{allowed}/200 sampled attempts allowed",
        flush=True,
    )

    # (2) the whole path for one attempt: + lock, re-check, reservation and audit commit
    samples = []
    for i in range(a.full_iterations):
        n = called[(i + 7919) % len(called)]
        t0 = time.perf_counter()
        gate.decide_many([_attempt(n, at)], actor="bench", actor_role="dialer")
        samples.append((time.perf_counter() - t0) * 1e3)
    out["full_p50_ms"] = _pct(samples, 50)
    out["full_p99_ms"] = _pct(samples, 99)
    print(
        f"in process, full decision incl. reservation + audit commit: "
        f"p50 {out['full_p50_ms']:.2f} ms, p99 {out['full_p99_ms']:.2f} ms",
        flush=True,
    )

    # (3) batches of 10,000 attempts, cold: numbers (1) and (2) did not touch (those began at
    # 0 and 7,919), so every fact is read from the database
    rates = []
    for b in range(a.batches):
        batch = [
            _attempt(called[((b + 1) * 10_000 + i) % len(called)], at + timedelta(minutes=b))
            for i in range(10_000)
        ]
        t0 = time.perf_counter()
        recs = gate.decide_many(batch, actor="bench", actor_role="dialer")
        rates.append(len(recs) / (time.perf_counter() - t0))
    out["batch_per_s"] = max(rates)
    out["batch_per_s_all"] = rates
    print(
        f"batch of 10,000, cold facts: {out['batch_per_s']:,.0f} attempts/s (runs: "
        f"{', '.join(f'{r:,.0f}' for r in rates)}; target >= 20,000/s)",
        flush=True,
    )
    # the last batch's numbers again an hour later: facts cached, everything else as above
    again = [replace(x, at=x.at + timedelta(hours=1)) for x in batch]
    t0 = time.perf_counter()
    recs = gate.decide_many(again, actor="bench", actor_role="dialer")
    out["batch_warm_per_s"] = len(recs) / (time.perf_counter() - t0)
    print(f"batch of 10,000, facts cached: {out['batch_warm_per_s']:,.0f} attempts/s", flush=True)
    # the same attempts again, facts now cached, nothing written: the deciding alone
    t0 = time.perf_counter()
    gate.evaluate(batch)
    out["batch_decide_ms"] = (time.perf_counter() - t0) * 1e3
    print(
        f"the last batch again with its facts cached, decided but not written: "
        f"{out['batch_decide_ms']:.0f} ms",
        flush=True,
    )
    out["write_floor"] = write_floor(engine)
    out["read_floor"] = read_floor(engine, [x.number for x in batch])
    with engine.begin() as conn:  # leave the reservations out of the HTTP run's history
        conn.execute(text("DELETE FROM call_attempts WHERE state = 'reserved'"))
    if engine.dialect.name == "sqlite":
        # The batches above left ~100 MB of write-ahead log: copy it into the database and
        # flush it to disk now, so the HTTP run starts from a settled file, as a service
        # in steady state would, instead of paying for the benchmark's own batches.
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    wal.close()
    rt.close()
    engine.dispose()
    os.sync()
    return out


_FLOOR_EVENT_COLUMNS = "occurred_at, type, actor, actor_role, subject, body"
_FLOOR_CALL_COLUMNS = (
    "number, at, state, expires_at, decision_id, seller, campaign, subject, debt_id, channel,"
    " purpose, technology, caller_id, connected, answered_by_person, conversation, voicemail,"
    " abandoned, dnc_request, source, recorded_at, recorded_by"
)


def write_floor(engine: Any) -> dict[str, float]:
    """The storage floor of a batch: the last batch's own rows written again on the driver.

    Its 10,000 decision events (their real bodies) and reservations, inserted with one
    executemany each and committed with the service's durability settings: no decision, no
    serialisation, no Python per row beyond the driver's. A batch can be no faster than this.
    """
    with engine.connect() as conn:
        events = conn.exec_driver_sql(
            f"SELECT {_FLOOR_EVENT_COLUMNS} FROM audit_events"
            " WHERE type = 'gate.decision' ORDER BY id DESC LIMIT 10000"
        ).all()
        calls_ = conn.exec_driver_sql(
            f"SELECT {_FLOOR_CALL_COLUMNS} FROM call_attempts"
            " WHERE state = 'reserved' ORDER BY id DESC LIMIT 10000"
        ).all()
    # fresh keys (subjects, decision ids are unique) and a state nothing counts
    events = [(*e[:4], f"floor-{i}", e[5]) for i, e in enumerate(events)]
    calls_ = [(*c[:2], "released", c[3], f"floor-{i}", *c[5:]) for i, c in enumerate(calls_)]
    raw = engine.raw_connection()
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    try:
        cur = raw.cursor()
        t0 = time.perf_counter()
        cur.executemany(
            f"INSERT INTO audit_events ({_FLOOR_EVENT_COLUMNS}) VALUES ({', '.join([mark] * 6)})",
            events,
        )
        cur.executemany(
            f"INSERT INTO call_attempts ({_FLOOR_CALL_COLUMNS}) VALUES ({', '.join([mark] * 22)})",
            calls_,
        )
        raw.commit()
        took = time.perf_counter() - t0
        cur.execute("DELETE FROM audit_events WHERE subject LIKE 'floor-%'")
        cur.execute("DELETE FROM call_attempts WHERE decision_id LIKE 'floor-%'")
        raw.commit()
    finally:
        raw.close()
    body = sum(len(e[5]) for e in events) / max(1, len(events))
    floor = {"ms": took * 1e3, "per_s": len(events) / took, "body_bytes": body}
    print(
        f"write floor of a batch (its {len(events):,} log entries of {body:,.0f} bytes and "
        f"{len(calls_):,} reservations, on the driver, one commit): {floor['ms']:.0f} ms, "
        f"at most {floor['per_s']:,.0f} attempts/s before any decision is made",
        flush=True,
    )
    return floor


def read_floor(engine: Any, numbers: list[int]) -> dict[str, float]:
    """The other storage floor: the last batch's fact rows fetched raw, nothing parsed.

    The six fact loaders' own statements as the service sends them (consents, revocations,
    EBR, line types, locations, RND; IN lists on SQLite, one array each on PostgreSQL) for the
    batch's numbers, run on the driver with no conversion of a row beyond the driver's tuple:
    the least any design that reads the facts from the database pays.
    """
    with engine.connect() as conn:
        queries = slow_fact_queries(conn, numbers, None)
        statements = [st for q in queries for st in statements_for(conn, q)]
        times, rows = [], 0
        for _ in range(3):  # the pages are cached after the first: report the fastest
            t0 = time.perf_counter()
            rows = sum(len(fetch_all(conn, sql, params)) for sql, params in statements)
            times.append(time.perf_counter() - t0)
    took = min(times)
    floor = {"ms": took * 1e3, "rows": rows, "per_s": len(numbers) / took}
    print(
        f"read floor of a batch (its {rows:,} fact rows for {len(set(numbers)):,} numbers, "
        f"{len(statements)} statements on the driver, nothing parsed): {floor['ms']:.0f} ms",
        flush=True,
    )
    return floor


def over_http(
    work: Path, env: dict[str, str], called: list[int], a: argparse.Namespace
) -> dict[str, Any]:
    """POST /v1/decisions at a fixed rate from a second process."""
    key = _run(env, "keys", "create", "--name", "bench-dialer", "--role", "dialer").strip()
    # The in-process runs logged thousands of decisions; a running service sequences its
    # events into the Merkle tree as they come, so do that backlog before measuring.
    _run(env, "audit", "checkpoint")
    port = _free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", str(a.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                # ready, and every worker listening (the first answers before the others
                # listen, and connections opened then would all go to it)
                ready = httpx.get(f"{base}/readyz", timeout=1).status_code == 200
                if ready and _listening(port) >= a.workers:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        numbers_file = work / "called.txt"
        numbers_file.write_text("\n".join(f"+{n}" for n in called))
        body = json.dumps(
            {
                "number": "{n}",
                "at": _attempt_time().isoformat(),
                "technology": "autodialer",
                "seller": SELLER,
                "campaign": "spring",
                "subject": "solar",
                "caller_id": "+14045550199",
                "recorded": True,
            }
        )
        results = {}
        for rate in a.rates:
            load = subprocess.run(
                [
                    sys.executable,
                    str(HERE / "http_load.py"),
                    "--url",
                    base,
                    "--key",
                    key,
                    "--rate",
                    str(rate),
                    "--seconds",
                    str(a.seconds),
                    "--numbers",
                    str(numbers_file),
                    "--post",
                    "/v1/decisions",
                    "--body",
                    body,
                    "--connections",
                    "64",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            stats = json.loads(load.stdout)
            results[str(rate)] = stats
            print(
                f"POST /v1/decisions ({a.workers} worker(s)) at {rate}/s for {a.seconds:.0f} s: "
                f"achieved "
                f"{stats['rate']:.0f}/s, p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} "
                f"ms, max {stats['max_ms']:.1f} ms, errors {stats['errors']} "
                f"(target >= 500/s, p99 < 20 ms)",
                flush=True,
            )
        r = httpx.post(
            f"{base}/v1/decisions",
            headers={"Authorization": f"Bearer {key}"},
            json=json.loads(body.replace("{n}", f"+{called[0]}")),
        )
        results["sample"] = r.json()
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    """Run every part and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/cwbench-gate"))
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--numbers", type=int, default=50_000)
    ap.add_argument("--registry", type=int, default=2_000_000)
    ap.add_argument("--iterations", type=int, default=5000)
    ap.add_argument("--full-iterations", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--rates", type=int, nargs="+", default=[500, 800])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--workers", type=int, default=2, help="service worker processes")
    ap.add_argument("--quick", action="store_true", help="small sizes, short runs")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    if a.quick:
        a.numbers, a.registry, a.iterations, a.full_iterations = 5000, 100_000, 1000, 200
        a.batches, a.rates, a.seconds = 1, [500], 3
    work = a.workdir
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    env = dict(os.environ)
    env.update(CALLWARDEN_DATA_DIR=str(work / "data"), CALLWARDEN_LOG_LEVEL="warning")
    env["CALLWARDEN_DATABASE_URL"] = a.database_url or ""
    if a.database_url and a.database_url.startswith("postgresql"):
        schema = "cwbench_gate"
        admin = make_engine(a.database_url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        sep = "&" if "?" in a.database_url else "?"
        env["CALLWARDEN_DATABASE_URL"] = f"{a.database_url}{sep}options=-csearch_path%3D{schema}"
    elif not a.database_url:
        env.pop("CALLWARDEN_DATABASE_URL")
    backend = "postgresql" if a.database_url else "sqlite"
    print(f"backend: {backend}; {a.numbers:,} called numbers, registry {a.registry:,}", flush=True)
    called, _ = setup(work, env, a)
    results: dict[str, Any] = {"backend": backend, "numbers": a.numbers}
    results["in_process"] = in_process(work, env, called, a)
    results["http"] = over_http(work, env, called, a)
    if a.json:
        a.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
