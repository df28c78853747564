"""`corral serve` for tests: started on a socket in the test's temp dir, over the test's own store, and
stopped (SIGTERM) after it, its socket gone. Clients: the real docker CLI (DOCKER_HOST at the socket,
a private DOCKER_CONFIG), docker-py, and raw HTTP for the exact bytes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import CORRAL, Cli


class Served:
    def __init__(self, cli: Cli, tmp: str, *args: str) -> None:
        self.cli = cli
        self.sock = os.path.join(tmp, "api.sock")
        self.url = "unix://" + self.sock
        self.log = os.path.join(tmp, "serve.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(CORRAL + ["serve", "--host", self.url, *args], env=cli.env,
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"corral serve did not start: {self.logged()}")
            time.sleep(0.02)
        self.env = dict(cli.env, DOCKER_HOST=self.url, DOCKER_CONFIG=os.path.join(tmp, "docker-config"))
        self.env.pop("DOCKER_API_VERSION", None)

    def answers(self) -> bool:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def logged(self) -> str:
        with open(self.log, errors="replace") as f:
            return f.read()

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 60,  # noqa: A002
               env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], input=input, capture_output=True, timeout=timeout,
                              env=dict(self.env, **(env or {})),
                              stdin=None if input is not None else subprocess.DEVNULL)

    def out(self, *args: str, **kw) -> str:  # noqa: ANN003
        proc = self.docker(*args, **kw)
        assert proc.returncode == 0, f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()}"
        return proc.stdout.decode()

    def client(self):  # noqa: ANN201 - a docker.DockerClient
        import docker

        return docker.DockerClient(base_url=self.url, timeout=60)

    def raw(self, request: bytes, timeout: float = 10) -> bytes:
        """Send raw bytes, read until the server closes or a response seems complete (Content-Length)."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(self.sock)
        try:
            s.sendall(request)
            return read_response(s)
        finally:
            s.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        assert not os.path.exists(self.sock), "corral serve left its socket behind"


def read_response(s: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if head.startswith(b"HEAD") or length is None and b" 204 " in head.split(b"\r\n")[0]:
        return data
    while length is not None and len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    if length is None:  # chunked: until the last chunk, which may have come with the head
        while not body.endswith(b"0\r\n\r\n") and (chunk := s.recv(65536)):
            body += chunk
    return head + b"\r\n\r\n" + body


@pytest.fixture
def served(busybox, tmp_path):
    server = Served(busybox, str(tmp_path))
    yield server
    server.stop()
