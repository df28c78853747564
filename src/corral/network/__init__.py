"""Switches (Linux bridges with a gateway address), address leases, published ports and the firewall.

A switch lives in a store's DB (networks table) and on the host as a bridge
named cr-<id>; a container joins through a veth pair whose host end is named
after the container and the switch (crv<hash>), and holds a lease (leases
table). Every nftables rule sits in one table, `ip corral` (nft.py), whose
base chains never change: switches and published ports are elements of its
sets and maps, so adding or removing one is a single element operation, no
rule handles to track. Every link and element corral makes carries the tag
of its store (an interface alias, an element comment), so one store's check
and prune find their residue without touching another store's.
"""
from __future__ import annotations

import os

LOCK_PATH = "/run/lock/corral-network.lock"
STORES_DIR = "/run/corral/stores"
"""A file per store with a bridge on this host, named by the store's tag and holding its root. A tag
cannot be traced back to its store, so this is how `system check` and `system prune` in any store tell
the links and firewall elements of a store whose directory was deleted (by hand, or with a test's
temporary directory) from those of a store that still exists. /run goes with a reboot, as bridges do."""


def store_tag(root: str) -> str:
    """A short, stable name for a store: 'corral:<tag>' marks what belongs to it on the host."""
    return sha256_hex(os.path.abspath(root))[:12]


def sha256_hex(text: str) -> str:
    try:
        from _sha256 import sha256  # the C digest alone: `hashlib` costs milliseconds at start-up
    except ImportError:
        from hashlib import sha256
    return sha256(text.encode()).hexdigest()


def register(root: str) -> None:
    """Record that the store at `root` has a bridge here (under HostLock, before the bridge is made)."""
    os.makedirs(STORES_DIR, exist_ok=True)
    path = os.path.join(STORES_DIR, store_tag(root))
    with open(path + ".tmp", "w") as f:
        f.write(os.path.abspath(root))
    os.replace(path + ".tmp", path)


def unregister(tag: str) -> None:
    """Forget a store once it has no switch left (under HostLock); the directories go with the last one."""
    try:
        os.unlink(os.path.join(STORES_DIR, tag))
    except FileNotFoundError:
        pass
    for d in (STORES_DIR, os.path.dirname(STORES_DIR)):
        try:
            os.rmdir(d)
        except OSError:  # another store's record, or something else of corral's, is there
            break


def registered() -> dict[str, str]:
    """{tag: root} of every store recorded in STORES_DIR whose name and content agree."""
    found = {}
    for tag in os.listdir(STORES_DIR) if os.path.isdir(STORES_DIR) else ():
        try:
            with open(os.path.join(STORES_DIR, tag)) as f:
                root = f.read()
        except OSError:
            continue
        if store_tag(root) == tag:
            found[tag] = root
    return found


class HostLock:
    """`with HostLock():` around choosing a subnet, bringing a switch up or down, and removing the
    table: those are host-wide (two stores must not pick the same free range)."""

    def __enter__(self) -> None:
        import fcntl

        os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
        self.fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
