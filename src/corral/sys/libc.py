"""The few libc/syscall entry points the runtime needs, each raising OSError with errno.

Kept in one narrow module so the logic deciding which calls to make stays
testable, and so the hot path loads ctypes once.
"""
from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SHARED = 1 << 20
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24
MS_SYNCHRONOUS = 16
MS_DIRSYNC = 128
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

OPEN_TREE_CLONE = 1
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x04
AT_FDCWD = -100

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

MOUNT_ATTR_IDMAP = 0x00100000
AT_EMPTY_PATH = 0x1000

_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capset": 126, "setns": 308, "unshare": 272, "openat2": 437,
               "open_tree": 428, "move_mount": 429, "seccomp": 317, "mount_setattr": 442, "clone": 56,
               "fsopen": 430, "fsconfig": 431, "fsmount": 432, "bpf": 321},
    "aarch64": {"pivot_root": 41, "capset": 91, "setns": 268, "unshare": 97, "openat2": 437,
                "open_tree": 428, "move_mount": 429, "seccomp": 277, "mount_setattr": 442, "clone": 220,
                "fsopen": 430, "fsconfig": 431, "fsmount": 432, "bpf": 280},
}[os.uname().machine]


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {fstype or 'bind'} {source} on",
        target,
    )


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_SYSCALLS["pivot_root"], new_root.encode(), put_old.encode()), "pivot_root", new_root)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def bpf(cmd: int, attr: ctypes.Array, size: int, what: str) -> int:
    """bpf(2) (sys/bpf.py builds the attributes); OSError with errno, `what` in its message."""
    return _check(_libc.syscall(_SYSCALLS["bpf"], cmd, attr, size), what)


def close_fds_but(keep: set[int]) -> None:
    """In a fork: every fd above stderr closed but those in `keep` (what it inherited and does not need), the gaps
    closed with os.closerange, which Python does with close_range(2): no listing of /proc/self/fd."""
    low = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 0x7FFFFFFF)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(
        _libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)),
        "prctl",
    )


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's capability sets (64-bit masks, _LINUX_CAPABILITY_VERSION_3)."""
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.syscall(_SYSCALLS["capset"], ctypes.byref(header), ctypes.byref(data)), "capset")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_filter(program: bytes) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER) of this thread with a classic BPF program (sock_filter array as
    bytes); the kernel wants no_new_privs set, or CAP_SYS_ADMIN held."""
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    _check(_libc.syscall(_SYSCALLS["seccomp"], 1, 0, ctypes.byref(prog)), "seccomp")


def loopback_up() -> None:
    """Bring `lo` up in this (new) network namespace, as every engine does; one ioctl, no netlink."""
    import _socket
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), siocgifflags, req))[1]
        fcntl.ioctl(sock.fileno(), siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))
    finally:
        sock.close()


class _Rlimit(ctypes.Structure):
    _fields_ = [("cur", ctypes.c_uint64), ("max", ctypes.c_uint64)]


def setrlimit(resource: int, soft: int, hard: int) -> None:
    """prlimit(2) of this process (RLIM_INFINITY is 2**64-1), without loading the `resource` module."""
    limit = _Rlimit(soft, hard)
    _check(_libc.prlimit(0, resource, ctypes.byref(limit), None), "setrlimit")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    """openat2(2) (Linux 5.6): `resolve` says which links and escapes the path walk refuses."""
    how = _OpenHow(flags, 0, resolve)
    return _check(_libc.syscall(_SYSCALLS["openat2"], dirfd, path.encode(), ctypes.byref(how),
                                ctypes.sizeof(how)), "openat2", path)


def clone_mount(source: str, recursive: bool) -> int:
    """open_tree(2) with OPEN_TREE_CLONE (Linux 5.2): a detached copy of the mount at `source` (of its
    submounts too when recursive), in the same peer group as the original when that is shared: an fd
    that attach_mount() puts in place later."""
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    return _check(_libc.syscall(_SYSCALLS["open_tree"], AT_FDCWD, source.encode(), flags), "open_tree", source)


def attach_mount(fd: int, target: str) -> None:
    """move_mount(2) of a clone_mount() fd onto target."""
    _check(_libc.syscall(_SYSCALLS["move_mount"], fd, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH),
           "move_mount on", target)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


def idmapped_tree(source: str, userns_fd: int) -> int:
    """A detached copy of the mount at `source` (open_tree) whose files' owners are seen through the mapping of
    the user namespace open at userns_fd (mount_setattr MOUNT_ATTR_IDMAP, Linux 5.12): on-disk id N appears
    as the host id that N maps to. Returns its fd (O_CLOEXEC); OSError where the filesystem cannot be idmapped."""
    fd = clone_mount(source, recursive=False)
    attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
    try:
        _check(_libc.syscall(_SYSCALLS["mount_setattr"], fd, b"", AT_EMPTY_PATH, ctypes.byref(attr),
                             ctypes.sizeof(attr)), "mount_setattr (idmap) of", source)
    except OSError:
        os.close(fd)
        raise
    return fd


def detached_mount(fstype: str, options: list[tuple[str, str | None]]) -> int:
    """A new mount of `fstype` that is attached nowhere yet (fsopen, fsconfig, fsmount: Linux 5.2), with
    `options` as (key, value) pairs in order (value None: a flag), for attach_mount() to put in place,
    possibly in another mount namespace. Returns its fd (O_CLOEXEC)."""
    fs = _check(_libc.syscall(_SYSCALLS["fsopen"], fstype.encode(), 1), "fsopen", fstype)  # FSOPEN_CLOEXEC
    try:
        for key, value in options:
            cmd = 0 if value is None else 1  # FSCONFIG_SET_FLAG, FSCONFIG_SET_STRING
            _check(_libc.syscall(_SYSCALLS["fsconfig"], fs, cmd, key.encode(), value.encode() if value else None, 0),
                   f"{fstype} option {key}={value}:", None)
        _check(_libc.syscall(_SYSCALLS["fsconfig"], fs, 6, None, None, 0), f"mount {fstype}")  # FSCONFIG_CMD_CREATE
        return _check(_libc.syscall(_SYSCALLS["fsmount"], fs, 1, 0), f"mount {fstype}")  # FSMOUNT_CLOEXEC
    finally:
        os.close(fs)


def fork_into_namespaces(flags: int) -> int:
    """fork() as clone(2) with CLONE_NEW* flags: the child starts in the new namespaces at once, which
    unshare() cannot do for a PID namespace owned by a new user namespace (a PID namespace belongs to
    the user namespace its creator was in, and only a fork enters it). Python's fork hooks run as
    os.fork() runs them; the GIL stays held across the call (PyDLL). Returns 0 in the child."""
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()
    pid = _pylibc().syscall(_SYSCALLS["clone"], ctypes.c_ulong(flags | 17), None, None, None, None)  # 17: SIGCHLD
    if pid == 0:
        api.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    api.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid


def _pylibc() -> ctypes.PyDLL:
    return ctypes.PyDLL(None, use_errno=True)


class Linux:
    """The real kernel, as the runtime takes it: an object of the shape of `corral.sys.syscall.Syscall`.

    The methods are this module's functions and os's own, not wrappers, so
    passing the object down costs one attribute lookup per call and no import;
    `corral.sys.fake.RecordingSyscall` stands in for it in unit tests.
    """

    mount = staticmethod(mount)
    umount = staticmethod(umount)
    clone_mount = staticmethod(clone_mount)
    attach_mount = staticmethod(attach_mount)
    pivot_root = staticmethod(pivot_root)
    chdir = staticmethod(os.chdir)
    unshare = staticmethod(unshare)
    setns = staticmethod(setns)
    sethostname = staticmethod(sethostname)
    prctl = staticmethod(prctl)
    capset = staticmethod(capset)
    loopback_up = staticmethod(loopback_up)
    seccomp_filter = staticmethod(seccomp_filter)
    mknod = staticmethod(os.mknod)
    setrlimit = staticmethod(setrlimit)
    setgroups = staticmethod(os.setgroups)
    setgid = staticmethod(os.setgid)
    setuid = staticmethod(os.setuid)
    execve = staticmethod(os.execve)


LINUX = Linux()
"""The one real syscall object: the default argument of every function that takes one."""
