"""Resource limits through cgroups: one manager interface, a v1 and a v2 implementation.

Detected at run time, never assumed: these machines run v1 (plus an empty
cgroup2 mount), an ordinary Debian 12 host runs v2.
"""
from __future__ import annotations

import errno
import os
import time

from corral.errors import InvalidArgument

ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "freezer", "blkio", "devices", "cpuset")


def is_v2() -> bool:
    return os.path.exists(os.path.join(ROOT, "cgroup.controllers"))


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
    """Controller name → mount point, from /proc/self/mounts."""
    found: dict[str, str] = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 3 and parts[2] == "cgroup":
                for opt in parts[3].split(","):
                    if opt in V1_CONTROLLERS:
                        found.setdefault(opt, parts[1])
    return found


class CgroupV1:
    """One directory per controller hierarchy, all named by the same relative path."""

    def __init__(self, rel: str) -> None:
        self.rel = rel.strip("/")
        self.dirs = {c: os.path.join(m, self.rel) for c, m in _v1_mounts().items()}

    def create(self, resources: dict) -> None:
        for ctrl, d in self.dirs.items():
            os.makedirs(d, exist_ok=True)
            if ctrl == "cpuset":
                self._inherit_cpuset(d)
        mem = resources.get("memory", {}).get("limit")
        if mem and "memory" in self.dirs:
            _write(os.path.join(self.dirs["memory"], "memory.limit_in_bytes"), str(mem))
        cpu = resources.get("cpu", {})
        if cpu.get("quota") and "cpu" in self.dirs:
            _write(os.path.join(self.dirs["cpu"], "cpu.cfs_period_us"), str(cpu.get("period", 100000)))
            _write(os.path.join(self.dirs["cpu"], "cpu.cfs_quota_us"), str(cpu["quota"]))
        pids = resources.get("pids", {}).get("limit")
        if pids and "pids" in self.dirs:
            _write(os.path.join(self.dirs["pids"], "pids.max"), str(pids))
        if "devices" in self.dirs:
            self._devices(resources.get("devices", []))

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

    def attach(self, pid: int) -> None:
        for d in self.dirs.values():
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def destroy(self) -> None:
        for d in self.dirs.values():
            _rmdir_retry(d)

    def pids(self) -> list[int]:
        d = self.dirs.get("pids") or self.dirs.get("memory") or next(iter(self.dirs.values()), None)
        return _read_pids(d)

    def paths(self) -> list[str]:
        return list(self.dirs.values())


class CgroupV2:
    def __init__(self, rel: str) -> None:
        self.rel = rel.strip("/")
        self.dir = os.path.join(ROOT, self.rel)

    def create(self, resources: dict) -> None:
        parent = os.path.dirname(self.dir)
        os.makedirs(parent, exist_ok=True)
        with open(os.path.join(ROOT, "cgroup.controllers")) as f:
            available = f.read().split()
        wanted = [c for c in ("cpu", "memory", "pids", "io") if c in available]
        for d in (ROOT, parent):
            for c in wanted:
                try:
                    _write(os.path.join(d, "cgroup.subtree_control"), "+" + c)
                except (OSError, InvalidArgument):
                    pass
        os.makedirs(self.dir, exist_ok=True)
        mem = resources.get("memory", {}).get("limit")
        if mem:
            _write(os.path.join(self.dir, "memory.max"), str(mem))
        cpu = resources.get("cpu", {})
        if cpu.get("quota"):
            _write(os.path.join(self.dir, "cpu.max"), f"{cpu['quota']} {cpu.get('period', 100000)}")
        pids = resources.get("pids", {}).get("limit")
        if pids:
            _write(os.path.join(self.dir, "pids.max"), str(pids))

    def attach(self, pid: int) -> None:
        with open(os.path.join(self.dir, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def destroy(self) -> None:
        _rmdir_retry(self.dir)

    def pids(self) -> list[int]:
        return _read_pids(self.dir)

    def paths(self) -> list[str]:
        return [self.dir]


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


def manager(rel: str) -> CgroupV1 | CgroupV2:
    return CgroupV2(rel) if is_v2() else CgroupV1(rel)
