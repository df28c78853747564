"""Container log files: framed records (stream, time, bytes) so stdout and stderr stay apart.

A binary frame instead of Docker's JSON lines keeps the supervisor's hot loop
to one struct.pack per chunk and carries any bytes unchanged.

A frame cannot be found by reading backwards (its bytes are the container's), so `--tail` on a large log
would read all of it. Beside the log, `log.idx` marks a record start every INDEX_EVERY bytes, with the
streams whose last line was still unfinished there; docker's json-file reader seeks back in blocks from
the end, and `tail` here seeks back from mark to mark the same way, parsing only what it returns. The
monitor writes both (the only writer); a missing or wrong index (an older log) costs a full read, never
a wrong answer.
"""
from __future__ import annotations

import os
import struct
from collections.abc import Iterator

HEADER = struct.Struct("<BQI")  # stream (1 stdout, 2 stderr), time in ns, length
STDOUT, STDERR = 1, 2
MARK = struct.Struct("<QB")  # a record's offset, the streams (a mask of 1|2) with an unfinished line before it
INDEX_EVERY = 256 * 1024


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
    return _split(read_records(path))  # type: ignore[return-value] # no time is None from the start


def _split(records: Iterator[tuple[int, int, bytes, int]],
           unfinished: int = 0) -> list[tuple[int, int | None, bytes]]:
    """Records as (stream, time_ns, line), each stream's unfinished last line at the end (as docker logs it
    when the stream closes). `unfinished`: the streams whose first line here began before the first record
    (a mark's mask); such a line, whose start is elsewhere, has the time None."""
    out: list[tuple[int, int | None, bytes]] = []
    partial: dict[int, tuple[int | None, bytes]] = {s: (None, b"") for s in (STDOUT, STDERR) if unfinished & s}
    for stream, t_ns, data, _ in records:
        start_t, buf = partial.pop(stream, (t_ns, b""))
        buf += data
        *whole, rest = buf.split(b"\n")
        for line in whole:
            out.append((stream, start_t, line + b"\n"))
            start_t = t_ns
        if rest or start_t is None:
            partial[stream] = (start_t, rest)
    for stream, (start_t, rest) in partial.items():
        out.append((stream, start_t, rest))
    return out


def size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


class Marker:
    """The writer's side of the index: where the log ends, which streams have an unfinished line there, and
    where the next mark is due. The writer calls before() ahead of each record and wrote() after it."""

    def __init__(self, path: str, size: int) -> None:
        self.path, self.size = path, size
        self.due = (size // INDEX_EVERY + 1) * INDEX_EVERY
        self.unfinished = unfinished(path) if size else 0

    def before(self) -> None:
        if self.size >= self.due:
            mark(self.path, self.size, self.unfinished)
            self.due = (self.size // INDEX_EVERY + 1) * INDEX_EVERY

    def wrote(self, stream: int, data: bytes, length: int) -> None:
        """A record of `length` bytes carrying `data` of `stream` is in the log."""
        self.size += length
        self.unfinished = self.unfinished & ~stream if data.endswith(b"\n") else self.unfinished | stream


def mark(path: str, offset: int, unfinished: int) -> None:
    """Append a mark to the log's index: a record starts at `offset`; best effort (a reader checks marks)."""
    try:
        fd = os.open(path + ".idx", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    except OSError:
        return
    try:
        os.write(fd, MARK.pack(offset, unfinished))
    except OSError:
        pass
    finally:
        os.close(fd)


def _marks(path: str, end: int) -> list[tuple[int, int]]:
    """The index's marks (offset, unfinished) that may be used for a log of `end` bytes: increasing, inside it."""
    try:
        with open(path + ".idx", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    found: list[tuple[int, int]] = []
    for i in range(0, len(raw) - MARK.size + 1, MARK.size):
        offset, unfinished = MARK.unpack_from(raw, i)
        if offset > end or (found and offset <= found[-1][0]) or unfinished & ~(STDOUT | STDERR):
            break  # the rest cannot be trusted (a log cut short, a torn write)
        found.append((offset, unfinished))
    return found


def _region(path: str, start: int, end: int) -> list[tuple[int, int, bytes, int]] | None:
    """The records from `start` to the log's `end` (its size when read); None when `start` is no record
    start (a wrong mark: the frames from there do not meet the end)."""
    records = []
    reached = start
    for record in read_records(path, start):
        if record[0] not in (STDOUT, STDERR):
            return None
        records.append(record)
        reached = record[3]
        if reached >= end:
            break
    return records if reached >= end else None


def tail(path: str, count: int, streams: set[int]) -> list[tuple[int, int, bytes]]:
    """The last `count` lines of `streams` (lines() filtered, then its last `count`) without reading the
    whole log: from the last mark back, a doubling stretch of marks at a time, until the last `count` lines
    of the stretch all began inside it."""
    if count <= 0:
        return []
    end = size(path)
    marks = _marks(path, end)
    mask = sum(streams)
    k, step = len(marks), 1
    while k > 0:
        k = max(0, k - step)
        step *= 2
        start, unfinished = marks[k]
        records = _region(path, start, end)
        if records is None:
            break
        found = _split((r for r in records if r[0] in streams), unfinished & mask)[-count:]
        if len(found) == count and all(e[1] is not None for e in found):
            return found  # type: ignore[return-value]
    return [e for e in lines(path) if e[0] in streams][-count:]


def unfinished(path: str) -> int:
    """The streams (a mask) whose last line the log leaves unfinished: where a reopened log's marks start
    from. From the last mark on when there is one; a whole read of a log without marks (an older one)."""
    end = size(path)
    marks = _marks(path, end)
    start, state = marks[-1] if marks else (0, 0)
    records = _region(path, start, end) if marks else None
    if records is None:
        start, state, records = 0, 0, read_records(path)
    for stream, _, data, _ in records:
        state = state & ~stream if data.endswith(b"\n") else state | stream
    return state
