"""Which accelerator VM containers use on this host: KVM when a guest really boots under it, else TCG.

The presence of /dev/kvm proves nothing: on a host that is itself a VM without nested virtualization,
/dev/kvm may be a software implementation (kvm_pvm) that opens, lets QEMU start, and kills a normal
guest many seconds later. So the probe boots the real guest kernel and init under KVM, with a
deadline, and asks the init to run a command that does not exist: the init's "not found" answer on
the control port proves the kernel, the virtio devices, 9p and the init all work. Probing takes up to
PROBE_TIMEOUT, so the answer is cached per host and guest kernel (setup.sh probes once; a VM start
finds the answer).
"""
from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time

from corral.errors import APIError
from corral.runtime.vm import assets, describe, qemu

PROBE_TIMEOUT = 15.0


def cache_file() -> str:
    kernel = assets.guest_kernel()
    return os.path.join(assets.cache_dir(), f"accel-{os.path.basename(os.path.dirname(kernel))}")


def cached() -> str:
    """The cached answer, "" when this host has not been probed (or has no guest kernel)."""
    try:
        with open(cache_file()) as f:
            found = f.read().strip()
    except (OSError, APIError):
        return ""
    return found if found in ("kvm", "tcg") else ""


def accelerator() -> str:
    """"kvm" or "tcg": the cached answer, or a probe's (then cached)."""
    found = cached()
    if found:
        return found
    found = probe()
    from corral.store.fsutil import write_atomic

    write_atomic(cache_file(), (found + "\n").encode())
    return found


def probe() -> str:
    if os.access("/dev/kvm", os.R_OK | os.W_OK) and boots("kvm", PROBE_TIMEOUT)[0]:
        return "kvm"
    ok, why = boots("tcg", 4 * PROBE_TIMEOUT)
    if not ok:
        raise APIError(f"the guest kernel does not boot under QEMU's TCG either: {why}")
    return "tcg"


def boots(accel: str, timeout: float) -> tuple[bool, str]:
    """Boot the guest under `accel` with an empty root; True once its init answers as expected."""
    with tempfile.TemporaryDirectory(prefix="corral-vm-probe.") as root:
        pairs = [socket.socketpair() for _ in qemu.PORTS]
        ctl = pairs[0][0]
        fds = tuple(guest.fileno() for _, guest in pairs)
        argv = qemu.command(assets.guest_kernel(), assets.guest_initrd(), accel, root, fds,
                            os.path.join(root, "console.log"))
        started = time.monotonic()
        proc = subprocess.Popen(argv, pass_fds=fds, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        for _, guest in pairs:
            guest.close()
        try:
            ctl.sendall(describe.process_message({"process": {"args": ["/corral-probe"], "cwd": "/"}}))
            ctl.settimeout(timeout)
            data = b""
            try:
                while not describe.answers(data)[0]:
                    chunk = ctl.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except TimeoutError:
                return False, f"no answer within {timeout:.0f} s"
            except ConnectionResetError:
                pass  # QEMU ended before it read what was sent
            messages = describe.answers(data)[0]
            if messages and messages[0].startswith(b"E127 "):
                return True, f"booted in {time.monotonic() - started:.2f} s"
            try:
                proc.wait(1)
            except subprocess.TimeoutExpired:
                pass
            stderr = proc.stderr.read().decode(errors="replace").strip() if proc.poll() is not None else ""
            return False, (messages[0].decode(errors="replace") if messages else stderr or "QEMU ended")
        finally:
            proc.kill()
            proc.wait()
            proc.stderr.close()
            for host, _ in pairs:
                host.close()
