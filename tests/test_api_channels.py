"""What corral.api gained for `corral serve`, tested in process without the server: attached sessions
the caller drives (Channel), an attacher waiting for the next start, the exit code of an auto-removed
container kept for wait(condition="removed"), exec instances, docker's list summary, and a build
from a tar stream."""
from __future__ import annotations

import io
import sys
import tarfile
import threading

import pytest

from conftest import SRC

sys.path.insert(0, SRC)


@pytest.fixture
def host(busybox):
    from corral.api.host import Host

    found = Host(busybox.root)
    yield found
    found.store.close()


def _drain(channel) -> tuple[bytes, int]:  # noqa: ANN001 - a sessions.Channel
    out = b""
    for kind, payload in channel.frames():
        if kind in (1, 2):
            out += payload
    channel.close()
    return out, channel.exit_code


def test_an_attacher_gets_the_session_of_the_next_start(host):
    from corral.api.sessions import StartWaiter

    c = host.create_container("busybox", ["sh", "-c", "read x; echo got $x; exit 3"], interactive=True)
    waiter = c.attach_channel(stdin=True)
    assert isinstance(waiter, StartWaiter) and waiter.get(0.1) is None  # nothing until the start
    c.start()
    channel = waiter.get(10)
    channel.send(b"line\n")
    channel.close_stdin()
    assert _drain(channel) == (b"got line\n", 3)
    assert c.wait() == 3
    c.remove()


def test_wait_removed_answers_the_exit_code_of_an_auto_removed_container(host):
    c = host.create_container("busybox", ["sh", "-c", "sleep 0.3; exit 7"], autoremove=True)
    result = {}
    waiter = threading.Thread(target=lambda: result.update(code=c.wait(condition="removed")))
    waiter.start()  # before the start, as the docker CLI waits
    host.container(c.id).start(record_exit=True)
    waiter.join(20)
    assert result == {"code": 7}
    assert host.containers(all=True) == []


def test_exec_instances_run_once_and_keep_their_exit_code(host):
    from corral.api import execs
    from corral.errors import Conflict, NotFound

    c = host.create_container("busybox", ["sleep", "60"])
    with pytest.raises(Conflict):
        execs.create(c, {"cmd": ["true"]})  # not running
    c.start()
    found = execs.create(c, {"cmd": ["sh", "-c", "echo hi; exit 4"], "tty": False, "stdin": False, "stdout": True,
                             "stderr": True, "user": None, "env": [], "workdir": None, "privileged": False})
    assert execs.get(found.id) is found and found.inspect()["ExitCode"] is None
    out, code = _drain(found.start(c))
    found.finished(code)
    assert (out, found.inspect()["ExitCode"], found.inspect()["Running"]) == (b"hi\n", 4, False)
    with pytest.raises(Conflict):
        found.start(c)
    with pytest.raises(NotFound):
        execs.get("0" * 64)
    c.remove(force=True)


def test_summary_is_docker_list_shape(host):
    c = host.create_container("busybox", ["echo", "x"], name="listed", labels={"k": "v"})
    s = c.summary()
    assert s["Names"] == ["/listed"] and s["State"] == "created" and s["Status"] == "Created"
    assert s["Command"] == "echo x" and s["Labels"] == {"k": "v"} and isinstance(s["Created"], int)
    assert s["NetworkSettings"]["Networks"] == {} and s["Ports"] == []
    c.start()
    c.wait()
    assert c.reload().summary()["Status"].startswith("Exited (0) ")
    c.remove()


def test_build_from_a_tar_stream(host):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"FROM busybox\nCOPY hello /hello\n"
        for name, content in (("Dockerfile", data), ("hello", b"from the tar\n")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    buf.seek(0)
    events = list(host.build_from_tar(buf, tags=["fromtar:1"]))
    image_id = next(e["aux"]["ID"] for e in events if "aux" in e)
    assert host.image("fromtar:1").id == image_id
    c = host.create_container("fromtar:1", ["cat", "/hello"])
    c.start()
    assert c.wait() == 0 and b"".join(d for _, _, d in c.logs()) == b"from the tar\n"
    c.remove()
    import os

    assert not [n for n in os.listdir(host.store.tmp) if n.startswith("build-context-")]
