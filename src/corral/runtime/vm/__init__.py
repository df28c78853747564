"""The VM backend of the runtime (--isolation=vm): a container's command in a QEMU micro-VM with a kernel of
its own. build.py makes the guest once per host, accel.py picks KVM or TCG, qemu.py is the command line,
describe.py the guest init's protocol, start.py the backend's start (runtime/backend.py chooses it)."""
