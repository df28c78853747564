"""linux.resources (but devices) of a container's OCI bundle, from its create options: what the cgroup
managers (runtime/cgroups.py) write, at start and for a live `update`.

Apart from spec.py, which builds the rest of the bundle, so that options.py can check a limit against
the host's cgroups (through these values) without importing the spec builder.
"""
from __future__ import annotations

from corral.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.runtime.options import ContainerOptions


def limits(opts: ContainerOptions) -> dict:
    """linux.resources but devices: the memory, CPU, pids and block I/O limits the options ask for.

    --cpus is a CFS quota over docker's 100 ms period; --memory-swap is memory plus swap (OCI's and
    v1's sense; the v2 manager subtracts); -1 lifts a limit. Groups with nothing asked are absent.
    """
    found: dict = {}
    memory = {key: value for key, value in (("limit", opts.memory), ("swap", opts.memory_swap),
                                             ("reservation", opts.memory_reservation)) if value}
    if opts.memory_swappiness is not None:
        memory["swappiness"] = opts.memory_swappiness
    if opts.oom_kill_disable:
        memory["disableOOMKiller"] = True
    if memory:
        found["memory"] = memory
    cpu: dict = {}
    if opts.cpus:
        cpu.update(quota=int(opts.cpus * 100000), period=100000)
    for key, value in (("shares", opts.cpu_shares), ("quota", opts.cpu_quota), ("period", opts.cpu_period),
                       ("cpus", opts.cpuset_cpus), ("mems", opts.cpuset_mems)):
        if value:
            cpu[key] = value
    if cpu:
        found["cpu"] = cpu
    if opts.pids_limit:
        found["pids"] = {"limit": opts.pids_limit}
    block_io = block_io_limits(opts)
    if block_io:
        found["blockIO"] = block_io
    return found


_THROTTLE_OPTIONS = (("device_read_bps", "throttleReadBpsDevice"), ("device_write_bps", "throttleWriteBpsDevice"),
                     ("device_read_iops", "throttleReadIOPSDevice"), ("device_write_iops", "throttleWriteIOPSDevice"))


def block_io_limits(opts: ContainerOptions) -> dict:
    """OCI's blockIO for --blkio-weight, --blkio-weight-device and the four throttles, each path given
    turned into the numbers of its whole disk (two paths on one disk: the last one's value counts)."""
    found: dict = {"weight": opts.blkio_weight} if opts.blkio_weight else {}
    entries = [("weightDevice", "--blkio-weight-device", "Weight", item) for item in opts.blkio_weight_device]
    entries += [(key, "--" + option.replace("_", "-"), "Rate", item)
                for option, key in _THROTTLE_OPTIONS for item in getattr(opts, option)]
    if not entries:
        return found
    from corral.runtime.blockdev import whole_disk

    for key, flag, field, item in entries:
        path, value = item.get("Path") if isinstance(item, dict) else None, \
            item.get(field) if isinstance(item, dict) else None
        if not isinstance(path, str) or not path or not isinstance(value, int) or isinstance(value, bool) \
                or value < 0 or field == "Weight" and value and not 10 <= value <= 1000:
            raise InvalidArgument(f"{flag}: invalid entry {item!r}: give {{'Path': a path, '{field}': "
                                  + ("10 to 1000" if field == "Weight" else "a number >= 0") + "}")
        major, minor = whole_disk(path, flag)
        rows = [r for r in found.get(key, []) if (r["major"], r["minor"]) != (major, minor)]
        found[key] = rows + [{"major": major, "minor": minor, field.lower(): value}]
    return found
