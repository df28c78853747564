"""What a container's cgroup and network namespace count, in the shape of docker's stats JSON.

docker stats (and the Engine API's /containers/{id}/stats, and docker-py's
Container.stats) report the kernel's counters as moby copies them from
containerd's cgroup metrics: on v1 cpuacct/cpu/memory/pids/blkio files with
memory.stat's keys as they are (cache, rss, total_inactive_file…); on v2
cpu.stat in microseconds turned to nanoseconds, memory.stat's v2 keys (anon,
file, inactive_file…) and io.stat as read/write entries. The memory limit of
an unlimited container is the host's memory, as docker reports it. Keeping the
same keys per cgroup version matters: the docker CLI subtracts
total_inactive_file (v1) or inactive_file (v2) from the usage it shows.

The host-wide figures (system CPU time from /proc/stat, online CPUs) and the
network namespace's interfaces (/proc/PID/net/dev, which shows the namespace
of PID) are read here too; the engine puts one sample together (api/stats.py).
"""
from __future__ import annotations

import errno
import os

from corral.runtime.vm.network import TAP_PREFIX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from corral.runtime.cgroups import CgroupV1, CgroupV2

    Text = Callable[[str], "str | None"]  # how the readers get a file: _text, or Files.text (kept open)

NS = 1_000_000_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

V1_MEMORY_KEYS = (
    "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout", "pgfault", "pgmajfault",
    "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable", "hierarchical_memory_limit",
    "hierarchical_memsw_limit", "total_cache", "total_rss", "total_rss_huge", "total_mapped_file", "total_dirty",
    "total_writeback", "total_pgpgin", "total_pgpgout", "total_pgfault", "total_pgmajfault", "total_inactive_anon",
    "total_active_anon", "total_inactive_file", "total_active_file", "total_unevictable",
)
"""memory.stat's v1 keys docker reports, in its order."""

V2_MEMORY_KEYS = (
    "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty", "file_writeback",
    "anon_thp", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable", "slab_reclaimable",
    "slab_unreclaimable", "pgfault", "pgmajfault", "workingset_refault", "workingset_activate",
    "workingset_nodereclaim", "pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree",
    "pglazyfreed", "thp_fault_alloc", "thp_collapse_alloc",
)
"""memory.stat's v2 keys docker reports, in its order."""

BLKIO_KEYS = ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
              "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive", "io_time_recursive",
              "sectors_recursive")

NET_KEYS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


def _text(path: str) -> str | None:
    """A counter file read once (open, read, close); None when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _read_all(fd)
    finally:
        os.close(fd)


def _read_all(fd: int) -> str | None:
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        return None
    return b"".join(chunks).decode(errors="replace")


class Files:
    """The counter files a stream of samples reads every second, kept open between its frames.

    cgroupfs and procfs make a file's text afresh when it is read from offset 0, so a re-read is one
    pread instead of an open, a read and a close: for fifty containers' fifteen files a second that is
    most of what `corral stats` costs. A file that does not exist reads as None, and is not looked for
    again (a cgroup's files are its controllers', fixed when it is made); when descriptors run out (a
    host's soft limit of 1024) files are read the slow way. close() ends it; a container that stops or
    restarts gets a new one (its cgroup is made anew)."""

    __slots__ = ("fds",)

    def __init__(self) -> None:
        self.fds: dict[str, int] = {}

    def text(self, path: str) -> str | None:
        fd = self.fds.get(path)
        if fd is None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    return _text(path)
                fd = -1 if e.errno == errno.ENOENT else None
            if fd is None:
                return None
            self.fds[path] = fd
        if fd < 0:
            return None
        try:
            data = os.pread(fd, 65536, 0)
        except OSError:  # the cgroup or the process went away under it
            os.close(self.fds.pop(path))
            return None
        if len(data) == 65536:
            return _text(path)  # larger than one read: no pread at an offset into a generated file
        return data.decode(errors="replace")

    def close(self) -> None:
        for fd in self.fds.values():
            if fd >= 0:
                os.close(fd)
        self.fds.clear()


def _int(path: str, unlimited: int = 0, text: Text = _text) -> int:
    """A one-number file; "max" (v2's no limit) is `unlimited`, a missing file 0."""
    text = text(path)
    if text is None:
        return 0
    text = text.strip()
    if text == "max":
        return unlimited
    try:
        return int(text)
    except ValueError:
        return 0


def _keyed(path: str, text: Text = _text) -> dict[str, int]:
    """A flat keyed file (memory.stat, cpu.stat, cpuacct.stat): name → number."""
    found = {}
    for line in (text(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdecimal():
            found[parts[0]] = int(parts[1])
    return found


def machine_memory() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def system_cpu(proc: str = "/proc", text: Text = _text) -> tuple[int, int]:
    """(the host's CPU time in ns, online CPUs) from /proc/stat as moby counts them: the first seven
    fields of the cpu line (user … softirq) in clock ticks, and the cpuN lines."""
    total, cpus = 0, 0
    for line in (text(os.path.join(proc, "stat")) or "").splitlines():
        if line.startswith("cpu "):
            total = sum(int(v) for v in line.split()[1:8]) * NS // CLOCK_TICKS
        elif line.startswith("cpu"):
            cpus += 1
        elif total:
            break
    return total, cpus


def networks(pid: int, proc: str = "/proc", text: Text = _text) -> dict[str, dict[str, int]]:
    """Counters of each interface in the network namespace of `pid`, but lo: docker reports the
    container's endpoints (eth0 …), so a container without network has none."""
    found = {}
    for line in (text(os.path.join(proc, str(pid), "net", "dev")) or "").splitlines()[2:]:
        name, _, counters = line.partition(":")
        name, values = name.strip(), counters.split()
        if name == "lo" or name.startswith(TAP_PREFIX) or len(values) < 12:  # a VM's taps: its ethN counts them
            continue
        rx, tx = [int(v) for v in values[:4]], [int(v) for v in values[8:12]]
        found[name] = dict(zip(NET_KEYS, rx + tx))
    return found


def empty_cpu() -> dict:
    """cpu_stats of no sample: docker's precpu_stats of a first frame, and both of a stopped container."""
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def read(cg: CgroupV1 | CgroupV2, files: Files | None = None) -> dict:
    """pids_stats, blkio_stats, cpu_stats (without the host's figures) and memory_stats of a cgroup;
    through `files` when the caller keeps them open between samples."""
    text = files.text if files is not None else _text
    if hasattr(cg, "dirs"):
        return read_v1(cg.dirs, text)  # type: ignore[union-attr]
    return read_v2(cg.dir, text)  # type: ignore[union-attr]


def _limit(value: int, host: int) -> int:
    return host if value <= 0 or value > host else value


def read_v1(dirs: dict[str, str], text: Text = _text) -> dict:
    """From one directory per v1 controller, as CgroupV1.dirs names them."""
    acct, cpu, mem = dirs.get("cpuacct", ""), dirs.get("cpu", ""), dirs.get("memory", "")
    ticks = _keyed(os.path.join(acct, "cpuacct.stat"), text)
    percpu = [int(v) for v in (text(os.path.join(acct, "cpuacct.usage_percpu")) or "").split()]
    throttled = _keyed(os.path.join(cpu, "cpu.stat"), text)
    usage = {"total_usage": _int(os.path.join(acct, "cpuacct.usage"), text=text), "percpu_usage": percpu,
             "usage_in_kernelmode": ticks.get("system", 0) * NS // CLOCK_TICKS,
             "usage_in_usermode": ticks.get("user", 0) * NS // CLOCK_TICKS}
    if not percpu:
        del usage["percpu_usage"]  # omitted when empty, as docker's JSON does
    stat = _keyed(os.path.join(mem, "memory.stat"), text)
    memory = {"usage": _int(os.path.join(mem, "memory.usage_in_bytes"), text=text),
              "max_usage": _int(os.path.join(mem, "memory.max_usage_in_bytes"), text=text),
              "stats": {key: stat.get(key, 0) for key in V1_MEMORY_KEYS},
              "failcnt": _int(os.path.join(mem, "memory.failcnt"), text=text),
              "limit": _limit(_int(os.path.join(mem, "memory.limit_in_bytes"), text=text), machine_memory())}
    memory = _omit_zeros(memory)
    blkio = dirs.get("blkio", "")
    io = dict.fromkeys(BLKIO_KEYS)
    for key, name in (("io_service_bytes_recursive", "io_service_bytes_recursive"),
                      ("io_serviced_recursive", "io_serviced_recursive")):
        # the proportional-weight scheduler's counters, else (as on hosts without CFQ/BFQ) the throttle layer's
        entries = _blkio_v1(os.path.join(blkio, f"blkio.{name}"), text)
        io[key] = entries or _blkio_v1(os.path.join(blkio, f"blkio.throttle.{name}"), text)
    return {"pids_stats": _pids(dirs.get("pids", ""), text), "blkio_stats": io,
            "cpu_stats": {"cpu_usage": usage, "throttling_data": _throttling(throttled)},
            "memory_stats": memory}


def _omit_zeros(memory: dict) -> dict:
    """memory_stats without its zero numbers, which docker's JSON omits (max_usage and failcnt, mostly)."""
    return {key: value for key, value in memory.items() if value or key == "stats"}


def _blkio_v1(path: str, text: Text = _text) -> list[dict]:
    """Lines "8:0 Read 4096" as docker's entries; the closing "Total N" line is no device's."""
    found = []
    for line in (text(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, _, minor = parts[0].partition(":")
            found.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return found


def _pids(d: str, text: Text = _text) -> dict:
    """current and limit, each omitted when 0 as in docker's JSON (no limit reads as 0)."""
    found = {"current": _int(os.path.join(d, "pids.current"), text=text),
             "limit": _int(os.path.join(d, "pids.max"), text=text)}
    return {key: value for key, value in found.items() if value}


def _throttling(stat: dict[str, int]) -> dict:
    """cpu.stat's throttling counters; v1 counts throttled time in ns (throttled_time), v2 in µs."""
    time_ns = stat["throttled_usec"] * 1000 if "throttled_usec" in stat else stat.get("throttled_time", 0)
    return {"periods": stat.get("nr_periods", 0), "throttled_periods": stat.get("nr_throttled", 0),
            "throttled_time": time_ns}


def read_v2(d: str, text: Text = _text) -> dict:
    """From the container's directory in the unified hierarchy."""
    cpu = _keyed(os.path.join(d, "cpu.stat"), text)
    usage = {"total_usage": cpu.get("usage_usec", 0) * 1000, "usage_in_kernelmode": cpu.get("system_usec", 0) * 1000,
             "usage_in_usermode": cpu.get("user_usec", 0) * 1000}
    stat = _keyed(os.path.join(d, "memory.stat"), text)
    memory = {"usage": _int(os.path.join(d, "memory.current"), text=text),
              "stats": {key: stat.get(key, 0) for key in V2_MEMORY_KEYS},
              "limit": _limit(_int(os.path.join(d, "memory.max"), unlimited=-1, text=text), machine_memory())}
    memory["failcnt"] = _keyed(os.path.join(d, "memory.events"), text).get("oom", 0)
    memory = _omit_zeros(memory)
    entries = []
    for line in (text(os.path.join(d, "io.stat")) or "").splitlines():
        device, *fields = line.split()
        major, _, minor = device.partition(":")
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        for op, key in (("read", "rbytes"), ("write", "wbytes")):
            entries.append({"major": int(major), "minor": int(minor), "op": op, "value": int(values.get(key, 0))})
    io = dict.fromkeys(BLKIO_KEYS)
    io["io_service_bytes_recursive"] = entries or None
    return {"pids_stats": _pids(d, text), "blkio_stats": io,
            "cpu_stats": {"cpu_usage": usage, "throttling_data": _throttling(cpu)}, "memory_stats": memory}
