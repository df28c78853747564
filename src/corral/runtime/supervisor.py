"""Supervision: starting a container's init, and seeing it to the end (log, exit status, cgroup).

`corral run` (foreground) supervises in its own process; detached containers
are supervised by the store's monitor (runtime/monitor.py). Either way the
supervisor is the only process that reaps the init and records the exit.
"""
from __future__ import annotations

from corral import fastjson as json
import os
import select
import _signal as signal  # the C core of `signal`, without its enum wrappers (~4 ms of imports)
import time

from corral.errors import CommandNotExecutable, CommandNotFound, CorralError
from corral.runtime import cgroups, logs, state
from corral.runtime.cleanup import remove_container
from corral.runtime.init import container_init
from corral.store.root import Store
from corral.sys import libc

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
                     signal.SIGWINCH)


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def error_for(code: int, message: str) -> CorralError:
    cls = {127: CommandNotFound, 126: CommandNotExecutable}.get(code, CorralError)
    return cls(message)


class Started:
    """A container whose command has been exec'd: what its supervisor must keep to see it to the end."""

    def __init__(self, cid: str, pid: int, cg: object, out_r: int, err_r: int, log_path: str) -> None:
        self.cid, self.pid, self.cg = cid, pid, cg
        self.out_r, self.err_r, self.log_path = out_r, err_r, log_path


def start_init(store: Store, cid: str, supervisor: str, autoremove: bool,
               interactive_fd: int | None = None) -> Started:
    """Fork the container's init, put it in its cgroup, wait until its command is exec'd.

    Records the container as running under `supervisor` (an identity from
    state.identity), or as exited with the error, which is then raised (after
    removing the container when it was created with --rm).
    """
    try:
        return _start_init(store, cid, supervisor, interactive_fd)
    except CorralError:
        if autoremove:
            remove_container(store, cid)
        raise


def _start_init(store: Store, cid: str, supervisor: str, interactive_fd: int | None) -> Started:
    bundle = store.container_dir(cid)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.loads(f.read())
    cg = cgroups.manager(spec["linux"]["cgroupsPath"])
    try:
        cg.create(spec["linux"].get("resources", {}))
    except BaseException as e:
        cg.destroy()
        state.mark_exited(store, cid, 125, f"cannot set up the container's cgroup: {e}")
        raise
    stdin = interactive_fd if interactive_fd is not None else os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    cg_r, cg_w = os.pipe2(os.O_CLOEXEC)
    pid = _fork_into_new_pidns()
    if pid == 0:
        for fd in (out_r, err_r, fail_r, cg_w):
            os.close(fd)
        container_init(spec, bundle, (stdin, out_w, err_w), fail_w, cg_r)
    for fd in (out_w, err_w, fail_w, cg_r):
        os.close(fd)
    try:
        cg.attach(pid)
        os.write(cg_w, b"1")
    except OSError:
        pass  # the init died early (its own error is on fail_r) or sees EOF and reports the failure
    finally:
        os.close(cg_w)
    if interactive_fd is None:
        os.close(stdin)
    failure = _read_all(fail_r)
    if failure:
        os.waitpid(pid, 0)
        for fd in (out_r, err_r):
            os.close(fd)
        cg.destroy()
        code, _, message = failure.decode(errors="replace").partition(":")
        state.mark_exited(store, cid, int(code), message)
        raise error_for(int(code), message)
    state.mark_running(store, cid, pid, supervisor)
    return Started(cid, pid, cg, out_r, err_r, os.path.join(bundle, "log"))


def finish(store: Store, started: Started, status: int, autoremove: bool) -> int:
    """Record the exit of a reaped init, release its cgroup, and remove the container if asked."""
    code = exit_code(status)
    started.cg.destroy()
    state.mark_exited(store, started.cid, code)
    if autoremove:
        remove_container(store, started.cid)
    return code


def supervise(store: Store, cid: str, *, interactive_fd: int | None = None, autoremove: bool = False) -> int:
    """Run a container in this process (`corral run` without -d): relay its output, forward signals,
    and return its exit code once it is gone."""
    started = start_init(store, cid, state.identity(os.getpid()), autoremove, interactive_fd)
    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, lambda s, _f: _forward(started.pid, s))
    _relay(started.log_path, started.out_r, started.err_r)
    _, status = os.waitpid(started.pid, 0)
    return finish(store, started, status, autoremove)


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


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _relay(log_path: str, out_r: int, err_r: int) -> None:
    """Copy the container's output into its log and to our stdout/stderr as it comes."""
    streams = {out_r: logs.STDOUT, err_r: logs.STDERR}
    echo = {out_r: 1, err_r: 2}
    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    try:
        while streams:
            for fd, _ in poller.poll():
                data = os.read(fd, 65536)
                if not data:
                    poller.unregister(fd)
                    os.close(fd)
                    del streams[fd]
                    continue
                os.write(log, logs.frame(streams[fd], time.time_ns(), data))
                _write_all(echo[fd], data)
    finally:
        os.close(log)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BrokenPipeError:
            return
