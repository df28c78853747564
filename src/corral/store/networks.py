"""Network records: the networks table (a store's switches), the one place its rows are read and written.

The Linux bridge, addresses and firewall elements a record stands for are
network/switch.py's; the addresses leased on it are store/leases.py's.
"""
from __future__ import annotations

from corral import fastjson as json
from corral.errors import Conflict, InvalidArgument, NotFound
from corral.store.records import Record, by_ref, columns
from corral.store.root import Store


class NetworkRecord(Record):
    """One row of the networks table, labels and options decoded."""

    __slots__ = ()
    id: str
    name: str
    bridge: str
    subnet: str
    gateway: str
    internal: bool
    is_default: bool
    created: str
    labels: dict
    options: dict


COLUMNS = columns(NetworkRecord)


def record(row: tuple) -> NetworkRecord:
    """The record of a row of COLUMNS (store/leases.py's joins read them too)."""
    return NetworkRecord.of(row[:5] + (bool(row[5]), bool(row[6]), row[7], json.loads(row[8]), json.loads(row[9])))


def by_creation(store: Store) -> list[NetworkRecord]:
    return [record(r) for r in store.query(f"SELECT {COLUMNS} FROM networks ORDER BY created")]


def find(store: Store, ref: str) -> NetworkRecord:
    """A switch by name, full ID or unambiguous ID prefix."""
    rows, by_prefix = by_ref(store, "networks", COLUMNS, ref)
    if by_prefix and len(rows) > 1:
        raise InvalidArgument(f"network {ref} is ambiguous ({len(rows)} matches found based on ID prefix)")
    if not rows:
        raise NotFound(f"network {ref} not found")
    return record(rows[0])


def default(store: Store) -> NetworkRecord | None:
    """The default switch ("bridge"), if it has been made."""
    rows = store.query(f"SELECT {COLUMNS} FROM networks WHERE is_default=1")
    return record(rows[0]) if rows else None


def name_taken(store: Store, name: str) -> bool:
    return bool(store.query("SELECT 1 FROM networks WHERE name=?", (name,)))


def insert(store: Store, rec: NetworkRecord) -> None:
    """Record a new switch; a name (or bridge) taken meanwhile is a Conflict."""
    from corral.store import db

    with store.transaction() as conn:
        try:
            conn.execute(f"INSERT INTO networks({COLUMNS}) VALUES({', '.join('?' * len(rec))})",
                         rec[:5] + (int(rec.internal), int(rec.is_default), rec.created, json.dumps(rec.labels),
                                    json.dumps(rec.options)))
        except db.IntegrityError:
            raise Conflict(f"network with name {rec.name} already exists") from None


def delete(store: Store, network_id: str) -> None:
    with store.transaction(freeing=True) as conn:
        conn.execute("DELETE FROM networks WHERE id=?", (network_id,))
