"""Removing every trace a container left on the host: cgroups and its directory."""
from __future__ import annotations

from corral import fastjson as json
import os

from corral.runtime import cgroups
from corral.store.fsutil import remove_tree
from corral.store.root import Store


def remove_container_files(store: Store, cid: str) -> None:
    bundle = store.container_dir(cid)
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            rel = json.loads(f.read())["linux"]["cgroupsPath"]
    except (OSError, ValueError, KeyError):
        rel = f"/corral/{cid}"
    cgroups.manager(rel).destroy()
    remove_tree(bundle)


def remove_container(store: Store, cid: str) -> None:
    """Files, cgroups and the DB row: what `rm` and `--rm` both do once the container has stopped."""
    remove_container_files(store, cid)
    with store.transaction() as conn:
        conn.execute("DELETE FROM containers WHERE id=?", (cid,))
