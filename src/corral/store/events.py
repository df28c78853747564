"""The events journal: the events table, the one place its rows are read and written.

Every corral process of a host (the CLI, the store's monitor, `corral serve`,
a script on the Python API) appends here, through corral.api.events.record,
and `corral events` reads here: the store's database is the one thing they
all share, so the journal needs no daemon to collect it.

Order: a row's seq is given under the database's write lock, and its time
is read under that lock too, so seq order is the order the events were
committed in and their times never go backwards along it (unless the
host's clock is stepped back). A follower keeps the last seq it has seen.

Bounded by count, not by age: LIMIT rows at most (a few MB), the oldest
dropped by the append that goes past it. A count bounds the disk a busy
host uses, which an age does not; and an age would empty the journal of a
quiet host, whose old events are exactly what `--since` asks for.
Docker keeps 256 events, in memory only; this keeps more, across restarts.
"""
from __future__ import annotations

import time

from corral import fastjson as json
from corral.store.records import Record, columns
from corral.store.root import Store

LIMIT = 10_000
"""Rows kept; appending one more drops the oldest."""


class EventRecord(Record):
    """One row of the events table, attributes decoded (docker's Actor.Attributes, strings to strings)."""

    __slots__ = ()
    seq: int
    time_ns: int
    type: str
    action: str
    actor: str
    attributes: dict


_COLUMNS = columns(EventRecord)


def append(store: Store, type_: str, action: str, actor: str, attributes: dict[str, str],
           limit: int = LIMIT) -> int:
    """Record one event, timed now; its seq. One transaction, which also drops what is past `limit`."""
    text = json.dumps(attributes)
    with store.transaction() as conn:
        seq = conn.execute("INSERT INTO events(time_ns, type, action, actor, attributes) VALUES (?, ?, ?, ?, ?)",
                           (time.time_ns(), type_, action, actor, text)).lastrowid
        if seq > limit:
            conn.execute("DELETE FROM events WHERE seq <= ?", (seq - limit,))
    return seq


def after(store: Store, seq: int = 0, since_ns: int | None = None, until_ns: int | None = None,
          batch: int = 1000) -> list[EventRecord]:
    """The events past `seq`, oldest first, at most `batch` of them; only those timed at or after
    since_ns and at or before until_ns when given."""
    where, args = "seq > ?", [seq]
    if since_ns is not None:
        where += " AND time_ns >= ?"
        args.append(since_ns)
    if until_ns is not None:
        where += " AND time_ns <= ?"
        args.append(until_ns)
    rows = store.query(f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY seq LIMIT ?", (*args, batch))
    return [EventRecord.of(row[:5] + (json.loads(row[5]),)) for row in rows]


def last_seq(store: Store) -> int:
    """The seq of the newest event, 0 when there is none: where a follower of new events starts."""
    return store.query("SELECT COALESCE(MAX(seq), 0) FROM events")[0][0]


def count(store: Store) -> int:
    return store.query("SELECT COUNT(*) FROM events")[0][0]
