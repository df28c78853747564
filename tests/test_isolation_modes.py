"""One scenario suite, two backends (containerd's conformance habit): every scenario of the earlier issues
that both isolation modes support runs once with `--isolation=process` and once with `--isolation=vm`, with
the same commands and the same assertions: run (output, exit code, env, workdir, user), -d with logs, stop
(the signal delivered inside) and rm, restart, rename, inspect and events, exec, commit and diff, cp both ways
while running and stopped, named volumes and bind mounts shared across the modes, --read-only, and `system
check` clean with nothing left on the host (no QEMU, no mount) afterwards.

A scenario a mode does not support yet is named in NOT_YET (and refused by name there, see test_vm.py); none
is now: interactive sessions, networks, the host's clock and an exec's missing working directory all came to
VM containers (issue 19).

Each VM boot costs about 2 s of TCG, so the module keeps one store (with busybox) and one long-running
container per mode that the scenarios which only read it or write under paths of their own share; a scenario
that changes a container's state (stop, rename, restart) makes its own. The store is torn down and checked
for residue (processes, QEMU among them, mounts, cgroups, links) when the module ends.
"""
from __future__ import annotations

import glob
import json
import os
import time
import urllib.request

import pytest

from conftest import Cli, tear_down

MODES = ("process", "vm")
NOT_YET: dict[str, set[str]] = {"vm": set()}
"""The scenarios a mode cannot run yet (the module's docstring says why)."""


def modes(feature: str | None = None) -> list[str]:
    return [m for m in MODES if feature not in NOT_YET.get(m, set())]


LOOP = "trap 'echo got TERM; exit 7' TERM; echo up; while true; do sleep 0.1; done"


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """The module's store, busybox in it; at the end `system check` must be clean and nothing left."""
    cli = Cli(str(tmp_path_factory.mktemp("modes") / "store"))
    cli.out("image", "bootstrap", "busybox")
    yield cli
    check = cli("system", "check")
    left = tear_down(cli.root)
    assert check.returncode == 0 and b"is consistent" in check.stdout, check.stdout + check.stderr
    assert not left, f"the isolation-mode scenarios left residue: {left}"


@pytest.fixture(scope="module")
def shared(box):
    """One running container per mode (made on first use), for scenarios that leave it as they found it."""
    made: dict[str, str] = {}

    def get(mode: str) -> str:
        if mode not in made:
            made[mode] = box.out("run", "-d", "--isolation", mode, "--name", f"shared-{mode}", "-e", "SHARED=1",
                                 "busybox", "sh", "-c", LOOP).strip()
            wait_for(lambda: box.out("logs", made[mode]) == "up\n")
        return made[mode]

    yield get
    for cid in made.values():
        box("rm", "-f", cid)


def wait_for(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def inspect(box: Cli, ref: str) -> dict:
    return json.loads(box.out("inspect", ref))[0]


def other(mode: str) -> str:
    return "vm" if mode == "process" else "process"


def host_leftovers(box: Cli, cid: str) -> list[str]:
    """What a removed container may not have left on the host: its mounts, cgroups, a QEMU holding its bundle."""
    left = []
    with open("/proc/self/mountinfo") as f:
        left += [line.split()[4] for line in f if cid in line]
    left += glob.glob(f"/sys/fs/cgroup/*/corral/{cid}") + glob.glob(f"/sys/fs/cgroup/corral/{cid}")
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                argv = f.read()
        except OSError:
            continue
        if b"qemu" in argv.split(b"\0")[0] and cid.encode() in argv:
            left.append(f"QEMU {path}")
    return left


# ---------------------------------------------------------------- run and the container's lifecycle

@pytest.mark.parametrize("mode", modes())
def test_run_output_exit_code_env_workdir_user(box, mode):
    r = box("run", "--rm", "--isolation", mode, "-e", "FOO=bar", "-w", "/tmp/work", "-u", "1000:1000",
            "busybox", "sh", "-c", "echo $FOO; pwd; id -u; id -g; echo oops >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, b"bar\n/tmp/work\n1000\n1000\n", b"oops\n")
    r = box("run", "--rm", "--isolation", mode, "--name", f"run-{mode}", "busybox", "no-such-command")
    assert r.returncode == 127 and b"no-such-command" in r.stderr
    assert box("inspect", f"run-{mode}").returncode != 0  # --rm: gone once it exited


@pytest.mark.parametrize("mode", modes())
def test_detached_logs_stop_restart_rename_inspect_events_rm(box, mode):
    since = str(int(time.time()) - 1)
    name = f"life-{mode}"
    cid = box.out("run", "-d", "--isolation", mode, "--name", name, "-e", "A=1", "-w", "/srv", "-u", "1000",
                  "--label", f"mode={mode}", "busybox", "sh", "-c", LOOP).strip()
    wait_for(lambda: box.out("logs", name) == "up\n")
    found = inspect(box, name)
    assert (found["Id"], found["Name"], found["State"]["Status"], found["State"]["Running"]) == \
        (cid, f"/{name}", "running", True)
    assert found["HostConfig"]["Isolation"] == ("vm" if mode == "vm" else "")
    assert ("VmAccelerator" in found["HostConfig"]) == (mode == "vm")
    assert "A=1" in found["Config"]["Env"] and found["Config"]["WorkingDir"] == "/srv"
    assert found["Config"]["User"] == "1000" and found["Config"]["Labels"] == {"mode": mode}
    assert found["State"]["Pid"] > 0 and os.path.exists(f"/proc/{found['State']['Pid']}")
    assert box.out("ps", "-q", "--no-trunc", "--filter", f"label=mode={mode}").split() == [cid]

    box.out("stop", "-t", "20", name)  # SIGTERM reaches the command (inside the guest for a VM)
    found = inspect(box, name)
    assert (found["State"]["Status"], found["State"]["ExitCode"]) == ("exited", 7)
    assert box.out("logs", name) == "up\ngot TERM\n"

    box.out("rename", name, f"{name}-renamed")
    assert inspect(box, cid)["Name"] == f"/{name}-renamed"
    box.out("restart", "-t", "20", f"{name}-renamed")
    wait_for(lambda: box.out("logs", cid).count("up\n") == 2)
    assert inspect(box, cid)["State"]["Status"] == "running"
    box.out("restart", "-t", "20", cid)  # a running one: stopped (TERM inside again), then started
    wait_for(lambda: box.out("logs", cid).count("up\n") == 3)
    assert box.out("logs", cid) == "up\ngot TERM\nup\ngot TERM\nup\n"

    box.out("rm", "-f", cid)
    assert box("inspect", cid).returncode != 0
    assert host_leftovers(box, cid) == []
    actions = box.out("events", "--since", since, "--until", f"{time.time():.6f}", "--filter", f"container={cid}",
                      "--format", "{{.Action}}").split()
    for expected in ("create", "start", "kill", "die", "stop", "rename", "restart", "destroy"):
        assert expected in actions, (expected, actions)
    assert actions[0] == "create" and actions[-1] == "destroy"


@pytest.mark.parametrize("mode", modes())
def test_read_only_root_with_a_writable_volume(box, mode):
    r = box("run", "--rm", "--isolation", mode, "--read-only", "-v", f"ro-{mode}:/data", "busybox", "sh", "-c",
            "touch /x 2>/dev/null || echo root read-only; echo ok > /data/f && cat /data/f")
    assert (r.returncode, r.stdout) == (0, b"root read-only\nok\n"), r.stderr
    box.out("volume", "rm", f"ro-{mode}")


# ---------------------------------------------------------------- exec

@pytest.mark.parametrize("mode", modes())
def test_exec_output_exit_code_env_user_workdir(box, shared, mode):
    cid = shared(mode)
    r = box("exec", "-u", "1000", "-w", "/tmp", "-e", "X=1", cid, "sh", "-c",
            "id -u; pwd; echo $X $SHARED; echo err >&2; exit 5")
    assert (r.returncode, r.stdout, r.stderr) == (5, b"1000\n/tmp\n1 1\n", b"err\n")
    assert box.out("exec", cid, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '").startswith("sh -c trap")
    r = box("exec", cid, "no-such-command")
    assert r.returncode == 127 and b"no-such-command" in r.stderr
    assert box.out("logs", cid) == "up\n"  # an exec's output is not the container's


@pytest.mark.parametrize("mode", modes())
def test_commands_are_found_in_the_path_in_order_and_by_permission(box, shared, mode):
    """A VM's host looks the command up for the guest (runtime/vm/describe.py): the same answers as a process's."""
    cid = shared(mode)
    setup = ("mkdir -p /opt/a /opt/b && printf '#!/bin/sh\\necho a\\n' > /opt/a/tool && "
             "printf '#!/bin/sh\\necho b\\n' > /opt/b/tool && chmod 700 /opt/a/tool && chmod 755 /opt/b/tool && "
             "printf 'x' > /opt/a/plain && chmod 644 /opt/a/plain")
    assert box("exec", cid, "sh", "-c", setup).returncode == 0
    assert box.out("exec", "-e", "PATH=/opt/a:/opt/b", cid, "tool") == "a\n"
    assert box.out("exec", "-u", "1000", "-e", "PATH=/opt/a:/opt/b", cid, "tool") == "b\n"
    r = box("exec", "-e", "PATH=/opt/a:/bin", cid, "plain")
    assert r.returncode == 126 and b"plain" in r.stderr


@pytest.mark.parametrize("mode", modes("exec-workdir"))
def test_exec_into_a_missing_workdir_fails(box, shared, mode):
    r = box("exec", "-w", "/no-such-dir", shared(mode), "pwd")
    assert (r.returncode, r.stdout) == (126, b"") and b"/no-such-dir" in r.stderr
    assert box("exec", shared(mode), "test", "-e", "/no-such-dir").returncode == 1


@pytest.mark.parametrize("mode", modes("clock"))
def test_the_clock_inside_is_the_hosts(box, mode):
    before = int(time.time())
    r = box("run", "--rm", "--isolation", mode, "busybox", "date", "+%s")
    assert before <= int(r.stdout) <= time.time() + 1, r.stdout + r.stderr


@pytest.mark.parametrize("mode", modes("interactive"))
def test_interactive_run_and_exec_read_stdin(box, shared, mode):
    r = box("run", "--rm", "-i", "--isolation", mode, "busybox", "sh", "-c", "read x; echo got $x; cat",
            input=b"hello\nrest\n")
    assert (r.returncode, r.stdout) == (0, b"got hello\nrest\n"), r.stderr
    r = box("exec", "-i", shared(mode), "wc", "-l", input=b"a\nb\nc\n")
    assert (r.returncode, r.stdout.strip()) == (0, b"3"), r.stderr


# ---------------------------------------------------------------- commit, diff and cp (host-side: same code)

@pytest.mark.parametrize("mode", modes())
def test_commit_and_diff_then_run_the_new_image(box, shared, mode):
    cid = shared(mode)
    box.out("exec", cid, "sh", "-c", f"mkdir -p /commit-{mode} && echo made in {mode} > /commit-{mode}/f")
    diff = box.out("diff", cid).splitlines()
    assert f"A /commit-{mode}" in diff and f"A /commit-{mode}/f" in diff
    image = f"committed-{mode}"
    box.out("commit", "-c", "CMD cat /commit-" + mode + "/f", cid, image)
    for runner in MODES:  # the image is the image: either mode runs it
        r = box("run", "--rm", "--isolation", runner, image)
        assert (r.returncode, r.stdout) == (0, f"made in {mode}\n".encode()), r.stderr
    box.out("exec", cid, "rm", "-r", f"/commit-{mode}")
    box.out("rmi", image)


@pytest.mark.parametrize("mode", modes())
def test_cp_both_ways_while_running(box, shared, mode, tmp_path):
    cid = shared(mode)
    box.out("exec", cid, "sh", "-c", f"mkdir -p /cp-{mode} && echo from the container > /cp-{mode}/out")
    box.out("cp", f"{cid}:/cp-{mode}/out", str(tmp_path / "out"))
    assert (tmp_path / "out").read_text() == "from the container\n"
    (tmp_path / "in").write_text("from the host\n")
    box.out("cp", str(tmp_path / "in"), f"{cid}:/cp-{mode}/in")
    assert box.out("exec", cid, "cat", f"/cp-{mode}/in") == "from the host\n"  # seen by the running command
    r = box("cp", f"{cid}:/cp-{mode}/missing", str(tmp_path / "x"))
    assert r.returncode != 0 and b"Could not find the file" in r.stderr
    box.out("exec", cid, "rm", "-r", f"/cp-{mode}")


@pytest.mark.parametrize("mode", modes())
def test_cp_both_ways_while_stopped(box, mode, tmp_path):
    name = f"cpstop-{mode}"
    r = box("run", "--isolation", mode, "--name", name, "busybox", "sh", "-c",
            "cat /in 2>/dev/null || echo no input; echo made > /out")
    assert (r.returncode, r.stdout) == (0, b"no input\n"), r.stderr
    box.out("cp", f"{name}:/out", str(tmp_path / "out"))
    assert (tmp_path / "out").read_text() == "made\n"
    (tmp_path / "in").write_text("copied in\n")
    box.out("cp", str(tmp_path / "in"), f"{name}:/in")
    r = box("start", "-a", name)
    assert (r.returncode, r.stdout) == (0, b"copied in\n"), r.stderr
    box.out("rm", name)


# ---------------------------------------------------------------- volumes and binds, across the modes

@pytest.mark.parametrize("mode", modes())
def test_named_volume_and_bind_shared_with_the_other_mode(box, mode, tmp_path):
    """Written by a container of `mode`, read by one of the other mode, then written back."""
    bind = tmp_path / "bind"
    bind.mkdir()
    (bind / "host").write_text("from the host\n")
    volume = f"shared-vol-{mode}"
    r = box("run", "--rm", "--isolation", mode, "-v", f"{volume}:/vol", "-v", f"{bind}:/bind", "busybox", "sh",
            "-c", f"echo {mode} wrote > /vol/v; echo {mode} wrote > /bind/b; cat /bind/host")
    assert (r.returncode, r.stdout) == (0, b"from the host\n"), r.stderr
    r = box("run", "--rm", "--isolation", other(mode), "-v", f"{volume}:/vol:ro", "-v", f"{bind}:/bind",
            "busybox", "sh", "-c", "cat /vol/v /bind/b; echo back > /bind/back; touch /vol/x 2>/dev/null || echo ro")
    assert (r.returncode, r.stdout) == (0, f"{mode} wrote\n{mode} wrote\nro\n".encode()), r.stderr
    assert (bind / "b").read_text() == f"{mode} wrote\n" and (bind / "back").read_text() == "back\n"
    mountpoint = box.out("volume", "inspect", "-f", "{{.Mountpoint}}", volume).strip()
    with open(os.path.join(mountpoint, "v")) as f:
        assert f.read() == f"{mode} wrote\n"
    box.out("volume", "rm", volume)


# ---------------------------------------------------------------- ports on a network of the test's own

@pytest.mark.parametrize("mode", modes("network"))
def test_published_port_reaches_the_container(box, mode):
    net = f"modes-{mode}"
    box.out("network", "create", "--subnet", "10.250.1.0/24", net)
    try:
        cid = box.out("run", "-d", "--isolation", mode, "--network", net, "-p", "127.0.0.1::8080", "busybox", "sh",
                      "-c", f"mkdir /www && echo served by {mode} > /www/index.html && "
                      "exec httpd -f -p 8080 -h /www").strip()
        port = box.out("port", cid, "8080").strip().rsplit(":", 1)[1]
        body = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        assert body == f"served by {mode}\n".encode()
        box.out("rm", "-f", cid)
    finally:
        box("network", "rm", net)


# ---------------------------------------------------------------- nothing left behind

@pytest.mark.parametrize("mode", modes())
def test_rm_leaves_nothing_and_the_store_checks_clean(box, mode):
    cid = box.out("run", "-d", "--isolation", mode, "-v", f"gone-{mode}:/v", "busybox", "sleep", "60").strip()
    pid = inspect(box, cid)["State"]["Pid"]
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0].endswith(b"qemu-system-x86_64") == (mode == "vm")
    box.out("rm", "-f", cid)
    assert not os.path.exists(f"/proc/{pid}")
    assert host_leftovers(box, cid) == []
    assert not os.path.exists(os.path.join(box.root, "containers", cid))
    r = box("system", "check")
    assert (r.returncode, r.stdout.decode().endswith("is consistent\n")) == (0, True), r.stdout + r.stderr
    box.out("volume", "rm", f"gone-{mode}")
