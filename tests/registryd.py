"""Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1 for a test: a free port, its storage in a
temp dir, a config the test may extend (auth, TLS); never the Debian service. Stopped by the fixture."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, workdir: str, extra: str = "", scheme: str = "http") -> None:
        self.workdir, self.extra, self.scheme = workdir, extra, scheme
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def config(self) -> str:
        storage = os.path.join(self.workdir, "storage")
        os.makedirs(storage, exist_ok=True)
        return (f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: {self.host}\n  secret: corral-tests\n{self.extra}")

    def start(self) -> Registry:
        os.makedirs(self.workdir, exist_ok=True)
        path = os.path.join(self.workdir, "config.yml")
        with open(path, "w") as f:
            f.write(self.config())
        self.log = open(os.path.join(self.workdir, "registry.log"), "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", path], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {open(self.log.name).read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start listening in 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()

    def get(self, path: str, accept: str = "") -> tuple[int, bytes, dict]:
        req = urllib.request.Request(f"http://{self.host}{path}", headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)


def serve(handler: type) -> tuple:
    """(server, "127.0.0.1:port") of a threaded HTTP server for `handler`, serving in a daemon thread."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


class FakeRegistry:
    """A registry served from a dict {path: (status, headers, body)} on 127.0.0.1, in a thread: for the
    faults a real registry does not make (wrong content, hanging). A path missing from the dict is 404;
    a body of None never answers (the connection hangs until the server stops)."""

    def __init__(self, routes: dict) -> None:
        import http.server
        import threading

        self.routes, self.requests, self.stopping = routes, [], threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                fake.requests.append((self.command, self.path))
                status, headers, body = fake.routes.get(self.path.split("?")[0], (404, {}, b'{"errors":[]}'))
                if body is None:
                    fake.stopping.wait(30)
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server, self.host = serve(Handler)

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


class CountingProxy:
    """A plain HTTP proxy in front of a registry on 127.0.0.1, in a thread, that records what a client asked
    and how many body bytes it was sent: (method, path, Range header, status, bytes) per request. With
    ignore_range it drops the Range header, as a registry that does not support ranges would answer; with
    `rate` (bytes/s) a body over 8 MB is sent no faster, so a test knows the small ones finish first."""

    def __init__(self, upstream: str, ignore_range: bool = False, rate: float = 0) -> None:
        import http.client
        import http.server

        self.requests: list[tuple[str, str, str, int, int]] = []
        self.active = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                proxy.active += 1
                try:
                    self.forward()
                finally:
                    proxy.active -= 1

            def forward(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                asked = headers.get("Range", "")
                if ignore_range:
                    headers.pop("Range", None)
                conn = http.client.HTTPConnection(upstream, timeout=30)
                conn.request(self.command, self.path, headers=headers)
                resp = conn.getresponse()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.end_headers()
                sent = 0
                slow = rate and int(resp.getheader("Content-Length") or 0) > 8 << 20
                started = time.monotonic()
                try:
                    while self.command != "HEAD" and (chunk := resp.read(1 << 16)):
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        if slow:
                            time.sleep(max(0.0, started + sent / rate - time.monotonic()))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed mid-body
                finally:
                    conn.close()
                    proxy.requests.append((self.command, self.path, asked, resp.status, sent))

            do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server, self.host = serve(Handler)

    def settle(self, timeout: float = 30) -> None:
        """Wait until no request is in flight (one whose client was killed finishes writing into the void)."""
        deadline = time.monotonic() + timeout
        while self.active and time.monotonic() < deadline:
            time.sleep(0.05)

    def blob_gets(self) -> list[tuple[str, str, int, int]]:
        """(blob digest, Range asked, status, bytes sent) of each blob GET so far."""
        return [(path.rsplit("/", 1)[1], asked, status, sent) for method, path, asked, status, sent in self.requests
                if method == "GET" and "/blobs/" in path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
