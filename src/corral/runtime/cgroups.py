"""Resource limits through cgroups: one manager interface, a v1 and a v2 implementation.

Detected at run time, never assumed: these machines run v1 (plus an empty
cgroup2 mount), an ordinary Debian 12 host runs v2.
"""
from __future__ import annotations

import errno
import os
import time

from corral.errors import APIError, InvalidArgument

ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "freezer", "blkio", "devices", "cpuset")
V1_VIEWED = ("hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc")
"""v1 controllers corral sets no limit in, whose hierarchies (and named ones, as name=systemd) a container
still gets a cgroup of its own in, as runc and crun give it: its cgroup namespace, and so its view of
/sys/fs/cgroup (runtime/cgroupfs.py), then shows it nothing of the host's other cgroups."""
FREEZE_TIMEOUT = 5.0  # seconds; a task in uninterruptible sleep (a hung NFS read) can hold a freeze up


def is_v2(root: str = ROOT) -> bool:
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.EBUSY, errno.ERANGE):
            name = os.path.basename(path)
            raise InvalidArgument(f"the kernel refused {name}={value.strip()}: {e.strerror}") from None
        raise


def _v1_mounts() -> dict[str, str]:
    """Controller name (or name=NAME of a named hierarchy) → mount point, from /proc/self/mounts."""
    found: dict[str, str] = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 3 and parts[2] == "cgroup":
                for opt in parts[3].split(","):
                    if opt in V1_CONTROLLERS or opt in V1_VIEWED or opt.startswith("name="):
                        found.setdefault(opt, parts[1])
    return found


class CgroupV1:
    """One directory per controller hierarchy, all named by the same relative path.

    `mounts` maps each controller to its hierarchy's mount point; by default the
    host's, from /proc/self/mounts (tests give directories laid out as cgroupfs).
    """

    def __init__(self, rel: str, mounts: dict[str, str] | None = None) -> None:
        self.rel = rel.strip("/")
        self.dirs = {c: os.path.join(m, self.rel) for c, m in (_v1_mounts() if mounts is None else mounts).items()}

    def create(self, resources: dict) -> None:
        for ctrl, d in self.dirs.items():
            os.makedirs(d, exist_ok=True)
            if ctrl == "cpuset":
                self._inherit_cpuset(d)
        self.set(resources)
        if "devices" in self.dirs:
            self._devices(resources.get("devices", []))

    def set(self, resources: dict) -> None:
        """Write the limits `resources` (OCI linux.resources, devices aside) names; at create and for a live
        update alike. A value of -1 lifts a limit; one absent (or 0) leaves it as it is."""
        mem = resources.get("memory", {})
        if mem and "memory" in self.dirs:
            self._memory(self.dirs["memory"], mem)
        cpu = resources.get("cpu", {})
        d = self.dirs.get("cpu")
        if d and cpu.get("shares"):
            _write(os.path.join(d, "cpu.shares"), str(cpu["shares"]))
        if d and cpu.get("period"):
            _write(os.path.join(d, "cpu.cfs_period_us"), str(cpu["period"]))
        if d and cpu.get("quota"):
            _write(os.path.join(d, "cpu.cfs_quota_us"), str(max(cpu["quota"], -1)))
        for key in ("cpus", "mems"):
            if cpu.get(key) and "cpuset" in self.dirs:
                _write(os.path.join(self.dirs["cpuset"], f"cpuset.{key}"), cpu[key])
        pids = resources.get("pids", {}).get("limit")
        if pids and "pids" in self.dirs:
            _write(os.path.join(self.dirs["pids"], "pids.max"), _limit(pids))
        if resources.get("blockIO"):
            self._block_io(resources["blockIO"])

    def _block_io(self, bio: dict) -> None:
        """blkio.weight, and one line per disk in blkio.weight_device and the four throttle files."""
        d = self.dirs.get("blkio", "/")
        if bio.get("weight"):
            path = os.path.join(d, "blkio.weight")
            _write(_required(path, "--blkio-weight", "the block I/O scheduler keeps no weights"), str(bio["weight"]))
        for dev in bio.get("weightDevice") or ():
            path = _required(os.path.join(d, "blkio.weight_device"), "--blkio-weight-device",
                             "the block I/O scheduler keeps no weights")
            _write(path, f"{dev['major']}:{dev['minor']} {dev['weight']}")
        for key, (name, flag) in THROTTLES.items():
            for dev in bio.get(key) or ():
                path = _required(os.path.join(d, f"blkio.throttle.{name}_device"), flag)
                _write(path, f"{dev['major']}:{dev['minor']} {dev['rate']}")

    @staticmethod
    def _memory(d: str, mem: dict) -> None:
        """memory.memsw.limit_in_bytes (memory plus swap) may never be below memory.limit_in_bytes, so when the
        limit grows past the current memsw, memsw is written first (runc's order)."""
        writes = []
        if mem.get("limit"):
            writes.append(("memory.limit_in_bytes", str(max(mem["limit"], -1))))
        swap = os.path.join(d, "memory.memsw.limit_in_bytes")
        if mem.get("swap") and (mem["swap"] != -1 or os.path.exists(swap)):  # no accounting: -1 is the case already
            _required(swap, "--memory-swap", "the kernel keeps no swap accounting: boot it with swapaccount=1")
            with open(swap) as f:
                current = int(f.read())
            grows = mem["swap"] == -1 or (mem.get("limit") or 0) > current
            writes.insert(0 if grows else len(writes), ("memory.memsw.limit_in_bytes", str(max(mem["swap"], -1))))
        if mem.get("reservation"):
            writes.append(("memory.soft_limit_in_bytes", str(max(mem["reservation"], -1))))
        if mem.get("swappiness") is not None:
            writes.append(("memory.swappiness", str(mem["swappiness"])))
        if mem.get("disableOOMKiller"):
            writes.append(("memory.oom_control", "1"))
        for name, value in writes:
            _write(os.path.join(d, name), value)

    def _inherit_cpuset(self, d: str) -> None:
        """A new v1 cpuset starts empty and accepts no task; copy the parent's CPUs and nodes down."""
        parts = self.rel.split("/")
        base = d[: len(d) - len(self.rel)].rstrip("/")
        for i in range(len(parts)):
            here = os.path.join(base, *parts[: i + 1])
            parent = os.path.dirname(here)
            for name in ("cpuset.cpus", "cpuset.mems"):
                with open(os.path.join(here, name)) as f:
                    if f.read().strip():
                        continue
                with open(os.path.join(parent, name)) as f:
                    _write(os.path.join(here, name), f.read().strip())

    def _devices(self, rules: list[dict]) -> None:
        path = self.dirs["devices"]
        for rule in rules:
            kind = rule.get("type", "a")
            major = "*" if rule.get("major") is None else str(rule["major"])
            minor = "*" if rule.get("minor") is None else str(rule["minor"])
            entry = "a" if kind == "a" else f"{kind} {major}:{minor} {rule.get('access', 'rwm')}"
            _write(os.path.join(path, "devices.allow" if rule.get("allow") else "devices.deny"), entry)

    def entry_files(self) -> list[str]:
        """Per-thread `tasks` files: see enter() for why not cgroup.procs."""
        return [os.path.join(d, "tasks") for d in self.dirs.values()]

    def destroy(self) -> None:
        """Thaw first: a frozen v1 task cannot even die of SIGKILL, so its cgroup would never empty."""
        if self.frozen():
            self.thaw()
        for d in self.dirs.values():
            _rmdir_retry(d)

    def pids(self) -> list[int]:
        d = self.dirs.get("pids") or self.dirs.get("memory") or next(iter(self.dirs.values()), None)
        return _read_pids(d)

    def oom_kills(self) -> int:
        """Processes the kernel's OOM killer has killed in this cgroup (memory.oom_control's oom_kill)."""
        return _counter(os.path.join(self.dirs.get("memory", "/"), "memory.oom_control"), "oom_kill")

    def _freezer_state(self) -> str:
        try:
            with open(os.path.join(self._freezer_dir(), "freezer.state")) as f:
                return f.read().strip()
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENODEV):  # ENODEV: removed between open and read
                return "THAWED"  # the cgroup is gone: nothing in it can be frozen
            raise

    def _freezer_dir(self) -> str:
        if "freezer" not in self.dirs:
            raise APIError("cannot pause: the freezer cgroup controller is not mounted on this host")
        return self.dirs["freezer"]

    def freeze(self) -> None:
        """Stop every task, returning only once all are stopped (or raising, thawed again).

        The kernel reports FREEZING until the last task stops, and a task forked
        or attached meanwhile can escape the first pass, so FROZEN is written
        again on every check, and now and then after a short thaw, as runc does.
        """
        path = os.path.join(self._freezer_dir(), "freezer.state")
        deadline = time.monotonic() + FREEZE_TIMEOUT
        delay, attempt = 0.0005, 0
        while True:
            _write(path, "FROZEN")
            state = self._freezer_state()
            if state == "FROZEN":
                return
            if time.monotonic() > deadline:
                self.thaw()
                raise APIError(f"cannot pause: some processes did not stop within {FREEZE_TIMEOUT:g} s")
            attempt += 1
            if attempt % 50 == 0:
                _write(path, "THAWED")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def thaw(self) -> None:
        """Synchronous: after THAWED is written every task is runnable again, nothing to wait for."""
        _write(os.path.join(self._freezer_dir(), "freezer.state"), "THAWED")

    def frozen(self) -> bool:
        """Whether a freeze is in force, counting FREEZING: those tasks need a thaw as much as frozen ones."""
        if "freezer" not in self.dirs:
            return False
        return self._freezer_state() != "THAWED"

    def paths(self) -> list[str]:
        return list(self.dirs.values())


class CgroupV2:
    """One directory in the unified hierarchy mounted at `root` (another cgroup2 mount, or in unit
    tests a directory laid out as one): every path, the controllers offered included, is under it."""

    def __init__(self, rel: str, root: str = ROOT) -> None:
        self.rel = rel.strip("/")
        self.root = root
        self.dir = os.path.join(root, self.rel)

    def create(self, resources: dict) -> None:
        parent = os.path.dirname(self.dir)
        os.makedirs(parent, exist_ok=True)
        with open(os.path.join(self.root, "cgroup.controllers")) as f:
            available = f.read().split()
        cpu = resources.get("cpu", {})
        controllers = ("cpu", "memory", "pids", "io") + (("cpuset",) if cpu.get("cpus") or cpu.get("mems") else ())
        wanted = [c for c in controllers if c in available]
        for d in (self.root, parent):
            for c in wanted:
                try:
                    _write(os.path.join(d, "cgroup.subtree_control"), "+" + c)
                except (OSError, InvalidArgument):
                    pass
        os.makedirs(self.dir, exist_ok=True)
        if resources.get("devices") is not None:  # v2 has no devices controller: a BPF program (devicefilter.py)
            from corral.runtime import devicefilter

            devicefilter.attach(self.dir, resources["devices"])
        self.set(resources)

    def set(self, resources: dict) -> None:
        """Write the limits `resources` (OCI linux.resources, devices aside) names, in v2's files and units
        (as runc converts them); at create and for a live update alike. -1 lifts a limit, absent or 0 keeps it."""
        mem = resources.get("memory", {})
        if mem.get("limit"):
            _write(os.path.join(self.dir, "memory.max"), _limit(mem["limit"]))
        if mem.get("swap"):
            # v2 counts swap alone; OCI's swap (docker's --memory-swap) is memory plus swap
            swap = -1 if mem["swap"] == -1 or not mem.get("limit") or mem["limit"] < 0 else mem["swap"] - mem["limit"]
            _write(_required(os.path.join(self.dir, "memory.swap.max"), "--memory-swap"), _limit(swap))
        if mem.get("reservation"):
            _write(os.path.join(self.dir, "memory.low"), _limit(mem["reservation"]))
        if mem.get("swappiness") is not None or mem.get("disableOOMKiller"):
            refuse_unsupported({"memory": mem}, self.root)
        cpu = resources.get("cpu", {})
        if cpu.get("shares"):
            _write(os.path.join(self.dir, "cpu.weight"), str(shares_to_weight(cpu["shares"])))
        if cpu.get("quota") or cpu.get("period"):
            quota = _limit(cpu["quota"]) if cpu.get("quota") else self._current_quota()
            _write(os.path.join(self.dir, "cpu.max"), f"{quota} {cpu.get('period') or 100000}")
        for key in ("cpus", "mems"):
            if cpu.get(key):
                _write(os.path.join(self.dir, f"cpuset.{key}"), cpu[key])
        pids = resources.get("pids", {}).get("limit")
        if pids:
            _write(os.path.join(self.dir, "pids.max"), _limit(pids))
        if resources.get("blockIO"):
            self._io(resources["blockIO"])

    def _io(self, bio: dict) -> None:
        """v2's io files: a weight in io.bfq.weight (BFQ's 10..1000, as blkio's) or else io.weight (1..10000,
        converted), for all disks ("default") or per disk; the throttles as one io.max line per disk."""
        bfq = os.path.join(self.dir, "io.bfq.weight")
        weights = [("default", bio["weight"])] if bio.get("weight") else []
        weights += [(f"{dev['major']}:{dev['minor']}", dev["weight"]) for dev in bio.get("weightDevice") or ()]
        for target, weight in weights:
            flag = "--blkio-weight" if target == "default" else "--blkio-weight-device"
            if os.path.exists(bfq):
                _write(bfq, f"{target} {weight}")
            else:
                _write(_required(os.path.join(self.dir, "io.weight"), flag), f"{target} {blkio_to_io_weight(weight)}")
        limits: dict[str, list[str]] = {}
        for key, (name, _) in THROTTLES.items():
            for dev in bio.get(key) or ():
                limits.setdefault(f"{dev['major']}:{dev['minor']}", []).append(
                    f"{IO_MAX_KEYS[name]}={dev['rate'] or 'max'}")  # 0 lifts the limit, as on v1
        for disk, keys in limits.items():
            _write(_required(os.path.join(self.dir, "io.max"), "--device-read-bps/--device-write-bps"),
                   f"{disk} {' '.join(keys)}")

    def _current_quota(self) -> str:
        try:
            with open(os.path.join(self.dir, "cpu.max")) as f:
                return f.read().split()[0]
        except (FileNotFoundError, IndexError):
            return "max"

    def entry_files(self) -> list[str]:
        return [os.path.join(self.dir, "cgroup.procs")]

    def destroy(self) -> None:
        """Thaw first, as v1 must; here only a precaution, since a fatal signal does reach frozen v2 tasks."""
        if self.frozen():
            self.thaw()
        _rmdir_retry(self.dir)

    def pids(self) -> list[int]:
        return _read_pids(self.dir)

    def oom_kills(self) -> int:
        """Processes the kernel's OOM killer has killed in this cgroup (memory.events' oom_kill)."""
        return _counter(os.path.join(self.dir, "memory.events"), "oom_kill")

    def freeze(self) -> None:
        """Stop every task, returning only once cgroup.events says "frozen 1" (or raising, thawed again).

        The kernel flips that key when the last task has stopped and notifies
        pollers of the file with POLLPRI, so this sleeps on poll() rather than
        spinning; the timeout bounds a task stuck in uninterruptible sleep.
        """
        _write(os.path.join(self.dir, "cgroup.freeze"), "1")
        if not self._wait_frozen(FREEZE_TIMEOUT):
            self.thaw()
            raise APIError(f"cannot pause: some processes did not stop within {FREEZE_TIMEOUT:g} s")

    def thaw(self) -> None:
        """The kernel clears "frozen" synchronously when unfreezing, so there is nothing to wait for."""
        _write(os.path.join(self.dir, "cgroup.freeze"), "0")

    def frozen(self) -> bool:
        """Whether a freeze is requested (cgroup.freeze), even while cgroup.events still reports it in progress."""
        try:
            with open(os.path.join(self.dir, "cgroup.freeze")) as f:
                return f.read().strip() == "1"
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENODEV):  # ENODEV: removed between open and read
                return False
            raise

    def _wait_frozen(self, timeout: float) -> bool:
        import select

        deadline = time.monotonic() + timeout
        fd = os.open(os.path.join(self.dir, "cgroup.events"), os.O_RDONLY | os.O_CLOEXEC)
        try:
            poller = select.poll()
            poller.register(fd, select.POLLPRI)
            while True:
                events = dict(line.split(None, 1) for line in os.pread(fd, 4096, 0).decode().splitlines())
                if events.get("frozen", "0").strip() == "1":
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                poller.poll(int(min(left, 0.1) * 1000) + 1)  # the re-read bounds a missed notification
        finally:
            os.close(fd)

    def paths(self) -> list[str]:
        return [self.dir]


def _limit(value: int) -> str:
    """A limit as v2 and pids.max write it: -1 (or below) is "max"."""
    return "max" if value < 0 else str(value)


def _required(path: str, flag: str, why: str = "") -> str:
    """`path`, which a limit needs; a host whose cgroups lack it refuses the limit in words, not with ENOENT."""
    if not os.path.exists(path):
        raise InvalidArgument(f"{flag} is not supported on this host: its cgroups have no {os.path.basename(path)}"
                              + (f" ({why})" if why else ""))
    return path


THROTTLES = {"throttleReadBpsDevice": ("read_bps", "--device-read-bps"),
             "throttleWriteBpsDevice": ("write_bps", "--device-write-bps"),
             "throttleReadIOPSDevice": ("read_iops", "--device-read-iops"),
             "throttleWriteIOPSDevice": ("write_iops", "--device-write-iops")}
"""OCI's blockIO throttle lists: v1's blkio.throttle.<name>_device file, and the flag that sets them."""
IO_MAX_KEYS = {"read_bps": "rbps", "write_bps": "wbps", "read_iops": "riops", "write_iops": "wiops"}
"""The same throttles as v2's io.max keys."""


def blkio_to_io_weight(weight: int) -> int:
    """A blkio weight (10..1000, default 500) as v2's io.weight (1..10000, default 100), runc's mapping."""
    return 1 + (weight - 10) * 9999 // 990


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144, default 1024) as v2's cpu.weight (1..10000, default 100), runc's mapping."""
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def _counter(path: str, key: str) -> int:
    """The value of `key` in a flat keyed file ("oom_kill 1"); 0 when the file or the key is missing."""
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _read_pids(d: str | None) -> list[int]:
    if not d:
        return []
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def _rmdir_retry(d: str) -> None:
    """rmdir a cgroup whose last tasks may still be exiting after the pid namespace died."""
    delay = 0.0002
    while True:
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or delay > 0.5:
                raise
        time.sleep(delay)
        delay *= 2


def swap_accounted(root: str = ROOT) -> bool:
    """Whether this host's memory cgroup limits swap (v1's memory.memsw files, v2's memory.swap.max in
    the cgroup we run in): docker's default for --memory without --memory-swap depends on it."""
    if is_v2(root):
        with open("/proc/self/cgroup") as f:
            here = next((line.split(":", 2)[2].strip() for line in f if line.startswith("0::")), "/")
        return os.path.exists(os.path.join(root, here.lstrip("/"), "memory.swap.max"))
    memory = _v1_mounts().get("memory") if root == ROOT else os.path.join(root, "memory")
    return bool(memory) and os.path.exists(os.path.join(memory, "memory.memsw.limit_in_bytes"))


def refuse_unsupported(resources: dict, root: str = ROOT) -> None:
    """Refuse, before a container is made or its record changed, a limit of `resources` (OCI
    linux.resources) this host's cgroups cannot apply. On v1 each limit's file is looked for at the
    hierarchy's root; v2 has no swappiness nor a switch for the OOM killer at all, and its other files
    exist only below the root (a limit missing there is refused when it is written)."""
    mem, bio = resources.get("memory") or {}, resources.get("blockIO") or {}
    if is_v2(root):
        for asked, flag in ((mem.get("swappiness") is not None, "--memory-swappiness"),
                            (mem.get("disableOOMKiller"), "--oom-kill-disable")):
            if asked:
                raise InvalidArgument(f"{flag} is not supported on cgroup v2 hosts (the kernel has no such "
                                      "setting in the unified hierarchy)")
        return
    mounts = _v1_mounts() if root == ROOT else {c: os.path.join(root, c) for c in V1_CONTROLLERS}
    no_weights, no_swap = "the block I/O scheduler keeps no weights", "the kernel keeps no swap accounting: " \
        "boot it with swapaccount=1"
    wanted = [("blkio", "blkio.weight", "--blkio-weight", no_weights, bio.get("weight")),
              ("blkio", "blkio.weight_device", "--blkio-weight-device", no_weights, bio.get("weightDevice")),
              ("memory", "memory.memsw.limit_in_bytes", "--memory-swap", no_swap, mem.get("swap", -1) != -1),
              ("memory", "memory.swappiness", "--memory-swappiness", "", mem.get("swappiness") is not None)]
    wanted += [("blkio", f"blkio.throttle.{name}_device", flag, "", bio.get(key))
               for key, (name, flag) in THROTTLES.items()]
    for ctrl, name, flag, why, asked in wanted:
        if asked and ctrl in mounts:
            _required(os.path.join(mounts[ctrl], name), flag, why)


def manager(rel: str, root: str = ROOT) -> CgroupV1 | CgroupV2:
    """The cgroup `rel` of the host's hierarchy at `root`, v2 when that is a cgroup2 mount."""
    return CgroupV2(rel, root) if is_v2(root) else CgroupV1(rel)


def enter(entry_files: list[str], pid: int = 0) -> None:
    """Move the calling process, which must be single-threaded (a fresh fork), into a cgroup.

    The process moves itself, by writing "0" to each of the cgroup's
    entry_files(). On v1 those are the per-thread `tasks` files: moving
    only the caller takes no global lock, whereas a move through
    cgroup.procs (or of another process) takes the kernel's threadgroup
    lock, whose first use after a quiet spell waits an RCU grace period,
    10-20 ms here, longer than the whole rest of a container's start (and
    every fork on the host waits meanwhile). On v2 cgroup.procs is the only
    way in and pays that wait. `pid`: another single-threaded process to move instead (a user-namespaced
    init, which may not write its cgroup's files).
    """
    for path in entry_files:
        with open(path, "w") as f:
            f.write(str(pid))
