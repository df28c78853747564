"""Starting a user-namespaced container (--userns=auto): the supervisor's half and the init's half.

The init is forked straight into a new user namespace and a new PID namespace owned by it
(libc.fork_into_namespaces: unshare() could not make the PID namespace the user namespace's), after the
supervisor has joined, for the fork's length, the namespaces the init is to share (the network namespace the
monitor wired): those stay the host's, as docker's userns-remap leaves them, and no process inside the new
user namespace could join them. The init then waits, with no rights on anything of the host's, until the
supervisor has:

1. written its uid_map and gid_map (the spec's uidMappings/gidMappings; as host root, with no need to deny
   setgroups);
2. made the root filesystem: the image's layers idmapped through the container's user namespace (open_tree +
   mount_setattr MOUNT_ATTR_IDMAP: a file owned by 0 in a layer is the container's root's, and the layers
   stay shared with every other container), an overlay of them and the container's upper dir (owned by the
   mapped root) made as a detached mount;
3. cloned every bind mount's source (the container's root may not even look up a path under a 0700 host
   directory, let alone read what it binds: the supervisor resolves them);

and handed all of it over a socket (SCM_RIGHTS): the rootfs, an O_PATH fd of the bundle, the binds' clones in
the order of the spec's mounts. The init becomes root of its namespace (setuid(0), within the mapping),
makes its other namespaces (owned by the new user namespace), attaches the rootfs and the binds, mounts
/proc, /sys (a read-only bind of the host's when the network namespace is the host's or the monitor's, which
a sysfs mount would need rights on), /dev and the rest in them, and goes on as any init. The supervisor
moves it into its cgroup (it has no right to write there itself).
"""
from __future__ import annotations

import _socket
import array
import os

from corral.runtime.userns import map_text
from corral.store.rootfs import Mount, rootfs_of
from corral.sys import libc

_NS_FILES = {"network": ("net", libc.CLONE_NEWNET), "ipc": ("ipc", libc.CLONE_NEWIPC),
             "uts": ("uts", libc.CLONE_NEWUTS), "mount": ("mnt", libc.CLONE_NEWNS),
             "cgroup": ("cgroup", libc.CLONE_NEWCGROUP)}


class Handed:
    """What the init got from the supervisor: the rootfs mount, the bundle, the binds' clones by mount index."""

    def __init__(self, rootfs: int, bundle: int, binds: dict[int, int]) -> None:
        self.rootfs, self.bundle, self.binds = rootfs, bundle, binds


def is_bind(m: dict) -> bool:
    options = m.get("options", ())
    return m.get("type") == "bind" or "bind" in options or "rbind" in options


def fork(linux: dict) -> int:
    """Fork the init into a new user namespace and a PID namespace it owns, in the namespaces with a path
    (joined by this process for the fork's length, then left again). Returns 0 in the child."""
    joined: list[tuple[int, int]] = []  # (own namespace's fd, flag)
    try:
        for ns in linux.get("namespaces", []):
            if not ns.get("path"):
                continue
            name, flag = _NS_FILES[ns["type"]]
            own = os.open(f"/proc/self/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            joined.append((own, flag))
            target = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                libc.setns(target, flag)
            finally:
                os.close(target)
            if flag == libc.CLONE_NEWNET:
                _open_network_to_root(linux.get("gidMappings") or [])
        pid = libc.fork_into_namespaces(libc.CLONE_NEWUSER | libc.CLONE_NEWPID)
    except BaseException:
        _leave(joined)
        raise
    if pid == 0:
        for own, _ in joined:
            os.close(own)
        return 0
    _leave(joined)
    return pid


def _open_network_to_root(gid_mappings: list[dict]) -> None:
    """docker's defaults for every container's network namespace, written in the one this process has joined
    (/proc/sys/net is the opener's): in a network namespace the container does not own, its root has no
    CAP_NET_BIND_SERVICE nor CAP_NET_RAW, so ports below 1024 are opened to every user in it, and ICMP
    datagram sockets to its groups (the range is in host ids: the container's own)."""
    low = min((m["hostID"] for m in gid_mappings), default=0)
    high = max((m["hostID"] + m["size"] - 1 for m in gid_mappings), default=0)
    for key, value in (("ipv4/ip_unprivileged_port_start", "0"), ("ipv4/ping_group_range", f"{low} {high}")):
        fd = os.open(f"/proc/sys/net/{key}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)


def _leave(joined: list[tuple[int, int]]) -> None:
    for own, flag in reversed(joined):
        try:
            libc.setns(own, flag)
        finally:
            os.close(own)


def hand_over(pid: int, spec: dict, bundle: str, sock: _socket.socket) -> None:
    """The supervisor's half: map the init's ids, make its rootfs and binds, send them. OSError on failure
    (the caller closes sock: the init then gives up)."""
    linux = spec["linux"]
    for name, key in (("uid_map", "uidMappings"), ("gid_map", "gidMappings")):
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, map_text(linux[key]))
        finally:
            os.close(fd)
    fds: list[int] = []
    try:
        fds.append(_rootfs(pid, rootfs_of(spec, bundle), bundle))
        fds.append(os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        for m in spec.get("mounts", []):
            if is_bind(m):
                fds.append(libc.clone_mount(m["source"], "rbind" in m.get("options", ())))
        sock.sendmsg([b"1"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds).tobytes())])
    finally:
        for fd in fds:
            os.close(fd)


def _rootfs(pid: int, described: Mount, bundle: str) -> int:
    """The container's overlay as a detached mount, over its layers idmapped through the init's user namespace
    (those in its bundle as they are: copies shifted already where the store cannot be idmapped, or empty)."""
    userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    layers: list[int] = []
    options: list[tuple[str, str | None]] = []
    own = os.path.realpath(bundle) + "/"
    try:
        for d in described.lowerdirs():
            if os.path.realpath(d).startswith(own):
                options.append(("lowerdir+", d))
                continue
            try:
                layers.append(libc.idmapped_tree(d, userns))
            except OSError as e:
                raise OSError(e.errno, f"cannot idmap the image's layer {d} for --userns ({e.strerror}): its file "
                              "system or this kernel does not support idmapped mounts") from None
            options.append(("lowerdir+", f"/proc/self/fd/{layers[-1]}"))
        for opt in described.options:
            key, eq, value = opt.partition("=")
            if key != "lowerdir":
                options.append((key, value if eq else None))
        return libc.detached_mount("overlay", options)
    finally:
        for fd in layers + [userns]:
            os.close(fd)


def receive(sock: int, spec: dict) -> Handed:
    """The init's half: wait for the supervisor's hand-over and take its fds; OSError if it gave up."""
    binds = [i for i, m in enumerate(spec.get("mounts", [])) if is_bind(m)]
    s = _socket.socket(fileno=sock)
    try:
        data, ancillary, _, _ = s.recvmsg(1, _socket.CMSG_SPACE(4 * (2 + len(binds))))
    finally:
        s.detach()
        os.close(sock)
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    if data != b"1" or len(fds) != 2 + len(binds):
        raise OSError(0, "the supervisor could not map the container's user namespace")
    return Handed(fds[0], fds[1], dict(zip(binds, fds[2:])))
