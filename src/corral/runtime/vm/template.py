"""VM templates: a guest booted once, saved where its init waits for its process, restored for each VM container.

A cold boot under TCG spends ~1.5 s in QEMU and the guest kernel before the init can read its process;
every VM container of the same shape (kernel, init, QEMU and its command line: memory size, CPU count,
accelerator, NICs) goes through the same states up to that point. So the first VM container of a shape boots a
template guest to that point (the init reports 'W' on the control port, before it mounts any root) and
saves it with QEMU's migration into `state`; its RAM is a file, `ram`, which the template's QEMU maps
shared (share=on) so the guest's memory lands in it, and the migration skips it (x-ignore-shared). Each
container's QEMU then maps `ram` private (share=off: copy on write), waits (-incoming defer) until the host
names `state` (inherited) over its monitor (QMP, in one write: the capability both ends need, migrate-incoming,
then 'cont', as QEMU 7.2 leaves a restored guest paused), and the guest resumes in the init's read of the control
port, its unchanged pages shared with every other VM of the template through the page cache, so an idle VM costs
the host mostly what it wrote.

The container's root is attached after restore without hotplug (microvm has none): the 9p device is in the
template, and its export path is host-side configuration, not migrated device state, so the restored QEMU's
-fsdev names this container's root (mounted in QEMU's own mount namespace, as for a cold boot). The guest has
not mounted it when the template is saved (QEMU refuses to migrate a mounted 9p export; the template's export is an
empty directory). The process, the host's clock and fresh entropy reach the guest after restore on the control
port (describe.host_state), as for a cold boot.

What a start from a template costs is mostly the guest's (about 150 ms of a 240 ms `run --rm busybox true` here):
under TCG, guest code that runs for the first time in a QEMU process is translated first, and the translations
are not part of the saved state, so each restored guest translates afresh every kernel path it takes to mount
the root and run the command. The init does what does not depend on the container before the template is saved
(guest/init.c), and the host looks the command up in the PATH (describe.found_executable).

Templates live in /var/cache/corral/vm/templates/<key>/ (CORRAL_VM_TEMPLATES moves them), the key a hash
of the template's QEMU command line (which names the kernel, the init, the memory size, the CPUs, the
accelerator and the NICs: network.template_args), QEMU's binary and the kernel's and init's files (size and
mtime). A template is built in a directory of its own and renamed into place, and used only when its manifest
matches: the key, the state
file's SHA-256 and the RAM file's size, inode and mtime as the build left them (the RAM file is 128 MiB
and more: hashing it would cost more than a cold boot; a write changes its mtime, a truncation its size).
A missing or invalid template is built by the start that needs it (about as long as a cold boot, then the
restore); while another process builds it, or when the build fails, the VM boots cold.
"""
from __future__ import annotations

import _socket
import contextlib
import fcntl
import gc
import glob
import hashlib
import json
import os
import select
import shutil
import struct
import time

from corral.runtime.vm import assets, describe, network, qemu
from corral.sys import libc

VERSION = 1
"""Bumped when what a template holds changes in a way its key does not show."""
BUILD_TIMEOUT = 60.0
RAM_ID = "corral-ram"
IGNORE_SHARED = {"capability": "x-ignore-shared", "state": True}
"""Migration leaves shared file-backed RAM out of the stream; both ends must have it."""
EVENTS = {"capability": "events", "state": True}
_PLACEHOLDER_PORTS = tuple(range(3, 3 + len(qemu.PORTS)))
_ROOT = "/run/corral-vm/root"  # the 9p export in the key's command line: a name only, never mounted


class TemplateError(Exception):
    """A template could not be built; the VM boots cold."""


def templates_dir() -> str:
    return os.environ.get("CORRAL_VM_TEMPLATES") or os.path.join(assets.cache_dir(), "templates")


def _stat_key(path: str) -> list:
    st = os.stat(path)
    return [path, st.st_size, st.st_mtime_ns]


def key(kernel: str, initrd: str, accel: str, memory_mib: int, cpus: int, nics: int = 0) -> str:
    """The template's name: a hash of everything that makes the saved guest what it is."""
    argv = qemu.command(kernel, initrd, accel, _ROOT, _PLACEHOLDER_PORTS, "console", memory_mib, cpus)
    argv += network.template_args(nics)
    inputs = [VERSION, argv, _stat_key(argv[0]), _stat_key(kernel), _stat_key(initrd)]
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()[:24]


def memory_args(ram: str, memory_mib: int, share: bool) -> list[str]:
    """Guest RAM as the file `ram` (QEMU 7.2 has no -global for x-ignore-shared: it is set over QMP)."""
    return ["-object", f"memory-backend-file,id={RAM_ID},size={memory_mib}M,mem-path={ram},"
                       f"share={'on' if share else 'off'}",
            "-machine", f"memory-backend={RAM_ID}"]


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def valid(directory: str, name: str) -> bool:
    """Whether the template in `directory` is whole and the one named `name`."""
    try:
        with open(os.path.join(directory, "manifest.json")) as f:
            manifest = json.load(f)
        st = os.stat(os.path.join(directory, "ram"))
        return (manifest.get("key") == name and manifest.get("version") == VERSION
                and [st.st_size, st.st_ino, st.st_mtime_ns] == manifest.get("ram")
                and _sha256(os.path.join(directory, "state")) == manifest.get("state"))
    except (OSError, ValueError, AttributeError):
        return False


def find(kernel: str, initrd: str, accel: str, memory_mib: int, cpus: int, nics: int = 0) -> str | None:
    """The directory of a valid template of this shape, built now when there is none; None when
    it cannot be had (another process builds it, or the build failed): the VM then boots cold."""
    name = key(kernel, initrd, accel, memory_mib, cpus, nics)
    directory = os.path.join(templates_dir(), name)
    if valid(directory, name):
        return directory
    try:
        os.makedirs(templates_dir(), mode=0o700, exist_ok=True)
        lock = os.open(os.path.join(templates_dir(), f".{name}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:  # a read-only or full cache: a cold boot
        return None
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        if valid(directory, name):  # built by the process that held the lock
            return directory
        for stale in glob.glob(os.path.join(templates_dir(), f".build-{name}-*")):  # builders killed midway
            shutil.rmtree(stale, ignore_errors=True)
        try:
            _build(directory, name, kernel, initrd, accel, (memory_mib, cpus, nics))
        except (TemplateError, OSError, ValueError):  # no wait reached, a full disk, QMP garbled: a cold boot
            return None
        return directory
    finally:
        os.close(lock)


def _build(directory: str, name: str, kernel: str, initrd: str, accel: str, shape: tuple[int, int, int]) -> None:
    """Boot the template guest of `shape` (memory MiB, CPUs, NICs) to its init's wait, save it, and rename the
    result into `directory`."""
    memory_mib, cpus, nics = shape
    work = os.path.join(templates_dir(), f".build-{name}-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "root"))
    pairs = [_socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM) for _ in range(len(qemu.PORTS) + 1)]
    ctl, qmp = pairs[0][0], pairs[-1][0]  # the guest's ports, then QEMU's monitor
    theirs = [guest.detach() for _, guest in pairs]
    state = os.open(os.path.join(work, "state"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    argv = qemu.command(kernel, initrd, accel, os.path.join(work, "root"), tuple(theirs[:-1]),
                        os.path.join(work, "console.log"), memory_mib, cpus)
    argv += network.template_args(nics)
    argv += memory_args(os.path.join(work, "ram"), memory_mib, True)
    argv += ["-chardev", f"socket,id=qmp,fd={theirs[-1]}", "-mon", "chardev=qmp,mode=control"]
    pid = os.fork()
    if pid == 0:
        gc.disable()
        try:
            libc.prctl(libc.PR_SET_PDEATHSIG, 9)  # the builder's death ends it
            for fd in theirs + [state]:
                os.set_inheritable(fd, True)
            log = os.open(os.path.join(work, "qemu.log"), os.O_WRONLY | os.O_CREAT, 0o600)
            os.dup2(log, 2)  # its warnings (a NIC's hub connected to nothing) are the build's, not the caller's
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    for fd in theirs:
        os.close(fd)
    try:
        _save(ctl, _Qmp(qmp), state)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pid = 0
        os.fsync(state)
        os.close(state)
        state = -1
        ram = os.path.join(work, "ram")
        with open(ram, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(ram, 0o600)  # the guest's memory: its random state before the reseed, for one
        st = os.stat(ram)
        manifest = {"key": name, "version": VERSION, "state": _sha256(os.path.join(work, "state")),
                    "ram": [st.st_size, st.st_ino, st.st_mtime_ns], "memory_mib": memory_mib, "cpus": cpus,
                    "nics": nics, "accelerator": accel, "kernel": kernel, "initrd": initrd, "qemu": argv[0]}
        with open(os.path.join(work, "manifest.json"), "w") as f:
            json.dump(manifest, f)
            f.flush()
            os.fsync(f.fileno())
        os.rmdir(os.path.join(work, "root"))
        os.unlink(os.path.join(work, "console.log"))
        os.unlink(os.path.join(work, "qemu.log"))
        if os.path.lexists(directory):  # an invalid one: out of the way first (VMs that map its RAM keep it)
            old = f"{work}.old"
            os.rename(directory, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(work, directory)
    except BaseException:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        if state >= 0:
            os.close(state)
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        ctl.close()
        qmp.close()


def _save(ctl: _socket.socket, qmp: _Qmp, state: int) -> None:
    """Wait for the init's 'W', then migrate the guest into the state file (its RAM is not in the stream, so
    one pass: QEMU stops it for the devices' state)."""
    deadline = time.monotonic() + BUILD_TIMEOUT
    data = b""
    while describe.WAITING not in describe.parse_messages(data)[0]:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([ctl], [], [], left)[0]:
            raise TemplateError("the template guest did not reach its init's wait")
        chunk = ctl.recv(4096)
        if not chunk:
            raise TemplateError("the template guest ended before its init's wait")
        data += chunk
    qmp.command("qmp_capabilities")
    qmp.command("migrate-set-capabilities", capabilities=[IGNORE_SHARED])
    qmp.command("getfd", fdname="state", fds=[state])
    qmp.command("migrate", uri="fd:state")
    while True:
        status = qmp.command("query-migrate").get("status")
        if status == "completed":
            return
        if status in ("failed", "cancelled") or time.monotonic() > deadline:
            raise TemplateError(f"saving the template guest: migration {status}")
        time.sleep(0.005)


class _Qmp:
    """QEMU's monitor protocol on a connected socket: one command at a time, events skipped."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock, self.buf = sock, b""
        self._read()  # the greeting

    def _read(self) -> dict:
        while b"\n" not in self.buf:
            if not select.select([self.sock], [], [], BUILD_TIMEOUT)[0]:
                raise TemplateError("QEMU's monitor did not answer")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise TemplateError("QEMU ended while the template was saved")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def command(self, name: str, fds: list[int] | None = None, **arguments: object) -> dict:
        """QEMU's answer to `name`; `fds` go with it (SCM_RIGHTS), as getfd wants."""
        request = json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n"
        if fds:
            rights = struct.pack(f"{len(fds)}i", *fds)
            self.sock.sendmsg([request], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        else:
            self.sock.sendall(request)
        while True:
            answer = self._read()
            if "error" in answer:
                raise TemplateError(f"QEMU refused {name}: {answer['error'].get('desc')}")
            if "return" in answer:
                return answer["return"] if isinstance(answer["return"], dict) else {}


class Resume:
    """A container's QEMU resuming a template: its monitor (the host's end, and the end QEMU inherits) and the
    template's state file (QEMU inherits it too). QEMU waits (-incoming defer); begin(), once QEMU is forked with
    args() and fds(), writes its monitor everything at once: the capability both ends need, the state file to
    load, and 'cont' (QEMU 7.2 leaves a guest restored with -incoming defer paused, whatever the template's state;
    sent during the load it only makes QEMU start the guest once loaded). QEMU reads it once its monitor is up,
    about 22 ms after its exec (dynamic linking and its own set-up), and loads the guest: the caller polls `qmp`
    meanwhile, serving everything else, and feeds it what comes until the load's end."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.state = os.open(os.path.join(directory, "state"), os.O_RDONLY | os.O_CLOEXEC)
        self.qmp, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self.qemu_end = theirs.detach()
        self.buf = b""

    def fds(self) -> list[int]:
        """What QEMU inherits: its monitor's end and the state file."""
        return [self.qemu_end, self.state]

    def args(self, memory_mib: int) -> list[str]:
        return memory_args(os.path.join(self.directory, "ram"), memory_mib, False) + [
            "-chardev", f"socket,id=qmp,fd={self.qemu_end}", "-mon", "chardev=qmp,mode=control",
            "-incoming", "defer"]

    def begin(self) -> None:
        """Ask QEMU (forked, its fds inherited) to load the template and run the guest."""
        for fd in (self.qemu_end, self.state):  # QEMU has its own: when it ends, the monitor's socket ends
            os.close(fd)
        self.qemu_end = -1
        commands = (("qmp_capabilities", {}), ("migrate-set-capabilities", {"capabilities": [IGNORE_SHARED, EVENTS]}),
                    ("migrate-incoming", {"uri": f"fd:{self.state}"}), ("cont", {}))  # the number QEMU inherited
        self.state = -1
        self.qmp.sendall(b"".join(json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n"
                                  for name, arguments in commands))  # a few hundred bytes: the buffer holds them
        self.qmp.setblocking(False)

    def feed(self) -> str | None:
        """Read what QEMU's monitor said (the caller saw `qmp` readable): "" once the guest is loaded and runs,
        why it could not be (a refused command, a failed load, QEMU's end), or None while the load goes on. Closes
        what it held once it answers."""
        try:
            chunk = self.qmp.recv(65536)
        except BlockingIOError:
            return None
        except OSError:
            chunk = b""
        if not chunk:
            return self._failed("QEMU ended")
        self.buf += chunk
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            try:
                message = json.loads(line)
                status = (message.get("data") or {}).get("status") if message.get("event") == "MIGRATION" else None
                refused = message.get("error")
            except (ValueError, AttributeError):
                return self._failed("its monitor answered garbage")
            if refused is not None:
                return self._failed(f"QEMU refused a command: {refused}")
            if status == "completed":
                self.close()
                return ""
            if status == "failed":
                return self._failed("QEMU could not load its state")
        return None

    def _failed(self, why: str) -> str:
        self.close()
        return f"cannot restore the VM template {self.directory}: {why}"

    def close(self) -> None:
        self.qmp.close()
        for fd in (self.state, self.qemu_end):
            if fd >= 0:
                os.close(fd)
        self.state = self.qemu_end = -1


def resume(argv: list[str], kernel: str, initrd: str, accel: str, memory_mib: int, cpus: int = 1,
           nics: int = 0) -> Resume | None:
    """Make a container's QEMU command line `argv` resume this shape's template (found or built now); None when
    templates are off (CORRAL_VM_TEMPLATES=none) or none can be had: the VM then boots cold."""
    if templates_dir() == "none":
        return None
    directory = find(kernel, initrd, accel, memory_mib, cpus, nics)
    if directory is None:
        return None
    try:
        resumed = Resume(directory)
    except OSError:  # removed since it was checked: a cold boot
        return None
    argv += resumed.args(memory_mib)
    return resumed


def prune() -> list[str]:
    """Remove the templates that can never be used again: their kernel or init is no longer cached (build.py
    prunes inits), and a template's key names those files. Running VMs keep the RAM file they map."""
    removed = []
    for manifest in glob.glob(os.path.join(glob.escape(templates_dir()), "*", "manifest.json")):
        try:
            with open(manifest) as f:
                used = json.load(f)
            gone = not (os.path.exists(used["kernel"]) and os.path.exists(used["initrd"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # damaged: find() rebuilds it in place when its shape is asked for
        if gone:
            directory = os.path.dirname(manifest)
            shutil.rmtree(directory, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(templates_dir(), f".{os.path.basename(directory)}.lock"))
            removed.append(directory)
    return removed


def main() -> None:
    """setup.sh's step: the default shapes' templates (128 MiB, 1 CPU; without a network and with one), so that no
    VM container of those shapes pays for its build."""
    from corral.runtime.vm import accel

    kernel, initrd, found = assets.guest_kernel(), assets.guest_initrd(), accel.accelerator()
    for directory in prune():
        print(f"VM template: removed {directory} (its guest kernel or init is gone)")
    for nics in (0, 1):
        started = time.monotonic()
        directory = find(kernel, initrd, found, qemu.DEFAULT_MEMORY_MIB, 1, nics)
        if directory is None:
            raise SystemExit("VM template: could not be built (another process builds it, or the guest does not boot)")
        print(f"VM template, {nics} NIC(s): {directory} ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
