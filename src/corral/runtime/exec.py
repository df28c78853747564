"""Running an extra process inside a running container (`corral exec`).

The child joins every namespace of the container's init, its cgroup, and the
same identity restrictions (bounding set, no_new_privs, capabilities), so an
exec'd process can do no more than the container's own command.
"""
from __future__ import annotations

import os
import select
import _signal as signal  # the C core of `signal`, without its enum wrappers (~4 ms of imports)

from corral.errors import CorralError
from corral.runtime import caps, init
from corral.runtime.supervisor import error_for, exit_code
from corral.sys import libc

_JOIN_ORDER = (("cgroup", libc.CLONE_NEWCGROUP), ("ipc", libc.CLONE_NEWIPC), ("uts", libc.CLONE_NEWUTS),
               ("net", libc.CLONE_NEWNET), ("mnt", libc.CLONE_NEWNS))


def exec_in(init_pid: int, process: dict, cgroup_procs: list[str], stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    """Run `process` (an OCI process object) inside the container whose init is `init_pid`.

    Returns (exit code, stdout, stderr); a command that cannot be started raises
    CommandNotFound / CommandNotExecutable like `docker exec`.
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
    in_r, in_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    try:
        libc.setns(ns_fds["pid"], libc.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            _child(ns_fds, process, cgroup_procs, (in_r, out_w, err_w), fail_w)
        libc.setns(own_pid_ns, libc.CLONE_NEWPID)
    finally:
        for fd in list(ns_fds.values()) + [own_pid_ns, in_r, out_w, err_w, fail_w]:
            os.close(fd)
    out, err, failure = _communicate(in_w, stdin, out_r, err_r, fail_r)
    _, status = os.waitpid(pid, 0)
    if failure:
        code, _, message = failure.decode(errors="replace").partition(":")
        raise error_for(int(code), message)
    return exit_code(status), out, err


def _child(ns_fds: dict[str, int], process: dict, cgroup_procs: list[str], stdio: tuple[int, int, int],
           fail_w: int) -> None:
    try:
        for path in cgroup_procs:
            with open(path, "w") as f:
                f.write("0")
        for name, flag in _JOIN_ORDER:
            libc.setns(ns_fds[name], flag)
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


def _communicate(in_w: int, data: bytes | None, out_r: int, err_r: int, fail_r: int) -> tuple[bytes, bytes, bytes]:
    """Feed stdin and collect stdout, stderr and any start failure without deadlocking on full pipes."""
    out: list[bytes] = []
    err: list[bytes] = []
    failure: list[bytes] = []
    sinks = {out_r: out, err_r: err, fail_r: failure}
    pending = memoryview(data or b"")
    poller = select.poll()
    for fd in sinks:
        poller.register(fd, select.POLLIN)
    if pending:
        os.set_blocking(in_w, False)
        poller.register(in_w, select.POLLOUT)
    else:
        os.close(in_w)
        in_w = -1
    old = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        while sinks or in_w >= 0:
            for fd, _ in poller.poll():
                if fd == in_w:
                    try:
                        pending = pending[os.write(in_w, pending[:65536]):]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        poller.unregister(in_w)
                        os.close(in_w)
                        in_w = -1
                    continue
                chunk = os.read(fd, 65536)
                if chunk:
                    sinks[fd].append(chunk)
                else:
                    poller.unregister(fd)
                    os.close(fd)
                    del sinks[fd]
    finally:
        signal.signal(signal.SIGPIPE, old)
    return b"".join(out), b"".join(err), b"".join(failure)


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
