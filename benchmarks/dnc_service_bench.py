"""Service-level DNC benchmark: the real `callwarden` command and HTTP service, end to end.

    python benchmarks/dnc_service_bench.py [--numbers 258000000] [--quick] [--json OUT]

Generates the same synthetic FTC registry as dnc_bench.py, then measures, as a user would see it:
- `callwarden dnc import national` of every flat file (wall clock, lines/s), without and with
  archiving the source files;
- `callwarden serve` restart to ready (spawn → /readyz answers 200) and its resident memory after
  the whole index has been touched;
- `GET /v1/dnc/{number}` latency at a fixed 200 requests/s from a second process
  (benchmarks/http_load.py), over loopback;
- `callwarden scrub` of a 1,000,000-row CSV (wall clock, including process start).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from callwarden import phone

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dnc_bench import DEFAULT_NPA_CSV, Registry, load_npas

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "callwarden"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _run(env: dict[str, str], *args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"callwarden {' '.join(args[:3])} failed:\n{proc.stderr}")
    return took, proc.stdout


def _serve(env: dict[str, str], port: int) -> tuple[subprocess.Popen[bytes], float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/readyz"
    while time.perf_counter() - t0 < 60:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc, time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    proc.kill()
    raise SystemExit("the service did not become ready within 60 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _scrub_csv(path: Path, queries: np.ndarray) -> None:
    styles = [
        lambda n: f"({n // 10_000_000 % 1000}) {n // 10_000 % 1000}-{n % 10_000:04d}",
        lambda n: str(n % 10_000_000_000),
        lambda n: f"+1 {n // 10_000_000 % 1000} {n // 10_000 % 1000} {n % 10_000:04d}",
        lambda n: f"1-{n // 10_000_000 % 1000}-{n // 10_000 % 1000}-{n % 10_000:04d}",
    ]
    with path.open("w") as fh:
        fh.write("id,first_name,phone,zip,notes\n")
        for i, n in enumerate(queries.tolist()):
            fh.write(f'{i},Name{i % 977},{styles[i % 4](n)},{30000 + i % 9999:05d},"a, b"\n')


def main(argv: list[str] | None = None) -> int:
    """Run the service-level benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--numbers", type=int, default=258_000_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/cwbench-svc"))
    ap.add_argument("--npa-csv", type=Path, default=DEFAULT_NPA_CSV)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--scrub-rows", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="5M numbers, 5 s of load")
    ap.add_argument("--skip-archive-run", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)
    if a.quick:
        a.numbers, a.seconds = 5_000_000, 5
    work = a.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results: dict[str, Any] = {"numbers": a.numbers}
    try:
        npas = load_npas(a.npa_csv)
        print(f"generating {a.numbers:,} numbers over {len(npas)} US area codes ...", flush=True)
        reg = Registry(npas, a.numbers, seed=7)
        files = reg.write_files(work / "ftc")
        want = max(a.scrub_rows, 10_000)
        queries, _ = reg.queries(want * 2, 0.10, seed=11)
        del reg
        # a real call list holds numbers that exist: keep in-service area codes only
        in_service = np.zeros(1000, bool)
        in_service[phone.in_service_npas(None)] = True
        queries = queries[in_service[(queries - 10_000_000_000) // 10_000_000]][:want]
        env = dict(os.environ)
        env.update(CALLWARDEN_DATA_DIR=str(work / "data"), CALLWARDEN_LOG_LEVEL="warning")
        env.pop("CALLWARDEN_DATABASE_URL", None)
        _run(env, "db", "upgrade")
        _, token = _run(env, "keys", "create", "--name", "bench", "--role", "dialer")
        token = token.strip()
        today = datetime.now(UTC).date().isoformat()
        lines = a.numbers

        env_noarch = {**env, "CALLWARDEN_DNC_ARCHIVE_SOURCES": "false"}
        took, _ = _run(
            env_noarch, "dnc", "import", "national", *map(str, files), "--obtained", today
        )
        results["import_seconds"] = took
        results["import_lines_per_s"] = lines / took
        print(f"import (CLI, no source archive): {took:.1f} s = {lines / took / 1e6:.1f}M lines/s")
        if not a.skip_archive_run:
            took, _ = _run(env, "dnc", "import", "national", *map(str, files), "--obtained", today)
            results["import_archived_seconds"] = took
            print(f"import (CLI, archiving sources):     {took:.1f} s")

        port = _free_port()
        proc, first = _serve(env, port)
        _stop(proc)
        proc, ready = _serve(env, port)
        results["restart_ready_s"] = ready
        print(f"serve: first start {first:.2f} s, restart to ready {ready:.2f} s")
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        time.sleep(3)  # the service maps the index in (prefetch) in the background
        results["service_rss_after_prefetch_mb"] = _rss_mb(proc.pid)
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            sample = [str(int(n) - 10_000_000_000) for n in queries[:100_000].tolist()]
            t0 = time.perf_counter()
            r = client.post("/v1/dnc/lookup", json={"numbers": sample})
            r.raise_for_status()
            results["http_batch_100k_s"] = time.perf_counter() - t0
        rss = _rss_mb(proc.pid)
        results["service_rss_mb"] = max(rss, results["service_rss_after_prefetch_mb"])
        print(
            f"service RSS with the whole index mapped in: "
            f"{results['service_rss_after_prefetch_mb']:.0f} MB; after a 100,000-number batch "
            f"lookup over HTTP ({results['http_batch_100k_s']:.2f} s): {rss:.0f} MB"
        )
        numbers_file = work / "numbers.txt"
        numbers_file.write_text("\n".join(sample[:5000]))
        load = subprocess.run(
            [
                sys.executable,
                str(HERE / "http_load.py"),
                "--url",
                base,
                "--key",
                token,
                "--rate",
                str(a.rate),
                "--seconds",
                str(a.seconds),
                "--numbers",
                str(numbers_file),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        stats = json.loads(load.stdout)
        results["http"] = stats
        print(
            f"GET /v1/dnc/{{number}} at {stats['rate']:.0f} req/s for {a.seconds:.0f} s: "
            f"p50 {stats['p50_ms']:.2f} ms, p99 {stats['p99_ms']:.2f} ms, "
            f"max {stats['max_ms']:.1f} ms, errors {stats['errors']}"
        )
        _stop(proc)

        csv_in = work / "calls.csv"
        _scrub_csv(csv_in, queries[: a.scrub_rows])
        took, _ = _run(
            env,
            "scrub",
            str(csv_in),
            "--out",
            str(work / "clean.csv"),
            "--rejects",
            str(work / "rejects.csv"),
        )
        results["cli_scrub_seconds"] = took
        rows_clean = sum(1 for _ in (work / "clean.csv").open()) - 1
        print(f"CLI scrub of {a.scrub_rows:,} rows: {took:.2f} s ({rows_clean:,} clean rows)")
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    targets = [
        ("import, CLI end to end (lines/s)", results["import_lines_per_s"], ">=", 20e6),
        ("service restart to ready (s)", results["restart_ready_s"], "<", 5.0),
        ("service resident memory (MB)", results["service_rss_mb"], "<", 600.0),
        ("GET /v1/dnc/{n} p99 at 200/s (ms)", results["http"]["p99_ms"], "<", 5.0),
        ("CLI scrub of 1M-row CSV (s)", results["cli_scrub_seconds"], "<", 3.0),
    ]
    print("\nsummary")
    for name, value, op, goal in targets:
        ok = value >= goal if op == ">=" else value < goal
        shown = f"{value / 1e6:.1f}M" if goal >= 1e6 else f"{value:.2f}"
        goal_s = f"{goal / 1e6:.0f}M" if goal >= 1e6 else f"{goal:g}"
        print(f"  {name:<38} {shown:>10}  target {op} {goal_s:<6} {'PASS' if ok else 'FAIL'}")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
