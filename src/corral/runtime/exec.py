"""Running an extra process inside a running container (`corral exec`).

The child joins every namespace of the container's init, its cgroup, and the
same identity restrictions (bounding set, no_new_privs, capabilities), so an
exec'd process can do no more than the container's own command. Only the
store's monitor spawns them (it holds their pipes or terminal and reaps
them); clients build the process (spec.exec_process) and attach.
"""
from __future__ import annotations

import _socket
import os

from corral import fastjson as json
from corral.errors import APIError, CommandNotExecutable, Conflict, InvalidArgument, from_answer
from corral.runtime import cgroups, console, init, seccomp
from corral.runtime.start import read_all
from corral.sys import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.sys.syscall import Syscall

_JOIN_ORDER = (("cgroup", libc.CLONE_NEWCGROUP), ("ipc", libc.CLONE_NEWIPC), ("uts", libc.CLONE_NEWUTS),
               ("net", libc.CLONE_NEWNET), ("mnt", libc.CLONE_NEWNS))


def prepare(bundle: str, init_pid: int, cmd: list[str], user: str | None, env: list[str], workdir: str | None,
            privileged: bool, seccomp_cache: str | None = None) -> tuple[dict, list[str], bytes | None]:
    """The OCI process to run for `docker exec`-like options, the entry files of the cgroup to
    join, and the container's compiled seccomp filter (None: unconfined), for the running container
    in `bundle` whose init is `init_pid`. The filter is the container's own, also for a --privileged exec,
    as docker's."""
    from corral.runtime import users
    from corral.runtime.spec import exec_process

    spec, cg = running_spec(bundle, cmd)
    ids = users.resolve(user, [f"/proc/{init_pid}/root"], live=True) if user else None
    filter_ = seccomp.program(spec["linux"].get("seccomp"), seccomp_cache)
    return exec_process(spec["process"], list(cmd), ids, env, workdir, privileged), cg.entry_files(), filter_


def running_spec(bundle: str, cmd: list[str]) -> tuple[dict, cgroups.CgroupV1 | cgroups.CgroupV2]:
    """The spec and cgroup of the container in `bundle`, for an exec of `cmd` into it (either isolation): refused
    without a command, or while the container is paused (the exec would freeze in its cgroup)."""
    if not cmd:
        raise InvalidArgument("no command given to exec")
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.loads(f.read())
    cg = cgroups.manager(spec["linux"]["cgroupsPath"])
    if cg.frozen():
        raise Conflict(f"Container {os.path.basename(bundle)} is paused, unpause the container before exec")
    return spec, cg


def spawn(init_pid: int, process: dict, cgroup_files: list[str], stdio: tuple[int, int, int] | None,
          window: tuple[int, int] = (0, 0), syscall: Syscall = libc.LINUX,
          seccomp_filter: bytes | None = None) -> tuple[int, int | None]:
    """Start `process` (an OCI process object) inside the container whose init is `init_pid`.

    stdio are the child's three fds, or None for a terminal made inside the
    container (process["terminal"]): its master is returned, sized to `window`.
    seccomp_filter is prepare()'s. Returns (pid, master) once the command is exec'd; a command that cannot be
    started raises CommandNotFound / CommandNotExecutable like `docker exec`.
    """
    ns_fds = {}
    try:
        for name, _ in _JOIN_ORDER + (("pid", libc.CLONE_NEWPID),):
            ns_fds[name] = os.open(f"/proc/{init_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        if os.stat(f"/proc/{init_pid}/ns/user").st_ino != os.stat("/proc/self/ns/user").st_ino:
            ns_fds["user"] = os.open(f"/proc/{init_pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)  # --userns=auto
    except FileNotFoundError:
        for fd in ns_fds.values():
            os.close(fd)
        raise APIError("the container is not running") from None
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    console_sock = child_sock = None
    if stdio is None:
        console_sock, child_sock = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        syscall.setns(ns_fds["pid"], libc.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            if console_sock is not None:
                console_sock.close()
            _child(ns_fds, process, cgroup_files, stdio if child_sock is None else child_sock.detach(), fail_w,
                   syscall, seccomp_filter)
        syscall.setns(own_pid_ns, libc.CLONE_NEWPID)
    finally:
        for fd in list(ns_fds.values()) + [own_pid_ns, fail_w]:
            os.close(fd)
        if child_sock is not None:
            child_sock.close()
    master = console.take_master(console_sock, window) if console_sock is not None else None
    failure = read_all(fail_r)
    if failure or (stdio is None and master is None):
        os.waitpid(pid, 0)
        if master is not None:
            os.close(master)
        if failure:
            raise from_answer(failure.decode(errors="replace"))
        raise CommandNotExecutable("exec failed: no terminal")
    return pid, master


def join(ns_fds: dict[str, int], cgroup_files: list[str], syscall: Syscall = libc.LINUX) -> None:
    """Enter the container's cgroup, then its namespaces in _JOIN_ORDER. The cgroup first: its
    entry files are the host's /sys/fs/cgroup paths, out of reach once in the container's mount
    namespace. Not the pid namespace: setns into one only applies to children, so the parent joins
    it before the fork. A user-namespaced container's user namespace last: its namespaces the host's own
    (the network) can only be joined with the host's rights, which joining it gives up."""
    cgroups.enter(cgroup_files)
    for name, flag in _JOIN_ORDER:
        syscall.setns(ns_fds[name], flag)
    if "user" in ns_fds:
        syscall.setns(ns_fds["user"], libc.CLONE_NEWUSER)


def _child(ns_fds: dict[str, int], process: dict, cgroup_files: list[str], stdio: tuple[int, int, int] | int,
           fail_w: int, syscall: Syscall, seccomp_filter: bytes | None = None) -> None:
    try:
        init.apply_oom_score_adj(process)  # the container's, as docker exec; while /proc is the host's
        join(ns_fds, cgroup_files, syscall)
        if isinstance(stdio, int):
            os.setsid()  # a session of its own, so the terminal can become its controlling one
            console.take_controlling(console.open_inside(stdio, bind_console=False))
        else:
            for i, fd in enumerate(stdio):
                os.dup2(fd, i)
        os.closerange(3, fail_w)
        os.closerange(fail_w + 1, 65536)
        init.apply_rlimits(process.get("rlimits") or [], syscall)  # the container's --ulimit, as docker exec
        seccomp_filter = init.seccomp_before_identity(process, seccomp_filter, syscall)
        init.apply_identity(process, syscall)
        os.chdir(process.get("cwd") or "/")
        init.exec_command(process["args"], process.get("env", []), syscall, seccomp_filter)
    except init.ExecFailure as e:
        init.fail(fail_w, e.code, str(e))
    except BaseException as e:  # noqa: BLE001
        init.fail(fail_w, 126, f"exec failed: {e}")
    os._exit(126)


def spawn_piped(init_pid: int, process: dict, cgroup_files: list[str], stdin: bool,
                seccomp_filter: bytes | None = None) -> tuple[int, int | None, int, int]:
    """spawn() with pipes (never anyone's own fds, so nothing inside can reach a terminal by TIOCSTI):
    returns (pid, the write end of its stdin or None for /dev/null, stdout's and stderr's read ends)."""
    in_r, in_w = os.pipe2(os.O_CLOEXEC) if stdin else (os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    try:
        pid, _ = spawn(init_pid, process, cgroup_files, (in_r, out_w, err_w), seccomp_filter=seccomp_filter)
    except BaseException:
        for fd in (in_w, out_r, err_r):
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    return pid, in_w, out_r, err_r
