"""The store's monitor: one process that supervises every detached container of a store.

A Python process holds 3–4 MiB of private memory, so one supervisor per
container (what conmon is to podman) would cost that much per container.
One monitor per store costs that once, and each container only its pipes and
a few objects. It is started on demand by the first detached start, listens
on an abstract unix socket named after the store (no file to leave behind,
root callers only), and exits once it has had no container for a while.
Killing it kills its containers (their inits have PDEATHSIG), which then
read as exited: no running ghosts, as with a per-container supervisor.
"""
from __future__ import annotations

import _signal as signal  # the C core of `signal`, without its enum wrappers
import _socket
import os
import select
import struct
import time

from corral.errors import CorralError
from corral.runtime import logs, state
from corral.runtime.supervisor import Started, error_for, finish, start_init
from corral.store.root import Store

IDLE_EXIT_SECONDS = 2.0
_SO_PEERCRED = 17


def socket_name(root: str) -> bytes:
    import hashlib

    return b"\0corral-monitor/" + hashlib.sha256(root.encode()).hexdigest()[:32].encode()


def start_detached(store: Store, cid: str, autoremove: bool) -> None:
    """Have the store's monitor start `cid`; returns once its command runs, or raises why not."""
    reply = _ask(store, f"start {cid} {int(autoremove)}\n")
    if reply != "ok":
        code, _, message = reply.partition(":")
        if not code.isdigit():
            raise CorralError(f"the store's monitor answered {reply!r}")
        raise error_for(int(code), message)


def _ask(store: Store, line: str) -> str:
    name = socket_name(store.root)
    deadline = time.monotonic() + 15
    spawned_at = 0.0
    while True:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.connect(name)
            sock.sendall(line.encode())
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
            if chunks:
                return b"".join(chunks).decode(errors="replace")
            # EOF without an answer: that monitor was on its way out; ask its successor
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            pass
        finally:
            sock.close()
        if time.monotonic() > deadline:
            raise CorralError("the store's monitor did not answer; see `corral system check`")
        if time.monotonic() - spawned_at > 1.0:
            _spawn(store)
            spawned_at = time.monotonic()
        time.sleep(0.002)


def _spawn(store: Store) -> None:
    """Start a monitor that outlives this process (double fork, own session, stdio on /dev/null)."""
    store.close()  # an SQLite connection must not cross a fork
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                os.chdir("/")  # pin no directory of the caller's (it may be unmounted later)
                null = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                Monitor(Store(store.root)).serve()
        finally:
            os._exit(0)
    os.waitpid(child, 0)


class _Running:
    def __init__(self, started: Started, autoremove: bool) -> None:
        self.started = started
        self.autoremove = autoremove
        self.status: int | None = None
        self.open_streams = 2
        self.log = os.open(started.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)


class Monitor:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.identity = state.identity(os.getpid())
        self.by_pid: dict[int, _Running] = {}
        self.by_fd: dict[int, tuple[_Running, int]] = {}
        self.poller = select.poll()

    def serve(self) -> None:
        listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            listener.bind(socket_name(self.store.root))
        except OSError:
            return  # another monitor serves this store
        listener.listen(64)
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda _s, _f: None)
        self.poller.register(listener.fileno(), select.POLLIN)
        self.poller.register(wake_r, select.POLLIN)
        idle_since = time.monotonic()
        while True:
            for fd, _ in self.poller.poll(None if self.by_pid else 250):
                if fd == listener.fileno():
                    self._serve_client(listener)
                elif fd == wake_r:
                    while True:
                        try:
                            if not os.read(wake_r, 512):
                                break
                        except BlockingIOError:
                            break
                    self._reap()
                else:
                    self._relay(fd)
            if self.by_pid:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > IDLE_EXIT_SECONDS:
                listener.close()  # callers now get a refusal and start a successor
                return

    def _serve_client(self, listener: "_socket.socket") -> None:
        fd, _ = listener._accept()
        sock = _socket.socket(fileno=fd)
        try:
            creds = sock.getsockopt(_socket.SOL_SOCKET, _SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != os.getuid():
                sock.sendall(b"125:permission denied")
                return
            sock.settimeout(5)
            request = b""
            while not request.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    return
                request += chunk
            sock.sendall(self._handle(request.decode().split()).encode())
        except OSError:
            pass
        finally:
            sock.close()

    def _handle(self, words: list[str]) -> str:
        if len(words) != 3 or words[0] != "start":
            return "125:bad request"
        cid, autoremove = words[1], words[2] == "1"
        try:
            started = start_init(self.store, cid, self.identity, autoremove)
        except CorralError as e:
            return f"{e.exit_code}:{e}"
        except Exception as e:  # noqa: BLE001 - one container's failure must not take the monitor down
            return f"125:{e}"
        running = _Running(started, autoremove)
        self.by_pid[started.pid] = running
        for fd, stream in ((started.out_r, logs.STDOUT), (started.err_r, logs.STDERR)):
            self.by_fd[fd] = (running, stream)
            self.poller.register(fd, select.POLLIN)
        self._reap()  # a command that exited at once may have sent SIGCHLD before it was known
        return "ok"

    def _relay(self, fd: int) -> None:
        running, stream = self.by_fd[fd]
        data = os.read(fd, 65536)
        if data:
            os.write(running.log, logs.frame(stream, time.time_ns(), data))
            return
        self.poller.unregister(fd)
        os.close(fd)
        del self.by_fd[fd]
        running.open_streams -= 1
        self._maybe_finish(running)

    def _reap(self) -> None:
        while self.by_pid:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            running = self.by_pid.get(pid)
            if running is not None:
                running.status = status
                self._maybe_finish(running)

    def _maybe_finish(self, running: _Running) -> None:
        if running.status is None or running.open_streams:
            return
        del self.by_pid[running.started.pid]
        os.close(running.log)
        try:
            finish(self.store, running.started, running.status, running.autoremove)
        except Exception:  # noqa: BLE001, S110 - recorded state falls back to "supervisor gone" on read
            pass
