"""The listening socket of `corral serve` and its accept loop: one thread per connection.

Why threads: every use-case under a request is blocking Python (SQLite, the monitor's socket, tar
streams, waiting for a container), so asyncio would run each in a thread pool anyway; a thread per
connection is the same work with one less layer, and the docker CLI opens a handful of connections
per command, not thousands. Measured by bench/api.py (one run, 2 cores): GET /_ping takes 0.48 ms on a
new connection (its thread made and ended) and 0.16 ms on a kept-alive one, so the thread costs about
0.3 ms of the 70 ms of a `docker run --rm busybox true` through corral serve. An asyncio server was not
measured: what it could save is bounded by that 0.3 ms.

The unix socket is bound under a temporary name beside its path, given mode 0660 and the group, and
renamed into place, so no client ever sees it with other permissions. A path whose socket answers
belongs to a live server: refused. One that does not answer is a dead server's: replaced.
TCP is served only with mutual TLS (--tlsverify), as dockerd: the API is root on the host.
"""
from __future__ import annotations

import os
import socket
import sys
import threading

from corral.errors import Conflict, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl


def parse_host(host: str) -> tuple[str, str | tuple[str, int]]:
    """("unix", path) or ("tcp", (address, port)) of a -H value as dockerd takes them."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if not path.startswith("/"):
            raise InvalidArgument(f"--host {host}: give an absolute path (unix:///run/corral.sock)")
        return "unix", path
    if host.startswith("tcp://"):
        address, sep, port = host[len("tcp://"):].rstrip("/").rpartition(":")
        if not sep or not port.isdigit():
            raise InvalidArgument(f"--host {host}: give tcp://ADDRESS:PORT")
        return "tcp", (address.strip("[]") or "0.0.0.0", int(port))
    raise InvalidArgument(f"--host {host}: use unix:///PATH or tcp://ADDRESS:PORT (with --tlsverify)")


def unix_listener(path: str, group: str | None) -> socket.socket:
    """A listening unix socket at `path`, mode 0660, owned by root and `group` (default root's)."""
    gid = _gid(group)
    parent = os.path.dirname(path)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    _refuse_live(path)
    temp = os.path.join(parent, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        old = os.umask(0o177)  # never world- or group-writable, even for an instant
        try:
            sock.bind(temp)
        finally:
            os.umask(old)
        os.chown(temp, 0, gid)
        os.chmod(temp, 0o660)
        sock.listen(128)
        os.rename(temp, path)
    except BaseException:
        sock.close()
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    return sock


def _gid(group: str | None) -> int:
    if group is None:
        return 0
    import grp

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        if group.isdigit():
            return int(group)
        raise InvalidArgument(f"--group {group}: no such group") from None


def _refuse_live(path: str) -> None:
    """Conflict when a server answers on `path`; a stale socket stays, to be renamed over."""
    import stat

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise Conflict(f"{path} exists and is not a socket: refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return
    finally:
        probe.close()
    raise Conflict(f"another server is listening on {path}: stop it first")


def tcp_listener(address: tuple[str, int], tls: ssl.SSLContext | None) -> socket.socket:
    if tls is None:
        raise InvalidArgument("refusing to serve the API on TCP without --tlsverify (and --tlscacert, --tlscert, "
                              "--tlskey): anyone reaching the port would be root on this host")
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(128)
    return sock


def tls_context(cacert: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    """Mutual TLS: the server's certificate, and clients must present one signed by `cacert`."""
    import ssl

    missing = [flag for flag, value in (("--tlscacert", cacert), ("--tlscert", cert), ("--tlskey", key))
               if not value]
    if missing:
        raise InvalidArgument(f"--tlsverify needs {', '.join(missing)}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(cacert)
    except (OSError, ssl.SSLError) as e:
        raise InvalidArgument(f"cannot load the TLS files: {e}") from None
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class Server:
    """Accepts on the listening sockets and serves each connection in its own thread."""

    def __init__(self, listeners: list[socket.socket], root: str | None, tls: ssl.SSLContext | None = None) -> None:
        self.listeners, self.root, self.tls = listeners, root, tls
        self.local = threading.local()
        self.stopping = threading.Event()

    def client(self) -> object:
        """This thread's corral.api Client (its own store connection)."""
        found = getattr(self.local, "client", None)
        if found is None:
            from corral.api.client import Client

            found = self.local.client = Client(self.root)
        return found

    def serve_forever(self) -> None:
        import selectors

        from corral.server import routes

        routes.load()
        sel = selectors.DefaultSelector()
        for sock in self.listeners:
            sel.register(sock, selectors.EVENT_READ)
        while not self.stopping.is_set():
            for key, _ in sel.select(0.5):
                try:
                    conn, _ = key.fileobj.accept()
                except OSError:
                    continue
                threading.Thread(target=self._serve, args=(conn, key.fileobj.family != socket.AF_UNIX),
                                 daemon=True).start()

    def _serve(self, sock: socket.socket, tcp: bool) -> None:
        from corral.server.http import Connection
        from corral.server.routes import dispatch

        if tcp:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except OSError as e:
                print(f"corral serve: TLS handshake failed: {e}", file=sys.stderr)
                sock.close()
                return
        try:
            Connection(sock, lambda req, conn: dispatch(req, conn, self.client())).serve()
        finally:
            client = getattr(self.local, "client", None)
            if client is not None:
                client.close()
                self.local.client = None
