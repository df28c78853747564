"""Shared fixtures: a private store per test, the corral CLI, a residue check after every test, and
the host made ready for the peer tools (crun, podman, skopeo, ...) that some tests run beside corral.

Tests run as root on the real kernel. Each test gets its own CORRAL_ROOT;
after it, whatever it did, no mount, cgroup, process, link or firewall
element of that store may remain (the fixture cleans up first, then
asserts, so one failure does not cascade into the next test).

The suite runs in a random order (pytest-randomly), its seed printed first and last so that
`./run-tests.sh --randomly-seed=N` replays a run: a test that passes only after another one fails
sooner or later instead of hiding.
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

from bench import hostprep

# registry (issue 17): tests never read the host's /etc/corral/registries.conf; one that needs search
# registries writes its own file and names it in CORRAL_REGISTRIES_CONF
os.environ["CORRAL_REGISTRIES_CONF"] = "/nonexistent/corral-tests/registries.conf"

CORRAL = [sys.executable, "-m", "corral.cli.main"]
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


class Cli:
    """Runs `corral` against one store and keeps the last result for assertions."""

    def __init__(self, root: str) -> None:
        self.root = root
        # the store's own docker config (credentials), beside it: never the host's ~/.docker/config.json
        self.env = dict(os.environ, CORRAL_ROOT=root, PYTHONPATH=SRC, DOCKER_CONFIG=root + "-docker")

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
    if os.path.exists(f"/run/corral/stores/{tag}"):
        problems.append(f"record of the store's bridges left: /run/corral/stores/{tag}")
    return problems


def _has_networks(root: str, table: str = "networks") -> bool:
    import sqlite3

    path = os.path.join(root, "corral.db")
    if not os.path.exists(path):
        return False
    conn = sqlite3.connect(path)
    try:
        return bool(conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall())
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
    if _has_networks(root, "pods"):  # a pod's infra container goes only with its pod
        subprocess.run(CORRAL + ["pod", "rm", "-a", "-f", "-t", "0"], env=env, capture_output=True, timeout=60)
    for cid in _container_ids(root):
        subprocess.run(CORRAL + ["rm", "-f", cid], env=env, capture_output=True, timeout=60)
    if _has_networks(root):
        subprocess.run(CORRAL + ["network", "prune", "-f"], env=env, capture_output=True, timeout=60)
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


# ---------------------------------------------------------------- tiers: unit and root

ROOT_FIXTURES = frozenset({"store_root", "new_store", "other", "cli", "busybox", "peer_host"})
"""Fixtures that need root: a store torn down with corral and checked on the host, the host readied for
peer tools. A unit test uses none of them."""


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test not marked `unit` is marked `root`, so that `-m unit` and `-m root` split the suite in
    two; a test marked unit that asks for a fixture needing root (or is marked root too) stops the run,
    as it would fail only where unit tests are meant to run: without root."""
    wrong = []
    for item in items:
        if item.get_closest_marker("unit") is None:
            item.add_marker(pytest.mark.root)
        elif item.get_closest_marker("root") is not None:
            wrong.append(f"{item.nodeid} is marked both unit and root")
        elif needed := ROOT_FIXTURES & set(getattr(item, "fixturenames", ())):
            wrong.append(f"{item.nodeid} uses {', '.join(sorted(needed))}")
    if wrong:
        raise pytest.UsageError("a unit test may not need root:\n  " + "\n  ".join(wrong))


# ---------------------------------------------------------------- peer tools and the order of tests


@pytest.fixture(scope="session")
def peer_host() -> None:
    """The host made ready for crun, runc, podman, skopeo and umoci (bench/hostprep.py). Every test
    that runs one of them asks for this fixture, directly or through another; one that does not is
    refused (_refuse_unprepared_peers), so no test passes only because an earlier one prepared the host."""
    hostprep.prepare()


_running: list[pytest.Item | None] = [None]
"""The test whose set-up, call or tear-down is running now."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # noqa: ANN201
    _running[0] = item
    try:
        return (yield)
    finally:
        _running[0] = None


def _refuse_unprepared_peers(event: str, args: tuple) -> None:
    """An audit hook: starting a peer tool from a test that did not ask for peer_host raises."""
    item = _running[0]
    if event != "subprocess.Popen" or item is None or "peer_host" in item.fixturenames:
        return
    executable, argv = args[0], args[1]
    first = executable or (argv[0] if isinstance(argv, (list, tuple)) and argv else argv)
    name = os.path.basename(os.fsdecode(first)) if first else ""
    if name in hostprep.PEERS:
        raise RuntimeError(f"{item.nodeid} runs {name} without the peer_host fixture; ask for it, so the host"
                           " is ready for it whatever ran before (bench/hostprep.py)")


sys.addaudithook(_refuse_unprepared_peers)


def _seed_line(config: pytest.Config) -> str | None:
    seed = getattr(config.option, "randomly_seed", None)
    if seed is None or not getattr(config.option, "randomly_reorganize", True):
        return None
    return f"random test order, seed {seed}: replay it with ./run-tests.sh --randomly-seed={seed}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if line := _seed_line(session.config):
        session.config.get_terminal_writer().line(line)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    if line := _seed_line(config):
        terminalreporter.write_line(line)
