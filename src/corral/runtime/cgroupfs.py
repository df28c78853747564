"""The container's own cgroup at /sys/fs/cgroup: how the init makes an OCI "cgroup" mount.

cgroup-aware programs (the JVM, Go, Node, Python's os.process_cpu_count) read their limits there,
finding their own cgroup through /proc/self/cgroup and /proc/self/mountinfo. A cgroup filesystem
mounted from inside a cgroup namespace has that namespace's root, the container's cgroup, as its
root: so the init mounts it once it has entered its cgroup and made its cgroup namespace
(init.switch_root, before pivot_root), and the container sees its limits at the top of each
hierarchy, "/" as its path in /proc/self/cgroup, and nothing of the host's other cgroups.

On cgroup v2 that is one cgroup2 mount. On v1 it is what runc and crun make: a tmpfs at
/sys/fs/cgroup, each hierarchy mounted at its own directory (named for its controllers, as
"cpu,cpuacct", or for its name, as "systemd"), a link for each co-mounted controller's name
(cpu -> cpu,cpuacct), and the tmpfs then made read-only like the hierarchies (as docker's runc
did; crun 1.8 and runc 1.1 leave that tmpfs writable). Without a cgroup namespace (--cgroupns
host) each v1 hierarchy is a bind of the container's own directory in it, and v2's cgroup2
mount shows the host's whole hierarchy: runc's and crun's behaviour for such a bundle.

The layout is read, never assumed (a v1 host, a hybrid one, a pure v2 Debian 12): v2 when the
host's /sys/fs/cgroup is a cgroup2 mount, and the v1 hierarchies from /proc/self/cgroup, which
lists each one this process is in with its controllers.
"""
from __future__ import annotations

import os

from corral.runtime import mounts
from corral.sys import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.sys.syscall import Syscall


class Layout:
    """The host's cgroups as the init finds them: v2, or the v1 hierarchies (/proc/self/cgroup's text)
    and, for binds of the container's own directories (no cgroup namespace), /proc/self/mounts' text."""

    def __init__(self, v2: bool, proc_cgroup: str = "", proc_mounts: str = "") -> None:
        self.v2, self.proc_cgroup, self.proc_mounts = v2, proc_cgroup, proc_mounts

    @classmethod
    def detect(cls, own_namespace: bool) -> Layout:
        from corral.runtime.cgroups import is_v2

        if is_v2():
            return cls(True)
        return cls(False, _read("/proc/self/cgroup"), "" if own_namespace else _read("/proc/self/mounts"))


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def split(all_mounts: list[dict]) -> tuple[list[dict], list[dict]]:
    """The mounts to make with the root filesystem, and those to make once in the container's cgroup and
    cgroup namespace: a "cgroup" mount, and any later mount under its destination (which it would hide)."""
    now: list[dict] = []
    later: list[dict] = []
    under: list[str] = []
    for m in all_mounts:
        dest = m["destination"].rstrip("/")
        if m.get("type") == "cgroup" or any(dest.startswith(d + "/") for d in under):
            later.append(m)
            if m.get("type") == "cgroup":
                under.append(dest)
        else:
            now.append(m)
    return now, later


def hierarchies(proc_cgroup: str) -> list[tuple[str, str, str]]:
    """(directory name, mount data, this process's cgroup) of each v1 hierarchy in /proc/self/cgroup's
    text: "4:cpu,cpuacct:/corral/ID" is ("cpu,cpuacct", "cpu,cpuacct", "/corral/ID"), "1:name=systemd:/"
    ("systemd", "name=systemd", "/"). The unified hierarchy of a hybrid host ("0::/…") is none of them."""
    found = []
    for line in proc_cgroup.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number != "0" and controllers:
            name = ",".join(part.removeprefix("name=") for part in controllers.split(","))
            found.append((name, controllers, path))
    return found


def _mount_point(proc_mounts: str, controllers: str) -> str | None:
    """Where the host mounts the v1 hierarchy of `controllers` (the first such mount)."""
    wanted = controllers.split(",")[0]
    for line in proc_mounts.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[2] == "cgroup" and wanted in parts[3].split(","):
            return parts[1]
    return None


def mount(rootfs: str, m: dict, own_namespace: bool, syscall: Syscall = libc.LINUX,
          layout: Layout | None = None) -> None:
    """Make the "cgroup" mount `m` under rootfs: the container's view of its cgroups, read-only when
    m's options say "ro" (all but --privileged). own_namespace: the caller is in the container's own
    cgroup namespace. `layout` is the host's (Layout.detect when not given)."""
    layout = layout or Layout.detect(own_namespace)
    target = mounts.secure_join(rootfs, m["destination"])
    os.makedirs(target, exist_ok=True)
    flags = mounts.mount_flags(m.get("options", []))
    if layout.v2:
        syscall.mount("cgroup", target, "cgroup2", flags)
        return
    syscall.mount("tmpfs", target, "tmpfs", flags & ~libc.MS_RDONLY, "mode=755")
    for name, controllers, path in hierarchies(layout.proc_cgroup):
        where = os.path.join(target, name)
        os.mkdir(where, 0o755)
        if own_namespace:
            source = name if controllers.startswith("name=") else "cgroup"  # "systemd", as runc names it
            syscall.mount(source, where, "cgroup", flags, controllers)
        else:
            host = _mount_point(layout.proc_mounts, controllers)
            if host is None:
                os.rmdir(where)
                continue
            syscall.mount(host + path.rstrip("/"), where, None, libc.MS_BIND | libc.MS_REC)
            syscall.mount(None, where, None, flags | libc.MS_BIND | libc.MS_REMOUNT)
        for link in name.split(","):
            if link != name:
                os.symlink(name, os.path.join(target, link))
    if flags & libc.MS_RDONLY:
        syscall.mount(None, target, None, flags | libc.MS_BIND | libc.MS_REMOUNT)
