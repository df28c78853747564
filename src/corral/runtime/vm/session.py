"""The host's side of a VM container's stdin and terminal (-i, -t), made of what a process container gives
the monitor, so that the monitor's session code (attach, detach keys, resize, hang-up) serves both alike.

The terminal the command sees is a pty of the guest's own devpts (guest/init.c): line discipline, echo,
Ctrl-C as SIGINT, SIGWINCH, all in the guest's kernel. The monitor still wants a terminal master whose
size it sets, so the host makes a pty of its own, in raw mode (it passes bytes through untouched), and a
relay (a fork of the monitor, as an exec's relay is) holds its slave: it frames what the monitor writes
into the master as the command's input on the input port, writes the guest terminal's output (the stdout
port) into the slave, and, as the slave's session leader, gets SIGWINCH when the monitor resizes the
master, which it passes on as the guest terminal's new size. With -i and no terminal, the monitor writes
into a pipe whose other end the relay frames onto the input port, and reads stdout and stderr from their
ports itself. The relay ends when the VM does (the stdout port's end) or when the input ends.
"""
from __future__ import annotations

import _signal as signal
import _socket
import gc
import os
import select

from corral.runtime import console
from corral.runtime.vm import describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator



def open_stdio(port: _socket.socket, out: int, err: int, tty: bool, stdin: bool,
               window: tuple[int, int]) -> tuple[int | None, int, int | None]:
    """The (stdin, stdout, stderr) fds the monitor holds for a VM container, given the host's ends of its
    input, stdout and stderr ports (all taken over): a terminal's master as stdin and stdout (-t), a pipe to
    the input port (-i), or the ports themselves."""
    if tty:
        master, slave = terminal(window)
        _fork(lambda: _relay_terminal(port.fileno(), slave, out), (port.fileno(), slave, out))
        for fd in (slave, out, err):
            os.close(fd)
        port.close()
        return master, master, None
    if stdin:
        r, w = os.pipe2(os.O_CLOEXEC)
        _fork(lambda: _relay_stdin(port.fileno(), r), (port.fileno(), r))
        os.close(r)
        port.close()
        return w, out, err
    port.close()  # the guest reads the end of its input at once
    return None, out, err


def terminal(window: tuple[int, int]) -> tuple[int, int]:
    """A host pty (master, slave) of `window`'s size, raw before anyone writes to it: the guest's terminal
    does the line discipline; this one only carries bytes and the window's size."""
    import termios
    import tty

    master, slave = os.openpty()
    tty.setraw(slave, termios.TCSANOW)
    console.set_size(master, *window)
    return master, slave


def take_slave(slave: int) -> None:
    """In the relay: `slave` the controlling terminal of a new session, whose SIGWINCH the relay then gets."""
    os.setsid()
    console.set_controlling(slave)


class Events:
    """A relay's loop: the fds it reads as they become readable, and the signals it gets, in one stream
    (a signal's handler only wakes the loop, so that a message is never sent from inside another)."""

    def __init__(self, fds: tuple[int, ...], signals: tuple[int, ...]) -> None:
        self.wake, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        for sig in signals:
            signal.signal(sig, lambda _s, _f: None)
        self.poller = select.poll()
        for fd in fds + (self.wake,):
            self.poller.register(fd, select.POLLIN)

    def unwatch(self, fd: int) -> None:
        self.poller.unregister(fd)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """(fd, 0) for a readable fd, (-1, n) for signal n; forever."""
        while True:
            try:
                ready = self.poller.poll()
            except InterruptedError:
                continue
            for fd, _ in ready:
                if fd == self.wake:
                    yield from ((-1, sig) for sig in os.read(self.wake, 512))
                else:
                    yield fd, 0


def _fork(relay: object, keep: tuple[int, ...]) -> None:
    if os.fork() == 0:
        gc.disable()  # objects this fork inherited must not be finalized here
        try:
            from corral.sys import libc

            libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
            libc.close_fds_but(set(keep))
            relay()  # type: ignore[operator]
        except BaseException:  # noqa: BLE001, S110 - nothing may escape the fork; the VM runs on without input
            pass
        os._exit(0)


def send_all(port: int, message: bytes) -> bool:
    """All of `message` written to `port` (blocking: a slow reader slows the writer, as a pipe would); False
    when the other end is gone."""
    view = memoryview(message)
    try:
        while view:
            view = view[os.write(port, view):]
    except OSError:
        return False  # QEMU is gone
    return True


def _relay_terminal(port: int, slave: int, out: int) -> None:
    take_slave(slave)
    events = Events((slave, out), (signal.SIGWINCH, signal.SIGHUP))  # resized; hung up (the read says so too)
    send_all(port, describe.input_message(b"z", b"%d %d" % console.get_size(slave)))
    for fd, sig in events:
        if sig == signal.SIGWINCH:
            send_all(port, describe.input_message(b"z", b"%d %d" % console.get_size(slave)))
        elif fd == out:
            data = os.read(out, 65536)
            if not data:
                return  # the VM ended
            send_all(slave, data)  # False: the monitor closed the master, the output goes nowhere
        elif fd == slave:
            try:
                data = os.read(slave, 65536)
            except OSError:
                data = b""
            if data:
                send_all(port, describe.input_message(b"i", data))
            else:  # the session hung up: the guest's terminal does too
                send_all(port, describe.input_message(b"I"))
                events.unwatch(slave)


def _relay_stdin(port: int, source: int) -> None:
    while data := os.read(source, 65536):
        if not send_all(port, describe.input_message(b"i", data)):
            return
    send_all(port, describe.input_message(b"I"))
