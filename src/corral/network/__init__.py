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


def store_tag(root: str) -> str:
    """A short, stable name for a store: 'corral:<tag>' marks what belongs to it on the host."""
    return sha256_hex(os.path.abspath(root))[:12]


def sha256_hex(text: str) -> str:
    try:
        from _sha256 import sha256  # the C digest alone: `hashlib` costs milliseconds at start-up
    except ImportError:
        from hashlib import sha256
    return sha256(text.encode()).hexdigest()


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
