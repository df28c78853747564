"""The host view (`corral ps --processes`, Host.processes): every process of every container and its owner.

Two containers, one with a second process of its own and one with an exec'd one; every listed PID is
checked against the kernel's own account of it (/proc/PID: its command line, its PID inside its
namespace, its cgroup), not against corral's; then the reverse lookup of a host PID, from the CLI and
the Python API, for a container's process and for one in no container.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from conftest import CORRAL

import corral
from corral.api import processes
from corral.errors import NotFound


def nspid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("NSpid:")).split()[-1])


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().rstrip(b"\0").replace(b"\0", b" ").decode()


def rows(cli, *args: str) -> list[dict]:
    return [json.loads(line) for line in cli.out("ps", "--processes", "--format", "json", *args).splitlines()]


@pytest.fixture
def two(busybox):
    """web: `sleep 1001` under a shell, with an exec'd `sleep 1003`; db: `sleep 1002` as uid 1000."""
    web = busybox.out("run", "-d", "--name", "web", "busybox", "sh", "-c", "sleep 1001 & wait").strip()
    db = busybox.out("run", "-d", "--name", "db", "-u", "1000", "busybox", "sleep", "1002").strip()
    execd = subprocess.Popen([*CORRAL, "exec", "web", "sleep", "1003"], env=busybox.env)
    try:
        deadline = time.monotonic() + 10
        while len(rows(busybox)) < 4 and time.monotonic() < deadline:  # the exec starts meanwhile
            time.sleep(0.05)
        yield busybox, web, db
    finally:
        execd.kill()
        execd.wait()


def test_every_process_of_every_container_with_its_owner(two):
    cli, web, db = two
    found = rows(cli)
    assert sorted((r["Names"], r["Command"]) for r in found) == [
        ("db", "sleep 1002"), ("web", "sh -c sleep 1001 & wait"), ("web", "sleep 1001"), ("web", "sleep 1003")]
    inits = {c["Id"]: c["State"]["Pid"] for c in json.loads(cli.out("inspect", web, db))}
    for r in found:
        pid = r["PID"]
        assert cmdline(pid) == r["Command"] and nspid(pid) == r["ContainerPID"], r
        cid = web if r["Names"] == "web" else db
        assert r["ID"] == cid[:12] and f"/corral/{cid}" in open(f"/proc/{pid}/cgroup").read()
        assert (r["ContainerPID"] == 1) == (pid == inits[cid]), "PID 1 inside is the container's init"
        assert r["User"] == ("1000" if r["Names"] == "db" else "root")  # busybox's /etc/passwd names no 1000
    assert [r["Names"] for r in found] == ["db", "web", "web", "web"], "newest container first, as ps"
    table = cli.out("ps", "--processes", "--no-trunc").splitlines()
    assert table[0].split() == ["PID", "CONTAINER", "PID", "USER", "CONTAINER", "ID", "NAMES", "COMMAND"]
    assert any(db in line and "sleep 1002" in line for line in table[1:])
    assert sorted(map(int, cli.out("ps", "--processes", "-q").split())) == sorted(r["PID"] for r in found)
    assert {r["Names"] for r in rows(cli, "-f", "name=db")} == {"db"}


def test_the_owner_of_a_host_pid(two):
    cli, web, db = two
    execd = next(r for r in rows(cli) if r["Command"] == "sleep 1003")
    assert rows(cli, "-f", f"pid={execd['PID']}") == [execd]
    assert cli.out("ps", "--processes", "-f", f"pid={os.getpid()}").splitlines() == [
        "PID       CONTAINER PID   USER      CONTAINER ID   NAMES     COMMAND"], "the test itself is in none"
    assert rows(cli, "-f", f"pid={execd['PID']}", "-f", "name=db") == [], "filters AND"
    client = corral.Client(cli.root)
    assert client.api.process_owner(execd["PID"]).id == web
    with pytest.raises(NotFound, match="is in no container"):
        client.api.process_owner(os.getpid())
    listed = client.api.processes({"name": ["db"]})
    assert [(p.container.id, p.container_pid, p.user, p.cmd) for p in listed] == [(db, 1, "1000", "sleep 1002")]
    r = cli("ps", "--processes", "-f", "pid=web")
    assert r.returncode == 1 and b"invalid filter 'pid=web'" in r.stderr


def test_a_pid_that_is_no_process_and_a_process_of_another_store(busybox, other):
    other.out("image", "bootstrap", "busybox")
    theirs = other.out("run", "-d", "busybox", "sleep", "1004").strip()
    pid = json.loads(other.out("inspect", theirs))[0]["State"]["Pid"]
    client = corral.Client(busybox.root)
    with pytest.raises(NotFound, match="not of this store"):
        client.api.process_owner(pid)
    assert rows(busybox, "-f", f"pid={pid}") == []
    assert rows(other, "-f", f"pid={pid}")[0]["ID"] == theirs[:12]
    with pytest.raises(NotFound, match="no such process"):
        client.api.process_owner(2 ** 22 + 1)  # above any pid_max


@pytest.mark.parametrize("flags, message", [
    (["--processes", "-s"], "-s, --size does not apply to --processes"),
    (["--processes", "-n", "2"], "-n, --last does not apply to --processes"),
    (["-f", "pid=1"], "invalid filter 'pid'"),
])
def test_flags_that_do_not_apply_are_refused(busybox, flags, message):
    r = busybox("ps", *flags)
    assert r.returncode == 1 and message.encode() in r.stderr


@pytest.mark.unit
def test_the_owner_is_read_from_the_cgroup_path(tmp_path):
    cid = "ab" * 32
    layouts = {1: f"10:hugetlb:/corral/{cid}\n4:memory:/corral/{cid}\n0::/\n",  # v1
               2: f"0::/corral/{cid}\n",  # v2
               3: f"0::/corral/{cid}/nested/deeper\n",  # a cgroup a --privileged container made in its own
               4: "0::/user.slice/user-0.slice/session-1.scope\n",  # a host process
               5: "0::/corral/not-an-id\n"}
    for pid, text in layouts.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cgroup").write_text(text)
    assert [processes.owner_id(pid, str(tmp_path)) for pid in layouts] == [cid, cid, cid, None, None]
    with pytest.raises(NotFound, match="no such process: 6"):
        processes.owner_id(6, str(tmp_path))
