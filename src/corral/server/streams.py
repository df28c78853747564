"""Joining a hijacked connection to an attached session: the process's output to the client (docker's
multiplexed frames, or raw bytes with a TTY), the client's bytes to its stdin.

A client's half-close (shutdown(SHUT_WR): the CLI does it at once when stdin is not attached, and at
the end of stdin when it is) is the end of stdin, never a hang-up: output goes on until the process
exits, then the connection closes (docker-api-notes §0.4, §0.5). Only a full close is the client gone.
"""
from __future__ import annotations

import select
import socket
import struct

from corral.monitor import wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.sessions import Channel

_MUX = struct.Struct(">BxxxI")
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


def frame(stream: int, data: bytes) -> bytes:
    """docker's stdcopy frame: [stream, 0, 0, 0, size (big-endian u32)] and the data."""
    return _MUX.pack(stream, len(data)) + data


def content_type(tty: bool) -> str:
    return RAW if tty else MULTIPLEXED


def pump(sock: socket.socket, leftover: bytes, channel: Channel, *, tty: bool, stdin: bool,
         stdout: bool = True, stderr: bool = True) -> int | None:
    """Copy until the process exits (its code) or the client goes (None: the session is detached
    from, so the process goes on, or closed for a process this session owns without a terminal, so its
    stdin ends)."""
    wanted = {wire.STDOUT} if stdout else set()
    if stderr:
        wanted.add(wire.STDERR)
    if stdin and leftover:
        channel.send(leftover)
    poller = select.poll()
    poller.register(channel.fileno(), select.POLLIN)
    poller.register(sock.fileno(), select.POLLIN)
    reading = True
    while True:
        ready = [(channel.fileno(), select.POLLIN)] if channel.pending else poller.poll()
        for fd, events in ready:
            if fd == channel.fileno():
                found = channel.receive()
                if found is None:  # the monitor went away: say so in-band, as dockerd's systemerr
                    _send(sock, b"" if tty else frame(3, b"lost the connection to the store's monitor\n"))
                    return None
                for kind, payload in found:
                    if kind == wire.EXIT:
                        return int(payload or b"0")
                    if kind in wanted and not _send(sock, payload if tty else frame(kind, payload)):
                        channel.detach()
                        return None
                continue
            if events & select.POLLIN and reading:
                data = _recv(sock)
                if data:
                    if stdin:
                        channel.send(data)
                    continue
                reading = False  # half-closed (or gone: POLLHUP says which)
                poller.modify(sock.fileno(), 0)
                if stdin:
                    channel.close_stdin()
            if events & (select.POLLHUP | select.POLLERR):
                channel.detach()
                return None


def _recv(sock: socket.socket) -> bytes:
    """What the client sent; b"" at its end (or when the connection broke)."""
    try:
        data = sock.recv(65536)
        pending = getattr(sock, "pending", None)  # TLS: records already decrypted are not seen by poll
        while data and pending is not None and pending():
            data += sock.recv(pending())
        return data
    except OSError:
        return b""


def _send(sock: socket.socket, data: bytes) -> bool:
    if not data:
        return True
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def finish(sock: socket.socket) -> None:
    """Close the hijacked connection after the last byte (the client waits for this EOF)."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.close()
