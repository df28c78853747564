"""Removing every trace a container left on the host: its network, cgroups and its directory."""
from __future__ import annotations

from corral import failpoints
from corral.runtime.delete import delete
from corral.store import containers, leases
from corral.store.root import Store


def stale_cgroups(store: Store, died_running: bool = False) -> list[tuple[str, object]]:
    """(container ID, cgroup manager) of each container that is not running but whose cgroup is still there,
    empty: its monitor died between making it and recording the start (or before the exit's clean-up). What
    `system check` reports and the repair removes; a container's cgroup is otherwise made at its start.
    died_running: only those recorded as running when their monitor died (a successor's start removes
    those: what a crash left, found with one query and no file read for the others)."""
    import os

    from corral import fastjson as json
    from corral.runtime import cgroups, state

    found = []
    for cid, _, st, supervisor in containers.states(store):
        if st in state.SUPERVISED and state.is_alive(supervisor):
            continue
        if died_running and st not in state.SUPERVISED:
            continue
        try:
            with open(os.path.join(store.container_dir(cid), "config.json")) as f:
                rel = json.loads(f.read())["linux"]["cgroupsPath"]
        except (OSError, ValueError, KeyError):
            continue
        cg = cgroups.manager(rel)
        if any(os.path.isdir(p) for p in cg.paths()) and not cg.pids():
            found.append((cid, cg))
    return found


ORPHAN_CGROUP_AGE = 600.0
"""Seconds an empty cgroup of no container of this store must have existed to be another store's leftover."""


def orphan_cgroups(store: Store) -> list[tuple[str, object]]:
    """(name, cgroup manager) of each cgroup under corral's parent that no container of this store owns, that
    holds no process and that has not changed for ORPHAN_CGROUP_AGE seconds: what a store deleted with a
    stopped container's cgroup still there left (a killed test run, a monitor killed with its store removed).
    Nothing else owns those. A container starting in another store has an empty cgroup for milliseconds;
    a stopped one has none (its monitor, or its successor, removes it)."""
    import os
    import time

    from corral.runtime import cgroups

    parents = [p for p in cgroups.manager("/corral").paths() if os.path.isdir(p)]
    names = {n for p in parents for n in os.listdir(p) if len(n) == 64 and all(c in "0123456789abcdef" for c in n)}
    names -= {cid for cid, *_ in containers.states(store)}
    found, now = [], time.time()
    for name in sorted(names):
        cg = cgroups.manager(f"/corral/{name}")
        dirs = [p for p in cg.paths() if os.path.isdir(p)]
        try:
            old = all(now - os.stat(p).st_mtime > ORPHAN_CGROUP_AGE for p in dirs)
        except FileNotFoundError:  # removed meanwhile
            continue
        if dirs and old and not cg.pids():
            found.append((name, cg))
    return found


def remove_container(store: Store, cid: str, volumes: bool = False) -> None:
    """Files, cgroups, network and the DB row: what `rm` and `--rm` both do once the container has stopped;
    with volumes (`rm -v`, `--rm`) its anonymous volumes too, once no other container uses them."""
    from corral.api import events

    failpoints.hit("rm.stopped")
    rec = containers.get(store, cid)
    mounts = (rec.options.get("mounts") or []) if volumes and rec is not None else []
    delete(store.container_dir(cid))  # first: on a full disk, its sandbox is the space the writes below need
    failpoints.hit("rm.files")
    if leases.held_by(store, cid):
        from corral.network.endpoint import forget

        forget(store, cid)  # its address, and whatever a crash left of its links and rules
    containers.delete(store, cid)
    if rec is not None:
        events.record_container(store, "destroy", rec)
    if mounts:
        from corral.store.volumes import remove_anonymous

        for name in remove_anonymous(store, mounts):
            events.record(store, "volume", "destroy", name, {"driver": "local"})
