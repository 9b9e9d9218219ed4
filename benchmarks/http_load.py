"""Open-loop HTTP load generator (run as its own process): fixed request rate, latency percentiles.

    python benchmarks/http_load.py --url http://127.0.0.1:8090 --key KEY --rate 200 --seconds 15 \
        --numbers numbers.txt
    python benchmarks/http_load.py ... --post /v1/decisions --body '{"number": "{n}", ...}'

Without --post it sends GET /v1/dnc/{number}; with it, POST bodies where "{n}" is replaced
by each number in turn.

Requests are sent on a fixed schedule whatever the server does, and latency is measured from the
scheduled send time (no coordinated omission). It speaks plain HTTP/1.1 over a pool of keep-alive
connections with asyncio streams: a general-purpose client such as httpx costs about a
millisecond of CPU per request, which on a 2-core machine would be measured as server latency.
Loopback only. Prints one JSON object: sent, errors, achieved rate, p50/p90/p99/max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status


async def run(
    url: str,
    key: str,
    rate: float,
    seconds: float,
    numbers: list[str],
    connections: int = 32,
    post: str | None = None,
    body: str = "",
) -> dict[str, float]:
    """Send rate×seconds requests on schedule (GET lookups or POSTs); return latency statistics."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise SystemExit("this load generator only targets loopback addresses")
    pool: asyncio.Queue[_Conn] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(_Conn(*await asyncio.open_connection(host, port)))

    def request(i: int) -> bytes:
        n = numbers[i % len(numbers)]
        if post is not None:
            payload = body.replace("{n}", n).encode()
            return (
                f"POST {post} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n"
            ).encode() + payload
        return (
            f"GET /v1/dnc/{n} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {key}\r\n\r\n"
        ).encode()

    async def one(i: int, scheduled: float | None) -> tuple[float, bool]:
        if scheduled is not None:
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        t0 = scheduled if scheduled is not None else time.perf_counter()
        conn = await pool.get()
        try:
            ok = await conn.get(request(i)) == 200
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
            conn = _Conn(*await asyncio.open_connection(host, port))
        pool.put_nowait(conn)
        return (time.perf_counter() - t0) * 1000, ok

    for i in range(min(200, len(numbers))):  # warm connections and the server's code paths
        await one(i, None)
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    results = await asyncio.gather(*(one(i, start + i / rate) for i in range(total)))
    elapsed = time.perf_counter() - start
    latencies = sorted(r[0] for r in results)
    errors = sum(not r[1] for r in results)
    for _ in range(connections):
        (await pool.get()).writer.close()

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
    ap.add_argument("--post", default=None, help="POST to this path instead of GET lookups")
    ap.add_argument("--body", default="", help='JSON body; "{n}" is replaced by a number')
    ap.add_argument("--connections", type=int, default=32)
    a = ap.parse_args()
    numbers = a.numbers.read_text().split()
    stats = run(a.url, a.key, a.rate, a.seconds, numbers, a.connections, a.post, a.body)
    print(json.dumps(asyncio.run(stats)))


if __name__ == "__main__":
    main()
