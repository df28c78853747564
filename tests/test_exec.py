"""exec, attached runs and attach without a terminal: streams, stdin, exit codes, signals."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import CORRAL, SRC


def _spawn(cli, *args: str, stdin=subprocess.DEVNULL) -> subprocess.Popen:  # noqa: ANN001
    return subprocess.Popen(CORRAL + list(args), env=cli.env, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _readline(proc: subprocess.Popen, timeout: float = 10) -> bytes:
    """One line of proc's stdout, failing if it takes longer than timeout (output must stream)."""
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no output in time: the output is not streamed"
    return proc.stdout.readline()


def test_exec_streams_exit_codes_and_identity(busybox):
    busybox.out("run", "-d", "--name", "ex", "--network", "none", "busybox", "sleep", "300")
    r = busybox("exec", "ex", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    assert busybox("exec", "ex", "sh", "-c", "kill -9 $$").returncode == 137
    r = busybox("exec", "ex", "nope")
    assert r.returncode == 127 and b'"nope": executable file not found' in r.stderr
    assert busybox("exec", "ex", "/etc/passwd").returncode == 126
    assert busybox.out("exec", "-u", "nobody", "-e", "X=1", "-w", "/tmp", "ex", "sh", "-c",
                       "id -u; echo $X; pwd") == "65534\n1\n/tmp\n"
    plain = busybox.out("exec", "ex", "grep", "CapEff", "/proc/self/status").split()[1]
    elevated = busybox.out("exec", "--privileged", "ex", "grep", "CapEff", "/proc/self/status").split()[1]
    assert int(elevated, 16) > int(plain, 16)
    ran = busybox.out("run", "--rm", "--privileged", "busybox", "grep", "CapEff", "/proc/self/status").split()[1]
    assert ran == elevated  # every capability corral itself holds (this host has no CAP_SYS_RESOURCE)
    assert busybox.out("exec", "ex", "sh", "-c", "echo $$") != "1\n"  # its own process, not the init
    assert busybox.out("logs", "ex") == ""  # an exec's output is its client's, not the container's log


def test_exec_client_loads_no_runtime(busybox):
    """The monitor finds the container and spawns the command, so the client loads neither the store's
    database nor the container objects, ctypes or the namespace code."""
    busybox.out("run", "-d", "--name", "lean", "--network", "none", "busybox", "sleep", "300")
    r = subprocess.run([sys.executable, "-X", "importtime", *CORRAL[1:], "exec", "lean", "true"],
                       env=busybox.env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    loaded = {line.split("|")[-1].strip() for line in r.stderr.decode().splitlines()}
    assert {"corral.api.sessions", "corral.monitor.client", "corral.monitor.wire"} <= loaded  # the line format
    assert not loaded & {"ctypes", "corral.sys.libc", "corral.runtime.exec", "corral.runtime.init", "_sqlite3",
                         "corral.store.db", "corral.api.container", "corral.api.host", "corral.monitor.monitor",
                         "corral.monitor.supervisor", "corral.network"}
    assert not {m for m in loaded if m.startswith("corral.runtime")}  # the client half needs no runtime at all


def test_exec_forwards_signals(busybox):
    busybox.out("run", "-d", "--name", "es", "--network", "none", "busybox", "sleep", "300")
    script = 'trap "echo got INT; exit 8" INT; echo ready; while true; do sleep 0.1; done'
    proc = _spawn(busybox, "exec", "es", "sh", "-c", script)
    assert _readline(proc) == b"ready\n"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 8
    assert proc.stdout.read() == b"got INT\n"


def test_exec_stdin_is_binary_exact_and_ends(busybox):
    busybox.out("run", "-d", "--name", "pipe", "--network", "none", "busybox", "sleep", "300")
    data = os.urandom(1 << 20)
    r = busybox("exec", "-i", "pipe", "cat", input=data)
    assert r.returncode == 0 and r.stdout == data and r.stderr == b""
    busybox.out("exec", "-i", "pipe", "sh", "-c", "cat > /f", input=b"data\n")
    assert busybox.out("exec", "pipe", "cat", "/f") == "data\n"
    assert busybox("exec", "pipe", "cat").stdout == b""  # without -i: /dev/null, so cat ends at once


def test_exec_right_after_start_never_needs_a_sleep(busybox):
    sys.path.insert(0, SRC)
    from corral.api import Host

    host = Host(busybox.root)
    for i in range(100):
        c = host.create_container("busybox", ["sleep", "60"], network="none")
        try:
            c.start()
            assert c.exec(["true"]).exit_code == 0, f"try {i}"
        finally:
            c.remove(force=True)


def test_exec_detached_and_refusals(busybox):
    busybox.out("run", "-d", "--name", "bg", "busybox", "sleep", "300")
    assert busybox.out("exec", "-d", "bg", "sh", "-c", "echo x > /g") == ""
    deadline = time.monotonic() + 10
    while busybox("exec", "bg", "cat", "/g").stdout != b"x\n":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    busybox.out("create", "--name", "idle", "busybox", "true")
    r = busybox("exec", "idle", "true")
    assert r.returncode == 1 and b"is not running" in r.stderr
    r = busybox("exec", "-t", "-i", "bg", "sh")  # stdin is not a terminal here
    assert r.returncode == 1 and b"not a TTY" in r.stderr
    r = busybox("exec", "nosuch", "true")
    assert (r.returncode, r.stderr) == (1, b"Error: No such container: nosuch\n")
    busybox.out("run", "-d", "--name", "bg2", "busybox", "sleep", "300")
    ids = busybox.out("ps", "-q", "--no-trunc").split()
    common = os.path.commonprefix(ids)
    if common:  # two random IDs share a first digit one time in sixteen
        r = busybox("exec", common, "true")
        assert r.returncode == 1 and b"multiple IDs found with provided prefix" in r.stderr
    assert busybox.out("exec", ids[0][:12], "hostname") == ids[0][:12] + "\n"


def test_exec_errors_keep_their_type_through_the_monitor(busybox):
    sys.path.insert(0, SRC)
    from corral.api import Host
    from corral.errors import Conflict, InvalidArgument, NotFound

    host = Host(busybox.root)
    c = host.create_container("busybox", ["sleep", "60"], name="typed")
    try:
        with pytest.raises(Conflict, match="is not running"):
            c.exec(["true"])
        c.start()
        with pytest.raises(InvalidArgument, match="no command given"):
            c.exec([])
        c.pause()
        with pytest.raises(Conflict, match="is paused, unpause the container before exec"):
            c.exec(["true"])
        c.unpause()
        other = host.container("typed")
        c.remove(force=True)
        with pytest.raises(NotFound, match="No such container"):
            other.exec(["true"])
        with pytest.raises(NotFound, match="No such container"):
            other.remove(force=True)  # a stale object: its container is gone
    finally:
        if busybox.out("ps", "-aq"):
            c.remove(force=True)


def test_run_streams_output_and_stdin(busybox):
    proc = _spawn(busybox, "run", "--rm", "busybox", "sh", "-c", "echo first; sleep 3; echo second")
    t0 = time.monotonic()
    assert _readline(proc, 2.5) == b"first\n"
    assert time.monotonic() - t0 < 2.5
    assert proc.wait(15) == 0 and proc.stdout.read() == b"second\n"
    r = busybox("run", "-i", "--rm", "busybox", "sh", "-c", "wc -c; echo done", input=b"x" * 100000)
    assert r.stdout == b"100000\ndone\n" and r.returncode == 0


def test_run_forwards_signals(busybox):
    script = 'trap "echo got TERM; exit 7" TERM; echo ready; while true; do sleep 0.1; done'
    proc = _spawn(busybox, "run", "--rm", "--name", "sig", "busybox", "sh", "-c", script)
    assert _readline(proc) == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 7
    assert proc.stdout.read() == b"got TERM\n"
    assert busybox.out("ps", "-aq") == ""  # --rm: gone before run returned


def test_start_attach_and_attach(busybox):
    busybox.out("create", "-i", "--name", "sa", "busybox", "sh", "-c", "read line; echo got $line; exit 4")
    r = busybox("start", "-ai", "sa", input=b"hello\n")
    assert (r.returncode, r.stdout) == (4, b"got hello\n")
    busybox.out("run", "-d", "--name", "late", "busybox", "sh", "-c", "sleep 1; echo late; echo oops >&2; exit 5")
    r = busybox("attach", "late")
    assert (r.returncode, r.stdout, r.stderr) == (5, b"late\n", b"oops\n")
    r = busybox("attach", "late")
    assert r.returncode == 1 and b"start it first" in r.stderr


def test_attached_client_killed_leaves_the_container_running(busybox):
    proc = _spawn(busybox, "run", "--name", "orphan", "busybox", "sh", "-c", "echo up; sleep 300")
    assert _readline(proc) == b"up\n"
    proc.kill()
    proc.wait(10)
    assert b'"Status": "running"' in busybox("inspect", "orphan").stdout
    busybox.out("rm", "-f", "orphan")


def test_exec_from_python_streams(busybox):
    sys.path.insert(0, SRC)
    from corral.api import Host
    from corral.errors import Conflict

    c = Host(busybox.root).create_container("busybox", ["sleep", "60"], name="py")
    c.start()
    try:
        result = c.exec(["sh", "-c", "cat; echo e >&2"], stdin=b"abc")
        assert result == (0, b"abc", b"e\n")
        big = os.urandom(8 << 20)  # far beyond every pipe and queue: both directions must keep flowing
        assert c.exec(["cat"], stdin=big) == (0, big, b"")
        events = c.exec(["sh", "-c", "echo 1; echo 2 >&2; exit 9"], stream=True)
        assert sorted(events) == [(1, b"1\n"), (2, b"2\n")] and events.exit_code == 9
        with pytest.raises(Exception, match="executable file not found"):
            list(c.exec(["nope"], stream=True))
        with pytest.raises(Conflict, match="already running"):
            c.start(stream=True)
    finally:
        c.remove(force=True)
    once = Host(busybox.root).create_container("busybox", ["sh", "-c", "echo a; sleep 0.2; echo b >&2; exit 3"])
    output = once.start(stream=True)  # what a build's RUN step shows, from the first byte
    assert list(output) == [(1, b"a\n"), (2, b"b\n")] and output.exit_code == 3
    once.remove()


def test_user_lookup_reads_only_the_containers_own_plain_files(busybox, tmp_path):
    """-u (and top, for its names) looks a name up in the image's or the running container's /etc/passwd.
    A hostile one (a FIFO, a link to a host file or to /dev/zero) must neither hang corral nor read the
    host: the name is simply not found, and the monitor goes on serving."""
    host_passwd = tmp_path / "passwd"
    host_passwd.write_text("hostuser:x:4242:4242::/:/bin/sh\n")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for tag, step in (("fifo", "mkfifo /etc/passwd"), ("host", f"ln -s {host_passwd} /etc/passwd"),
                      ("zero", "ln -s /dev/zero /etc/passwd")):
        (ctx / "Dockerfile").write_text(f"FROM busybox\nRUN rm /etc/passwd && {step}\n")
        busybox.out("build", "--network", "none", "-t", f"pw:{tag}", str(ctx))
        r = busybox("run", "--rm", "-u", "hostuser", f"pw:{tag}", "id", "-u", timeout=20)
        assert r.returncode == 125 and b"unable to find user hostuser" in r.stderr, (tag, r.stderr)
    assert busybox("run", "--rm", "-u", "4242", "pw:fifo", "true").returncode == 0  # a numeric id needs no name

    busybox.out("run", "-d", "--name", "pw", "--network", "none", "busybox", "sleep", "300")
    for step in ("mkfifo /etc/passwd", f"ln -s {host_passwd} /etc/passwd", "ln -s /dev/zero /etc/passwd"):
        busybox.out("exec", "pw", "sh", "-c", f"rm -f /etc/passwd && {step}")
        r = busybox("exec", "-u", "hostuser", "pw", "id", "-u", timeout=20)
        assert r.returncode == 1 and b"unable to find user hostuser" in r.stderr, (step, r.stderr)
        assert busybox.out("exec", "pw", "echo", "alive", timeout=20) == "alive\n"
        assert "sleep 300" in busybox.out("top", "pw", timeout=20)  # top reads the same file for its names
