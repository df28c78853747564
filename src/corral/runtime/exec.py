"""Running an extra process inside a running container (`corral exec`).

The child joins every namespace of the container's init, its cgroup, and the
same identity restrictions (bounding set, no_new_privs, capabilities), so an
exec'd process can do no more than the container's own command.
"""
from __future__ import annotations

import _socket
import os
import select
import _signal as signal  # the C core of `signal`, without its enum wrappers (~4 ms of imports)

from corral.errors import CorralError, error_for
from corral.runtime import caps, cgroups, console, init
from corral.runtime.supervisor import exit_code, read_all
from corral.sys import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

_JOIN_ORDER = (("cgroup", libc.CLONE_NEWCGROUP), ("ipc", libc.CLONE_NEWIPC), ("uts", libc.CLONE_NEWUTS),
               ("net", libc.CLONE_NEWNET), ("mnt", libc.CLONE_NEWNS))


def spawn(init_pid: int, process: dict, cgroup_files: list[str], stdio: tuple[int, int, int] | None,
          window: tuple[int, int] = (0, 0)) -> tuple[int, int | None]:
    """Start `process` (an OCI process object) inside the container whose init is `init_pid`.

    stdio are the child's three fds, or None for a terminal made inside the
    container (process["terminal"]): its master is returned, sized to `window`.
    Returns (pid, master) once the command is exec'd; a command that cannot be
    started raises CommandNotFound / CommandNotExecutable like `docker exec`.
    """
    ns_fds = {}
    try:
        for name, _ in _JOIN_ORDER + (("pid", libc.CLONE_NEWPID),):
            ns_fds[name] = os.open(f"/proc/{init_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        for fd in ns_fds.values():
            os.close(fd)
        raise CorralError("the container is not running") from None
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    console_sock = child_sock = None
    if stdio is None:
        console_sock, child_sock = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        libc.setns(ns_fds["pid"], libc.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            if console_sock is not None:
                console_sock.close()
            _child(ns_fds, process, cgroup_files, stdio if child_sock is None else child_sock.detach(), fail_w)
        libc.setns(own_pid_ns, libc.CLONE_NEWPID)
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
        code, _, message = (failure or b"126:exec failed: no terminal").decode(errors="replace").partition(":")
        raise error_for(int(code), message)
    return pid, master


def _child(ns_fds: dict[str, int], process: dict, cgroup_files: list[str], stdio: tuple[int, int, int] | int,
           fail_w: int) -> None:
    try:
        cgroups.enter(cgroup_files)
        for name, flag in _JOIN_ORDER:
            libc.setns(ns_fds[name], flag)
        if isinstance(stdio, int):
            os.setsid()  # a session of its own, so the terminal can become its controlling one
            console.take_controlling(console.open_inside(stdio, bind_console=False))
        else:
            for i, fd in enumerate(stdio):
                os.dup2(fd, i)
        os.closerange(3, fail_w)
        os.closerange(fail_w + 1, 65536)
        init.apply_identity(process)
        os.chdir(process.get("cwd") or "/")
        init.exec_command(process["args"], process.get("env", []))
    except init.ExecFailure as e:
        init.fail(fail_w, e.code, str(e))
    except BaseException as e:  # noqa: BLE001
        init.fail(fail_w, 126, f"exec failed: {e}")
    os._exit(126)


def stream(init_pid: int, process: dict, cgroup_files: list[str],
           stdin: bytes | int | None = None) -> Iterator[tuple[int, bytes]]:
    """Run `process` inside the container with pipes: yields (1 or 2, bytes) as output comes,
    then (0, exit code as text).

    stdin is bytes to feed, an fd to copy from until its EOF, or None for
    /dev/null. Pipes (never the caller's own fds) face the container, so a
    process inside cannot reach the caller's terminal (TIOCSTI).
    """
    in_r, in_w = os.pipe2(os.O_CLOEXEC) if stdin is not None else (os.open(os.devnull, os.O_RDONLY), -1)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    try:
        pid, _ = spawn(init_pid, process, cgroup_files, (in_r, out_w, err_w))
    except BaseException:
        for fd in (in_w, out_r, err_r):
            if fd >= 0:
                os.close(fd)
        raise
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    try:
        yield from _pump(in_w, stdin, out_r, err_r)
    finally:
        _, status = os.waitpid(pid, 0)
    yield 0, str(exit_code(status)).encode()


def exec_in(init_pid: int, process: dict, cgroup_files: list[str],
            stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    """Run `process` inside the container; returns (exit code, stdout, stderr)."""
    out: list[bytes] = []
    err: list[bytes] = []
    code = 0
    for kind, data in stream(init_pid, process, cgroup_files, stdin):
        if kind == 1:
            out.append(data)
        elif kind == 2:
            err.append(data)
        else:
            code = int(data)
    return code, b"".join(out), b"".join(err)


def _pump(in_w: int, source: bytes | int | None, out_r: int, err_r: int) -> Iterator[tuple[int, bytes]]:
    """Feed stdin and yield output without deadlocking on full pipes."""
    outputs = {out_r: 1, err_r: 2}
    pending = memoryview(source if isinstance(source, bytes) else b"")
    source_fd = source if isinstance(source, int) else -1
    poller = select.poll()
    for fd in outputs:
        poller.register(fd, select.POLLIN)
    if in_w >= 0:
        os.set_blocking(in_w, False)
        if source_fd >= 0:
            poller.register(source_fd, select.POLLIN)
        elif pending:
            poller.register(in_w, select.POLLOUT)
        else:
            os.close(in_w)
            in_w = -1
    old = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        while outputs:
            for fd, _ in poller.poll():
                if fd == source_fd:
                    chunk = _read(source_fd)
                    poller.unregister(source_fd)
                    if chunk:
                        pending = memoryview(chunk)
                        poller.register(in_w, select.POLLOUT)
                    else:
                        source_fd = -1
                        os.close(in_w)
                        in_w = -1
                elif fd == in_w:
                    try:
                        pending = pending[os.write(in_w, pending[:65536]):]
                    except BrokenPipeError:
                        pending = pending[:0]
                        source_fd = -1
                    if not pending:
                        poller.unregister(in_w)
                        if source_fd >= 0:
                            poller.register(source_fd, select.POLLIN)
                        else:
                            os.close(in_w)
                            in_w = -1
                elif fd in outputs:
                    chunk = _read(fd)
                    if chunk:
                        yield outputs[fd], chunk
                    else:
                        poller.unregister(fd)
                        os.close(fd)
                        del outputs[fd]
    finally:
        signal.signal(signal.SIGPIPE, old)
        for fd in list(outputs) + ([in_w] if in_w >= 0 else []):
            os.close(fd)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO from a hung-up terminal reads as the end
        return b""


def exec_process(spec_process: dict, args: list[str], user: tuple[int, int, list[int]] | None,
                 env: list[str], workdir: str | None, privileged: bool) -> dict:
    """The OCI process for an exec: the container's own, with this exec's command and overrides."""
    process = {k: v for k, v in spec_process.items() if k != "terminal"}
    process["args"] = args
    merged = dict(e.split("=", 1) if "=" in e else (e, "") for e in spec_process.get("env", []) + env)
    process["env"] = [f"{k}={v}" for k, v in merged.items()]
    if workdir:
        process["cwd"] = workdir
    if user is not None:
        uid, gid, extra = user
        process["user"] = {"uid": uid, "gid": gid, "additionalGids": extra}
    capset = process.get("capabilities", {})
    if privileged:
        every = caps.oci_names(caps.all_names())
        capset = {"bounding": every, "effective": every, "permitted": every, "inheritable": [], "ambient": []}
        process["noNewPrivileges"] = False
    uid = process.get("user", {}).get("uid", 0)
    if uid != 0:
        capset = dict(capset, effective=[], permitted=[])
    elif not privileged:
        capset = dict(capset, effective=capset.get("bounding", []), permitted=capset.get("bounding", []))
    process["capabilities"] = capset
    return process
