"""The kernel calls of a container's init and exec, as one interface (youki's `Syscall` trait).

The runtime code that decides *which* calls to make, in which order and with
which flags (mounts.py, init.py, exec.py), takes an object of this shape
instead of calling `corral.sys.libc` directly. In production that object is
`libc.LINUX`, whose methods *are* libc's functions (no wrapper, no import on
the run/exec path); unit tests pass `corral.sys.fake.RecordingSyscall`, which
records every call and changes nothing, so the decisions are tested without
root and the real calls are left to the integration tests.

Only the calls that need privilege or change the calling process go here
(mount, namespaces, identity, chdir, exec); plain file work in a directory
the caller owns (makedirs, symlink, open) stays on `os`.

This module is for type checkers, the fake and tests: the runtime imports it
only under TYPE_CHECKING.
"""
from __future__ import annotations

from typing import NoReturn, Protocol


class Syscall(Protocol):
    """Every method raises OSError with the kernel's errno on failure, as libc's wrappers do."""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        """mount(2); source and fstype None for a remount, a bind or a propagation change."""

    def umount(self, target: str, flags: int = 0) -> None:
        """umount2(2)."""

    def clone_mount(self, source: str, recursive: bool) -> int:
        """open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at source (with its submounts
        when recursive), keeping its propagation peers; returns its fd."""

    def attach_mount(self, fd: int, target: str) -> None:
        """move_mount(2) of a clone_mount() fd onto target."""

    def pivot_root(self, new_root: str, put_old: str) -> None:
        """pivot_root(2)."""

    def chdir(self, path: str) -> None:
        """chdir(2): part of the pivot_root idiom, and of mounting an overlay with relative paths."""

    def unshare(self, flags: int) -> None:
        """unshare(2) with CLONE_NEW* flags."""

    def setns(self, fd: int, nstype: int = 0) -> None:
        """setns(2) into the namespace open at fd."""

    def sethostname(self, name: str) -> None:
        """sethostname(2), in the container's own UTS namespace."""

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        """prctl(2): parent-death signal, bounding set, no_new_privs, keepcaps, ambient set."""

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        """capset(2) of this thread, as 64-bit masks."""

    def seccomp_filter(self, program: bytes) -> None:
        """seccomp(2) SECCOMP_SET_MODE_FILTER with a compiled classic BPF program (runtime/seccomp.py)."""

    def loopback_up(self) -> None:
        """Bring `lo` up in the current network namespace."""

    def mknod(self, path: str, mode: int, device: int) -> None:
        """mknod(2): the device nodes of the container's /dev."""

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """prlimit(2) of this process: the container's --ulimit values."""

    def setgroups(self, groups: list[int]) -> None:
        """setgroups(2)."""

    def setgid(self, gid: int) -> None:
        """setgid(2)."""

    def setuid(self, uid: int) -> None:
        """setuid(2)."""

    def execve(self, path: str, args: list[str], env: dict[str, str]) -> NoReturn:
        """execve(2): returns only by raising."""
