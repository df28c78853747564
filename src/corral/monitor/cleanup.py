"""Removing every trace a container left on the host: its network, cgroups and its directory."""
from __future__ import annotations

from corral.runtime.delete import delete
from corral.store.root import Store


def remove_container(store: Store, cid: str) -> None:
    """Network, files, cgroups and the DB row: what `rm` and `--rm` both do once the container has stopped."""
    if store.query("SELECT 1 FROM leases WHERE container_id=? UNION ALL SELECT 1 FROM ports WHERE container_id=?"
                   " LIMIT 1", (cid, cid)):
        from corral.network.endpoint import forget

        forget(store, cid)  # its address, and whatever a crash left of its links and rules
    delete(store.container_dir(cid))
    with store.transaction() as conn:
        conn.execute("DELETE FROM containers WHERE id=?", (cid,))
