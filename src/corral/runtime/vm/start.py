"""Starting a VM container: QEMU forked under the monitor, the container's root mounted for it alone,
and a wait until the guest init reports that the command runs, or why it does not.

The process backend's contract (runtime/start.py) holds: a bundle in, a Process out whose pid the
monitor reaps, whose stdout and stderr it reads, and whose cgroup is the container's. Here the pid
is QEMU's, forked with PDEATHSIG like the process backend's init (the monitor's death ends the VM),
placed in the container's cgroup before it execs (so --cpus, pause and stats apply to the whole VM),
in a mount namespace of its own where the root filesystem described by the store (the same overlay
the process backend mounts) and the container's bind mounts are mounted: the guest sees them over 9p,
and they vanish with QEMU, whatever way it ends. Two things differ from a process, and VmProcess
carries them: a signal other than SIGKILL goes to the command inside the guest over the control port
(SIGKILL ends QEMU itself: it works on a guest that no longer listens), and the exit status is the
command's, which the guest reports on that port, not QEMU's.
"""
from __future__ import annotations

import _signal as signal
import _socket
import gc
import os
import time

from corral.errors import APIError, error_for, from_answer
from corral.runtime import cgroups, init, mounts
from corral.runtime.spec import STDIN_ANNOTATION
from corral.runtime.start import Process, StartFailed, read_all
from corral.runtime.vm import accel, assets, describe, network, qemu, template
from corral.store.rootfs import empty_layers, rootfs_of
from corral.sys import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

READY_TIMEOUT = 60.0
"""Seconds a guest may take from QEMU's exec to its command's exec (about 1 s under TCG when idle), or to
start an exec; CORRAL_VM_READY_TIMEOUT in the monitor's environment sets another bound."""
CONSOLE_LOG = "vm-console.log"
VM_OVERHEAD = 128 << 20
"""Bytes QEMU may use beyond the guest's RAM (its own heap, TCG's code cache, 9p): about 60 MiB seen idle."""
_GUEST_MOUNT_TYPES = ("proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2")


class VmProcess(Process):
    """A running VM container: QEMU's pid and the host's ends of its ports (execs: runtime/vm/exec.py; stdin and
    the terminal the monitor holds: runtime/vm/session.py)."""

    isolation = "vm"

    def __init__(self, pid: int, cg: cgroups.CgroupV1 | cgroups.CgroupV2, ctl: _socket.socket,
                 stdio: tuple[int | None, int, int | None], tty: bool, execs: tuple[_socket.socket, ...],
                 accelerator: str) -> None:
        super().__init__(pid, cg, stdio[0], stdio[1], stdio[2], tty)
        self.ctl, self.execs, self.accelerator = ctl, execs, accelerator
        self.unread = b""  # what the guest sent on the control port after its 'R', read with it

    def kill(self, sig: int) -> None:
        if sig == signal.SIGKILL:
            super().kill(sig)
            return
        try:
            self.ctl.send(describe.signal_message(sig), _socket.MSG_DONTWAIT)
        except OSError:
            pass  # the guest is gone or does not read its control port: only SIGKILL ends it then

    def read_control(self) -> bool | None:
        """Read what the guest sent on the control port (the monitor polls it while the VM runs): True once it has
        reported its command's exit, None at the port's end. After 'X' the guest only powers off, and QEMU's own
        shutdown takes ~10 ms more under TCG: the monitor ends it at once instead (SIGKILL loses nothing: the init
        sends 'X' after the command's output has left the guest, and the host's sockets hold what QEMU wrote)."""
        try:
            chunk: bytes | None = self.ctl.recv(65536, _socket.MSG_DONTWAIT)
        except BlockingIOError:  # nothing new: what came with the 'R' may hold the exit already
            chunk = None
        except OSError:
            chunk = b""
        if chunk == b"":
            return None
        self.unread += chunk or b""
        return any(message[:1] == b"X" for message in describe.parse_messages(self.unread)[0])

    def exit_status(self, status: int) -> int:
        """The command's wait status as the guest reported it; QEMU's own when it never did (killed)."""
        data = self.unread
        try:
            self.ctl.setblocking(False)
            while chunk := self.ctl.recv(65536):
                data += chunk
        except OSError:
            pass
        self.ctl.close()
        for port in self.execs:
            port.close()
        for message in describe.parse_messages(data)[0]:
            if message[:1] == b"X" and message[1:].isdigit():
                return int(message[1:])
        return status if os.WIFSIGNALED(status) else 255 << 8


def start(bundle: str, spec: dict, window: tuple[int, int] = (0, 0)) -> Booting:
    """Fork QEMU for the container in `bundle` and hand its init the process; the guest's answer (its
    command runs, or why not) is the Booting's to wait for. Raises StartFailed (QEMU reaped, the cgroup
    gone) when QEMU cannot be started."""
    rootfs = os.path.join(bundle, spec["root"]["path"])
    resources, memory = vm_resources(spec["linux"].get("resources", {}))
    pairs = [_socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM) for _ in qemu.PORTS]
    mine = [host for host, _ in pairs]
    ctl, out, err, first_exec, stdin, *more_execs = mine
    theirs = [guest.detach() for _, guest in pairs]
    try:
        accelerator = accel.accelerator()
        kernel, initrd = assets.guest_kernel(), assets.guest_initrd()
        argv = qemu.command(kernel, initrd, accelerator, rootfs, tuple(theirs), os.path.join(bundle, CONSOLE_LOG),
                            memory >> 20)
        resumed = template.resume(argv, kernel, initrd, accelerator, memory >> 20, nics=len(network.nics(spec)))
        argv += network.qemu_args(spec)  # after the template's devices, as its NICs were
    except APIError as e:  # no guest built, no QEMU, a NUL in the command
        for s in mine:
            s.close()
        for fd in theirs:
            os.close(fd)
        raise StartFailed(e, str(e)) from None
    cg = cgroups.manager(spec["linux"]["cgroupsPath"])
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    cg_r, cg_w = os.pipe2(os.O_CLOEXEC)
    exe_r, exe_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        for s in mine:
            s.close()
        for fd in (fail_r, cg_w, exe_r):
            os.close(fd)
        _exec_qemu(argv, spec, bundle, rootfs, theirs + (resumed.fds() if resumed else []), (fail_w, exe_w), cg_r,
                   cg.entry_files())
    for fd in theirs + [fail_w, cg_r, exe_w]:
        os.close(fd)
    try:
        cg.create(resources)
        os.write(cg_w, b"1")
    except Exception as e:  # noqa: BLE001 - QEMU gives up on the closed pipe; reported below
        cg_failure: Exception | None = e
    else:
        cg_failure = None
    os.close(cg_w)
    failure, exe = read_all(fail_r), read_all(exe_r).decode()
    if cg_failure is not None or failure:
        if resumed is not None:
            resumed.close()
        _abandon(pid, cg, *mine)
        if cg_failure is not None:
            reason = f"cannot set up the container's cgroup: {cg_failure}"
            raise StartFailed(APIError(reason), reason)
        error = from_answer(failure.decode(errors="replace"))
        raise StartFailed(error, str(error))
    stdio = (bool(spec["process"].get("terminal")), spec.get("annotations", {}).get(STDIN_ANNOTATION) == "open", window)
    booting = Booting(bundle, pid, cg, ctl, (out, err, stdin, first_exec, *more_execs), accelerator, stdio)
    booting.compose = lambda: describe.process_message(spec, window, describe.host_state(), exe or None)
    if resumed is not None:
        resumed.begin()
        booting.resume = resumed  # the process goes once the guest is restored: Booting.feed
        return booting
    try:
        booting.send_process()
    except APIError as e:  # a NUL in the command
        booting.abandon()
        raise StartFailed(e, str(e)) from None
    return booting


def _exec_qemu(argv: list[str], spec: dict, bundle: str, rootfs: str, fds: list[int], reports: tuple[int, int],
               cg_r: int, cg_files: list[str]) -> None:
    """In the fork: own mount namespace with the root filesystem, the container's cgroup, then QEMU. On `reports`:
    why it failed; the file the command names (describe.found_executable: only this namespace has the root)."""
    fail_w, exe_w = reports
    gc.disable()  # objects this fork inherited must not be finalized here
    try:
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        libc.unshare(libc.CLONE_NEWNS)
        libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
        described = rootfs_of(spec, bundle)
        for d in empty_layers(described, bundle):
            os.makedirs(d, exist_ok=True)
        mounts.mount_rootfs(rootfs, described)
        for m in host_mounts(spec.get("mounts", [])):
            mounts.apply_mount(rootfs, m)
        if spec["root"].get("readonly"):
            read_only_root(rootfs, spec["process"].get("cwd") or "/")
        if exe := describe.found_executable(rootfs, spec["process"]):
            os.write(exe_w, exe.encode())
        if os.read(cg_r, 1) != b"1":
            os._exit(125)
        cgroups.enter(cg_files)
        network.join_namespace(spec)
        for fd in fds:
            os.set_inheritable(fd, True)
        os.execv(argv[0], argv)
    except BaseException as e:  # noqa: BLE001 - everything must be reported, nothing may escape the fork
        init.fail(fail_w, 125, f"cannot start the container's VM: {e}")
    os._exit(125)


def vm_resources(resources: dict) -> tuple[dict, int]:
    """The cgroup limits of QEMU, and the guest's RAM: --memory is the guest's RAM, and QEMU's cgroup may
    hold that plus QEMU's own memory (VM_OVERHEAD), so that a guest using all its RAM meets its own OOM
    killer, inside, as a process container's command meets the host's at its limit."""
    memory = dict(resources.get("memory") or {})
    ram = memory.get("limit") or qemu.DEFAULT_MEMORY_MIB << 20
    if memory.get("limit"):
        memory["limit"] += VM_OVERHEAD
        if (memory.get("swap") or 0) > 0:
            memory["swap"] += VM_OVERHEAD
    return (dict(resources, memory=memory) if memory else resources), (ram >> 20) << 20


def read_only_root(rootfs: str, cwd: str) -> None:
    """--read-only: the overlay made read-only here, under the binds (they keep their own flags, as runc's
    do), so 9p serves it read-only; a guest-side remount would take the binds with it, as 9p shows them as
    one filesystem. The directories the guest mounts on, and the working directory, are made first."""
    for d in ("proc", "sys", "dev", cwd.lstrip("/")):
        os.makedirs(mounts.secure_join(rootfs, d), exist_ok=True)
    libc.mount(None, rootfs, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY)


def host_mounts(spec_mounts: list[dict]) -> list[dict]:
    """The mounts the host makes under the shared root (binds: volumes, /etc/hosts, --init's binary);
    the guest makes its own /proc, /sys and /dev, and a bind into /dev, /proc or /sys would be hidden."""
    found = []
    for m in spec_mounts:
        if m.get("type") in _GUEST_MOUNT_TYPES:
            continue
        target = os.path.normpath(m["destination"])
        if target.split("/")[1] in ("dev", "proc", "sys"):
            continue
        found.append(m)
    return found


class Booting:
    """A VM whose guest has not answered yet. Its boot takes 1-2 s under TCG, a template's restore 40 ms (60 s
    may pass before a hung guest is given up), so nothing waits for it: the monitor polls `fd` (QEMU's monitor
    while a template is restored, then the guest's control port) and calls `feed` when it is readable, and
    `finish` with the answer, or with None at `deadline`, meanwhile serving every other container."""

    def __init__(self, bundle: str, pid: int, cg: cgroups.CgroupV1 | cgroups.CgroupV2, ctl: _socket.socket,
                 ports: tuple[_socket.socket, ...], accelerator: str,
                 stdio: tuple[bool, bool, tuple[int, int]]) -> None:
        self.bundle, self.pid, self.cg, self.ctl, self.accelerator = bundle, pid, cg, ctl, accelerator
        self.ports = ports  # stdout, stderr, stdin, the exec ports
        self.tty, self.stdin, self.window = stdio  # -t, -i, the terminal's first size
        self.deadline = time.monotonic() + ready_timeout()
        self.reaped: int | None = None  # QEMU's wait status, once its parent reaped it while it booted
        self.resume: template.Resume | None = None  # a template's restore under way
        self.compose: Callable[[], bytes] = lambda: b""  # the process message, made when it is sent (its clock)
        self._data = b""

    @property
    def fd(self) -> int:
        return self.resume.qmp.fileno() if self.resume is not None else self.ctl.fileno()

    def send_process(self) -> None:
        """Hand the guest its process (and the host's clock, now); APIError when it cannot be described."""
        message = self.compose()
        try:
            self.ctl.sendall(message)
        except OSError:
            pass  # QEMU ended already: no answer comes, and its console says why

    def feed(self) -> bytes | None:
        """Read what came on `fd` (the caller saw it readable): the guest's first message once whole, b""
        when QEMU closed the port first (it ended), None while the message is incomplete or the restore goes on
        (its end sends the process; a failed restore is an 'E' answer)."""
        if self.resume is not None:
            why = self.resume.feed()
            if why is None:
                return None
            self.resume = None
            if why:
                return b"E125 " + why.encode()
            try:
                self.send_process()
            except APIError as e:  # a NUL in the command
                return b"E125 " + str(e).encode()
            return None
        try:
            chunk = self.ctl.recv(65536)
        except BlockingIOError:
            return None
        except OSError:  # reset: QEMU ended before it read the process description
            chunk = b""
        if not chunk:
            return b""
        messages, self._data = describe.answers(self._data + chunk)
        if not messages:
            return None
        self._data = b"".join(describe.frame(m) for m in messages[1:]) + self._data
        return messages[0] or b""

    def finish(self, answer: bytes | None) -> VmProcess:
        """The running VM when the guest answered 'R'; else StartFailed, QEMU reaped and its cgroup gone."""
        if answer != b"R":
            self.abandon()
            if answer and answer[:1] == b"E":
                code, _, why = answer[1:].decode(errors="replace").partition(" ")
                error = error_for(int(code) if code.isdigit() else 125, why)
                raise StartFailed(error, why)
            reason = _no_answer_reason(self.bundle)
            raise StartFailed(APIError(reason), reason)
        from corral.runtime.vm import session

        out, err, stdin, *execs = self.ports
        try:
            stdio = session.open_stdio(stdin, out.fileno(), err.fileno(), self.tty, self.stdin, self.window)
        except OSError as e:  # no pty or fork left on the host
            self.abandon()
            reason = f"cannot set up the container's stdin or terminal: {e}"
            raise StartFailed(APIError(reason), reason) from None
        out.detach()
        err.detach()
        vm = VmProcess(self.pid, self.cg, self.ctl, stdio, self.tty, tuple(execs), self.accelerator)
        vm.unread = self._data
        return vm

    def abandon(self) -> None:
        """End a VM that failed to start and everything it held."""
        if self.resume is not None:
            self.resume.close()
        _abandon(self.pid, self.cg, self.ctl, *self.ports, reaped=self.reaped is not None)


def ready_timeout() -> float:
    try:
        return float(os.environ.get("CORRAL_VM_READY_TIMEOUT") or READY_TIMEOUT)
    except ValueError:
        return READY_TIMEOUT


def _abandon(pid: int, cg: cgroups.CgroupV1 | cgroups.CgroupV2, *socks: _socket.socket, reaped: bool = False) -> None:
    """End a VM that failed to start and everything it held."""
    if not reaped:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    for s in socks:
        s.close()
    cg.destroy()


def _no_answer_reason(bundle: str) -> str:
    """Why a guest never reported (QEMU ended, or READY_TIMEOUT passed): the last line its kernel printed."""
    last = ""
    try:
        with open(os.path.join(bundle, CONSOLE_LOG), "rb") as f:
            lines = [line for line in f.read()[-4096:].decode(errors="replace").splitlines() if line.strip()]
            last = lines[-1].strip() if lines else ""
    except OSError:
        pass
    what = f"the container's VM did not start its command (within {ready_timeout():g} s)"
    return f"{what}: {last}" if last else what
