"""The QEMU command line of a VM container: a microvm machine, the guest kernel and init, its
virtio-serial ports and the container's root over 9p (start.py adds the NICs of runtime/vm/network.py).

-nodefaults and -no-user-config keep QEMU from adding devices or reading host configuration;
-sandbox on with every optional restriction (no new privileges, no fork/exec, no resource control,
no obsolete syscalls) is QEMU's own seccomp filter. The ports' chardevs are sockets QEMU is handed
already connected (fd=), so nothing is left on the filesystem, and a guest that floods them is
throttled by virtio-serial's flow control when the host reads slowly, instead of stalling QEMU.

Why 9p rather than virtiofs: 9p is served by QEMU itself (no virtiofsd process to start, own,
cgroup and reap per container, no vhost-user socket, no shared-memory backend for guest RAM), and a
9p device can be attached to a VM restored from a saved template, which vhost-user devices cannot.
Its cost is slower metadata operations, which a container's start barely exercises.

The machine has acpi=off: the guest kernel has no ACPI, and microvm lists its virtio-mmio devices on
the kernel command line only when it does not describe them in ACPI tables.
"""
from __future__ import annotations

import shutil

from corral.errors import APIError

ROOT_TAG = "corral-root"
PORTS = ("ctl", "out", "err", "exec", "in", "exec2", "exec3", "exec4")
"""The virtio-serial ports, in the order of command()'s `ports`: port N is PORTS[N - 1], /dev/vport0pN in the
guest (guest/init.c): control, stdout, stderr, the first exec port, stdin, and three more exec ports (four execs
may run at once in a VM: runtime/vm/exec.py takes a free port for each)."""
DEFAULT_MEMORY_MIB = 128
KERNEL_ARGS = "console=ttyS0 quiet panic=-1 reboot=t 8250.nr_uarts=1"
"""The console (ttyS0, into the bundle's vm-console.log) says why a guest failed; reboot=t with QEMU's
-no-reboot makes the init's reboot (and a panic's) end QEMU without firmware or ACPI."""
# tb-size under TCG: QEMU's cache of translated code, 1 GiB by default, bounded so that a VM's memory is its
# guest's RAM plus a known overhead (runtime/vm/start.py's VM_OVERHEAD).
# noapictimer under TCG: the guest kernel would spend ~0.3 s verifying the emulated local APIC timer, fail,
# and disable it anyway (then it ticks from the PIT, as it does with the flag).


def binary() -> str:
    found = shutil.which("qemu-system-x86_64")
    if found is None:
        raise APIError("--isolation=vm needs qemu-system-x86_64: install Debian's qemu-system-x86 (setup.sh does)")
    return found


def command(kernel: str, initrd: str, accel: str, rootfs: str, ports: tuple[int, ...], console: str,
            memory_mib: int = DEFAULT_MEMORY_MIB, cpus: int = 1) -> list[str]:
    """The argv; `ports` are the guest's ends (one for each of PORTS, in its order) of the host's socket pairs,
    inherited by QEMU."""
    serial = []
    for nr, (name, fd) in enumerate(zip(PORTS, ports, strict=True), start=1):
        serial += ["-chardev", f"socket,id={name},fd={fd}",
                   "-device", f"virtserialport,chardev={name},nr={nr},name=corral.{name}"]
    return [
        binary(), "-M", "microvm,x-option-roms=off,rtc=off,acpi=off",
        "-accel", "tcg,tb-size=64" if accel == "tcg" else accel, "-cpu", "host" if accel == "kvm" else "qemu64",
        "-m", f"{memory_mib}M", "-smp", str(cpus),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        "-kernel", kernel, "-initrd", initrd,
        "-append", KERNEL_ARGS + (" noapictimer" if accel == "tcg" else ""),
        "-chardev", f"file,id=console,path={console}", "-serial", "chardev:console",
        "-device", "virtio-serial-device,max_ports=16", *serial,
        "-fsdev", f"local,id=root,path={rootfs},security_model=passthrough,multidevs=remap",
        "-device", f"virtio-9p-device,fsdev=root,mount_tag={ROOT_TAG}",
    ]
