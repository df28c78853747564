"""Volume records: the volumes table (named and anonymous volumes), the one place its rows are read and written.

A volume's data is a directory of the store, `<root>/volumes/<name>/_data`
(docker's layout); which containers mount it is read from their recorded
options (their `mounts`), so there is no second record to keep in step.
"""
from __future__ import annotations

import os

from corral import failpoints
from corral import fastjson as json
from corral.errors import NotFound
from corral.store.records import Record, columns
from corral.store.root import Store


class VolumeRecord(Record):
    """One row of the volumes table, labels and options decoded."""

    __slots__ = ()
    name: str
    driver: str
    labels: dict
    options: dict
    created: str


COLUMNS = columns(VolumeRecord)


def _record(row: tuple) -> VolumeRecord:
    return VolumeRecord.of((row[0], row[1], json.loads(row[2]), json.loads(row[3]), row[4]))


def directory(store: Store, name: str) -> str:
    """The volume's own directory (holding `_data`)."""
    return os.path.join(store.root, "volumes", name)


def data_dir(store: Store, name: str) -> str:
    """Where the volume's files live: what a container mounts (docker's Mountpoint)."""
    return os.path.join(directory(store, name), "_data")


def get(store: Store, name: str) -> VolumeRecord | None:
    rows = store.query(f"SELECT {COLUMNS} FROM volumes WHERE name=?", (name,))
    return _record(rows[0]) if rows else None


def find(store: Store, name: str) -> VolumeRecord:
    found = get(store, name)
    if found is None:
        raise NotFound(f"get {name}: no such volume")
    return found


def by_name(store: Store) -> list[VolumeRecord]:
    return [_record(r) for r in store.query(f"SELECT {COLUMNS} FROM volumes ORDER BY name")]


def insert(store: Store, rec: VolumeRecord) -> bool:
    """Record a new volume and make its data directory; False (nothing changed) when the name is taken."""
    from corral.store import db
    from corral.store.fsutil import remove_tree

    data = data_dir(store, rec.name)
    made = False
    try:
        with store.transaction() as conn:
            try:
                conn.execute(f"INSERT INTO volumes({COLUMNS}) VALUES(?, ?, ?, ?, ?)",
                             (rec.name, rec.driver, json.dumps(rec.labels), json.dumps(rec.options), rec.created))
            except db.IntegrityError:
                return False
            remove_tree(directory(store, rec.name))  # what a `volume rm` killed midway left: never handed out again
            made = True
            os.makedirs(data, mode=0o755)  # inside the transaction: a failure records nothing
            failpoints.hit("volume.dir")
    except BaseException:
        if made:  # the row was not committed (a full disk fails the commit): nor is the directory kept
            remove_tree(directory(store, rec.name))
        raise
    return True


def delete(store: Store, name: str) -> None:
    """Forget the volume and delete its data (the row first: a crash leaves a directory, never a record
    without data)."""
    from corral.store.fsutil import remove_tree

    with store.transaction(freeing=True) as conn:
        if not conn.execute("DELETE FROM volumes WHERE name=?", (name,)).rowcount:
            raise NotFound(f"remove {name}: no such volume")
    failpoints.hit("volume.row")
    remove_tree(directory(store, name))


def discard(store: Store, name: str) -> None:
    """Delete a volume made for a create that failed (no container ever used it): its data first, as on a
    full disk that is the space the row's removal needs."""
    from corral.store.fsutil import remove_tree

    remove_tree(directory(store, name))
    with store.transaction(freeing=True) as conn:
        conn.execute("DELETE FROM volumes WHERE name=?", (name,))


def users(store: Store) -> dict[str, list[str]]:
    """Volume name → the IDs of the containers (any state) that mount it, read from their recorded mounts."""
    from corral.store import containers

    found: dict[str, list[str]] = {}
    for rec in containers.newest_first(store):
        for m in rec.options.get("mounts") or ():
            if m.get("type") == "volume":
                found.setdefault(m["source"], []).append(rec.id)
    return found


def remove_anonymous(store: Store, mounts: list[dict]) -> list[str]:
    """Delete the anonymous volumes among a removed container's mounts that no other container uses
    (`rm -v`, `run --rm`); the names of those deleted."""
    names = [m["source"] for m in mounts if m.get("type") == "volume" and m.get("anonymous")]
    if not names:
        return []
    used = users(store)
    deleted = []
    for name in names:
        if name not in used and get(store, name) is not None:
            delete(store, name)
            deleted.append(name)
    return deleted
