"""Removing every trace a container left on the host: its network, cgroups and its directory."""
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
    """Network, files, cgroups and the DB row: what `rm` and `--rm` both do once the container has stopped."""
    if store.query("SELECT 1 FROM leases WHERE container_id=? UNION ALL SELECT 1 FROM ports WHERE container_id=?"
                   " LIMIT 1", (cid, cid)):
        from corral.network.endpoint import forget

        forget(store, cid)  # its address, and whatever a crash left of its links and rules
    remove_container_files(store, cid)
    with store.transaction() as conn:
        conn.execute("DELETE FROM containers WHERE id=?", (cid,))
