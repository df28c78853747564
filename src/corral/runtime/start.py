"""Starting a container from its bundle: its init forked into new namespaces, its cgroup made
meanwhile, and a wait until the command is exec'd, or the reason it never was.

This is the OCI runtime's create and start in one step, as `crun run` does:
a bundle's config.json in, a running process and its stdio out. What the
engine adds around it, the container's network, its record in the store and
--rm, is the monitor's (monitor/supervisor.py); the one thing it must do
between the fork and the wait (let go of the network namespace the init
joins) it passes as after_fork.
"""
from __future__ import annotations

import _socket
import os

from corral.errors import APIError, CorralError, from_answer
from corral.runtime import cgroups, console
from corral.runtime.init import container_init
from corral.runtime.spec import STDIN_ANNOTATION
from corral.sys import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def exit_code(status: int) -> int:
    """A wait status as Docker reports it: the exit code, or 128+N for a process killed by signal N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Process:
    """A container's init whose command has been exec'd, and the fds the monitor reads and writes.

    stdout and stderr are the read ends of its output pipes; with a terminal
    stdout is the terminal's master and stderr None. stdin is where input
    goes: the pipe to the command's stdin (-i), the terminal's master (-t),
    or None.
    """

    isolation = "process"

    def __init__(self, pid: int, cg: cgroups.CgroupV1 | cgroups.CgroupV2, stdin: int | None, stdout: int, stderr: int | None,
                 tty: bool) -> None:
        self.pid, self.cg, self.stdin, self.stdout, self.stderr, self.tty = pid, cg, stdin, stdout, stderr, tty

    def kill(self, sig: int) -> None:
        """Deliver `sig` to the container's command (a VM's goes through its guest: runtime/vm/start.py)."""
        os.kill(self.pid, sig)

    def exit_status(self, status: int) -> int:
        """The command's wait status, given the reaped pid's: the same for a process."""
        return status


class StartFailed(Exception):
    """The container's command never ran: `error` is for the caller, `reason` for the container's
    record (it names the step that failed, which `error` may leave out). Nothing is left running."""

    def __init__(self, error: CorralError, reason: str) -> None:
        super().__init__(reason)
        self.error, self.reason = error, reason


def start(bundle: str, spec: dict, window: tuple[int, int] = (0, 0),
          after_fork: Callable[[], None] | None = None, seccomp_cache: str | None = None) -> Process:
    """Fork the container's init, make its cgroup meanwhile (the init enters it), wait until its command
    is exec'd. `spec` is the bundle's config.json as read (and amended) by the caller; `window` is the
    initial (rows, cols) of a terminal; seccomp_cache the directory of compiled filters (runtime/seccomp.py).
    Raises StartFailed once the init is reaped and its cgroup gone."""
    seccomp_filter = _seccomp_filter(spec, seccomp_cache)
    cg = cgroups.manager(spec["linux"]["cgroupsPath"])
    tty = bool(spec["process"].get("terminal"))
    ours: list[int] = []  # fds this process keeps
    theirs: list[int] = []  # fds only the init keeps
    if tty:
        console_sock, child_sock = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        stdio: tuple[int, int, int] | int = child_sock.detach()
        theirs.append(stdio)
    else:
        if spec.get("annotations", {}).get(STDIN_ANNOTATION) == "open":
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            ours.append(in_w)
        else:
            in_r, in_w = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC), None
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        ours += [out_r, err_r]
        theirs += [in_r, out_w, err_w]
        stdio = (in_r, out_w, err_w)
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    cg_r, cg_w = os.pipe2(os.O_CLOEXEC)
    userns = any(ns["type"] == "user" for ns in spec["linux"].get("namespaces", []))
    if userns:  # --userns=auto: runtime/userns_setup.py
        from corral.runtime import userns_setup

        handover, init_end = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        ours.append(handover.detach())
        theirs.append(init_end.detach())
    try:
        if userns:
            pid = userns_setup.fork(spec["linux"])
        else:
            pid = _fork_into_pidns(next((ns for ns in spec["linux"].get("namespaces", []) if ns["type"] == "pid"),
                                        None))
    except OSError as e:  # the PID namespace to join is gone (its container exited meanwhile)
        for fd in ours + theirs + [fail_r, fail_w, cg_r, cg_w]:
            os.close(fd)
        if tty:
            console_sock.close()
        reason = (f"cannot fork the container's init into a user namespace: {e.strerror}" if userns else
                  f"cannot join the container's PID namespace: {e.strerror}")
        raise StartFailed(APIError(reason), reason) from None
    if pid == 0:
        for fd in ours + [fail_r, cg_w]:
            os.close(fd)
        if tty:
            console_sock.close()
        container_init(spec, bundle, stdio, fail_w, cg_r, cg.entry_files(), seccomp=seccomp_filter,
                       handover=theirs[-1] if userns else None)
    for fd in theirs + [fail_w, cg_r]:
        os.close(fd)
    if after_fork is not None:
        after_fork()
    cg_failure = ns_failure = None
    if userns:
        try:
            _hand_over(pid, spec, bundle, ours.pop())
        except OSError as e:
            ns_failure = APIError(f"cannot set up the container's user namespace: {e.strerror or e}")
    try:
        if ns_failure is None:
            cg.create(spec["linux"].get("resources", {}))  # meanwhile, on another CPU, the init builds its root
            if userns:
                cgroups.enter(cg.entry_files(), pid)  # the init has no right to
    except Exception as e:  # noqa: BLE001 - reported below, once the init has given up
        cg_failure = e
    else:
        try:
            os.write(cg_w, b"1")
        except OSError:
            pass  # the init is gone already: its own error is on fail_r
    os.close(cg_w)
    master = console.take_master(console_sock, window) if tty else None
    failure = read_all(fail_r)
    if ns_failure is not None:
        os.waitpid(pid, 0)  # it gave up when the hand-over socket closed
        for fd in ours + ([master] if master is not None else []):
            os.close(fd)
        raise StartFailed(ns_failure, str(ns_failure))
    if cg_failure is not None or failure or (tty and master is None):
        os.waitpid(pid, 0)
        for fd in ours + ([master] if master is not None else []):
            os.close(fd)
        cg.destroy()
        if cg_failure is not None:
            reason = f"cannot set up the container's cgroup: {cg_failure}"
            raise StartFailed(cg_failure if isinstance(cg_failure, CorralError) else APIError(reason), reason)
        error = from_answer(failure.decode(errors="replace")) if failure else \
            APIError("the container's terminal could not be set up")
        raise StartFailed(error, str(error))
    if tty:
        return Process(pid, cg, master, master, None, True)
    return Process(pid, cg, in_w, out_r, err_r, False)


def _hand_over(pid: int, spec: dict, bundle: str, fd: int) -> None:
    """userns_setup.hand_over over the socket at fd, closed after: an init still waiting then gives up."""
    from corral.runtime import userns_setup

    sock = _socket.socket(fileno=fd)
    try:
        userns_setup.hand_over(pid, spec, bundle, sock)
    finally:
        sock.close()


def _seccomp_filter(spec: dict, cache: str | None) -> bytes | None:
    """The compiled linux.seccomp, before the fork (the init must not load libseccomp, nor pay for it twice)."""
    if not spec["linux"].get("seccomp"):
        return None
    from corral.runtime import seccomp

    try:
        return seccomp.program(spec["linux"]["seccomp"], cache)
    except (OSError, ValueError) as e:
        reason = f"cannot compile the container's seccomp profile: {e}"
        raise StartFailed(APIError(reason), reason) from None


def _fork_into_pidns(ns: dict | None) -> int:
    """fork() a child that is PID 1 of a new PID namespace (ns without a path), a process of the
    namespace at ns["path"] (--pid container:ID), or of this one (no ns: --pid host), leaving this
    process's own forks unchanged.

    unshare(CLONE_NEWPID) and setns() only redirect this process's future
    children, so the original namespace is restored with setns() right after
    the fork: a library caller's later subprocesses must not land in a dead namespace.
    """
    if ns is None:
        return os.fork()
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if ns.get("path"):
            target = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                libc.setns(target, libc.CLONE_NEWPID)
            finally:
                os.close(target)
        else:
            libc.unshare(libc.CLONE_NEWPID)
        pid = os.fork()
    except BaseException:
        os.close(own)
        raise
    if pid == 0:
        return 0
    try:
        libc.setns(own, libc.CLONE_NEWPID)
    finally:
        os.close(own)
    return pid


def read_all(fd: int) -> bytes:
    """What a forked child wrote on `fd` (O_CLOEXEC) before it exec'd or died: its failure, or nothing."""
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


