"""Container records: the containers table, the one place its rows are read and written.

A container is found by the names users give it (full ID, name, "/name" as
Docker prints it, or an unambiguous ID prefix) here and nowhere else. The
state columns change only through mark_running/mark_exited/mark_lost/mark_start_failed, each one
transaction, so `ps` never sees half a transition.
"""
from __future__ import annotations

from corral import fastjson as json
from corral.errors import Conflict, InvalidArgument, NotFound, StoreError
from corral.store.records import Record, by_ref, columns
from corral.store.root import Store

CREATED, RUNNING, EXITED = "created", "running", "exited"
RESTARTING = "restarting"  # exited, and its monitor will start it again after the restart policy's back-off
"""The values of the state column (runtime/state.py tells a live supervisor from a dead one)."""
SUPERVISED = (RUNNING, RESTARTING)
"""The states in which a container belongs to a live monitor."""


class ContainerRecord(Record):
    """One row of the containers table; options is the decoded ContainerOptions dict. What a run sets
    (pid … error) is None until it has."""

    __slots__ = ()
    id: str
    name: str
    image_id: str
    image_ref: str
    created: str
    options: dict
    state: str = CREATED
    pid: int | None = None
    supervisor: str | None = None
    exit_code: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    oom_killed: int = 0  # 1 when the kernel's OOM killer killed a process of its last run (State.OOMKilled)
    pod_id: str | None = None  # the pod it belongs to (store/pods.py), its infra container or a member


_COLUMNS = columns(ContainerRecord)


def _record(row: tuple) -> ContainerRecord:
    try:
        options = json.loads(row[5])
    except ValueError:
        raise StoreError(f"container {row[0][:12]}: its recorded options are damaged; `corral system check`"
                         " lists the store's problems") from None
    return ContainerRecord.of(row[:5] + (options,) + row[6:])


def get(store: Store, cid: str) -> ContainerRecord | None:
    """The container with full ID `cid`, or None."""
    rows = store.query(f"SELECT {_COLUMNS} FROM containers WHERE id=?", (cid,))
    return _record(rows[0]) if rows else None


def find(store: Store, ref: str) -> ContainerRecord:
    """The container `ref` names: an ID, a name ("/name" too) or an ID prefix only one container has."""
    if not ref:
        raise InvalidArgument("a container name or ID is required")
    bare = ref[1:] if ref.startswith("/") else ref
    rows, by_prefix = by_ref(store, "containers", _COLUMNS, bare)
    if by_prefix and len(rows) > 1:
        raise InvalidArgument(f"multiple IDs found with provided prefix: {bare}")
    if not rows:
        raise NotFound(f"No such container: {ref}")
    return _record(rows[0])


def newest_first(store: Store) -> list[ContainerRecord]:
    return [_record(r) for r in store.query(f"SELECT {_COLUMNS} FROM containers ORDER BY created DESC")]


def images_used(store: Store) -> list[tuple[str, str]]:
    """(container ID, image ID) of every container: what `system check` needs, without decoding the
    options column (a damaged row must be reported, not crash the checker)."""
    return store.query("SELECT id, image_id FROM containers")


def states(store: Store) -> list[tuple[str, str, str, str | None]]:
    """(ID, name, state, supervisor) of every container, options left undecoded: what the network's
    residue check needs."""
    return store.query("SELECT id, name, state, supervisor FROM containers")


def damaged(store: Store) -> list[str]:
    """IDs of containers whose recorded options do not decode."""
    bad = []
    for cid, options in store.query("SELECT id, options FROM containers"):
        try:
            json.loads(options)
        except ValueError:
            bad.append(cid)
    return bad


def recorded_running(store: Store) -> list[ContainerRecord]:
    """Containers the DB calls running or restarting (whether their supervisor still lives is
    runtime/state.py's question)."""
    return [_record(r) for r in store.query(f"SELECT {_COLUMNS} FROM containers WHERE state IN (?, ?)", SUPERVISED)]


def of_image(store: Store, image_id: str) -> list[ContainerRecord]:
    return [_record(r) for r in store.query(f"SELECT {_COLUMNS} FROM containers WHERE image_id=?", (image_id,))]


def of_pod(store: Store, pod_id: str) -> list[ContainerRecord]:
    """The containers of a pod, its infra container among them, oldest first."""
    return [_record(r) for r in store.query(f"SELECT {_COLUMNS} FROM containers WHERE pod_id=? ORDER BY created",
                                            (pod_id,))]


def image_ids_in_use(store: Store) -> set[str]:
    """Images some container was created from (they cannot be deleted)."""
    return {r[0] for r in store.query("SELECT DISTINCT image_id FROM containers")}


def state_of(store: Store, cid: str) -> str | None:
    rows = store.query("SELECT state FROM containers WHERE id=?", (cid,))
    return rows[0][0] if rows else None


def name_holder(store: Store, name: str) -> str | None:
    """The ID of the container named `name`, if any."""
    rows = store.query("SELECT id FROM containers WHERE name=?", (name,))
    return rows[0][0] if rows else None


def check_name_free(store: Store, name: str) -> None:
    """Conflict, in Docker's words, when another container has `name`."""
    holder = name_holder(store, name)
    if holder:
        raise Conflict(
            f'Conflict. The container name "/{name}" is already in use by container "{holder}". '
            "You have to remove (or rename) that container to be able to reuse that name."
        )


def insert(store: Store, rec: ContainerRecord) -> None:
    """Record a new container. Its name taken meanwhile is a Conflict naming the holder; its image or its
    pod gone meanwhile (deleted by another command since it was resolved) is NotFound."""
    from corral.store import db

    with store.transaction() as conn:
        try:
            conn.execute(f"INSERT INTO containers({_COLUMNS}) VALUES({', '.join('?' * len(rec))})",
                         rec[:5] + (json.dumps(rec.options),) + rec[6:])
        except db.IntegrityError as e:
            if "containers.name" in str(e):
                check_name_free(store, rec.name)
            if "FOREIGN KEY" in str(e) and rec.pod_id and not conn.execute("SELECT 1 FROM pods WHERE id=?",
                                                                              (rec.pod_id,)).fetchall():
                raise NotFound(f"no pod with name or ID {rec.pod_id} found: no such pod (it was removed while the "
                               "container was being created)") from None
            if "FOREIGN KEY" in str(e):
                raise NotFound(f"No such image: {rec.image_id} (it was removed while the container was "
                               "being created)") from None
            raise


def rename(store: Store, cid: str, name: str) -> None:
    from corral.store import db

    with store.transaction() as conn:
        try:
            conn.execute("UPDATE containers SET name=? WHERE id=?", (name, cid))
        except db.IntegrityError:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use') from None


def mark_running(store: Store, cid: str, pid: int, supervisor: str, at: str) -> None:
    with store.transaction() as conn:
        conn.execute(
            "UPDATE containers SET state=?, pid=?, supervisor=?, started_at=?, exit_code=NULL, finished_at=NULL,"
            " error=NULL, oom_killed=0 WHERE id=?",
            (RUNNING, pid, supervisor, at, cid),
        )


def mark_exited(store: Store, cid: str, code: int, error: str | None, at: str, oom_killed: bool = False) -> None:
    """Exited with `code`; a container that never started gets started_at too (Docker shows both)."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE containers SET state=?, pid=NULL, exit_code=?, finished_at=?, error=?,"
            " started_at=COALESCE(started_at, ?), oom_killed=? WHERE id=?",
            (EXITED, code, at, error, at, int(oom_killed), cid),
        )


def mark_restarting(store: Store, cid: str, code: int, at: str) -> None:
    """Exited with `code`, and to be started again by the same monitor (docker's Restarting state)."""
    with store.transaction() as conn:
        conn.execute("UPDATE containers SET state=?, pid=NULL, exit_code=?, finished_at=?, error=NULL WHERE id=?",
                     (RESTARTING, code, at, cid))


def mark_start_failed(store: Store, cid: str, code: int, error: str) -> None:
    """A start that failed before the command ran (not found, not executable, no network): the state
    stays what it was, created for a container that never ran, with the exit code and the error set,
    as docker keeps it (`ps -a` shows Created, inspect State.ExitCode 127 and State.Error)."""
    with store.transaction() as conn:
        conn.execute("UPDATE containers SET pid=NULL, exit_code=?, error=? WHERE id=? AND state!=?",
                     (code, error, cid, RUNNING))


def mark_lost(store: Store, cid: str, supervisor: str | None, code: int, error: str, at: str) -> None:
    """Exited because its supervisor is gone: only if the record still names that supervisor as running
    or restarting (a start that raced this check wins)."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE containers SET state=?, pid=NULL, exit_code=?, finished_at=?, error=?"
            " WHERE id=? AND state IN (?, ?) AND supervisor IS ?",
            (EXITED, code, at, error, cid) + SUPERVISED + (supervisor,),
        )


def delete(store: Store, cid: str) -> None:
    with store.transaction() as conn:
        conn.execute("DELETE FROM containers WHERE id=?", (cid,))


def set_options(store: Store, cid: str, options: dict) -> None:
    """Replace a container's recorded options (`docker update` changes its limits); NotFound if it is gone."""
    with store.transaction() as conn:
        if conn.execute("UPDATE containers SET options=? WHERE id=?", (json.dumps(options), cid)).rowcount == 0:
            raise NotFound(f"No such container: {cid}")
