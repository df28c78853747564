"""Shared fixtures: a private store per test, the corral CLI, and a residue check after every test.

Tests run as root on the real kernel. Each test gets its own CORRAL_ROOT;
after it, whatever it did, no mount, cgroup or process of that store may
remain (the fixture cleans up first, then asserts, so one failure does not
cascade into the next test).
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

CORRAL = [sys.executable, "-m", "corral.cli.main"]
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


class Cli:
    """Runs `corral` against one store and keeps the last result for assertions."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.env = dict(os.environ, CORRAL_ROOT=root, PYTHONPATH=SRC)

    def __call__(self, *args: str, input: bytes | None = None, timeout: float = 60,  # noqa: A002
                 check: bool = False) -> subprocess.CompletedProcess:
        proc = subprocess.run(CORRAL + list(args), input=input, capture_output=True, env=self.env,
                              timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"corral {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()}")
        return proc

    def out(self, *args: str, **kw) -> str:  # noqa: ANN003
        return self(*args, check=True, **kw).stdout.decode()


def _store_processes(root: str) -> list[int]:
    """PIDs of processes started with this store (supervisors carry CORRAL_ROOT in their environment)."""
    needle = f"CORRAL_ROOT={root}\0".encode()
    found = []
    for env_path in glob.glob("/proc/[0-9]*/environ"):
        pid = int(env_path.split("/")[2])
        if pid == os.getpid():
            continue
        try:
            with open(env_path, "rb") as f:
                if needle in f.read() + b"\0":
                    found.append(pid)
        except OSError:
            continue
    return found


def _container_ids(root: str) -> set[str]:
    d = os.path.join(root, "containers")
    return set(os.listdir(d)) if os.path.isdir(d) else set()


def residue(root: str, ids: set[str]) -> list[str]:
    problems = []
    with open("/proc/self/mountinfo") as f:
        problems += [f"mount left: {line.split()[4]}" for line in f if root in line]
    for cid in ids:
        problems += [f"cgroup left: {p}" for p in glob.glob(f"/sys/fs/cgroup/*/corral/{cid}")]
        problems += [f"cgroup left: {p}" for p in glob.glob(f"/sys/fs/cgroup/corral/{cid}")]
    problems += [f"process left: {pid}" for pid in _store_processes(root)]
    return problems


@pytest.fixture
def store_root(tmp_path):
    root = str(tmp_path / "store")
    seen: set[str] = set()
    yield root
    seen |= _container_ids(root)
    for pid in _store_processes(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while _store_processes(root) and time.monotonic() < deadline:
        time.sleep(0.02)
    env = dict(os.environ, CORRAL_ROOT=root, PYTHONPATH=SRC)
    for cid in _container_ids(root):
        subprocess.run(CORRAL + ["rm", "-f", cid], env=env, capture_output=True, timeout=60)
    left = residue(root, seen)
    shutil.rmtree(root, ignore_errors=True)
    assert not left, f"the test left residue: {left}"


@pytest.fixture
def cli(store_root) -> Cli:
    return Cli(store_root)


@pytest.fixture
def busybox(cli) -> Cli:
    """A store holding busybox:latest."""
    cli.out("image", "bootstrap", "busybox")
    return cli
