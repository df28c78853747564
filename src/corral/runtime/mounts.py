"""Building the container's root filesystem inside its own mount namespace.

Everything here runs in the container's init before pivot_root, so no mount
is ever visible on the host: when the last process of the container exits,
the kernel takes the whole mount tree away with the namespace.
"""
from __future__ import annotations

import errno
import os
import stat

from corral.store.merged import MergedTree
from corral.store.rootfs import Mount, overlay_data
from corral.sys import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.sys.syscall import Syscall

_FLAGS = {
    "ro": libc.MS_RDONLY, "nosuid": libc.MS_NOSUID, "nodev": libc.MS_NODEV, "noexec": libc.MS_NOEXEC,
    "strictatime": libc.MS_STRICTATIME, "bind": libc.MS_BIND, "rbind": libc.MS_BIND | libc.MS_REC,
    "sync": libc.MS_SYNCHRONOUS, "dirsync": libc.MS_DIRSYNC, "noatime": libc.MS_NOATIME,
    "nodiratime": libc.MS_NODIRATIME,
}
_PROPAGATION = {"rprivate": libc.MS_PRIVATE | libc.MS_REC, "private": libc.MS_PRIVATE,
                "rslave": libc.MS_SLAVE | libc.MS_REC, "slave": libc.MS_SLAVE,
                "rshared": libc.MS_SHARED | libc.MS_REC, "shared": libc.MS_SHARED}
_IGNORED = {"rw", "relatime", "suid", "dev", "exec", "async", "atime", "diratime", "nostrictatime"}

DEVICES = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
DEV_LINKS = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")]


def secure_join(root: str, path: str) -> str:
    """`path` under `root`, resolving symlinks as if root were `/`, so no link can lead outside
    (the image is not trusted: its /etc/hosts may be a link to a host file)."""
    rel = MergedTree([root]).resolve(path, must_exist=False)
    if rel is None:
        raise OSError(errno.ENOTDIR, "a file, or a loop of links, is on the way to", path)
    return os.path.join(root, rel) if rel else root


def mount_rootfs(target: str, rootfs: Mount, syscall: Syscall = libc.LINUX) -> None:
    """Mount the root filesystem the store described (an overlay of the image's layers and the sandbox)."""
    if rootfs.type != "overlay":
        flags, _, data = _split_options(list(rootfs.options))
        syscall.mount(rootfs.source, target, rootfs.type, flags, data or None)
        return
    data, base = overlay_data(rootfs)
    if base is None:
        syscall.mount("overlay", target, "overlay", 0, data)
        return
    cwd = os.getcwd()
    syscall.chdir(base)  # the options name the layers relative to their short links
    try:
        syscall.mount("overlay", target, "overlay", 0, data)
    finally:
        syscall.chdir(cwd)


def _split_options(options: list[str]) -> tuple[int, int, str]:
    flags, propagation, data = 0, 0, []
    for opt in options:
        if opt in _FLAGS:
            flags |= _FLAGS[opt]
        elif opt in _PROPAGATION:
            propagation |= _PROPAGATION[opt]
        elif opt not in _IGNORED:
            data.append(opt)
    return flags, propagation, ",".join(data)


def mount_flags(options: list[str]) -> int:
    """The MS_* flags of OCI mount options, their propagation and filesystem data aside."""
    return _split_options(options)[0]


def apply_mount(rootfs: str, m: dict, syscall: Syscall = libc.LINUX, clone: int | None = None) -> None:
    """One OCI mount under rootfs; `clone` is clone_propagating()'s copy of a bind's source, put in place
    of a fresh bind."""
    target = secure_join(rootfs, m["destination"])
    flags, propagation, data = _split_options(m.get("options", []))
    is_bind = m.get("type") == "bind" or flags & libc.MS_BIND
    if is_bind and not os.path.isdir(m["source"]):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    else:
        os.makedirs(target, exist_ok=True)
    if is_bind:
        if clone is not None:
            syscall.attach_mount(clone, target)
            os.close(clone)
        else:
            syscall.mount(m["source"], target, None, flags & (libc.MS_BIND | libc.MS_REC))
        if flags & ~(libc.MS_BIND | libc.MS_REC):
            syscall.mount(None, target, None, flags | libc.MS_REMOUNT | libc.MS_BIND)
    else:
        try:
            syscall.mount(m.get("source") or m["type"], target, m["type"], flags, data or None)
        except PermissionError:
            if m["type"] != "sysfs":
                raise
            # a user-namespaced container in a network namespace it does not own (runtime/userns_setup.py):
            # the host's sysfs, bound read-only, as crun does (recursively: a namespace not the host's may not
            # bind a mount without the mounts on it, nor see under them; the cgroup mount covers /sys/fs/cgroup)
            syscall.mount("/sys", target, None, libc.MS_BIND | libc.MS_REC)
            syscall.mount(None, target, None, flags | libc.MS_RDONLY | libc.MS_REMOUNT | libc.MS_BIND)
    if propagation:
        syscall.mount(None, target, None, propagation)


# --- binds that propagate (rshared, rslave ...): docker's -v SRC:DST:rshared ---------------------

def propagating(m: dict) -> str | None:
    """The shared or slave propagation a bind asks for (docker's rshared/shared/rslave/slave), else None."""
    if m.get("type") != "bind" and "bind" not in m.get("options", ()) and "rbind" not in m.get("options", ()):
        return None
    return next((o for o in m.get("options", ()) if o in ("shared", "rshared", "slave", "rslave")), None)


def clone_propagating(mounts: list[dict], syscall: Syscall = libc.LINUX, mountinfo: str | None = None
                      ) -> dict[int, int]:
    """Detached copies (open_tree) of the sources of the binds that propagate, index in mounts → fd.

    The container's mount namespace is made private at once (nothing it mounts may reach the host),
    and a bind made after that is private too, whatever its source: so these are copied first, while
    the copies of the host's mounts are still peers of the host's. Docker's rule, checked here: a shared
    propagation needs a source on a shared mount, a slave one on a shared or slave mount."""
    clones: dict[int, int] = {}
    for i, m in enumerate(mounts):
        kind = propagating(m)
        if kind is None:
            continue
        point, fields = mount_of(os.path.realpath(m["source"]), mountinfo)
        shared = any(f.startswith("shared:") for f in fields)
        if kind.endswith("shared") and not shared:
            raise OSError(errno.EINVAL, f"path {m['source']} is mounted on {point} but it is not a shared mount")
        if not shared and not any(f.startswith("master:") for f in fields):
            raise OSError(errno.EINVAL, f"path {m['source']} is mounted on {point} but it is not a shared or "
                          "slave mount")
        clones[i] = syscall.clone_mount(m["source"], "rbind" in m.get("options", ()))
    return clones


def mount_of(path: str, mountinfo: str | None = None) -> tuple[str, list[str]]:
    """The mount point holding path (the last mounted there, as the kernel resolves it) and its optional
    fields in /proc/self/mountinfo (shared:N, master:N ...)."""
    if mountinfo is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    best, fields = "/", []
    for line in mountinfo.splitlines():
        parts = line.split(" ")
        point = unescape(parts[4])
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fields = point, parts[6:parts.index("-")]
    return best, fields


def unescape(field: str) -> str:
    """A mountinfo path: spaces, tabs, newlines and backslashes come as octal escapes."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdecimal():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def has_filesystem(kind: str, listing: str | None = None) -> bool:
    """Whether this kernel can mount a file system of type `kind` now (/proc/filesystems: built in or
    loaded; fuse.NAME needs fuse). A host without loadable modules cannot gain one by mounting."""
    if listing is None:
        with open("/proc/filesystems") as f:
            listing = f.read()
    base = kind.partition(".")[0]
    return any(line.split()[-1] == base for line in listing.splitlines() if line.strip())


def remount_root_readonly(syscall: Syscall = libc.LINUX) -> None:
    """root.readonly (--read-only): the container's "/" made read-only once everything is mounted on it,
    as runc does; the mounts on it (/dev, /proc, tmpfs, binds) keep their own flags."""
    syscall.mount(None, "/", None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY)


def populate_dev(rootfs: str, syscall: Syscall = libc.LINUX) -> None:
    """The minimal /dev every container gets (the devices cgroup allows exactly these)."""
    dev = os.path.join(rootfs, "dev")
    old = os.umask(0)
    try:
        for name, major, minor in DEVICES:
            path = os.path.join(dev, name)
            if not os.path.exists(path):
                _make_node(path, stat.S_IFCHR | 0o666, os.makedev(major, minor), f"/dev/{name}", syscall)
        for name, target in DEV_LINKS:
            path = os.path.join(dev, name)
            if not os.path.lexists(path):
                os.symlink(target, path)
    finally:
        os.umask(old)


def make_devices(rootfs: str, devices: list[dict], syscall: Syscall = libc.LINUX) -> None:
    """linux.devices (--device): each node made at its path in the container, replacing what is there."""
    old = os.umask(0)
    try:
        for d in devices:
            path = secure_join(rootfs, d["path"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.lexists(path):
                os.unlink(path)
            kind = stat.S_IFCHR if d["type"] == "c" else stat.S_IFBLK
            _make_node(path, kind | d.get("fileMode", 0o666), os.makedev(d["major"], d["minor"]), d["path"], syscall)
            if d.get("uid") or d.get("gid"):
                os.chown(path, d.get("uid", 0), d.get("gid", 0))
    finally:
        os.umask(old)


def _make_node(path: str, mode: int, device: int, host_path: str, syscall: Syscall) -> None:
    """mknod, or where this namespace may not make device nodes (a user-namespaced container's), a bind of
    the host's node at host_path, as runc does for rootless containers."""
    try:
        syscall.mknod(path, mode, device)
    except PermissionError:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666))
        syscall.mount(host_path, path, None, libc.MS_BIND)


def pivot(rootfs: str, syscall: Syscall = libc.LINUX) -> None:
    """pivot_root into rootfs and detach the old root (the "pivot_root(., .)" idiom runc uses)."""
    syscall.chdir(rootfs)
    syscall.pivot_root(".", ".")
    syscall.umount(".", libc.MNT_DETACH)
    syscall.chdir("/")


def mask_paths(masked: list[str], readonly: list[str], syscall: Syscall = libc.LINUX) -> None:
    for path in masked:
        try:
            if os.path.isdir(path):
                syscall.mount("tmpfs", path, "tmpfs", libc.MS_RDONLY, "size=0k")
            else:
                syscall.mount("/dev/null", path, None, libc.MS_BIND)
                syscall.mount(None, path, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY)
        except FileNotFoundError:
            continue
    for path in readonly:
        try:
            syscall.mount(path, path, None, libc.MS_BIND | libc.MS_REC)
        except FileNotFoundError:
            continue
        syscall.mount(None, path, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_REC)
