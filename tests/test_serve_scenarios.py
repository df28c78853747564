"""`corral serve` CLI scenarios of issue 18 the other serve tests leave out, with the real docker CLI: a
published port fetched over HTTP (busybox httpd), a terminal session resized, interrupted and detached
from under a real PTY, `docker save | docker load` through a pipe, and `docker system prune -f`."""
from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
import urllib.request

import pytest

import servefix
from tests.test_network import http_get

served = servefix.served

HTTPD = "mkdir -p /www && echo served-by-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"


class Pty:
    """A command on a real pseudo-terminal: what it printed, keys typed into it, the window resized (the
    kernel then sends SIGWINCH to its foreground process group, as a terminal emulator's resize does)."""

    def __init__(self, argv: list[str], env: dict, rows: int, cols: int) -> None:
        import pty

        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.resize(rows, cols)
        self.out = b""

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def command(self, line: bytes) -> None:
        """Type a line at the shell's prompt, once the shell is quiet (a prompt is redrawn after a resize)."""
        self.expect(rb"# ")
        while self._read(0.3):
            pass
        self.out = b""
        self.type(line + b"\r")

    def expect(self, pattern: bytes, timeout: float = 15) -> bytes:
        """Read until `pattern` (a regex) appears in what came since the last match; that output."""
        end = time.monotonic() + timeout
        while not (m := re.search(pattern, self.out)):
            left = end - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"{pattern!r} did not come within {timeout}s; got {self.out!r}")
        seen, self.out = self.out[:m.end()], self.out[m.end():]
        return seen

    def _read(self, timeout: float) -> bool:
        if not select.select([self.fd], [], [], timeout)[0]:
            return False
        try:
            data = os.read(self.fd, 4096)
        except OSError:
            return False
        self.out += data
        return bool(data)

    def wait(self, timeout: float = 20) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.05):
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self._read(0.1)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"the command did not end within {timeout}s; its output: {self.out!r}")


def test_run_d_with_a_published_port_answers_http(served):
    cid = served.out("run", "-d", "--name", "web", "-p", "127.0.0.1::80", "busybox", "sh", "-c", HTTPD).strip()
    address = served.out("port", "web", "80/tcp").strip()
    host, _, port = address.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert http_get(f"http://{address}/index.html", timeout=15) == f"served-by-{cid[:12]}\n"
    assert served.out("ps", "--format", "{{.Ports}}") == f"127.0.0.1:{port}->80/tcp\n"
    served.out("network", "create", "--subnet", "10.244.3.0/24", "srvweb")
    try:
        served.out("run", "-d", "--name", "web2", "--network", "srvweb", "-p", "127.0.0.1::80", "busybox", "sh",
                   "-c", HTTPD)
        inspect = served.out("inspect", "-f", '{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}} '
                             "{{.NetworkSettings.Networks.srvweb.IPAddress}}", "web2").split()
        assert inspect[1].startswith("10.244.3.")
        assert http_get(f"http://127.0.0.1:{inspect[0]}/index.html", timeout=15).startswith("served-by-")
        own = http_get(f"http://{inspect[1]}/index.html", timeout=15)  # the container's own address
        assert own.startswith("served-by-")
    finally:
        served.docker("rm", "-f", "web2")
        served.docker("network", "rm", "srvweb")
    served.out("rm", "-f", "web")
    with pytest.raises(OSError):  # the port went with the container
        urllib.request.urlopen(f"http://{address}/index.html", timeout=2)
    assert served.out("ps", "-aq") == ""


def test_run_it_resized_interrupted_and_detached_from(served):
    session = Pty(["docker", "run", "-it", "--name", "term", "busybox", "sh"], served.env, 24, 80)
    session.command(b"stty size")
    session.expect(rb"24 80\r\n")
    session.resize(33, 101)  # SIGWINCH to the docker CLI, which sends POST /containers/ID/resize
    time.sleep(0.5)
    session.command(b"stty size")
    session.expect(rb"33 101\r\n")
    session.command(b"sleep 30; echo not-interrupted")
    time.sleep(0.5)
    started = time.monotonic()
    session.type(b"\x03")  # Ctrl-C: the terminal's interrupt, to the shell's foreground job
    session.command(b"echo after-$((20+22))")
    session.expect(rb"after-42\r\n")
    assert time.monotonic() - started < 10  # not the 30 s of the sleep
    session.type(b"\x10\x11")  # ctrl-p ctrl-q: the CLI leaves, the container goes on
    assert session.wait() == 0
    assert served.out("inspect", "-f", "{{.State.Running}}", "term") == "true\n"
    assert served.out("exec", "term", "echo", "still-there") == "still-there\n"
    shell = Pty(["docker", "exec", "-it", "--detach-keys", "ctrl-x,x", "term", "sh"], served.env, 20, 60)
    shell.command(b"stty size")
    shell.expect(rb"20 60\r\n")
    shell.resize(41, 131)
    time.sleep(0.5)
    shell.command(b"stty size")
    shell.expect(rb"41 131\r\n")
    shell.command(b"echo pid=$$")
    pid = re.search(rb"pid=(\d+)\r\n", shell.expect(rb"pid=\d+\r\n")).group(1).decode()
    shell.type(b"\x18x")  # its own detach keys: the docker CLI says so and exits 1 (for exec, unlike run)
    assert shell.wait() == 1 and b"read escape sequence" in shell.out
    assert served.docker("exec", "term", "kill", "-0", pid).returncode == 0  # the exec's shell goes on
    served.out("rm", "-f", "term")


def test_save_piped_into_load_and_system_prune(served):
    served.out("run", "--name", "mk", "busybox", "sh", "-c", "echo through-the-pipe > /piped")
    image_id = served.out("commit", "mk", "piped:1").strip()
    served.out("rm", "mk")
    save = subprocess.Popen(["docker", "save", "piped:1"], env=served.env, stdout=subprocess.PIPE)
    load = subprocess.run(["docker", "load"], env=served.env, stdin=save.stdout, capture_output=True, timeout=60)
    save.stdout.close()
    assert save.wait(30) == 0 and load.returncode == 0, load.stderr
    assert load.stdout == b"Loaded image: piped:1\n"
    assert served.out("image", "inspect", "-f", "{{.Id}}", "piped:1").strip() == image_id
    assert served.out("run", "--rm", "piped:1", "cat", "/piped") == "through-the-pipe\n"
    served.out("run", "--name", "stopped", "busybox", "true")
    served.out("run", "-d", "--name", "running", "busybox", "sleep", "60")
    served.out("network", "create", "--subnet", "10.244.4.0/24", "unused")
    served.out("volume", "create", "spare")
    served.out("commit", "stopped", "dangling-soon:1")
    served.out("tag", "dangling-soon:1", "dangling-soon:2")
    pruned = served.out("system", "prune", "-f")
    assert "Deleted Containers:" in pruned and "Deleted Networks:\nunused\n" in pruned
    assert "Total reclaimed space:" in pruned
    assert served.out("ps", "-a", "--format", "{{.Names}}") == "running\n"
    assert "unused" not in served.out("network", "ls", "--format", "{{.Name}}")
    assert served.out("volume", "ls", "-q") == "spare\n"  # system prune keeps volumes unless --volumes
    assert {"busybox:latest", "piped:1", "dangling-soon:1", "dangling-soon:2"} <= \
        set(served.out("images", "--format", "{{.Repository}}:{{.Tag}}").split())  # tagged images stay
    served.out("rm", "-f", "running")
    served.out("volume", "rm", "spare")
