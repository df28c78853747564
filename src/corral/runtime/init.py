"""The container's first process: applies the OCI spec to itself, then execs the command.

Runs in a child forked by runtime/start.py (in the store's monitor) right after unshare(CLONE_NEWPID),
so it is PID 1 of the new PID namespace. Any failure before exec is written
to `error_fd` as errors.to_answer() writes it and the process exits; a clean exec
closes error_fd (O_CLOEXEC), which tells the parent the command runs.

The parent makes the container's cgroup while this process builds the
root filesystem; one byte on `cgroup_fd` says it is ready, and this process
then moves itself in (cgroups.enter: a move by anyone else costs a v1 host
an RCU grace period), before pivot_root and long before the exec.
"""
from __future__ import annotations

import errno
import gc
import os
import select
import _signal as signal  # the C core of `signal`, without its enum wrappers (~4 ms of imports)

from corral.errors import error_for, to_answer
from corral.runtime import caps, cgroupfs, cgroups, mounts
from corral.runtime.options import RLIMITS
from corral.store.rootfs import empty_layers, rootfs_of
from corral.sys import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from corral.runtime import userns_setup
    from corral.sys.syscall import Syscall

_NS_FLAGS = {"mount": libc.CLONE_NEWNS, "uts": libc.CLONE_NEWUTS, "ipc": libc.CLONE_NEWIPC,
             "network": libc.CLONE_NEWNET, "cgroup": libc.CLONE_NEWCGROUP}

_RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                  signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD)


class ExecFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def container_init(spec: dict, bundle: str, stdio: tuple[int, int, int] | int, error_fd: int,
                   cgroup_fd: int, cgroup_files: list[str], syscall: Syscall = libc.LINUX,
                   seccomp: bytes | None = None, handover: int | None = None) -> NoReturn:
    """stdio is the three fds to use, or for a terminal (process.terminal) the console socket
    over which the terminal's master goes to the parent (runtime/console.py); cgroup_files
    are the cgroup's entry_files(); seccomp the compiled linux.seccomp (runtime/seccomp.py), if any;
    handover the socket of a user-namespaced container's (runtime/userns_setup.py)."""
    gc.disable()  # objects this fork inherited must not be finalized here: they may close fds it now uses
    try:
        _setup_and_exec(spec, bundle, stdio, error_fd, cgroup_fd, cgroup_files, syscall, seccomp, handover)
    except ExecFailure as e:
        fail(error_fd, e.code, str(e))
    except BaseException as e:  # noqa: BLE001 - everything must be reported, nothing may escape the fork
        fail(error_fd, 125, f"container init failed: {e}")
    os._exit(125)


def fail(error_fd: int, code: int, message: str) -> NoReturn:
    """Report why the command cannot run, as the error the parent is to raise (errors.to_answer), and exit."""
    try:
        os.write(error_fd, to_answer(error_for(code, message)).encode(errors="replace"))
    finally:
        os._exit(code)


def _setup_and_exec(spec: dict, bundle: str, stdio: tuple[int, int, int] | int, error_fd: int,
                    cgroup_fd: int, cgroup_files: list[str], syscall: Syscall, seccomp: bytes | None,
                    handover: int | None) -> NoReturn:
    process = spec["process"]
    if isinstance(stdio, int):
        from corral.runtime import console  # now: nothing can be imported after pivot_root
    os.setsid()
    syscall.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if handover is not None:
        handed = _enter_user_namespace(spec, handover, syscall)
        flags = enter_namespaces(spec.get("linux", {}), syscall, joined=True)
        bundle = f"/proc/self/fd/{os.open('.', os.O_PATH | os.O_CLOEXEC)}"  # the bundle in this mount namespace
    else:
        handed = None
        flags = enter_namespaces(spec.get("linux", {}), syscall)
    rootfs = build_rootfs(spec, bundle, syscall, handed)
    if os.read(cgroup_fd, 1) != b"1":
        raise ExecFailure(125, "the supervisor could not set up the container's cgroup")
    if handed is None:
        try:
            cgroups.enter(cgroup_files)  # while /sys/fs/cgroup is still in reach
        except OSError as e:
            raise ExecFailure(125, f"cannot place the container in its cgroup: {e}") from None
    apply_oom_score_adj(process)  # while /proc is the host's
    switch_root(spec, rootfs, flags, syscall)

    if isinstance(stdio, int):
        console.take_controlling(console.open_inside(stdio, bind_console=True))
    else:
        for i, fd in enumerate(stdio):
            if fd != i:
                os.dup2(fd, i)
    os.closerange(3, error_fd)
    os.closerange(error_fd + 1, 65536)
    apply_rlimits(process.get("rlimits") or [], syscall)
    seccomp = seccomp_before_identity(process, seccomp, syscall)
    cwd = process.get("cwd") or "/"
    if not os.path.isdir(cwd):  # made while still root, as docker makes a missing -w for any --user
        os.makedirs(cwd, exist_ok=True)
    apply_identity(process, syscall)
    _rearm_parent_death(error_fd, syscall)
    os.chdir(cwd)
    exec_command(process["args"], process.get("env", []), syscall, seccomp)


def _enter_user_namespace(spec: dict, handover: int, syscall: Syscall) -> userns_setup.Handed:
    """Wait for the supervisor's hand-over, become root of the new user namespace (an id within its mapping),
    and stand in the bundle: the next mount namespace is a copy of this one, and the working directory moves
    over with it, where no path from the host's root could be walked by this process any more."""
    from corral.runtime import userns_setup

    try:
        handed = userns_setup.receive(handover, spec)
    except OSError as e:
        raise ExecFailure(125, e.strerror or str(e)) from None
    syscall.setgid(0)
    syscall.setuid(0)
    os.fchdir(handed.bundle)
    os.close(handed.bundle)
    return handed


def namespace_plan(linux: dict) -> tuple[int, list[tuple[str, int]]]:
    """The CLONE_NEW* flags of the namespaces to create, and the (path, flag) of those to join
    (a namespace with a path: a network namespace the monitor wired beforehand)."""
    flags = 0
    joins = []
    for ns in linux.get("namespaces", []):
        if ns["type"] == "pid":
            continue  # runtime/start.py forks the init into its PID namespace: unshare or setns can only be before
        if ns.get("path"):
            joins.append((ns["path"], _NS_FLAGS.get(ns["type"], 0)))
        else:
            flags |= _NS_FLAGS.get(ns["type"], 0)
    return flags, joins


def enter_namespaces(linux: dict, syscall: Syscall = libc.LINUX, joined: bool = False) -> int:
    """Create and join the container's namespaces, all but the cgroup one (see switch_root), and
    bring up the loopback of a new network namespace; returns the flags created or still to create.
    joined: those with a path are joined already (a user-namespaced container's, runtime/userns_setup.py)."""
    flags, joins = namespace_plan(linux)
    syscall.unshare(flags & ~libc.CLONE_NEWCGROUP)
    for path, flag in () if joined else joins:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscall.setns(fd, flag)
        finally:
            os.close(fd)
    if flags & libc.CLONE_NEWNET:
        syscall.loopback_up()
    return flags


def build_rootfs(spec: dict, bundle: str, syscall: Syscall = libc.LINUX, handed: userns_setup.Handed | None = None
                 ) -> str:
    """Mount the container's root filesystem and its mounts under the bundle, in this (new) mount
    namespace made private first so nothing propagates to the host; returns the rootfs path.
    handed: the rootfs and binds a user-namespaced container's supervisor made (runtime/userns_setup.py)."""
    if handed is not None:
        clones = handed.binds
    else:
        try:
            clones = mounts.clone_propagating(spec.get("mounts", []), syscall)  # volumes: before "/" goes private
        except OSError as e:
            raise ExecFailure(125, e.strerror if e.errno == errno.EINVAL else str(e)) from None
    syscall.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    rootfs = os.path.join(bundle, spec["root"]["path"])
    if handed is not None:
        syscall.attach_mount(handed.rootfs, rootfs)
        os.close(handed.rootfs)
    else:
        described = rootfs_of(spec, bundle)
        for d in empty_layers(described, bundle):  # a corral before mount descriptions made it only here
            os.makedirs(d, exist_ok=True)
        mounts.mount_rootfs(rootfs, described, syscall)
    all_mounts = spec.get("mounts", [])
    later = {id(m) for m in cgroupfs.split(all_mounts)[1]}  # made once in the cgroup namespace: switch_root
    for i, m in enumerate(all_mounts):
        if id(m) not in later:
            mounts.apply_mount(rootfs, m, syscall, clones.get(i))
    mounts.populate_dev(rootfs, syscall)
    mounts.make_devices(rootfs, spec.get("linux", {}).get("devices") or [], syscall)
    return rootfs


def switch_root(spec: dict, rootfs: str, flags: int, syscall: Syscall = libc.LINUX) -> None:
    """Once in its cgroup: the cgroup namespace (so the container sees its cgroup as /), the view of it at
    /sys/fs/cgroup (cgroupfs.py), pivot_root, the masked and read-only paths, a read-only root
    (root.readonly), the hostname."""
    linux = spec.get("linux", {})
    if flags & libc.CLONE_NEWCGROUP:
        syscall.unshare(libc.CLONE_NEWCGROUP)
    for m in cgroupfs.split(spec.get("mounts", []))[1]:
        if m.get("type") == "cgroup":
            cgroupfs.mount(rootfs, m, bool(flags & libc.CLONE_NEWCGROUP), syscall)
        else:
            mounts.apply_mount(rootfs, m, syscall)
    mounts.pivot(rootfs, syscall)
    apply_sysctls(linux.get("sysctl") or {})
    mounts.mask_paths(linux.get("maskedPaths", []), linux.get("readonlyPaths", []), syscall)
    if spec.get("root", {}).get("readonly"):
        cwd = spec.get("process", {}).get("cwd") or "/"
        if not os.path.isdir(cwd):
            os.makedirs(cwd, exist_ok=True)  # while it can be: the command's working directory, as runc makes it
        mounts.remount_root_readonly(syscall)
    if spec.get("hostname"):
        syscall.sethostname(spec["hostname"])


def apply_sysctls(sysctls: dict[str, str]) -> None:
    """Write linux.sysctl through the container's /proc (its own namespaces: net.* of its network
    namespace, kernel.shm*… of its IPC one), before /proc/sys is made read-only."""
    for key, value in sysctls.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise ExecFailure(125, f"cannot set sysctl {key}={value}: {e.strerror}") from None


def apply_rlimits(rlimits: list[dict], syscall: Syscall = libc.LINUX) -> None:
    """process.rlimits (--ulimit), before the user changes; a hard limit above the engine's own needs
    CAP_SYS_RESOURCE, which a host may not give: then the error says so rather than lowering it."""
    for limit in rlimits:
        name = limit["type"].removeprefix("RLIMIT_").lower()
        try:
            syscall.setrlimit(RLIMITS[name], limit["soft"], limit["hard"])
        except (KeyError, OSError) as e:
            reason = "unknown limit" if isinstance(e, KeyError) else e.strerror
            if isinstance(e, OSError) and e.errno == errno.EPERM:
                reason += " (a hard limit above the engine's own needs CAP_SYS_RESOURCE)"
            raise ExecFailure(125, f"cannot set --ulimit {name}: {reason}") from None


def apply_oom_score_adj(process: dict) -> None:
    """process.oomScoreAdj (--oom-score-adj), inherited by every process the container starts. Going
    below the engine's own value needs CAP_SYS_RESOURCE, which a host may not give: the error says so."""
    if process.get("oomScoreAdj") is None:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(process["oomScoreAdj"]))
    except OSError as e:
        reason = e.strerror
        if e.errno in (errno.EACCES, errno.EPERM):
            reason += " (lowering it needs CAP_SYS_RESOURCE, which this engine does not have)"
        raise ExecFailure(125, f"cannot set --oom-score-adj {process['oomScoreAdj']}: {reason}") from None


def _rearm_parent_death(error_fd: int, syscall: Syscall) -> None:
    """Set PDEATHSIG again: the kernel clears it when the user changes (commit_creds), and a
    container run as a non-root user must die with its monitor like any other, not live on
    as a ghost. A monitor that died in between has closed its end of error_fd."""
    syscall.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
    poller = select.poll()
    poller.register(error_fd, select.POLLOUT)
    if any(events & select.POLLERR for _, events in poller.poll(0)):
        os._exit(125)


def apply_identity(process: dict, syscall: Syscall = libc.LINUX) -> None:
    """Bounding set, no_new_privs, user and groups, then the capability sets: in that order.

    setuid() to a non-root user clears the permitted set unless KEEPCAPS is
    on, so the final capset() comes last and states exactly what the spec says.
    """
    capabilities = process.get("capabilities", {})
    keep = caps.mask(capabilities.get("bounding", []))
    for i in range(caps.last_cap() + 1):
        if not keep & (1 << i):
            syscall.prctl(libc.PR_CAPBSET_DROP, i)
    if process.get("noNewPrivileges"):
        syscall.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
    user = process.get("user", {})
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    syscall.setgroups(user.get("additionalGids") or [])
    syscall.setgid(gid)
    if uid != 0:
        syscall.prctl(8, 1)  # PR_SET_KEEPCAPS, so capset below is what decides
    syscall.setuid(uid)
    syscall.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
    syscall.capset(caps.mask(capabilities.get("effective", [])), caps.mask(capabilities.get("permitted", [])),
                   caps.mask(capabilities.get("inheritable", [])))


def seccomp_before_identity(process: dict, seccomp: bytes | None, syscall: Syscall = libc.LINUX) -> bytes | None:
    """Without no_new_privs the kernel loads a filter only for a holder of CAP_SYS_ADMIN, which
    apply_identity may drop: then the filter goes in now (as runc does), and what runs until the exec
    must be allowed by it. Returns the program still to load just before execve (the usual case)."""
    if seccomp is None or process.get("noNewPrivileges"):
        return seccomp
    load_seccomp(seccomp, syscall)
    return None


def load_seccomp(seccomp: bytes, syscall: Syscall = libc.LINUX) -> None:
    try:
        syscall.seccomp_filter(seccomp)
    except OSError as e:
        raise ExecFailure(125, f"cannot apply the seccomp profile: {e.strerror}") from None


def exec_command(args: list[str], env: list[str], syscall: Syscall = libc.LINUX,
                 seccomp: bytes | None = None) -> NoReturn:
    for sig in _RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    # no sys.stdout.flush(): a buffer inherited from a library caller's process would land in the
    # container's output (Python's buffers die with execve, as they should)
    execute(args, env, syscall, seccomp)


def execute(args: list[str], env: list[str], syscall: Syscall = libc.LINUX, seccomp: bytes | None = None) -> NoReturn:
    """execve the command as found in the env's PATH; a failure becomes Docker's 127 (not found) or
    126 (cannot execute), with Docker's message. The seccomp filter goes in between the lookup and the
    execve: as late as can be, so only execve itself must be allowed by it."""
    envmap = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    name = args[0]
    try:
        path = _lookup(name, envmap.get("PATH", ""))
        if seccomp is not None:
            load_seccomp(seccomp, syscall)
        syscall.execve(path, args, envmap)
    except FileNotFoundError:
        if "/" in name:
            raise ExecFailure(127, f'exec: "{name}": stat {name}: no such file or directory') from None
        raise ExecFailure(127, f'exec: "{name}": executable file not found in $PATH') from None
    except PermissionError:
        raise ExecFailure(126, f'exec: "{name}": permission denied') from None
    except OSError as e:
        if e.errno == errno.ENOEXEC:
            raise ExecFailure(126, f'exec: "{name}": exec format error') from None
        raise ExecFailure(126, f'exec: "{name}": {e.strerror}') from None


def _lookup(name: str, path: str) -> str:
    """The file to exec for `name`, searched in the container's PATH (os.execvpe imports modules,
    which no longer resolve once the root has been pivoted)."""
    if "/" in name:
        return name
    denied = None
    for d in path.split(":"):
        candidate = os.path.join(d or ".", name)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = candidate
    if denied:
        return denied  # execve then fails with EACCES, reported as 126
    raise FileNotFoundError(name)

