"""Pod records: the pods table, the one place its rows are read and written.

A pod is a group of containers sharing the network, IPC and UTS namespaces
of one small infra container (podman's model): the pod row names the infra
container, and each container row names its pod (containers.pod_id, a
foreign key, so no pod row can go while a container still belongs to it).
What a pod does (create, start, remove) is api/pod.py's.

`removing` marks a pod whose removal has begun: its infra container may then
be removed (api/container.py refuses that otherwise), and a removal a crash
cut short is finished by the next `pod rm` of it.
"""
from __future__ import annotations

from corral import fastjson as json
from corral.errors import Conflict, InvalidArgument, NotFound
from corral.store.records import Record, by_ref, columns
from corral.store.root import Store


class PodRecord(Record):
    """One row of the pods table, labels and options decoded. options: what the pod was created with
    (hostname, network, ports, share); infra_id None only between the row's insert and its infra's."""

    __slots__ = ()
    id: str
    name: str
    created: str
    infra_id: str | None
    labels: dict
    options: dict
    removing: bool = False


_COLUMNS = columns(PodRecord)


def _record(row: tuple) -> PodRecord:
    return PodRecord.of(row[:4] + (json.loads(row[4]), json.loads(row[5]), bool(row[6])))


def get(store: Store, pod_id: str) -> PodRecord | None:
    rows = store.query(f"SELECT {_COLUMNS} FROM pods WHERE id=?", (pod_id,))
    return _record(rows[0]) if rows else None


def find(store: Store, ref: str) -> PodRecord:
    """A pod by name, full ID or unambiguous ID prefix (podman's words when there is none)."""
    if not ref:
        raise InvalidArgument("a pod name or ID is required")
    rows, by_prefix = by_ref(store, "pods", _COLUMNS, ref)
    if by_prefix and len(rows) > 1:
        raise InvalidArgument(f"more than one result for pod ID {ref}: give more of the ID, or the name")
    if not rows:
        raise NotFound(f"no pod with name or ID {ref} found: no such pod")
    return _record(rows[0])


def by_creation(store: Store) -> list[PodRecord]:
    """Every pod, newest first (podman's `pod ps` order)."""
    return [_record(r) for r in store.query(f"SELECT {_COLUMNS} FROM pods ORDER BY created DESC")]


def of_infra(store: Store, cid: str) -> PodRecord | None:
    """The pod whose infra container `cid` is, if any."""
    rows = store.query(f"SELECT {_COLUMNS} FROM pods WHERE infra_id=?", (cid,))
    return _record(rows[0]) if rows else None


def insert(store: Store, rec: PodRecord) -> None:
    """Record a new pod; a name taken (by a pod made meanwhile too) is podman's Conflict."""
    from corral.store import db

    with store.transaction() as conn:
        try:
            conn.execute(f"INSERT INTO pods({_COLUMNS}) VALUES({', '.join('?' * len(rec))})",
                         rec[:4] + (json.dumps(rec.labels), json.dumps(rec.options), int(rec.removing)))
        except db.IntegrityError:
            raise Conflict(f"adding pod to state: name \"{rec.name}\" is in use: pod already exists") from None


def by_name(store: Store, name: str) -> PodRecord | None:
    """The pod of exactly that name (find also takes ID prefixes, and refuses an ambiguous hex name)."""
    rows = store.query(f"SELECT {_COLUMNS} FROM pods WHERE name=?", (name,))
    return _record(rows[0]) if rows else None


def check_name_free(store: Store, name: str) -> None:
    if by_name(store, name) is not None:
        raise Conflict(f"adding pod to state: name \"{name}\" is in use: pod already exists")


def set_infra(store: Store, pod_id: str, infra_id: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE pods SET infra_id=? WHERE id=?", (infra_id, pod_id))


def mark_removing(store: Store, pod_id: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE pods SET removing=1 WHERE id=?", (pod_id,))


def delete(store: Store, pod_id: str) -> None:
    """Forget the pod; Conflict while a container still belongs to it (the foreign key's answer)."""
    from corral.store import db

    with store.transaction() as conn:
        try:
            conn.execute("DELETE FROM pods WHERE id=?", (pod_id,))
        except db.IntegrityError:
            raise Conflict(f"pod {pod_id[:12]} still has containers: remove them first") from None
