"""`corral serve` driven by the real docker CLI (28.2) and docker-py: the container and exec flows of
issue 18, slice 2, each checked by its effect (output, exit codes, what corral's own CLI then sees)."""
from __future__ import annotations

import os
import select
import struct
import subprocess
import time

import corral
import servefix

served = servefix.served


def _pty_session(argv: list[str], env: dict, keys: list[bytes], rows: int = 30, cols: int = 100) -> tuple[bytes, int]:
    """Run argv on a real pseudo-terminal of rows x cols, typing each of keys after a pause; its output and
    exit code."""
    import fcntl
    import pty
    import termios

    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = b""

    def read(seconds: float) -> None:
        nonlocal out
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return
                if not data:
                    return
                out += data

    read(1.5)
    for key in keys:
        os.write(fd, key)
        read(1.0)
    read(2.0)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out, os.waitstatus_to_exitcode(status)


def test_run_rm_gives_output_and_exit_code_and_leaves_nothing(served):
    proc = served.docker("run", "--rm", "busybox", "sh", "-c", "echo to-out; echo to-err >&2; exit 3")
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, b"to-out\n", b"to-err\n")
    assert served.out("run", "--rm", "busybox", "echo", "hi") == "hi\n"
    assert served.out("ps", "-aq") == ""
    assert served.cli.out("ps", "-aq") == ""
    missing = served.docker("run", "--rm", "busybox", "no-such-command")
    assert missing.returncode == 127 and b"no-such-command" in missing.stderr


def test_run_d_logs_f_stop_rm_and_the_same_store_as_corral(served):
    cid = served.out("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
                     "trap 'echo bye; exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done")
    cid = cid.strip()
    assert len(cid) == 64
    follow = subprocess.Popen(["docker", "logs", "-f", "ticker"], env=served.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    first = follow.stdout.readline()
    assert first == b"tick 0\n"
    assert served.cli.out("ps", "--format", "{{.Names}} {{.State}}") == "ticker running\n"  # corral sees it
    assert served.out("stop", "-t", "5", "ticker") == "ticker\n"
    rest, _ = follow.communicate(timeout=20)  # follow ends when the container stops
    assert follow.returncode == 0 and rest.endswith(b"bye\n")
    assert served.out("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "ticker") == "exited 0\n"
    assert served.out("rm", "ticker") == "ticker\n"
    assert served.cli.out("ps", "-aq") == ""
    # and the other way: made by corral, listed and removed by docker
    made = served.cli.out("create", "--name", "from-corral", "busybox", "true").strip()
    assert served.out("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}") == f"{made} from-corral\n"
    served.out("rm", "from-corral")


def test_ps_format_and_filters(served):
    served.out("run", "--name", "done0", "--label", "kind=batch", "busybox", "true")
    served.docker("run", "--name", "done3", "busybox", "sh", "-c", "exit 3")
    served.out("run", "-d", "--name", "up", "busybox", "sleep", "60")
    assert served.out("ps", "--format", "{{.Names}}") == "up\n"
    listed = served.out("ps", "-a", "--format", "{{.Names}}|{{.Status}}|{{.Command}}").splitlines()
    assert {line.split("|")[0] for line in listed} == {"done0", "done3", "up"}
    status = {line.split("|")[0]: line.split("|")[1] for line in listed}
    assert status["up"].startswith("Up ") and status["done3"].startswith("Exited (3) ")
    assert served.out("ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}") == "done3\n"
    assert served.out("ps", "-a", "--filter", "label=kind=batch", "--format", "{{.Names}}") == "done0\n"
    assert served.out("ps", "-a", "--filter", "status=running", "-q") == served.out("ps", "-q")
    served.out("rm", "-f", "done0", "done3", "up")


def test_exec_inspect_top_stats_pause(served):
    served.out("run", "-d", "--name", "box", "busybox", "sleep", "60")
    assert served.out("exec", "box", "sh", "-c", "echo $((6*7))") == "42\n"
    assert served.docker("exec", "box", "sh", "-c", "exit 9").returncode == 9
    assert served.docker("exec", "box", "nosuch").returncode == 127
    assert served.out("exec", "-e", "X=1", "-w", "/tmp", "box", "sh", "-c", "echo $X $PWD") == "1 /tmp\n"
    piped = served.docker("exec", "-i", "box", "wc", "-c", input=b"12345")
    assert piped.stdout.strip() == b"5"
    assert served.out("inspect", "-f", "{{.Name}} {{.Config.Image}} {{.HostConfig.LogConfig.Type}}",
                      "box") == "/box busybox json-file\n"
    top = served.out("top", "box")
    assert top.splitlines()[0].split()[:3] == ["UID", "PID", "PPID"] and "sleep 60" in top
    stats = served.out("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "box")
    assert stats == "box 1\n"
    served.out("pause", "box")
    assert served.out("inspect", "-f", "{{.State.Status}}", "box") == "paused\n"
    served.out("unpause", "box")
    served.out("rename", "box", "box2")
    assert served.out("restart", "-t", "1", "box2") == "box2\n"
    assert served.docker("rm", "box2").returncode != 0  # running: refused
    served.out("rm", "-f", "box2")


def test_cp_both_ways_and_export(served, tmp_path):
    served.out("run", "-d", "--name", "files", "busybox", "sleep", "60")
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("into the container\n")
    served.out("cp", str(src), "files:/tmp/")
    assert served.out("exec", "files", "cat", "/tmp/in/sub/f.txt") == "into the container\n"
    served.out("exec", "files", "sh", "-c", "mkdir -p /out && echo back > /out/b.txt")
    served.out("cp", "files:/out", str(tmp_path / "got"))
    assert (tmp_path / "got" / "b.txt").read_text() == "back\n"
    missing = served.docker("cp", "files:/nowhere", str(tmp_path / "x"))
    assert missing.returncode != 0 and b"Could not find the file /nowhere" in missing.stderr
    exported = served.docker("export", "files").stdout
    import io
    import tarfile

    names = tarfile.open(fileobj=io.BytesIO(exported)).getnames()
    assert "out/b.txt" in names and "bin/busybox" in names
    assert "A /out/b.txt" in served.out("diff", "files").splitlines()
    served.out("rm", "-f", "files")


def test_run_it_and_exec_it_under_a_real_pty(served):
    out, code = _pty_session(["docker", "run", "--rm", "-it", "busybox", "sh"], served.env,
                             [b"echo hello-$((6*7))\r", b"stty size\r", b"exit 5\r"])
    assert code == 5 and b"hello-42" in out and b"30 100" in out
    served.out("run", "-d", "--name", "shell", "busybox", "sleep", "60")
    out, code = _pty_session(["docker", "exec", "-it", "shell", "sh"], served.env,
                             [b"echo in-$((2+3))\r", b"stty size\r", b"exit 4\r"], rows=20, cols=77)
    assert code == 4 and b"in-5" in out and b"20 77" in out
    served.out("rm", "-f", "shell")


def test_docker_py_run_logs_wait_and_exec_run_50_times(served):
    client = served.client()
    assert client.containers.run("busybox", "echo hello", remove=True) == b"hello\n"
    c = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done; exit 2"],
                              detach=True)
    assert b"".join(c.logs(stream=True)) == b"1\n2\n3\n"
    assert c.wait() == {"StatusCode": 2, "Error": None}
    c.remove()
    c = client.containers.run("busybox", "sleep 60", detach=True, name="dpy", labels={"a": "b"})
    assert client.containers.get("dpy").labels == {"a": "b"}
    for i in range(50):
        result = c.exec_run(["sh", "-c", f"echo n{i}; echo e{i} >&2"])
        assert result.exit_code == 0 and result.output in (f"n{i}\ne{i}\n".encode(), f"e{i}\nn{i}\n".encode())
    assert c.exec_run("sh -c 'exit 6'").exit_code == 6
    assert [x.name for x in client.containers.list()] == ["dpy"]
    stats = c.stats(stream=False)
    assert stats["pids_stats"]["current"] == 1 and stats["precpu_stats"]["cpu_usage"]["total_usage"] > 0
    c.remove(force=True)
    assert client.containers.list(all=True) == []


def test_docker_py_archives_and_auto_remove(served):
    import io
    import tarfile

    client = served.client()
    c = client.containers.run("busybox", "sleep 60", detach=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("put.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"data"))
    assert c.put_archive("/tmp", buf.getvalue()) is True
    chunks, stat = c.get_archive("/tmp/put.txt")
    assert stat["name"] == "put.txt" and stat["size"] == 4 and stat["mode"] == 0o644
    member = tarfile.open(fileobj=io.BytesIO(b"".join(chunks)))
    assert member.extractfile("put.txt").read() == b"data"
    c.remove(force=True)
    auto = client.containers.run("busybox", "sh -c 'sleep 0.2; exit 7'", detach=True, auto_remove=True)
    assert auto.wait(condition="removed")["StatusCode"] == 7
    assert client.containers.list(all=True) == []


def test_many_clients_at_once(served):
    """The CLI opens several connections per command; ten commands at once on one server."""
    procs = [subprocess.Popen(["docker", "run", "--rm", "busybox", "echo", str(i)], env=served.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(10)]
    results = [p.communicate(timeout=60) for p in procs]
    outs = [out for out, _ in results]
    assert sorted(outs) == sorted(f"{i}\n".encode() for i in range(10)), (results, served.logged())
    assert all(p.returncode == 0 for p in procs)


def test_containers_outlive_a_server_restart(served, tmp_path):
    served.out("run", "-d", "--name", "lasting", "busybox", "sleep", "60")
    served.stop()
    again = servefix.Served(served.cli, str(tmp_path))
    try:
        assert again.out("inspect", "-f", "{{.State.Running}}", "lasting") == "true\n"
        assert again.out("exec", "lasting", "echo", "still") == "still\n"
        again.out("rm", "-f", "lasting")
    finally:
        again.stop()
    served.proc = again.proc  # the fixture's stop() finds it stopped


def test_container_prune_and_update(served):
    served.out("run", "--name", "old", "busybox", "true")
    served.out("run", "-d", "--name", "live", "busybox", "sleep", "60")
    served.out("update", "--memory", "64m", "--memory-swap", "128m", "live")
    assert served.out("inspect", "-f", "{{.HostConfig.Memory}}", "live") == str(64 << 20) + "\n"
    pruned = served.out("container", "prune", "-f")
    assert "Deleted Containers:" in pruned
    assert served.out("ps", "-a", "--format", "{{.Names}}") == "live\n"
    served.out("rm", "-f", "live")


def test_docker_events_reports_what_corral_events_does(served):
    served.out("run", "--rm", "--name", "evs", "busybox", "true")
    until = str(int(time.time()) + 1)  # "0s" would be the second begun: docker's bounds are whole seconds
    seen = served.out("events", "--since", "10m", "--until", until, "--filter", "container=evs",
                      "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}").splitlines()
    assert seen[0] == "container create evs"
    assert {"container start evs", "container die evs", "container destroy evs"} <= set(seen)
    mine = served.cli.out("events", "--since", "10m", "--until", until, "--filter", "container=evs",
                             "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}").splitlines()
    assert mine == seen
    response = served.raw(b"GET /v1.50/events?since=x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 400 ")



def test_exec_inspect_has_the_host_pid(served):
    client = served.client()
    box = client.containers.run("busybox", "sleep 60", detach=True, name="pids")
    try:
        detached = client.api.exec_create(box.id, "sleep 30")["Id"]
        client.api.exec_start(detached, detach=True)
        attached = client.api.exec_create(box.id, "sh -c 'sleep 0.5; echo done'")["Id"]
        output = client.api.exec_start(attached, stream=True)
        for exec_id, cmd in ((detached, b"sleep\x0030\x00"), (attached, b"sh\x00-c\x00")):
            pid = client.api.exec_inspect(exec_id)["Pid"]
            assert pid > 0
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                assert f.read().startswith(cmd)
        assert b"".join(output) == b"done\n"
        assert client.api.exec_inspect(attached)["ExitCode"] == 0
        assert client.version()["ApiVersion"] == corral.Client(served.cli.root).api_version
    finally:
        box.remove(force=True)
