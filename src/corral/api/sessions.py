"""Attached sessions with the store's monitor, and commands run in containers by name or ID.

Light on purpose: `corral exec` loads this module, the client half of the
monitor and nothing else of corral. The monitor finds the container, checks
that it runs and spawns the command (monitor/monitor.py), so the caller
needs neither the store's database nor the runtime's namespace code.
"""
from __future__ import annotations

from corral.errors import InvalidArgument
from corral.store.root import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


def attach(store: Store, req: dict, *, stdin_fd: int | None = None, stdout_fd: int = 1, stderr_fd: int = 2,
           tty: bool = False, detach_keys: str | None = None, sig_proxy: bool = True) -> int | None:
    """Send an attaching request (start, attach, exec) and copy streams until the process exits
    (its exit code) or the user detaches (None)."""
    from corral.monitor import client

    try:
        keys = client.parse_detach_keys(detach_keys or client.DEFAULT_DETACH_KEYS)
    except ValueError:
        raise InvalidArgument(f"invalid detach keys {detach_keys!r}: use e.g. ctrl-p,ctrl-q") from None
    if tty:
        req["rows"], req["cols"] = client.window_of(stdin_fd, stdout_fd)
    req["stdin"] = stdin_fd is not None
    sock, pending = client.request(store, req)
    code = client.Session(sock, pending, tty=tty, stdin_fd=stdin_fd, stdout_fd=stdout_fd,
                          stderr_fd=stderr_fd, detach_keys=keys, sig_proxy=sig_proxy).run()
    store.close()  # the monitor wrote meanwhile; read afresh
    return code


def exec_request(ref: str, cmd: list[str], *, user: str | None = None, env: list[str] | None = None,
                 workdir: str | None = None, privileged: bool = False) -> dict:
    """The monitor's request to run `cmd` in the running container `ref`, with `docker exec`'s options."""
    if not cmd:
        raise InvalidArgument("no command given to exec")
    return {"op": "exec", "ref": ref, "cmd": list(cmd), "user": user, "env": env or [], "workdir": workdir,
            "privileged": privileged}


def exec_attached(store: Store | None, ref: str, cmd: list[str], *, tty: bool = False,
                  stdin_fd: int | None = None, stdout_fd: int = 1, stderr_fd: int = 2,
                  detach_keys: str | None = None, **options) -> int | None:  # noqa: ANN003 - exec_request's
    """`corral exec [-i] [-t]`: the command's streams on these fds; its exit code, or None when the
    user detached from its terminal (it goes on, owned by the store's monitor)."""
    req = dict(exec_request(ref, cmd, **options), tty=tty, attach=True)
    return attach(store or Store(), req, stdin_fd=stdin_fd, stdout_fd=stdout_fd, stderr_fd=stderr_fd, tty=tty,
                  detach_keys=detach_keys, sig_proxy=True)


def exec_detached(store: Store | None, ref: str, cmd: list[str], **options) -> int | None:  # noqa: ANN003
    """`corral exec -d`: returns once the command runs (its host PID, when the monitor says); the store's
    monitor reaps it."""
    from corral.monitor import client, wire

    answer = client.call(store or Store(), dict(exec_request(ref, cmd, **options), pid=True))
    return next((int(p) for k, p in wire.Reader().feed(answer) if k == wire.PID), None)


def events(store: Store, req: dict, stdin: bytes | None = None) -> Iterator[tuple[int, bytes]]:
    """An attaching request's output as it comes, (monitor.wire.STDOUT or STDERR, bytes), then
    (wire.EXIT, the code); stdin is all its input (then closed), or None for none."""
    from corral.monitor import client

    sock, pending = client.request(store, dict(req, attach=True, stdin=stdin is not None))
    return client.Session(sock, pending, tty=False, stdin_data=stdin, sig_proxy=False).events()


def exec_events(store: Store, ref: str, cmd: list[str], stdin: bytes | None = None,
                **options) -> Iterator[tuple[int, bytes]]:  # noqa: ANN003
    """events() of a command run in the container `ref`; stdin None is /dev/null."""
    return events(store, exec_request(ref, cmd, **options), stdin)


# channels: attached sessions held by a caller that is itself a server (corral serve) -----------------


class Channel:
    """An attached session a caller holds open and drives itself: the process's output as frames, and
    its stdin, terminal size and signals sent when the caller has them. What `corral serve` joins to a
    hijacked connection; the CLI's Session copies between file descriptors instead.

    frames() ends with (EXIT, code); an owner's channel (start, exec) records a container's code with
    record_exit, so a waiter still learns it once an auto-removed container is gone."""

    def __init__(self, sock: object, pending: bytes, cid: str | None = None) -> None:
        import threading

        from corral.monitor import wire

        self.sock, self.cid = sock, cid
        self._lock = threading.Lock()
        self.reader = wire.Reader()
        self.pending = self.reader.feed(pending)
        self.exit_code: int | None = None
        pids = [int(p) for kind, p in self.pending if kind == wire.PID]  # came with the answer, when asked
        self.pid: int | None = pids[0] if pids else None
        self.pending = [f for f in self.pending if f[0] != wire.PID]

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> list[tuple[int, bytes]] | None:
        """The frames that arrived (blocking for some); None when the monitor's end closed without an exit."""
        if self.pending:
            found, self.pending = self.pending, []
            return self._seen(found)
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            return None
        return self._seen(self.reader.feed(data))

    def _seen(self, frames: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        from corral.monitor import wire

        for kind, payload in frames:
            if kind == wire.EXIT:
                self.exit_code = int(payload or b"0")
                if self.cid is not None:
                    record_exit(self.cid, self.exit_code)
        return frames

    def frames(self) -> Iterator[tuple[int, bytes]]:
        from corral.monitor import wire

        while (found := self.receive()) is not None:
            for kind, payload in found:
                yield kind, payload
                if kind == wire.EXIT:
                    return

    def _send(self, kind: int, payload: bytes = b"") -> None:
        from corral.monitor import wire

        try:
            with self._lock:  # stdin from one thread, a resize from another: frames must not interleave
                self.sock.sendall(wire.frame(kind, payload))
        except OSError:
            pass  # the process is over and its session closed: nothing is waiting for this

    def send(self, data: bytes) -> None:
        from corral.monitor import wire

        for start in range(0, len(data), 65536):
            self._send(wire.STDIN, data[start:start + 65536])

    def close_stdin(self) -> None:
        from corral.monitor import wire

        self._send(wire.STDIN_EOF)

    def resize(self, rows: int, cols: int) -> None:
        from corral.monitor import wire

        self._send(wire.RESIZE, f"{rows} {cols}".encode())

    def detach(self) -> None:
        """Leave the process running (its output goes on to the log) and close the channel."""
        from corral.monitor import wire

        self._send(wire.DETACH)
        self.close()

    def close(self) -> None:
        """Close; for an owner this is its going away: stdin closed, a terminal hung up."""
        try:
            self.sock.close()
        except OSError:
            pass


def open_channel(store: Store, req: dict, stdin: bool = False) -> Channel:
    """Send an attaching request (start, attach, exec) to the monitor and return its Channel."""
    from corral.monitor import client

    sock, pending = client.request(store, dict(req, attach=True, stdin=stdin))
    cid = req.get("id") if req.get("op") == "start" else None
    return Channel(sock, pending, cid)


# exit codes seen in this process, and attachers waiting for a start -----------------------------------

_exits: dict[str, int] = {}
_waiting: dict[str, list] = {}
_lock = None


def _guard():  # noqa: ANN202 - a threading.Condition, made on first use (the CLI never needs one)
    global _lock
    if _lock is None:
        import threading

        _lock = threading.Condition()
    return _lock


def record_exit(cid: str, code: int) -> None:
    with _guard():
        _exits[cid] = code
        if len(_exits) > 4096:
            _exits.pop(next(iter(_exits)))
        _guard().notify_all()


def exit_seen(cid: str, timeout: float = 0) -> int | None:
    """The exit code a channel of this process saw for container `cid`, waiting up to `timeout` for it."""
    with _guard():
        _guard().wait_for(lambda: cid in _exits, timeout)
        return _exits.get(cid)


class StartWaiter:
    """An attacher of a container that is not running yet: it gets its channel from the next start in
    this process (docker's attach-then-start of `docker run` and `docker start -a`)."""

    def __init__(self, cid: str, stdin: bool) -> None:
        self.cid, self.stdin = cid, stdin
        self.channel: Channel | None = None
        self.cancelled = False

    def get(self, timeout: float | None = None) -> Channel | None:
        with _guard():
            _guard().wait_for(lambda: self.channel is not None, timeout)
            return self.channel

    def cancel(self) -> None:
        with _guard():
            self.cancelled = True
            if self in _waiting.get(self.cid, []):
                _waiting[self.cid].remove(self)
        if self.channel is not None:
            self.channel.close()


def wait_for_start(cid: str, stdin: bool) -> StartWaiter:
    waiter = StartWaiter(cid, stdin)
    with _guard():
        _waiting.setdefault(cid, []).append(waiter)
    return waiter


def take_waiter(cid: str) -> StartWaiter | None:
    """The first attacher waiting for container `cid` to start, now no longer waiting."""
    with _guard():
        found = _waiting.get(cid) or []
        waiter = found.pop(0) if found else None
        if not found:
            _waiting.pop(cid, None)
        return waiter


def start_session(store: Store, req: dict, waiter: StartWaiter | None) -> None:
    """Start with a channel: handed to the waiting attacher, or (none, or it gave up meanwhile) drained
    by a thread of this process until the exit, which record_exit keeps for a later waiter."""
    channel = open_channel(store, req, stdin=waiter.stdin if waiter is not None else False)
    with _guard():
        if waiter is not None and not waiter.cancelled:
            waiter.channel = channel
            _guard().notify_all()
            return
    import threading

    threading.Thread(target=lambda: all(True for _ in channel.frames()) and channel.close(), daemon=True).start()
