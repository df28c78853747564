"""--userns=auto: the host range a user-namespaced container's ids map to, allocated host-wide.

A container made with --userns=auto[:size=N] (podman's syntax) runs in a user namespace of its own whose
ids 0..N-1 (default 65536) are an unprivileged host range taken from the /etc/subuid and /etc/subgid ranges
of the user `containers` (podman's default user; setup.sh makes it and its ranges). Ranges are allocated
when the container is created and released when it is removed; they never overlap with another container's,
whichever corral store it belongs to, so the registry is host-wide (/run/corral/userns.json) and every change
to it is made under an flock. An entry whose store is gone (its containers directory was deleted without
`rm`) is reclaimed by the next allocation.

The container's root is then not the host's: files it creates belong on the host to the mapped ids, host
files owned by unmapped ids (host root's) are other people's to it, and its capabilities hold only in its
own namespaces (runtime/start.py, runtime/init.py).
"""
from __future__ import annotations

import os

from corral import fastjson as json
from corral.errors import InvalidArgument

SUBID_USER = "containers"
DEFAULT_SIZE = 65536
REGISTRY = "/run/corral/userns.json"
LOCK = "/run/corral/userns.lock"


def parse_mode(mode: str) -> int | None:
    """The size of the mapping --userns=MODE asks for, None for the host's user namespace; InvalidArgument for
    the rest, in one line."""
    if mode in ("", "host"):
        return None
    name, _, opts = mode.partition(":")
    if name != "auto":
        if name == "keep-id":
            raise InvalidArgument("--userns=keep-id is not supported: it maps the caller's own uid, which only "
                                  "means something to a rootless engine; corral runs as root: use --userns=auto")
        raise InvalidArgument(f"--userns={mode} is not supported: give host (the default) or auto[:size=N]")
    size = DEFAULT_SIZE
    for opt in filter(None, opts.split(",")):
        key, _, value = opt.partition("=")
        if key != "size":
            raise InvalidArgument(f"--userns={mode}: unknown option {key!r} (auto takes size=N)")
        if not value.isdecimal() or int(value) < 1:
            raise InvalidArgument(f"--userns={mode}: size must be a whole number of ids of at least 1")
        size = int(value)
    return size


def subid_ranges(path: str, user: str = SUBID_USER) -> list[tuple[int, int]]:
    """The (start, count) ranges `user` has in /etc/subuid or /etc/subgid (by name or by uid)."""
    try:
        import pwd

        uid = str(pwd.getpwnam(user).pw_uid)
    except KeyError:
        uid = None
    found = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in (user, uid) and parts[1].isdecimal() and parts[2].isdecimal():
                    found.append((int(parts[1]), int(parts[2])))
    except FileNotFoundError:
        pass
    return found


def _first_fit(ranges: list[tuple[int, int]], taken: list[tuple[int, int]], size: int) -> int | None:
    """The lowest start of `size` free ids within `ranges`, not overlapping any of `taken`."""
    taken = sorted(taken)
    for start, count in ranges:
        at = start
        for t_start, t_size in taken:
            if t_start + t_size <= at or t_start >= start + count:
                continue
            if t_start - at >= size:
                break
            at = max(at, t_start + t_size)
        if at + size <= start + count:
            return at
    return None


class _Registry:
    """/run/corral/userns.json under an exclusive flock, for the duration of a `with`."""

    def __enter__(self) -> dict:
        import fcntl

        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        self.fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            with open(REGISTRY) as f:
                self.entries = json.loads(f.read())
        except (FileNotFoundError, ValueError):
            self.entries = {}
        return self.entries

    def save(self) -> None:
        from corral.store.fsutil import write_atomic

        write_atomic(REGISTRY, json.dumps(self.entries).encode())

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # releases the lock


def allocate(bundle: str, size: int) -> tuple[list[dict], list[dict]]:
    """Take `size` uids and gids for the container whose bundle is `bundle`; returns its OCI uidMappings and
    gidMappings. InvalidArgument when the user `containers` has no ranges or they are all taken."""
    uid_ranges, gid_ranges = subid_ranges("/etc/subuid"), subid_ranges("/etc/subgid")
    if not uid_ranges or not gid_ranges:
        raise InvalidArgument(f"--userns=auto needs ranges for the user {SUBID_USER!r} in /etc/subuid and "
                              "/etc/subgid: run setup.sh (or `usermod --add-subuids/--add-subgids`)")
    registry = _Registry()
    with registry as entries:
        _forget_gone_stores(entries)
        uid = _first_fit(uid_ranges, [(e["uid"], e["size"]) for e in entries.values()], size)
        gid = _first_fit(gid_ranges, [(e["gid"], e["size"]) for e in entries.values()], size)
        if uid is None or gid is None:
            free = max((c for _, c in uid_ranges), default=0)
            raise InvalidArgument(f"--userns=auto:size={size}: no free range of {size} ids in the subordinate ids "
                                  f"of {SUBID_USER!r} (its largest range has {free}, {len(entries)} taken by other "
                                  "containers): give a smaller size or remove containers")
        entries[bundle] = {"uid": uid, "gid": gid, "size": size}
        registry.save()
    return [{"containerID": 0, "hostID": uid, "size": size}], [{"containerID": 0, "hostID": gid, "size": size}]


def release(bundle: str) -> None:
    """Give the range of the container at `bundle` back (its rm, or a create that failed)."""
    if not os.path.exists(REGISTRY):
        return
    registry = _Registry()
    with registry as entries:
        if entries.pop(bundle, None) is not None or _forget_gone_stores(entries):
            registry.save()


def _forget_gone_stores(entries: dict) -> bool:
    """Drop the entries whose store is gone (its containers directory deleted without `rm`); True if any was."""
    gone = [k for k in entries if not os.path.isdir(os.path.dirname(k))]
    for key in gone:
        del entries[key]
    return bool(gone)


def mappings(spec: dict) -> tuple[list[dict], list[dict]] | None:
    """The spec's (uidMappings, gidMappings) when it asks for a user namespace of its own, else None."""
    linux = spec.get("linux", {})
    if not any(ns["type"] == "user" and not ns.get("path") for ns in linux.get("namespaces", ())):
        return None
    return linux.get("uidMappings") or [], linux.get("gidMappings") or []


def map_text(mappings: list[dict]) -> bytes:
    """/proc/PID/uid_map's (or gid_map's) text for OCI mappings."""
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings).encode()



def can_idmap(path: str) -> bool:
    """Whether the filesystem at `path` (the store's layers) can be idmapped here (mount_setattr
    MOUNT_ATTR_IDMAP: Linux 5.12, and a filesystem that allows it; overlayfs, for one, does not): probed with a
    throwaway user namespace, as an idmap needs one with a mapping."""
    from corral.sys import libc

    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(done_w)  # the read below ends when the parent closes its end
            libc.unshare(libc.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            return False
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write("0 65534 1\n")
        userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.close(libc.idmapped_tree(path, userns))
            return True
        except OSError:
            return False
        finally:
            os.close(userns)
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


def shifted_copy(layer: str, target: str, uid: int, gid: int, size: int) -> None:
    """A copy of `layer` at `target` whose ids 0..size-1 are shifted to start at uid and gid: the container's
    layers where they cannot be idmapped, made once per container (its bundle holds it: it goes with the
    container, whose mapping no other container has meanwhile). cp -a keeps device nodes (overlay's
    whiteouts), hard links, modes and xattrs; the set-id bits a chown clears are put back."""
    import stat
    import subprocess

    os.makedirs(target)
    r = subprocess.run(["cp", "-a", "--", layer + "/.", target], capture_output=True)
    if r.returncode != 0:
        raise InvalidArgument(f"cannot copy the image's layer for --userns=auto: {r.stderr.decode().strip()}")
    for root, dirs, files in os.walk(target):
        for path in [root] + [os.path.join(root, n) for n in dirs + files]:
            st = os.lstat(path)
            new_uid = uid + st.st_uid if st.st_uid < size else st.st_uid
            new_gid = gid + st.st_gid if st.st_gid < size else st.st_gid
            os.lchown(path, new_uid, new_gid)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(st.st_mode))
