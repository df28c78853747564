"""Talking to the store's monitor: requests, and attached sessions (output, stdin, terminal, signals).

This is the client half of monitor/monitor.py, kept apart so `corral run`
loads only sockets, this file and wire.py, not the runtime the monitor needs.
"""
from __future__ import annotations

import _signal as signal  # the C core of `signal`, without its enum wrappers
import _socket
import os
import sys
import select
import time

from corral import fastjson as json
from corral.errors import APIError
from corral.monitor import wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from corral.store.root import Store

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
PROXIED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
_QUEUE_LIMIT = 1 << 20


def request(store: "Store", req: dict) -> tuple["_socket.socket", bytes]:
    """Send `req` to the store's monitor (starting one if there is none) and wait for "ok".

    Returns the connection and whatever frames already followed the answer;
    raises the error the monitor reports.
    """
    name = wire.socket_name(store.root)
    line = json.dumps(req).encode() + b"\n"
    deadline = time.monotonic() + 15
    spawned_at = 0.0
    while True:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.connect(name)
            sock.sendall(line)
            reply = b""
            while b"\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
            if reply:
                if reply.startswith(wire.OK):
                    return sock, reply[len(wire.OK):]
                sock.close()
                raise wire.answer_error(reply.partition(b"\n")[0])
            # EOF without an answer: that monitor was on its way out; ask its successor
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            pass
        except BaseException:
            sock.close()
            raise
        sock.close()
        if time.monotonic() > deadline:
            raise APIError("the store's monitor did not answer; see `corral system check`")
        if time.monotonic() - spawned_at > 1.0:
            _spawn(store)
            spawned_at = time.monotonic()
        time.sleep(0.002)


def call(store: "Store", req: dict) -> bytes:
    """A request that attaches nothing: returns once the monitor has done it, with the frames that came
    with its answer (an exec's PID)."""
    sock, pending = request(store, req)
    sock.close()
    return pending


def _spawn(store: "Store") -> None:
    """Start a monitor that outlives this process (double fork, own session, stdio on /dev/null)."""
    store.close()  # an SQLite connection must not cross a fork
    threading = sys.modules.get("threading")  # loaded by a library caller with threads, never by the CLI
    threaded = threading is not None and threading.active_count() > 1
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                os.chdir("/")  # pin no directory of the caller's (it may be unmounted later)
                import gc

                gc.freeze()  # the caller's objects are never collected here: their fds are closed below,
                # and a finalizer would close whatever fd of the monitor's reused the number
                null = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.closerange(3, 65536)  # nothing of a library caller's (its pipes, its files) stays open
                if threaded:  # another thread may have held SQLite's (or any) lock at the fork: start afresh
                    code = ("import sys; sys.path.insert(0, {!r}); from corral.monitor.monitor import Monitor; "
                            "from corral.store.root import Store; Monitor(Store({!r})).serve()")
                    argv = [sys.executable, "-I", "-S", "-c", code.format(_package_dir(), store.root)]
                    os.execv(sys.executable, argv)
                from corral.monitor.monitor import Monitor
                from corral.store.root import Store as StoreClass

                Monitor(StoreClass(store.root)).serve()
        finally:
            os._exit(0)
    os.waitpid(child, 0)


def _package_dir() -> str:
    """The directory holding the corral package this process runs, for a monitor started afresh."""
    import corral

    return os.path.dirname(os.path.dirname(os.path.abspath(corral.__file__)))


def parse_detach_keys(spec: str) -> bytes:
    """Docker's --detach-keys syntax ("ctrl-p,ctrl-q", "a", "ctrl-@") as the bytes to watch for."""
    keys = bytearray()
    for part in spec.split(","):
        part = part.strip()
        if len(part) == 1:
            keys.append(ord(part))
        elif part.lower().startswith("ctrl-") and len(part) == 6:
            c = part[5].lower()
            if "a" <= c <= "z":
                keys.append(ord(c) - ord("a") + 1)
            elif c in "@[\\]^_":
                keys.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[c])
            else:
                raise ValueError(part)
        else:
            raise ValueError(part)
    if not keys:
        raise ValueError(spec)
    return bytes(keys)


def window_of(*fds: int) -> tuple[int, int]:
    """The (rows, cols) of the first terminal among fds, else (0, 0)."""
    from corral.runtime import console

    for fd in fds:
        if fd is not None and os.isatty(fd):
            return console.get_size(fd)
    return 0, 0


class Session:
    """The client side of an attached connection: copies the user's stdin in and the output out.

    With a terminal the user's one goes raw (restored on every way out) so
    every key, Ctrl-C included, reaches the process inside; the detach keys
    end the session and leave the process running; SIGWINCH becomes a
    resize. Signals sent to this process are passed on when sig_proxy is set.
    """

    def __init__(self, sock: "_socket.socket", pending: bytes, *, tty: bool, stdin_fd: int | None = None,
                 stdin_data: bytes | None = None, stdout_fd: int = 1, stderr_fd: int = 2,
                 detach_keys: bytes | None = None, sig_proxy: bool = True) -> None:
        """stdin is copied from stdin_fd until its end, or is stdin_data (then closed), or nothing."""
        self.sock, self.tty, self.stdin_fd = sock, tty, stdin_fd
        self.stdout_fd, self.stderr_fd = stdout_fd, stderr_fd
        self.detach_keys = detach_keys if tty else None  # piped binary stdin must pass unchanged
        self.sig_proxy = sig_proxy
        self.reader = wire.Reader()
        self.pending = pending
        self.outbound = bytearray()
        if stdin_data is not None:
            for start in range(0, len(stdin_data), 65536):
                self.outbound += wire.frame(wire.STDIN, stdin_data[start:start + 65536])
            self.outbound += wire.frame(wire.STDIN_EOF)
        self.signals: list[int] = []
        self.wake_r: int | None = None
        self.held = bytearray()  # a prefix of the detach keys, sent on if the rest does not follow

    def run(self) -> int | None:
        """Until the process exits (its exit code) or the user detaches (None); output goes to the fds."""
        events = self.events()
        try:
            for kind, payload in events:
                if kind == wire.EXIT:
                    return int(payload or b"0")
                self._write(self.stderr_fd if kind == wire.STDERR else self.stdout_fd, payload)
            return None
        finally:
            events.close()

    def events(self) -> Iterator[tuple[int, bytes]]:
        """(wire.STDOUT or wire.STDERR, bytes) as output comes, then (wire.EXIT, the code as text);
        ends without the exit when the user detaches."""
        restore_tty = self._raw_mode()
        restore_signals = self._catch_signals()
        try:
            yield from self._loop()
        finally:
            restore_signals()
            restore_tty()
            self.sock.close()

    def _raw_mode(self):  # noqa: ANN202
        if not self.tty or self.stdin_fd is None or not os.isatty(self.stdin_fd):
            return lambda: None
        import termios

        fd = self.stdin_fd
        saved = termios.tcgetattr(fd)
        raw = termios.tcgetattr(fd)
        # cfmakeraw: no echo, no line editing, no signals from keys, 8-bit clean
        raw[0] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
                    | termios.IGNCR | termios.ICRNL | termios.IXON)
        raw[1] &= ~termios.OPOST
        raw[2] &= ~(termios.CSIZE | termios.PARENB)
        raw[2] |= termios.CS8
        raw[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
        raw[6][termios.VMIN] = 1
        raw[6][termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSAFLUSH, raw)

        def restore() -> None:
            try:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            except termios.error:
                pass  # the terminal is gone

        return restore

    def _catch_signals(self):  # noqa: ANN202
        """Queue signals for the loop (a handler must not write frames itself: it could split one)."""
        wanted = list(PROXIED_SIGNALS) if self.sig_proxy else []
        if self.sig_proxy or self.tty:
            wanted.append(signal.SIGHUP)
        if self.tty:
            wanted.append(signal.SIGWINCH)
        if not wanted:  # a library's caller keeps its own wakeup fd (asyncio's, say) untouched
            return lambda: None
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            old_wakeup = signal.set_wakeup_fd(wake_w)
        except ValueError:  # not the main thread: no signal handling there
            os.close(wake_w)
            os.close(self.wake_r)
            self.wake_r = None
            return lambda: None
        old = {sig: signal.signal(sig, lambda s, _f: self.signals.append(s)) for sig in wanted}

        def restore() -> None:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(old_wakeup)
            os.close(wake_w)
            os.close(self.wake_r)

        return restore

    def _loop(self) -> Iterator[tuple[int, bytes]]:
        self.sock.setblocking(False)
        for kind, payload in self.reader.feed(self.pending):
            yield kind, payload
            if kind == wire.EXIT:
                return
        stdin_open = self.stdin_fd is not None
        poller = select.poll()
        if self.wake_r is not None:
            poller.register(self.wake_r, select.POLLIN)
        while True:
            sock_mask = select.POLLIN | (select.POLLOUT if self.outbound else 0)
            poller.register(self.sock.fileno(), sock_mask)
            if stdin_open:
                poller.register(self.stdin_fd, select.POLLIN if len(self.outbound) < _QUEUE_LIMIT else 0)
            for fd, events in poller.poll():
                if fd == self.wake_r:
                    self._drain_wakeups()
                    self._handle_signals()
                elif fd == self.stdin_fd and stdin_open:
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        stdin_open = False
                        poller.unregister(fd)
                        self.outbound += wire.frame(wire.STDIN_EOF)
                    elif self._keys(data):
                        return
                elif fd == self.sock.fileno():
                    if events & select.POLLOUT:
                        self._send()
                    if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        try:
                            data = self.sock.recv(65536)
                        except BlockingIOError:
                            continue
                        except OSError:
                            data = b""
                        if not data:
                            raise APIError("lost the connection to the store's monitor before the "
                                              "container exited; see `corral ps -a`")
                        for kind, payload in self.reader.feed(data):
                            yield kind, payload
                            if kind == wire.EXIT:
                                return

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                select.select([], [fd], [])
            except OSError:  # our terminal or reader is gone: output has nowhere to go
                return

    def _send(self) -> None:
        try:
            sent = self.sock.send(self.outbound)
            del self.outbound[:sent]
        except BlockingIOError:
            pass

    def _keys(self, data: bytes) -> bool:
        """Queue typed bytes for the process; True when they complete the detach sequence."""
        keys = self.detach_keys
        if not keys:
            self.outbound += wire.frame(wire.STDIN, data)
            return False
        out = bytearray()
        for byte in data:
            if byte == keys[len(self.held)]:
                self.held.append(byte)
                if len(self.held) == len(keys):
                    self._detach()
                    return True
                continue
            out += self.held
            self.held.clear()
            if byte == keys[0]:
                self.held.append(byte)
            else:
                out.append(byte)
        if out:
            self.outbound += wire.frame(wire.STDIN, bytes(out))
        return False

    def _detach(self) -> None:
        self.outbound += wire.frame(wire.DETACH)
        self.sock.setblocking(True)
        self.sock.sendall(self.outbound)

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _handle_signals(self) -> None:
        """Turn queued signals into frames: a resize, a hang-up of the terminal, or the signal itself."""
        signals, self.signals = self.signals, []
        for sig in signals:
            if sig == signal.SIGWINCH:
                rows, cols = window_of(self.stdin_fd, self.stdout_fd)
                if rows:
                    self.outbound += wire.frame(wire.RESIZE, f"{rows} {cols}".encode())
            elif sig == signal.SIGHUP and self.tty:
                self.outbound += wire.frame(wire.HANGUP)
            else:
                self.outbound += wire.frame(wire.SIGNAL, str(sig).encode())
