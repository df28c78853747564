"""Where the guest's kernel and init live: built once per host at set-up, found by the runtime by key.

The kernel takes minutes to build, so it is cached under /var/cache/corral/vm (CORRAL_VM_CACHE
overrides it) in a directory named for a hash of its configuration fragment and the Debian
linux-source it was built from: a changed fragment or a new source builds a new kernel, and a second
set-up finds the old one. The init (a static C program) is cached the same way, by a hash of its
source. The runtime computes the fragment's and the init's hashes from the files in this package,
which is what ties a running engine to the assets its own code asks for.
"""
from __future__ import annotations

import functools
import glob
import hashlib
import os

from corral.errors import APIError

GUEST = os.path.join(os.path.dirname(__file__), "guest")
KERNEL_FRAGMENT = os.path.join(GUEST, "kernel.config")
INIT_SOURCE = os.path.join(GUEST, "init.c")


def cache_dir() -> str:
    return os.environ.get("CORRAL_VM_CACHE", "/var/cache/corral/vm")


@functools.cache  # the package's own sources: every VM start asks, none changes under a running process
def file_hash(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def kernel_dir(source_version: str) -> str:
    """The cache entry of a kernel built from this package's fragment and that source version."""
    return os.path.join(cache_dir(), f"kernel-{file_hash(KERNEL_FRAGMENT)}-{source_version}")


def init_dir() -> str:
    return os.path.join(cache_dir(), f"init-{file_hash(INIT_SOURCE)}")


class GuestMissing(APIError):
    """The guest kernel or init is not built on this host."""


def guest_kernel() -> str:
    """The vmlinux built from this package's fragment (the newest source version when several are)."""
    found = sorted(glob.glob(os.path.join(cache_dir(), f"kernel-{file_hash(KERNEL_FRAGMENT)}-*", "vmlinux")))
    if not found:
        raise GuestMissing(f"no guest kernel for --isolation=vm in {cache_dir()}: run setup.sh (it builds one)")
    return found[-1]


def guest_initrd() -> str:
    path = os.path.join(init_dir(), "initrd.cpio")
    try:
        os.utime(init_dir())  # in use: build.prune keeps an init another checkout's engine still starts VMs with
    except FileNotFoundError:
        raise GuestMissing(f"no guest init for --isolation=vm in {cache_dir()}: run setup.sh (it builds one)") from None
    except OSError:
        pass  # a read-only cache: nothing is pruned from it either
    if not os.path.exists(path):
        raise GuestMissing(f"no guest init for --isolation=vm in {cache_dir()}: run setup.sh (it builds one)")
    return path
