"""The runtime's two backends behind one call: a bundle in, a running Process out.

A process container (runtime/start.py: namespaces, overlay, cgroups, seccomp) unless the bundle's
spec asks for a micro-VM (--isolation=vm, runtime/vm/start.py: QEMU with the guest kernel and init,
the same rootfs description handed to the guest). Both return runtime.start.Process (the VM's a
subclass that delivers signals into the guest and reports the command's exit status, not QEMU's), so
the monitor supervises either the same way. The VM backend is imported only for a VM container.
"""
from __future__ import annotations

from corral.runtime import start as process_backend
from corral.runtime.spec import is_vm

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from corral.runtime.vm.start import Booting


def start(bundle: str, spec: dict, window: tuple[int, int] = (0, 0),
          after_fork: Callable[[], None] | None = None,
          seccomp_cache: str | None = None) -> process_backend.Process | Booting:
    """runtime.start.start's contract, for either backend; raises StartFailed as it does. A VM comes back
    booting: the caller polls for its guest's answer (runtime/vm/start.py's Booting)."""
    if is_vm(spec):
        from corral.runtime.vm import start as vm_backend

        return vm_backend.start(bundle, spec, window)
    return process_backend.start(bundle, spec, window, after_fork, seccomp_cache)
