"""Supervision: starting a container's init, and seeing it to the end (log, exit status, cgroup).

Only the store's monitor (runtime/monitor.py) supervises: detached or not,
every container is its child, so a client may come and go (`run` attached,
`attach`, a detach key, a closed terminal) while the container runs on.
The monitor is the only process that reaps the init and records the exit.
"""
from __future__ import annotations

from corral import fastjson as json
import _socket
import os

from corral.errors import CorralError, error_for
from corral.runtime import cgroups, console, state
from corral.monitor.cleanup import remove_container
from corral.runtime.init import container_init
from corral.runtime.spec import NETWORK_ANNOTATION, STDIN_ANNOTATION
from corral.store.root import Store
from corral.sys import libc


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Started:
    """A container whose command has been exec'd: what its supervisor must keep to see it to the end.

    outputs maps each fd to read to the log stream it feeds (a terminal's
    master is one stdout stream); stdin is where attach clients write: the
    pipe to the command's stdin (-i), the terminal's master (-t), or None.
    """

    def __init__(self, cid: str, pid: int, cg: object, outputs: dict[int, int], stdin: int | None,
                 tty: bool, log_path: str) -> None:
        self.cid, self.pid, self.cg, self.outputs = cid, pid, cg, outputs
        self.stdin, self.tty, self.log_path = stdin, tty, log_path
        self.net = None  # the network.endpoint.Attachment to release at exit, if the container has a network


def start_init(store: Store, cid: str, supervisor: str, autoremove: bool,
               window: tuple[int, int] = (0, 0)) -> Started:
    """Fork the container's init, make its cgroup meanwhile (the init enters it), wait until its command is exec'd.

    Records the container as running under `supervisor` (an identity from
    state.identity), or as exited with the error, which is then raised (after
    removing the container when it was created with --rm). `window` is the
    initial (rows, cols) of a terminal.
    """
    try:
        return _start_init(store, cid, supervisor, window)
    except CorralError:
        if autoremove:
            remove_container(store, cid)
        raise


def _start_init(store: Store, cid: str, supervisor: str, window: tuple[int, int]) -> Started:
    from corral.monitor import logs

    bundle = store.container_dir(cid)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.loads(f.read())
    cg = cgroups.manager(spec["linux"]["cgroupsPath"])
    net = None
    if NETWORK_ANNOTATION in spec.get("annotations", {}):
        from corral.network import endpoint  # only containers with a network pay for its imports

        try:
            net = endpoint.attach(store, cid, spec)  # before the fork: the command never runs unwired
        except BaseException as e:
            state.mark_exited(store, cid, 125, f"cannot set up the container's network: {e}")
            if isinstance(e, CorralError):
                raise
            raise CorralError(f"cannot set up the container's network: {e}") from e
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
    pid = _fork_into_new_pidns()
    if pid == 0:
        for fd in ours + [fail_r, cg_w]:
            os.close(fd)
        if tty:
            console_sock.close()
        container_init(spec, bundle, stdio, fail_w, cg_r, cg.entry_files())
    for fd in theirs + [fail_w, cg_r]:
        os.close(fd)
    if net is not None:
        net.after_fork()
    cg_failure = None
    try:
        cg.create(spec["linux"].get("resources", {}))  # meanwhile, on another CPU, the init builds its root
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
    if cg_failure is not None or failure or (tty and master is None):
        os.waitpid(pid, 0)
        for fd in ours + ([master] if master is not None else []):
            os.close(fd)
        cg.destroy()
        if net is not None:
            try:
                net.release()
            except Exception:  # noqa: BLE001, S110 - the start's own failure is what to report
                pass
        if cg_failure is not None:
            message = f"cannot set up the container's cgroup: {cg_failure}"
            state.mark_exited(store, cid, 125, message)
            raise cg_failure if isinstance(cg_failure, CorralError) else CorralError(message)
        failure = failure or b"125:the container's terminal could not be set up"
        code, _, message = failure.decode(errors="replace").partition(":")
        state.mark_exited(store, cid, int(code), message)
        raise error_for(int(code), message)
    state.mark_running(store, cid, pid, supervisor)
    log_path = os.path.join(bundle, "log")
    if tty:
        started = Started(cid, pid, cg, {master: logs.STDOUT}, master, True, log_path)
    else:
        started = Started(cid, pid, cg, {out_r: logs.STDOUT, err_r: logs.STDERR}, in_w, False, log_path)
    started.net = net
    return started


def finish(store: Store, started: Started, status: int, autoremove: bool) -> int:
    """Record the exit of a reaped init, release its cgroup, and remove the container if asked."""
    code = exit_code(status)
    if not autoremove:  # else remove_container below releases it, with everything else
        started.cg.destroy()
    if started.net is not None:
        try:
            started.net.release()
        except Exception:  # noqa: BLE001, S110 - the exit must be recorded; `system check` reports residue
            pass
    state.mark_exited(store, started.cid, code)
    if autoremove:
        remove_container(store, started.cid)
    return code


def _fork_into_new_pidns() -> int:
    """fork() a child that is PID 1 of a new PID namespace, leaving this process's own forks unchanged.

    unshare(CLONE_NEWPID) only redirects this process's future children, so
    the original namespace is restored with setns() right after the fork:
    a library caller's later subprocesses must not land in a dead namespace.
    """
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
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
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


