"""`exec` into a VM container: the command runs in the guest, forked by its init into the container's
namespaces, and its output and exit status come back over the exec port.

The monitor supervises an exec as a process it reaps and whose output pipes it reads (runtime/exec.py
gives it the exec'd process itself). For a VM container the process is in another kernel, so the
monitor gets a relay instead: a fork of itself that sends the request on the exec port, writes what
the guest sends back into the pipes, forwards the signals it receives (`kill` of an exec, Ctrl-C
relayed by an attached client) into the guest, and exits with the command's exit code. A port carries
one exec at a time and a VM has four (qemu.PORTS): a relay takes the first whose lock (the bundle's
vm-exec-N.lock) no other relay holds, and holds it while it talks; an exec that finds them all held is refused
(a Conflict; a health check tries again at its next interval).
"""
from __future__ import annotations

import _signal as signal
import _socket
import fcntl
import gc
import os
import time

from corral.errors import APIError, Conflict, error_for, from_answer, to_answer
from corral.runtime import console
from corral.runtime.start import exit_code
from corral.runtime.vm import describe, session
from corral.runtime.vm.start import ready_timeout
from corral.sys import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from corral.runtime.vm.start import VmProcess

LOCK = "vm-exec-{}.lock"
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
              signal.SIGWINCH)


def prepare(bundle: str, vm: VmProcess, cmd: list[str], user: str | None, env: list[str], workdir: str | None,
            privileged: bool) -> tuple[dict, str | None]:
    """The OCI process of the exec, as runtime/exec.py's prepare makes it, and the file its command names
    (describe.found_executable); a user name and the command are looked up in the container's own files, which
    QEMU's mount namespace holds at the bundle's rootfs."""
    from corral.runtime import users
    from corral.runtime.exec import running_spec
    from corral.runtime.spec import exec_process

    spec, _ = running_spec(bundle, cmd)
    root = f"/proc/{vm.pid}/root" + os.path.join(bundle, spec["root"]["path"])
    ids = users.resolve(user, [root], live=True) if user else None
    process = exec_process(spec["process"], list(cmd), ids, env, workdir, privileged)
    return process, describe.found_executable(root, process)


class Spawning:
    """A relay forked for an exec whose guest has not said yet whether the command runs (5-15 ms under TCG, or
    never from a hung guest): the monitor polls `report` meanwhile, serving everything else, and calls finish()
    with what the relay wrote on it once it closed it, or with None at `deadline`. `reaped` is the relay's wait
    status when the monitor reaped it first (a quick command's relay may end before its report is read)."""

    def __init__(self, pid: int, ours: tuple[int | None, int | None, int | None], report: int) -> None:
        self.pid, self.ours, self.report = pid, ours, report
        self.deadline = time.monotonic() + ready_timeout()
        self.reaped: int | None = None

    def finish(self, failure: bytes | None) -> tuple[int, int | None, int | None, int | None]:
        """The relay's pid, where the command's input goes and the read ends of its stdout and stderr (spawn
        says which) when the relay reported nothing; else the error, raised, the relay gone and those closed."""
        os.close(self.report)
        if failure is None:  # a guest that does not answer (hung, or stopped): the relay goes, the VM stays
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            failure = to_answer(APIError(f"the container's VM did not start the exec within {ready_timeout():g} s "
                                         "(CORRAL_VM_READY_TIMEOUT)")).encode()
        if not failure:
            return self.pid, *self.ours
        if self.reaped is None:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped by the monitor's loop meanwhile
                pass
        for fd in set(self.ours):
            if fd is not None:
                os.close(fd)
        raise from_answer(failure.decode(errors="replace"))


def spawn(bundle: str, vm: VmProcess, prepared: tuple[dict, str | None], attach: bool, tty: bool = False,
          stdin: bool = False, window: tuple[int, int] = (0, 0)) -> Spawning:
    """Fork the relay for `prepared` (prepare's). Where the command's input goes and the read ends of its stdout
    and stderr are a host terminal's master for all three with `tty` (runtime/vm/session.py says why a host one),
    a pipe to stdin with `stdin`, no output for a detached exec (it goes nowhere). The Spawning says once the guest
    runs it; a command that cannot start raises CommandNotFound / CommandNotExecutable there, as a process
    container's exec does."""
    exec_id = os.urandom(4).hex()
    message = describe.exec_message(exec_id, prepared[0], tty, stdin and not tty, window, prepared[1])
    source = None
    if tty:
        master, slave = session.terminal(window)
        ours, (out_w, err_w), source = (master, master, master), (slave, slave), slave
    else:
        out_r, out_w = os.pipe2(os.O_CLOEXEC) if attach else (None, None)
        err_r, err_w = os.pipe2(os.O_CLOEXEC) if attach else (None, None)
        in_w = None
        if stdin:
            source, in_w = os.pipe2(os.O_CLOEXEC)
        ours = (in_w, out_r, err_r)
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        _relay([port.fileno() for port in vm.execs], bundle, message, exec_id, (source, out_w, err_w), fail_w, tty)
    for fd in {out_w, err_w, fail_w, source}:
        if fd is not None:
            os.close(fd)
    os.set_blocking(fail_r, False)
    return Spawning(pid, ours, fail_r)


def _relay(ports: list[int], bundle: str, message: bytes, exec_id: str,
           stdio: tuple[int | None, int | None, int | None], fail: int, tty: bool) -> NoReturn:
    """In the fork: one exec's conversation on a free exec port, then exit with its code."""
    gc.disable()  # objects this fork inherited must not be finalized here
    try:
        libc.close_fds_but({*ports, fail} | {fd for fd in stdio if fd is not None})
        port = _take_port(ports, bundle)
        if port is None:
            _report(fail, Conflict(f"Container {os.path.basename(bundle)} runs in a VM whose {len(ports)} exec ports "
                                   f"other execs hold ({len(ports)} at a time): try again once one ends"))
            os._exit(125)
        os._exit(_converse(_socket.socket(fileno=os.dup(port)), message, exec_id, stdio, fail, tty))
    except BaseException as e:  # noqa: BLE001 - everything must be reported, nothing may escape the fork
        try:  # `fail` may be closed already (the command ran): the report goes nowhere then
            _report(fail, error_for(125, f"exec into the VM failed: {e}"))
        finally:
            os._exit(125)


def _take_port(ports: list[int], bundle: str) -> int | None:
    """The first exec port whose lock no other relay holds, locked until this relay exits; None when all are held
    (never a wait: the monitor waits for this relay's answer, not for another exec's end, which may take hours)."""
    for i, port in enumerate(ports):
        lock = os.open(os.path.join(bundle, LOCK.format(i)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            continue
        return port
    return None


def _converse(sock: _socket.socket, message: bytes, exec_id: str, stdio: tuple[int | None, int | None, int | None],
              fail: int, tty: bool) -> int:
    """Send the request, then relay: input (stdin, or the host terminal's slave) into the guest, output out,
    the signals this relay gets (a resize of the terminal as its new size) in, until the exit status."""
    source, out, err = stdio
    if tty:
        session.take_slave(source)
    events = session.Events(tuple(fd for fd in (sock.fileno(), source) if fd is not None), _FORWARDED)
    ident = exec_id.encode()
    sock.sendall(message)
    data = b""
    for fd, sig in events:
        if sig:
            if tty and sig == signal.SIGWINCH:
                sock.sendall(describe.input_message(b"z", b"%d %d" % console.get_size(source), exec_id))
            elif not (tty and sig == signal.SIGHUP):  # a hang-up: the terminal's end, read below
                sock.sendall(describe.exec_signal_message(exec_id, sig))
        elif fd == source:
            try:
                chunk = os.read(source, 65536)
            except OSError:  # EIO: the monitor closed the terminal's master
                chunk = b""
            sock.sendall(describe.input_message(b"i" if chunk else b"I", chunk, exec_id))
            if not chunk:
                events.unwatch(source)
        else:
            chunk = sock.recv(65536)
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
                    target = out if kind == b"o" else err
                    if target is not None:  # False: the monitor closed it, the command runs on, its output dropped
                        session.send_all(target, body)
                elif kind == b"w":
                    return exit_code(int(body))


def _report(fail: int, error: Exception) -> None:
    if fail >= 0:
        os.write(fail, to_answer(error).encode(errors="replace"))
