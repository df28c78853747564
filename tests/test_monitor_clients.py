"""The monitor against clients that misbehave, and kill through the monitor (issue 20, item 8): a client that
connects and sends nothing (or half a request) stalls no one else; `corral kill` signals the init the monitor
holds, never a process that took the PID the DB recorded; a container whose monitor is gone is said to be so."""
from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import time

import pytest

from corral.monitor.wire import socket_name


def _silent(root: str, send: bytes = b"") -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_name(os.path.abspath(root)))
    if send:
        sock.sendall(send)
    return sock


def _timed(cli, *args: str) -> tuple[float, subprocess.CompletedProcess]:  # noqa: ANN001
    start = time.monotonic()
    r = cli(*args)
    return time.monotonic() - start, r


@pytest.mark.parametrize("held", [b"", b'{"op": "exec", "id"'], ids=["silent", "half-a-request"])
def test_a_client_that_sends_nothing_stalls_no_other(busybox, held):
    cid = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    quiet = [_silent(busybox.root, held) for _ in range(3)]  # each would have held the old monitor 5 s
    try:
        for args in (("exec", cid, "echo", "served"), ("ps", "-q"), ("kill", "-s", "USR1", cid),
                     ("exec", cid, "true"), ("stop", "-t", "0", cid)):
            seconds, r = _timed(busybox, *args)
            assert r.returncode == 0, r.stderr
            assert seconds < 2.0, (args, seconds)
        assert busybox.out("ps", "-aq", "--no-trunc", "-f", "status=exited").strip() == cid
    finally:
        for sock in quiet:
            sock.close()
    busybox.out("rm", cid)


def test_a_silent_client_is_dropped_after_its_time(busybox):
    cid = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    sock = _silent(busybox.root)
    sock.settimeout(10)
    start = time.monotonic()
    assert sock.recv(100) == b""  # the monitor closed it: no fd held for good
    assert 4 < time.monotonic() - start < 8
    sock.close()
    busybox.out("rm", "-f", cid)


def test_kill_signals_the_init_the_monitor_holds_not_the_recorded_pid(busybox, store_root):
    cid = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    bystander = subprocess.Popen(["sleep", "60"])  # as if it had taken the PID the DB recorded
    try:
        conn = sqlite3.connect(os.path.join(store_root, "corral.db"))
        with conn:
            conn.execute("UPDATE containers SET pid=? WHERE id=?", (bystander.pid, cid))
        conn.close()
        busybox.out("kill", cid)
        deadline = time.monotonic() + 10
        while busybox.out("ps", "-q") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert busybox.out("ps", "-q") == ""  # the container's own init got the signal
        assert bystander.poll() is None  # and the process holding the recorded PID did not
    finally:
        bystander.kill()
        bystander.wait()
    busybox.out("rm", cid)


def test_kill_of_a_container_whose_monitor_is_gone_says_so(busybox):
    from conftest import _store_processes

    cid = busybox.out("run", "-d", "--name", "orphaned", "busybox", "sleep", "60").strip()
    for pid in _store_processes(busybox.root):
        os.kill(pid, 9)
    r = busybox("kill", cid)
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        f"Error: Cannot kill container: orphaned: container {cid} is not running: its monitor is gone, and it "
        "ended with it"]
    busybox.out("rm", cid)
