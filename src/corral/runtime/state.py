"""Container state in the DB, and telling a live supervisor from a dead one or a reused PID.

A supervisor is recorded as "pid:starttime:boot_id": after a reboot or a
crash the record no longer matches a live process, and the container shows
as exited instead of as a running ghost.
"""
from __future__ import annotations

import os
import time

from corral.store import containers
from corral.store import owners
from corral.store.root import Store
from corral.timestamps import rfc3339

# The states live with the containers table and process identities with store.owners; the runtime's callers
# say state.RUNNING and state.identity(pid), so both are named here too.
CREATED, EXITED, RESTARTING, RUNNING = containers.CREATED, containers.EXITED, containers.RESTARTING, containers.RUNNING
SUPERVISED = containers.SUPERVISED  # (RUNNING, RESTARTING): states a live monitor holds
identity, is_alive, process_starttime = owners.identity, owners.is_alive, owners.process_starttime

LOST_EXIT_CODE = 255  # Docker reports this for a container whose monitor vanished


def now() -> str:
    return rfc3339(time.time())


def mark_running(store: Store, cid: str, pid: int, supervisor: str) -> None:
    containers.mark_running(store, cid, pid, supervisor, now())


def mark_exited(store: Store, cid: str, code: int, error: str | None = None, oom_killed: bool = False) -> None:
    containers.mark_exited(store, cid, code, error, now(), oom_killed)


def mark_restarting(store: Store, cid: str, code: int) -> None:
    containers.mark_restarting(store, cid, code, now())


def running_pid(store: Store, target: str, joining: str) -> int:
    """The init PID of running container `target`, whose `joining` (network, IPC, PID) namespace another
    container's init is about to join; NotFound or Conflict, worded for that, when it is not running."""
    from corral.errors import Conflict, NotFound

    rec = containers.get(store, target)
    if rec is None:
        raise NotFound(f"cannot join the {joining} of container {target[:12]}: it no longer exists")
    if rec.state != RUNNING or not rec.pid or not is_alive(rec.supervisor):
        raise Conflict(f"cannot join the {joining} of container {target[:12]}: it is not running")
    return rec.pid


def mark_start_failed(store: Store, cid: str, code: int, error: str) -> None:
    containers.mark_start_failed(store, cid, code, error)


def refresh(store: Store, cid: str, state: str, supervisor: str | None) -> str:
    """The true state of a container the DB calls running (or restarting): exited if its supervisor is gone.

    Recording that is a courtesy to later readers: on a full or read-only store the answer is the same
    and the write is skipped, since a command that only reads (ps, inspect, rm's check) must not fail
    for want of space."""
    if state in (RUNNING, RESTARTING) and not is_alive(supervisor):
        from corral.errors import StoreError

        try:
            containers.mark_lost(store, cid, supervisor, LOST_EXIT_CODE,
                                 "the container's supervisor exited (host reboot or crash)", now())
        except StoreError:
            pass
        return EXITED
    return state


def wait_stopped(store: Store, cid: str, pid: int | None, supervisor: str | None,
                 timeout: float | None = None) -> bool:
    """Block until container `cid` (init `pid`) has stopped and its supervisor has recorded it.

    Waits on a pidfd for the init itself, not on the supervisor, which may
    be a monitor serving other containers too. False on timeout.
    """
    import select

    deadline = None if timeout is None else time.monotonic() + timeout
    fd = None
    if pid:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            fd = None
    try:
        if fd is not None and _still_running(store, cid):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not poller.poll(None if left is None else int(left * 1000)):
                return False
    finally:
        if fd is not None:
            os.close(fd)
    while _still_running(store, cid) and is_alive(supervisor):
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def _still_running(store: Store, cid: str) -> bool:
    return containers.state_of(store, cid) == RUNNING
