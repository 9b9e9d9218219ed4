"""Open-loop HTTP load generator (run as its own process): fixed request rate, latency percentiles.

    python benchmarks/http_load.py --url http://127.0.0.1:8090 --key KEY --rate 200 --seconds 15 \
        --numbers numbers.txt

Requests are sent on a fixed schedule whatever the server does (no coordinated omission:
latency is measured from the scheduled send time), over keep-alive connections, to loopback only.
Prints one JSON object: sent, ok, errors, achieved rate, p50/p90/p99/max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import httpx


async def run(
    url: str, key: str, rate: float, seconds: float, numbers: list[str]
) -> dict[str, float]:
    """Send rate×seconds GET /v1/dnc/{number} requests on schedule; return latency statistics."""
    if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise SystemExit("this load generator only targets loopback addresses")
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=10
    ) as client:
        # warm the connection pool and the server's code paths
        for n in numbers[:50]:
            await client.get(f"/v1/dnc/{n}")
        start = time.perf_counter() + 0.05

        async def one(i: int) -> None:
            nonlocal errors
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                r = await client.get(f"/v1/dnc/{numbers[i % len(numbers)]}")
                if r.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.perf_counter() - scheduled) * 1000)

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    return {
        "sent": total,
        "errors": errors,
        "rate": total / elapsed,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": latencies[-1],
    }


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--numbers", type=Path, required=True)
    a = ap.parse_args()
    numbers = a.numbers.read_text().split()
    print(json.dumps(asyncio.run(run(a.url, a.key, a.rate, a.seconds, numbers))))


if __name__ == "__main__":
    main()
