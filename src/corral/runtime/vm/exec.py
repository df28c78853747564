"""`exec` into a VM container: the command runs in the guest, forked by its init into the container's
namespaces, and its output and exit status come back over the exec port.

The monitor supervises an exec as a process it reaps and whose output pipes it reads (runtime/exec.py
gives it the exec'd process itself). For a VM container the process is in another kernel, so the
monitor gets a relay instead: a fork of itself that sends the request on the exec port, writes what
the guest sends back into the pipes, forwards the signals it receives (`kill` of an exec, Ctrl-C
relayed by an attached client) into the guest, and exits with the command's exit code. The port
carries one exec at a time, so a relay holds a lock on the bundle's vm-exec.lock while it talks.
"""
from __future__ import annotations

import _signal as signal
import _socket
import fcntl
import gc
import os

from corral import fastjson as json
from corral.errors import Conflict, InvalidArgument, error_for, from_answer, to_answer
from corral.runtime import cgroups
from corral.runtime.start import exit_code, read_all
from corral.runtime.vm import describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from corral.runtime.vm.start import VmProcess

LOCK = "vm-exec.lock"
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
              signal.SIGWINCH)


def prepare(bundle: str, vm: VmProcess, cmd: list[str], user: str | None, env: list[str], workdir: str | None,
            privileged: bool) -> dict:
    """The OCI process of the exec, as runtime/exec.py's prepare makes it; a user name is looked up in the
    container's own /etc/passwd, which QEMU's mount namespace holds at the bundle's rootfs."""
    from corral.runtime import users
    from corral.runtime.spec import exec_process

    if not cmd:
        raise InvalidArgument("no command given to exec")
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.loads(f.read())
    if cgroups.manager(spec["linux"]["cgroupsPath"]).frozen():
        raise Conflict(f"Container {os.path.basename(bundle)} is paused, unpause the container before exec")
    root = f"/proc/{vm.pid}/root" + os.path.join(bundle, spec["root"]["path"])
    ids = users.resolve(user, [root], live=True) if user else None
    return exec_process(spec["process"], list(cmd), ids, env, workdir, privileged)


def spawn(bundle: str, vm: VmProcess, process: dict, attach: bool) -> tuple[int, int | None, int | None]:
    """Fork the relay; returns its pid and the read ends of the command's stdout and stderr (None, None
    for a detached exec, whose output goes nowhere) once the guest runs it. A command that cannot start
    raises CommandNotFound / CommandNotExecutable, as a process container's exec does."""
    exec_id = os.urandom(4).hex()
    message = describe.exec_message(exec_id, process)
    out_r, out_w = os.pipe2(os.O_CLOEXEC) if attach else (None, None)
    err_r, err_w = os.pipe2(os.O_CLOEXEC) if attach else (None, None)
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        _relay(vm.execs.fileno(), os.path.join(bundle, LOCK), message, exec_id, out_w, err_w, fail_w)
    for fd in (out_w, err_w, fail_w):
        if fd is not None:
            os.close(fd)
    failure = read_all(fail_r)
    if failure:
        os.waitpid(pid, 0)
        for fd in (out_r, err_r):
            if fd is not None:
                os.close(fd)
        raise from_answer(failure.decode(errors="replace"))
    return pid, out_r, err_r


def _relay(port: int, lock_path: str, message: bytes, exec_id: str, out: int | None, err: int | None,
           fail: int) -> NoReturn:
    """In the fork: one exec's conversation on the exec port, then exit with its code."""
    gc.disable()  # objects this fork inherited must not be finalized here
    keep = {port, fail} | {fd for fd in (out, err) if fd is not None}
    for name in os.listdir("/proc/self/fd"):
        if int(name) > 2 and int(name) not in keep:
            try:
                os.close(int(name))
            except OSError:
                pass
    try:
        os._exit(_converse(_socket.socket(fileno=os.dup(port)), lock_path, message, exec_id, out, err, fail))
    except BaseException as e:  # noqa: BLE001 - everything must be reported, nothing may escape the fork
        _report(fail, error_for(125, f"exec into the VM failed: {e}"))
    os._exit(125)


def _converse(sock: _socket.socket, lock_path: str, message: bytes, exec_id: str, out: int | None,
              err: int | None, fail: int) -> int:
    lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    ident = exec_id.encode()
    for sig in _FORWARDED:
        signal.signal(sig, lambda s, _f: sock.sendall(describe.exec_signal_message(exec_id, s)))
    sock.sendall(message)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except InterruptedError:
            continue
        if not chunk:
            _report(fail, error_for(125, "the container's VM ended during the exec"))
            return 255
        messages, data = describe.parse_messages(data + chunk)
        for m in messages:
            kind, body = m[:1], m[9:]
            if m[1:9] != ident:
                continue  # an earlier exec's, whose relay was killed
            if kind == b"r":
                os.close(fail)
                fail = -1
            elif kind == b"f":
                code, _, why = body.decode(errors="replace").partition(" ")
                _report(fail, error_for(int(code) if code.isdigit() else 125, why))
                return int(code) if code.isdigit() else 125
            elif kind in (b"o", b"e"):
                _write(out if kind == b"o" else err, body)
            elif kind == b"w":
                return exit_code(int(body))


def _write(fd: int | None, data: bytes) -> None:
    if fd is None:
        return
    view = memoryview(data)
    try:
        while view:  # blocking: a slow reader slows the guest's command, as a pipe would
            view = view[os.write(fd, view):]
    except OSError:
        pass  # the monitor closed it (the client went): the command runs on, its output dropped


def _report(fail: int, error: Exception) -> None:
    if fail >= 0:
        os.write(fail, to_answer(error).encode(errors="replace"))
