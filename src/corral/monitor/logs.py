"""Container log files: framed records (stream, time, bytes) so stdout and stderr stay apart.

A binary frame instead of Docker's JSON lines keeps the supervisor's hot loop
to one struct.pack per chunk and carries any bytes unchanged.
"""
from __future__ import annotations

import os
import struct
from collections.abc import Iterator

HEADER = struct.Struct("<BQI")  # stream (1 stdout, 2 stderr), time in ns, length
STDOUT, STDERR = 1, 2


def frame(stream: int, t_ns: int, data: bytes) -> bytes:
    return HEADER.pack(stream, t_ns, len(data)) + data


def read_records(path: str, offset: int = 0) -> Iterator[tuple[int, int, bytes, int]]:
    """(stream, time_ns, data, offset after the record) for each whole record from offset on."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        f.seek(offset)
        while True:
            head = f.read(HEADER.size)
            if len(head) < HEADER.size:
                return
            stream, t_ns, length = HEADER.unpack(head)
            data = f.read(length)
            if len(data) < length:
                return
            offset += HEADER.size + length
            yield stream, t_ns, data, offset


def lines(path: str) -> list[tuple[int, int, bytes]]:
    """The log as (stream, time_ns, line) with lines split per stream, for --tail and --timestamps."""
    out: list[tuple[int, int, bytes]] = []
    partial: dict[int, tuple[int, bytes]] = {}
    for stream, t_ns, data, _ in read_records(path):
        start_t, buf = partial.pop(stream, (t_ns, b""))
        buf += data
        *whole, rest = buf.split(b"\n")
        for line in whole:
            out.append((stream, start_t, line + b"\n"))
            start_t = t_ns
        if rest:
            partial[stream] = (start_t, rest)
    for stream, (t_ns, rest) in partial.items():
        out.append((stream, t_ns, rest))
    return out


def size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0
