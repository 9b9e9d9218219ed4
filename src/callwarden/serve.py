"""Running the HTTP service: one process, or several workers that each listen on the port.

uvicorn's own multi-worker mode binds one socket in the parent and shares it; each worker's
event loop then accepts every connection waiting when it wakes. A dialer opens its keep-alive
connections at once, so one worker took most of them and ran its core flat while the other
idled (measured: 8.3 against 3.4 CPU-seconds in 10 s at 500 decisions/s, p50 12 ms). Here each
worker binds its own socket with SO_REUSEPORT, and the kernel spreads connections over the
workers by their address hash. The parent binds the port first (without listening) so that a
port in use fails at once, and restarts a worker that dies.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import socket
import sys
import threading
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from callwarden.logging import get_logger

log = get_logger("callwarden.serve")


def listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port in the port's SO_REUSEPORT group (not yet listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _worker(config: uvicorn.Config) -> None:
    # a spawned child: its own socket in the group, then an ordinary uvicorn server
    config.configure_logging()
    try:
        sock = listener(config.host, config.port)
    except OSError as exc:
        log.error("worker_cannot_listen", error=str(exc))
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C reaches the whole process group
        server.run(sockets=[sock])
    if not server.started:  # the application's startup failed: restarting would repeat it
        sys.exit(STARTUP_FAILURE)


def run(config: uvicorn.Config, workers: int) -> int:
    """Serve with `workers` processes (1: in this process) until SIGINT or SIGTERM.

    Returns the exit status: 0, or uvicorn's startup-failure status when a worker could not
    start (the same failure would repeat on every restart).
    """
    if workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
        log.warning("one_worker_only", reason="this platform has no SO_REUSEPORT", asked=workers)
        workers = 1
    if workers <= 1:
        uvicorn.Server(config).run()
        return 0
    status = 0
    holder = listener(config.host, config.port)  # the port is ours, or this raises now
    ctx = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    def started() -> multiprocessing.process.BaseProcess:
        proc = ctx.Process(target=_worker, args=(config,), daemon=False)
        proc.start()
        return proc

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    procs: list[multiprocessing.process.BaseProcess] = []
    try:
        procs = [started() for _ in range(workers)]
        while not stop.wait(0.5):
            for i, p in enumerate(procs):
                if p.is_alive():
                    continue
                if p.exitcode == STARTUP_FAILURE:  # broken app or settings: every restart fails
                    log.error("worker_failed_to_start", pid=p.pid)
                    status = STARTUP_FAILURE
                    stop.set()
                    break
                log.warning("worker_died", pid=p.pid, exitcode=p.exitcode)
                procs[i] = started()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for p in procs:
            p.join(timeout=config.timeout_graceful_shutdown or 30)
            if p.is_alive():
                p.kill()
                p.join()
        holder.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status
