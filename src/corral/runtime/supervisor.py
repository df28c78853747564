"""The supervisor: parent of a container's init, keeper of its log, exit status and cgroup.

`corral run` (foreground) runs it in its own process; a detached container
gets it in a double-forked child that outlives the CLI. Either way the
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


def supervise(store: Store, cid: str, *, foreground: bool, interactive_fd: int | None = None,
              ready_fd: int | None = None, autoremove: bool = False) -> int:
    """Start the container's init and stay with it until it exits; returns the exit code.

    `ready_fd` receives b"ok" once the command is exec'd (or "<code>:<error>").
    Raises the start error in the foreground case.
    """
    bundle = store.container_dir(cid)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.loads(f.read())
    cg = cgroups.manager(spec["linux"]["cgroupsPath"])
    try:
        cg.create(spec["linux"].get("resources", {}))
    except BaseException as e:
        cg.destroy()
        _start_failed(store, cid, ready_fd, 125, f"cannot set up the container's cgroup: {e}")
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
        _start_failed(store, cid, ready_fd, int(code), message)
        if autoremove:
            _remove(store, cid)
        raise error_for(int(code), message)
    state.mark_running(store, cid, pid, state.identity(os.getpid()))
    if ready_fd is not None:
        os.write(ready_fd, b"ok")
        os.close(ready_fd)
    if foreground:
        for sig in FORWARDED_SIGNALS:
            signal.signal(sig, lambda s, _f: _forward(pid, s))
    _relay(os.path.join(bundle, "log"), out_r, err_r, foreground)
    _, status = os.waitpid(pid, 0)
    code = exit_code(status)
    cg.destroy()
    state.mark_exited(store, cid, code)
    if autoremove:
        _remove(store, cid)
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


def _start_failed(store: Store, cid: str, ready_fd: int | None, code: int, message: str) -> None:
    state.mark_exited(store, cid, code, message)
    if ready_fd is not None:
        os.write(ready_fd, f"{code}:{message}".encode())
        os.close(ready_fd)


def _relay(log_path: str, out_r: int, err_r: int, foreground: bool) -> None:
    """Copy the container's output into its log (and to our stdout/stderr in the foreground) as it comes."""
    streams = {out_r: logs.STDOUT, err_r: logs.STDERR}
    echo = {out_r: 1, err_r: 2} if foreground else {}
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
                if fd in echo:
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


def _remove(store: Store, cid: str) -> None:
    from corral.runtime.cleanup import remove_container_files

    remove_container_files(store, cid)
    with store.transaction() as conn:
        conn.execute("DELETE FROM containers WHERE id=?", (cid,))


def launch_detached(store: Store, cid: str, autoremove: bool) -> None:
    """Fork a supervisor that outlives this process; return once the command runs (or raise why not)."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    store.close()
    child = os.fork()
    if child == 0:
        try:
            os.close(ready_r)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            supervise(Store(store.root), cid, foreground=False, ready_fd=ready_w, autoremove=autoremove)
        except BaseException:  # noqa: BLE001 - the outcome already went through ready_fd
            pass
        os._exit(0)
    os.close(ready_w)
    os.waitpid(child, 0)
    answer = _read_all(ready_r).decode(errors="replace")
    if answer != "ok":
        code, _, message = answer.partition(":")
        if not code.isdigit():
            raise CorralError(f"the container's supervisor died before starting it: {answer!r}")
        raise error_for(int(code), message)
