"""`callwarden serve --workers N`: every worker listens on the port, connections spread."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(c) for c in text.split()]


def _workers(pid: int) -> list[int]:
    # the serving processes: children whose command line is a spawned worker
    out = []
    for child in _children(pid):
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"multiprocessing.spawn" in cmd and b"resource_tracker" not in cmd:
            out.append(child)
    return out


def _sockets(port: int, state: str) -> set[int]:
    # inodes of the TCP sockets on this local port in a state (/proc/net/tcp: 01 established,
    # 0A listening)
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state:
                inodes.add(int(fields[9]))
    return inodes


def _held_by(pid: int, inodes: set[int]) -> int:
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in inodes:
            held += 1
    return held


def _ready(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the service did not become ready")


@pytest.fixture
def two_workers(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """`callwarden serve --workers 2` on a fresh database: (parent pid, port)."""
    port = _free_port()
    env = dict(cli_env)
    env["CALLWARDEN_DATA_DIR"] = str(tmp_path / "served")
    env.pop("CALLWARDEN_DATABASE_URL")
    proc = subprocess.Popen(
        [sys.executable, "-m", "callwarden", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _ready(port, proc)
        deadline = time.monotonic() + 60
        while len(_sockets(port, "0A")) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # the first worker answers before the second one listens
        assert len(_sockets(port, "0A")) == 2  # one listening socket per worker
        yield proc.pid, port
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_connections_opened_at_once_spread_over_both_workers(
    two_workers: tuple[int, int],
) -> None:
    """128 keep-alive connections opened together (as a dialer's pool is): each worker holds
    at least 40. One shared socket let the first worker to wake accept nearly all of them."""
    pid, port = two_workers
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(128)]
    try:
        for s in socks:  # a request on each, so that every connection has been accepted
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in socks:
            assert s.recv(4096).startswith(b"HTTP/1.1 ")
        inodes = _sockets(port, "01")
        held = sorted(_held_by(w, inodes) for w in _workers(pid))
        assert len(held) == 2 and sum(held) == 128
        assert held[0] >= 40, held
    finally:
        for s in socks:
            s.close()


def test_a_worker_that_dies_is_replaced(two_workers: tuple[int, int]) -> None:
    """A worker killed outright is started again and the port keeps answering."""
    pid, port = two_workers
    victim = _workers(pid)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = _workers(pid)
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.2)
    assert len(_workers(pid)) == 2 and victim not in _workers(pid)
    for _ in range(10):
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200


def test_a_port_in_use_is_a_clear_error(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """Another program listening on the port: a message naming the port, exit status 1, and
    no traceback."""
    env = dict(cli_env)
    env["CALLWARDEN_DATA_DIR"] = str(tmp_path / "taken")
    env.pop("CALLWARDEN_DATABASE_URL")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "callwarden", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr


def test_workers_that_cannot_start_stop_the_service(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """A rule pack that does not parse fails every worker's startup: the parent stops with
    uvicorn's startup-failure status instead of restarting them for ever."""
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "broken.toml").write_text("[pack\nid = ")
    env = dict(cli_env)
    env["CALLWARDEN_DATA_DIR"] = str(tmp_path / "broken")
    env["CALLWARDEN_RULE_PACK_DIRS"] = str(packs)
    env.pop("CALLWARDEN_DATABASE_URL")
    port = str(_free_port())
    out = subprocess.run(
        [sys.executable, "-m", "callwarden", "serve", "--port", port, "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 3, out.stderr[-2000:]
