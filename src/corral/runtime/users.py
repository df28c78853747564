"""Resolving `--user name[:group]` against the image's own /etc/passwd and /etc/group.

Lookups read the image layers directly (top layer first), as the container's
sandbox is still empty when the container is created; an exec reads the
running container's root (/proc/PID/root) the same way. Either may be
hostile: links are followed inside it only (store/merged.py), and only a
plain file of sane size is read (a FIFO would hang the reader, /dev/zero
would never end).
"""
from __future__ import annotations

import os
import stat

from corral.errors import InvalidArgument
from corral.store.merged import MergedTree

MAX_DB_BYTES = 16 << 20  # far beyond any real passwd or group file


def read_file(layer_dirs: list[str], path: str, live: bool = False) -> str | None:
    """Contents of `path` as the merged image sees it, or None if it is missing or no plain file.

    live: the root is a running container's, which may swap a directory on
    the path for a link between the lookup and the open; the open then
    follows no link at all (fsutil.open_beneath: ctypes, so not for image
    layers, which never change and are read on every `run`).
    """
    tree = MergedTree(layer_dirs)
    rel = tree.resolve(path)
    found = tree.lookup(rel) if rel is not None else None
    if found is None or not stat.S_ISREG(found[1].st_mode):
        return None
    try:
        if live:
            from corral.store.fsutil import open_beneath

            fd = open_beneath(found[0][: len(found[0]) - len(rel) - 1], rel)
        else:
            fd = os.open(found[0], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the lookup, in a running container
            return None
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > MAX_DB_BYTES:
                return None
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _entries(text: str | None) -> list[list[str]]:
    return [line.split(":") for line in (text or "").splitlines() if line and not line.startswith("#")]


def resolve(spec: str, layer_dirs: list[str], live: bool = False) -> tuple[int, int, list[int]]:
    """(uid, gid, supplementary gids) for a Docker --user value (live: see read_file)."""
    user, _, group = (spec or "0").partition(":")
    passwd = _entries(read_file(layer_dirs, "etc/passwd", live))
    groups = _entries(read_file(layer_dirs, "etc/group", live))
    uid = gid = None
    name = None
    if user.isdecimal():
        uid = int(user)
        for e in passwd:
            if len(e) > 3 and e[2] == user:
                name, gid = e[0], int(e[3]) if e[3].isdecimal() else 0
                break
    else:
        for e in passwd:
            if len(e) > 3 and e[0] == user:
                name, uid, gid = user, int(e[2]), int(e[3])
                break
        if uid is None:
            raise InvalidArgument(f"unable to find user {user}: no matching entries in passwd file")
    if gid is None:
        gid = 0 if uid == 0 else uid
    if group:
        if group.isdecimal():
            gid = int(group)
        else:
            match = [e for e in groups if len(e) > 2 and e[0] == group]
            if not match:
                raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
            gid = int(match[0][2])
    extra = []
    if name is not None and not group:
        for e in groups:
            if len(e) > 3 and name in e[3].split(",") and e[2].isdecimal() and int(e[2]) != gid:
                extra.append(int(e[2]))
    return uid, gid, extra or [gid]  # runc's rule: with no supplementary groups, the primary one


def group_ids(groups: list[str], layer_dirs: list[str], extra: list[int]) -> list[int]:
    """`extra` plus --group-add's groups: numbers as given, names looked up in the image's /etc/group."""
    entries = None
    found = list(extra)
    for group in groups:
        if group.isdecimal():
            gid = int(group)
        else:
            if entries is None:
                entries = _entries(read_file(layer_dirs, "etc/group"))
            match = [e for e in entries if len(e) > 2 and e[0] == group and e[2].isdecimal()]
            if not match:
                raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
            gid = int(match[0][2])
        if gid not in found:
            found.append(gid)
    return found
