"""What a container's monitor keeps about it beyond the containers row: docker's RestartCount, whether the
user stopped it (HasBeenManuallyStopped, which `unless-stopped` and `system restore` read), and its
health (State.Health: status, failing streak, the last results).

One small JSON file in the container's directory, `runstate.json`, written only by the store's monitor
(one writer: no lock) by a rename, so a reader sees the old file or the new one; gone with the
container. A file rather than DB columns: a health check rewrites it every interval, which must not
queue behind the store's writers, and a container that has neither a policy nor a check never has one.
"""
from __future__ import annotations

import os

from corral import fastjson as json
from corral.store.root import Store

FILE = "runstate.json"


def path(store: Store, cid: str) -> str:
    return os.path.join(store.container_dir(cid), FILE)


def read(store: Store, cid: str) -> dict:
    """The container's run state; {} when it has none (never started with a policy or a check)."""
    try:
        with open(path(store, cid), "rb") as f:
            return json.loads(f.read())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return {}


def write(store: Store, cid: str, data: dict, durable: bool = False) -> None:
    """Replace the run state. durable fsyncs first, for what must survive a host crash (the restart count,
    a manual stop); health results are best effort, as docker's. A container removed meanwhile: nothing."""
    target = path(store, cid)
    tmp = f"{target}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except FileNotFoundError:
        return
    try:
        os.write(fd, json.dumps(data).encode())
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.rename(tmp, target)
    except FileNotFoundError:  # removed meanwhile (rm -f)
        pass
