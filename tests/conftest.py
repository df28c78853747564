"""Shared fixtures: a private store per test, the corral CLI, and a residue check after every test.

Tests run as root on the real kernel. Each test gets its own CORRAL_ROOT;
after it, whatever it did, no mount, cgroup, process, link or firewall
element of that store may remain (the fixture cleans up first, then
asserts, so one failure does not cascade into the next test).
"""
from __future__ import annotations

import glob
import hashlib
import json
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


def network_tag(root: str) -> str:
    """What marks a store's links (alias corral:<tag>:…) and firewall elements (comment <tag>:…)."""
    return hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:12]


def network_residue(root: str) -> list[str]:
    """Links and nft elements of this store left on the host; the table itself when no switch of any
    store is left (read with ip and nft, not with corral's own code)."""
    tag = network_tag(root)
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True).stdout or b"[]")
    problems = [f"link left: {link['ifname']} ({link['ifalias']})" for link in links
                if link.get("ifalias", "").startswith(f"corral:{tag}:")]
    listed = subprocess.run(["nft", "-j", "list", "table", "ip", "corral"], capture_output=True)
    if listed.returncode == 0:
        for item in json.loads(listed.stdout)["nftables"]:
            body = item.get("set") or item.get("map") or {}
            for elem in body.get("elem", []):
                raw = elem[0] if isinstance(elem, list) else elem
                comment = raw["elem"].get("comment", "") if isinstance(raw, dict) and "elem" in raw else ""
                if comment.startswith(tag + ":"):
                    problems.append(f"firewall element left: {body['name']} {raw['elem']['val']} ({comment})")
        if not any(link.get("ifalias", "").startswith("corral:") for link in links):
            problems.append("nft table ip corral left, with no corral switch on the host")
    return problems


def _has_networks(root: str) -> bool:
    import sqlite3

    path = os.path.join(root, "corral.db")
    if not os.path.exists(path):
        return False
    conn = sqlite3.connect(path)
    try:
        return bool(conn.execute("SELECT 1 FROM networks LIMIT 1").fetchall())
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def residue(root: str, ids: set[str]) -> list[str]:
    problems = []
    with open("/proc/self/mountinfo") as f:
        problems += [f"mount left: {line.split()[4]}" for line in f if root in line]
    for cid in ids:
        problems += [f"cgroup left: {p}" for p in glob.glob(f"/sys/fs/cgroup/*/corral/{cid}")]
        problems += [f"cgroup left: {p}" for p in glob.glob(f"/sys/fs/cgroup/corral/{cid}")]
    problems += [f"process left: {pid}" for pid in _store_processes(root)]
    deadline = time.monotonic() + 5  # a container's veth goes with its network namespace, asynchronously
    while (left := network_residue(root)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return problems + left


def tear_down(root: str, seen: set[str] | None = None) -> list[str]:
    """Clean up a store whatever the test did (processes, containers, networks, then the files),
    and return the residue it had left; `seen` adds container IDs that are gone from its dir."""
    seen = (seen or set()) | _container_ids(root)
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
    if _has_networks(root):
        subprocess.run(CORRAL + ["network", "prune"], env=env, capture_output=True, timeout=60)
    left = residue(root, seen)
    shutil.rmtree(root, ignore_errors=True)
    return left


@pytest.fixture
def store_root(tmp_path):
    root = str(tmp_path / "store")
    yield root
    left = tear_down(root)
    assert not left, f"the test left residue: {left}"


@pytest.fixture
def new_store(tmp_path):
    """Makes more empty stores (other machines, as far as images go), each torn down and checked."""
    made: list[Cli] = []

    def make() -> Cli:
        made.append(Cli(str(tmp_path / f"store{len(made) + 2}")))
        return made[-1]

    yield make
    left = [problem for cli in made for problem in tear_down(cli.root)]
    assert not left, f"the test left residue: {left}"


@pytest.fixture
def other(new_store) -> Cli:
    """A second, empty store."""
    return new_store()


@pytest.fixture
def cli(store_root) -> Cli:
    return Cli(store_root)


@pytest.fixture
def busybox(cli) -> Cli:
    """A store holding busybox:latest."""
    cli.out("image", "bootstrap", "busybox")
    return cli
