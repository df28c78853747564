"""Killed mid-write (issue 20, item 6): a corral process killed at a named point (CORRAL_FAILPOINT, see
src/corral/failpoints.py) leaves a store that `system check` either finds clean or that the repair makes
clean, no container paused for good, and the next operation works."""
from __future__ import annotations

import json
import os
import re

import pytest

COMMIT_POINTS = ("commit.paused", "commit.tar", "layer.unpacked", "layer.renamed")


def _killed(cli, point: str, *args: str):  # noqa: ANN202
    env = dict(cli.env, CORRAL_FAILPOINT=point)
    import subprocess

    from conftest import CORRAL

    return subprocess.run(CORRAL + list(args), env=env, capture_output=True, timeout=60)


@pytest.mark.parametrize("point", COMMIT_POINTS)
def test_a_commit_killed_midway_leaves_nothing_the_repair_cannot_clean(busybox, point):
    cid = busybox.out("run", "-d", "busybox", "sh", "-c", "echo data > /f; sleep 60").strip()
    r = _killed(busybox, point, "commit", cid, "snap:1")
    assert r.returncode == -9, r.stderr  # the point was reached
    status = busybox.out("ps", "--format", "{{.Status}}", "-f", f"id={cid}")
    assert status.startswith("Up ") and "Paused" not in status  # a dead committer's pause is undone
    assert busybox.out("exec", cid, "cat", "/f") == "data\n"  # and the container runs on
    check = busybox("system", "check")
    if check.returncode != 0:  # what a killed writer left is named, and only that
        problems = check.stdout.decode().splitlines()
        assert all(re.search(r"left by a writer that is gone|is not recorded in the DB \(orphan\)", p)
                   for p in problems), problems
        repaired = busybox.out("system", "check", "--repair")
        assert "left by a writer that is gone" in repaired or "orphan" in repaired
    assert busybox("system", "check").returncode == 0
    assert os.listdir(os.path.join(busybox.root, "tmp")) == []
    assert "snap:1" not in busybox.out("images", "--format", "{{.Repository}}:{{.Tag}}")
    busybox.out("commit", cid, "snap:1")  # the next commit works
    assert busybox.out("run", "--rm", "snap:1", "cat", "/f") == "data\n"
    busybox.out("rm", "-f", cid)


def test_a_user_pause_is_kept_though_a_dead_committer_once_paused_the_container(busybox):
    cid = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    assert _killed(busybox, "commit.paused", "commit", cid, "snap:2").returncode == -9
    busybox.out("ps")  # undoes the dead committer's pause
    busybox.out("pause", cid)
    assert "Paused" in busybox.out("ps", "--format", "{{.Status}}", "-f", f"id={cid}")
    assert "Paused" in busybox.out("ps", "--format", "{{.Status}}", "-f", f"id={cid}")
    busybox.out("unpause", cid)
    busybox.out("rm", "-f", cid)


# every other command (item 6): each scenario prepares, is killed at its point, and names the next operation --------

SUBNET = "10.245.7.0/24"
FIRST = "10.245.6.0/24"


def _reg(tmp_path):  # noqa: ANN202 - a started tests.registryd.Registry
    from tests.registryd import Registry

    return Registry(str(tmp_path / "registry")).start()


class Scenario:
    """A command killed at `point`: prepare(cli, other, tmp) returns the argv to kill (run in `other` when
    on_other) and the state next() needs; next(cli, other, tmp, state) is the next operation, which works."""

    def __init__(self, point: str, prepare, next_op, on_other: bool = False, registry: bool = False,  # noqa: ANN001
                 killer: str = "cli") -> None:
        self.point, self.prepare, self.next_op = point, prepare, next_op
        self.on_other, self.registry, self.killer = on_other, registry, killer

    def __repr__(self) -> str:
        return self.point


def _pushed(cli, reg) -> str:  # noqa: ANN001
    ref = f"{reg.host}/fp/bb:1"
    cli.out("tag", "busybox", ref)
    cli.out("push", ref)
    return ref


def _pull_prepare(cli, other, tmp, reg):  # noqa: ANN001, ANN202
    ref = _pushed(cli, reg)
    return ["pull", ref], ref


def _pull_next(cli, other, tmp, ref):  # noqa: ANN001, ANN202
    other.out("pull", ref)
    assert other.out("run", "--rm", ref, "echo", "pulled") == "pulled\n"


def _push_prepare(cli, other, tmp, reg):  # noqa: ANN001, ANN202
    ref = f"{reg.host}/fp/pushed:1"
    cli.out("run", "--name", "mk", "busybox", "sh", "-c", "echo pushed > /msg")
    cli.out("commit", "mk", ref)
    cli.out("rm", "mk")
    return ["push", ref], ref


def _push_next(cli, other, tmp, ref):  # noqa: ANN001, ANN202
    cli.out("push", ref)
    other.out("pull", ref)
    assert other.out("run", "--rm", ref, "cat", "/msg") == "pushed\n"


def _load_prepare(cli, other, tmp, reg):  # noqa: ANN001, ANN202
    archive = str(tmp / "bb.tar")
    cli.out("save", "-o", archive, "busybox")
    return ["load", "-i", archive], archive


def _load_next(cli, other, tmp, archive):  # noqa: ANN001, ANN202
    other.out("load", "-i", archive)
    assert other.out("run", "--rm", "busybox", "echo", "loaded") == "loaded\n"


def _build_prepare(cli, other, tmp, reg):  # noqa: ANN001, ANN202
    ctx = tmp / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo a > /a\nRUN echo b > /b\n")
    return ["build", "-t", "fp:built", str(ctx)], str(ctx)


def _build_next(cli, other, tmp, ctx):  # noqa: ANN001, ANN202
    assert cli.out("ps", "-aq") == ""  # no step container of the killed build is left
    cli.out("build", "-t", "fp:built", ctx)
    assert cli.out("run", "--rm", "fp:built", "cat", "/a", "/b") == "a\nb\n"


def _rm_prepare(cli, other, tmp, reg):  # noqa: ANN001, ANN202
    cid = cli.out("run", "-d", "-v", "/data", "busybox", "sleep", "60").strip()
    return ["rm", "-f", "-v", cid], cid


def _rm_next(cli, other, tmp, cid):  # noqa: ANN001, ANN202
    r = cli("rm", "-f", "-v", cid)
    assert r.returncode == 0 or b"No such container" in r.stderr, r.stderr
    assert cli.out("ps", "-aq") == ""
    # a removal the repair finished keeps the anonymous volume (was it `rm -v`? it cannot know): dangling
    assert cli.out("volume", "ls", "-q", "-f", "dangling=false") == ""
    cli.out("volume", "prune", "-f")
    assert cli.out("volume", "ls", "-q") == ""


def _volume_create_prepare(cli, other, tmp, reg):  # noqa: ANN001, ANN202
    return ["volume", "create", "fpvol"], None


def _volume_create_next(cli, other, tmp, _):  # noqa: ANN001, ANN202
    cli.out("volume", "create", "fpvol")
    assert cli.out("run", "--rm", "-v", "fpvol:/v", "busybox", "sh", "-c", "echo kept > /v/f; cat /v/f") == "kept\n"
    cli.out("volume", "rm", "fpvol")


def _volume_rm_prepare(cli, other, tmp, reg):  # noqa: ANN001, ANN202
    cli.out("volume", "create", "fpvol")
    cli.out("run", "--rm", "-v", "fpvol:/v", "busybox", "sh", "-c", "echo old > /v/f")
    return ["volume", "rm", "fpvol"], None


def _volume_rm_next(cli, other, tmp, _):  # noqa: ANN001, ANN202
    cli("volume", "rm", "fpvol")
    assert cli.out("volume", "ls", "-q") == ""
    cli.out("volume", "create", "fpvol")  # made afresh: nothing of the removed one's data comes back
    assert cli.out("run", "--rm", "-v", "fpvol:/v", "busybox", "ls", "/v") == ""
    cli.out("volume", "rm", "fpvol")


def _reaches_gateway(cli, network: str) -> None:
    gateway = SUBNET.rsplit(".", 1)[0] + ".1"
    out = cli.out("run", "--rm", "--network", network, "busybox", "ping", "-c", "1", "-W", "2", gateway)
    assert "1 packets received" in out, out


def _network_create_prepare(cli, other, tmp, reg):  # noqa: ANN001, ANN202
    return ["network", "create", "--subnet", SUBNET, "fpnet"], None


def _network_create_next(cli, other, tmp, _):  # noqa: ANN001, ANN202
    if "fpnet" not in cli.out("network", "ls", "--format", "{{.Name}}").split():
        cli.out("network", "create", "--subnet", SUBNET, "fpnet")
    cid = cli.out("run", "-d", "--network", "fpnet", "busybox", "sleep", "60").strip()
    assert cli("system", "check").returncode == 0, cli.out("system", "check")  # the switch has all it needs
    cli.out("rm", "-f", cid)
    _reaches_gateway(cli, "fpnet")
    cli.out("network", "rm", "fpnet")
    cli.out("network", "create", "--subnet", SUBNET, "fpnet")
    cli.out("network", "rm", "fpnet")


def _network_connect_prepare(cli, other, tmp, reg):  # noqa: ANN001, ANN202
    cli.out("network", "create", "--subnet", SUBNET, "fpnet")
    cli.out("network", "create", "--subnet", FIRST, "fpfirst")
    cid = cli.out("run", "-d", "--network", "fpfirst", "busybox", "sleep", "60").strip()
    return ["network", "connect", "fpnet", cid], cid


def _network_connect_next(cli, other, tmp, cid):  # noqa: ANN001, ANN202
    cli.out("network", "disconnect", "-f", "fpnet", cid)
    cli.out("network", "connect", "fpnet", cid)
    gateway = SUBNET.rsplit(".", 1)[0] + ".1"
    assert "1 packets received" in cli.out("exec", cid, "ping", "-c", "1", "-W", "2", gateway)
    cli.out("rm", "-f", cid)
    cli.out("network", "rm", "fpnet", "fpfirst")


def _monitor_prepare(cli, other, tmp, reg):  # noqa: ANN001, ANN202
    cli.out("network", "create", "--subnet", SUBNET, "fpnet")
    cid = cli.out("create", "--name", "fpmon", "--network", "fpnet", "-p", "127.0.0.1::80", "busybox",
                  "sleep", "60").strip()
    return ["start", cid], cid


def _monitor_next(cli, other, tmp, cid):  # noqa: ANN001, ANN202
    cli.out("start", cid)
    assert cli.out("exec", cid, "echo", "up") == "up\n"
    assert cli("system", "check").returncode == 0, cli.out("system", "check")
    cli.out("rm", "-f", cid)
    cli.out("network", "rm", "fpnet")


SCENARIOS = [
    Scenario("pull.layers", _pull_prepare, _pull_next, on_other=True, registry=True),
    Scenario("image.blobs", _pull_prepare, _pull_next, on_other=True, registry=True),
    Scenario("layer.unpacked", _pull_prepare, _pull_next, on_other=True, registry=True),
    Scenario("layer.renamed", _pull_prepare, _pull_next, on_other=True, registry=True),
    Scenario("push.blob", _push_prepare, _push_next, registry=True),
    Scenario("push.layers", _push_prepare, _push_next, registry=True),
    Scenario("load.layers", _load_prepare, _load_next, on_other=True),
    Scenario("image.blobs", _load_prepare, _load_next, on_other=True),
    Scenario("build.step", _build_prepare, _build_next),
    Scenario("build.run", _build_prepare, _build_next),
    Scenario("image.blobs", _build_prepare, _build_next),
    Scenario("rm.stopped", _rm_prepare, _rm_next),
    Scenario("rm.files", _rm_prepare, _rm_next),
    Scenario("volume.dir", _volume_create_prepare, _volume_create_next),
    Scenario("volume.row", _volume_rm_prepare, _volume_rm_next),
    Scenario("network.bridge", _network_create_prepare, _network_create_next),
    Scenario("network.veth", _network_connect_prepare, _network_connect_next),
    Scenario("monitor.spawned", _monitor_prepare, _monitor_next, killer="monitor"),
    Scenario("seccomp.tmp", _monitor_prepare, _monitor_next, killer="monitor"),  # the first start compiles
]


def _no_monitor(cli) -> None:  # noqa: ANN001
    """Wait for the store's idle monitor to exit, so that the next one starts with the failpoint."""
    import time

    from conftest import _store_processes

    deadline = time.monotonic() + 15
    while _store_processes(cli.root) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _store_processes(cli.root)


def _containers_whole(cli) -> None:  # noqa: ANN001
    """No container paused, frozen, or recorded running without a live process (half started)."""
    import glob

    for cid in cli.out("ps", "-aq", "--no-trunc").split():
        info = json.loads(cli.out("inspect", cid))[0]["State"]
        assert not info["Paused"], cid
        if info["Running"]:
            assert os.path.exists(f"/proc/{info['Pid']}"), cid
        else:
            for path in glob.glob(f"/sys/fs/cgroup/freezer/corral/{cid}/freezer.state"):
                assert open(path).read().strip() == "THAWED", path


def _no_cgroup_of_a_stopped_container(cli) -> None:  # noqa: ANN001
    import glob

    for cid in cli.out("ps", "-aq", "--no-trunc", "-f", "status=created", "-f", "status=exited").split():
        assert not glob.glob(f"/sys/fs/cgroup/*/corral/{cid}") + glob.glob(f"/sys/fs/cgroup/corral/{cid}"), cid


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.prepare.__name__[1:-8]}@{s.point}")
def test_a_command_killed_at_a_failpoint_leaves_a_store_the_repair_makes_clean(busybox, other, tmp_path, scenario):
    reg = _reg(tmp_path) if scenario.registry else None
    try:
        if scenario.on_other:
            other.out("system", "check")  # made, empty
        argv, state = scenario.prepare(busybox, other, tmp_path, reg)
        target = other if scenario.on_other else busybox
        if scenario.killer == "monitor":
            _no_monitor(target)  # the next start begins a monitor, with the failpoint in its environment
        r = _killed(target, scenario.point, *argv)
        if scenario.killer == "cli":
            assert r.returncode == -9, (r.returncode, r.stderr)  # the point was reached
        else:  # the monitor died at its point; the client says so in one line
            assert r.returncode != 0 and len(r.stderr.decode().strip().splitlines()) == 1, r.stderr
            assert "Traceback" not in r.stderr.decode()
        _containers_whole(target)
        if target("system", "check").returncode != 0:
            target.out("system", "check", "--repair")
        check = target("system", "check")
        assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
        assert os.listdir(os.path.join(target.root, "tmp")) == []
        _containers_whole(target)
        _no_cgroup_of_a_stopped_container(target)
        scenario.next_op(busybox, other, tmp_path, state)
        assert target("system", "check").returncode == 0, target.out("system", "check")
    finally:
        if reg is not None:
            reg.stop()
