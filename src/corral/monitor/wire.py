"""The attach protocol between a client (`corral run`, `attach`, `exec`) and the store's monitor.

A client sends one JSON request line; the monitor answers one line, "ok" or
the error (errors.to_answer). After "ok" on an attaching request both sides
exchange frames: one type byte, a 4-byte big-endian length, the payload.
Frames keep stdout and stderr apart on one socket and carry the control
messages (stdin EOF, window size, signals, detach, the exit code) in band,
in order with the data.

Both halves import this module (the socket's name, the answer line, the
frames) and neither imports the other for it, so the client, which
`corral exec` loads, stays free of the monitor's imports.
"""
from __future__ import annotations

import _struct

from corral.errors import APIError, CorralError, from_answer, to_answer

STDOUT = 1
STDERR = 2
EXIT = 3  # monitor → client: payload is the decimal exit code; the last frame
STDIN = 10  # client → monitor
STDIN_EOF = 11
RESIZE = 12  # payload "rows cols"
SIGNAL = 13  # payload: decimal signal number
DETACH = 14  # the client leaves; the container goes on
HANGUP = 15  # the client's terminal is gone: hang up the container's terminal
PID = 16  # monitor → client, right after "ok" to an exec request that asks ("pid": true): its host PID

OK = b"ok\n"  # the answer to a request that was done


def socket_name(root: str) -> bytes:
    """The abstract socket of the monitor of the store at `root`: one name per store, no file to leave."""
    try:
        from _sha256 import sha256  # the C digest alone: `hashlib` costs milliseconds at start-up
    except ImportError:
        from hashlib import sha256
    return b"\0corral-monitor/" + sha256(root.encode()).hexdigest()[:32].encode()


def answer(e: CorralError) -> bytes:
    """The answer line that reports `e`."""
    return to_answer(e).encode(errors="replace") + b"\n"


def answer_error(line: bytes) -> CorralError:
    """The error an answer line other than OK reports (the line without its newline)."""
    text = line.decode(errors="replace")
    if not text.partition(":")[0].isdecimal():
        return APIError(f"the store's monitor answered {text!r}")
    return from_answer(text)


_HEADER = _struct.Struct(">BI")
HEADER_SIZE = _HEADER.size
MAX_PAYLOAD = 1 << 20


def frame(kind: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


class Reader:
    """Splits a byte stream into frames as chunks arrive, whatever the chunk boundaries."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= HEADER_SIZE:
            kind, size = _HEADER.unpack_from(self.buffer)
            if size > MAX_PAYLOAD:
                raise ValueError(f"frame of {size} bytes is larger than the protocol allows")
            end = HEADER_SIZE + size
            if len(self.buffer) < end:
                break
            frames.append((kind, bytes(self.buffer[HEADER_SIZE:end])))
            del self.buffer[:end]
        return frames
