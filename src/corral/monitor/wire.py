"""The attach protocol between a client (`corral run`, `attach`, `exec`) and the store's monitor.

A client sends one JSON request line; the monitor answers one line, "ok" or
"<exit code>:<message>". After "ok" on an attaching request both sides
exchange frames: one type byte, a 4-byte big-endian length, the payload.
Frames keep stdout and stderr apart on one socket and carry the control
messages (stdin EOF, window size, signals, detach, the exit code) in band,
in order with the data.
"""
from __future__ import annotations

import _struct

STDOUT = 1
STDERR = 2
EXIT = 3  # monitor → client: payload is the decimal exit code; the last frame
STDIN = 10  # client → monitor
STDIN_EOF = 11
RESIZE = 12  # payload "rows cols"
SIGNAL = 13  # payload: decimal signal number
DETACH = 14  # the client leaves; the container goes on
HANGUP = 15  # the client's terminal is gone: hang up the container's terminal

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
