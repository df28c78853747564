"""Deleting a stopped container's bundle: its cgroups, then its directory (the OCI `delete` verb).

The cgroup path comes from the bundle's own config.json; a bundle whose
config is gone or unreadable (a create cut short) is taken to have corral's
default one, /corral/<id>.
"""
from __future__ import annotations

import os

from corral import fastjson as json
from corral.runtime import cgroups
from corral.store.fsutil import remove_tree


def delete(bundle: str) -> None:
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            spec = json.loads(f.read())
        rel = spec["linux"]["cgroupsPath"]
    except (OSError, ValueError, KeyError):
        spec, rel = {}, f"/corral/{os.path.basename(bundle)}"
    cgroups.manager(rel).destroy()
    remove_tree(bundle)
    if spec.get("linux", {}).get("uidMappings"):
        from corral.runtime import userns

        userns.release(bundle)  # its ids are free for the next container
