"""Pseudo-terminals for `-t`: made inside the container, held by the monitor.

The terminal is allocated from the container's own devpts instance (as runc
does), so `tty` inside names a device that exists there and nothing of the
host's /dev/pts is reachable. The process inside keeps the slave side; the
master travels to the monitor over a unix socket (SCM_RIGHTS), because the
monitor outlives every client and so lets a session be detached and
re-attached. The container's process waits for one byte on that socket,
sent once the monitor has set the window size, so the first thing a shell
reads is the client's real size, not 0x0.

Imported before pivot_root or setns (mount): nothing can be imported after.
"""
from __future__ import annotations

import _socket
import _struct
import fcntl
import os

from corral.sys import libc

_TIOCSCTTY = 0x540E
_TIOCSWINSZ = 0x5414
_TIOCGWINSZ = 0x5413
_TIOCGPTN = 0x80045430
_TIOCSPTLCK = 0x40045431
_TIOCGPTPEER = 0x5441
_WINSIZE = _struct.Struct("HHHH")


def open_inside(sock_fd: int, bind_console: bool) -> int:
    """Allocate a terminal in this mount namespace's /dev/pts, hand its master over, return the slave.

    bind_console is for a container's init only: a mount made by an exec'd
    process would outlive it in the container's namespace."""
    master = os.open("/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, _TIOCSPTLCK, _struct.pack("i", 0))
    slave = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    number = _struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0" * 4))[0]
    if bind_console:
        _console_bind(f"/dev/pts/{number}")
    sock = _socket.socket(fileno=sock_fd)
    try:
        sock.sendmsg([b"m"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _struct.pack("i", master))])
        os.close(master)
        if sock.recv(1) != b"1":
            raise OSError("the monitor did not take the terminal")
    finally:
        sock.close()
    return slave


def _console_bind(pts: str) -> None:
    """/dev/console is the container's terminal, as in runc; best effort where /dev is not ours."""
    try:
        os.close(os.open("/dev/console", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        libc.mount(pts, "/dev/console", None, libc.MS_BIND)
    except OSError:
        pass


def set_controlling(slave: int) -> None:
    """Make `slave` the controlling terminal of this process's (new) session."""
    fcntl.ioctl(slave, _TIOCSCTTY, 0)


def take_controlling(slave: int) -> None:
    """Make `slave` the controlling terminal of this (new) session and its stdin, stdout and stderr."""
    set_controlling(slave)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def take_master(sock: "_socket.socket", window: tuple[int, int]) -> int | None:
    """The parent's side of open_inside: the master, sized to window (rows, cols), then the go-ahead.

    None when the process died first (its own error then explains why).
    Closes sock either way.
    """
    try:
        _, ancillary, _, _ = sock.recvmsg(1, _socket.CMSG_SPACE(4))
        for level, kind, data in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS and len(data) >= 4:
                master = _struct.unpack("i", data[:4])[0]
                os.set_inheritable(master, False)
                set_size(master, *window)
                sock.send(b"1")
                return master
    except OSError:
        pass
    finally:
        sock.close()
    return None


def set_size(fd: int, rows: int, cols: int) -> None:
    if rows > 0 and cols > 0:
        fcntl.ioctl(fd, _TIOCSWINSZ, _WINSIZE.pack(rows, cols, 0, 0))


def get_size(fd: int) -> tuple[int, int]:
    """(rows, cols) of the terminal on fd, or (0, 0) when it is not one."""
    try:
        rows, cols, _, _ = _WINSIZE.unpack(fcntl.ioctl(fd, _TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return 0, 0
    return rows, cols
