"""Command start-up: how long `callwarden` commands take from process start to exit.

    python benchmarks/cli_bench.py [--runs 7]
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/cli_bench.py   # another version

Each command runs as a user runs it (`python -m callwarden ...`, a fresh interpreter each
time) against a data directory made here: a schema, a one-number national list. Most of a
one-shot command's time is loading modules, so the heavy libraries each command loads are
listed too (numba, FastAPI and Alembic are needed only for bulk work, the service and
migrations). Prints the best and the mean of --runs runs per command.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = [
    ["--help"],
    ["check", "+14045550100", "--seller", "acme", "--json"],
    ["dnc", "lookup", "+14045550100", "--json"],
    ["dnc", "status"],
    ["consent", "list", "+14045550100"],
]
HEAVY = ("numba", "llvmlite", "fastapi", "alembic")
_LOADED = f"""
import atexit, sys
atexit.register(lambda: print(sorted({{m.split(".")[0] for m in sys.modules
    if m.split(".")[0] in {HEAVY!r}}}), file=sys.stderr))
sys.argv = ["callwarden", *sys.argv[1:]]
from callwarden.cli import main
main()
"""


def _run(env: dict[str, str], args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callwarden", *args], env=env, capture_output=True, text=True
    )


def main(argv: list[str] | None = None) -> int:
    """Time each command; print best, mean and the heavy modules it loaded."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=7)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cwbench-cli-") as tmp:
        env = dict(os.environ, CALLWARDEN_DATA_DIR=str(Path(tmp) / "data"))
        env.pop("CALLWARDEN_DATABASE_URL", None)
        flat = Path(tmp) / "404.txt"
        flat.write_text("404,5550100\n")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        made = _run(env, ["dnc", "import", "national", str(flat), "--obtained", today])
        if made.returncode != 0:
            print(made.stdout, made.stderr, file=sys.stderr)
            return 1
        for args in COMMANDS:
            times = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                done = _run(env, args)
                times.append((time.perf_counter() - t0) * 1e3)
                # a failure would time as a fast start: `check` exits 1 for its deny, no more
                if done.returncode not in (0, 1) or "Traceback" in done.stderr:
                    print(f"callwarden {' '.join(args)} failed:\n{done.stderr}", file=sys.stderr)
                    return 1
            loaded = (
                subprocess.run(
                    [sys.executable, "-c", _LOADED, *args], env=env, capture_output=True, text=True
                )
                .stderr.strip()
                .splitlines()
            )
            print(
                f"callwarden {' '.join(args)}: best {min(times):.0f} ms, "
                f"mean {statistics.fmean(times):.0f} ms; loads {loaded[-1] if loaded else '?'}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
