"""The host view of containers' processes: every process of every running container, each with its owner.

On the host a container's processes are ordinary processes among all the others; what Task
Manager's session column gave Windows Server Containers is the answer to "whose is this one?".
A process belongs to the container whose cgroup it is in (runtime/cgroups.py puts the init there,
and every exec'd process and every child follows), so a listing reads each running container's
cgroup, and the reverse lookup of one host PID reads that process's /proc/PID/cgroup, in which a
container's cgroup is /corral/<ID>. Only this store's containers (CORRAL_ROOT) are any process's
owners here: another store's on the same host are listed by that store.
"""
from __future__ import annotations

import os

from corral.errors import Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.container import Container
    from corral.api.filters import Filters
    from corral.api.host import Host
    from corral.runtime.procs import Process

CGROUP_PARENT = "corral"
"""The cgroup every container's own is made under (spec.build's cgroupsPath, /corral/<ID>)."""


class HostProcess:
    """One process of a container, as the host sees it: its host PID, its PID inside the container's PID
    namespace (NSpid), its user (the name the container's /etc/passwd gives), its command line, and the
    Container that owns it."""

    __slots__ = ("pid", "container_pid", "user", "cmd", "container")

    def __init__(self, process: Process, container: Container) -> None:
        self.pid, self.container_pid, self.user, self.cmd = process[:4]
        self.container = container

    def __repr__(self) -> str:
        return f"<HostProcess {self.pid} ({self.container_pid} in {self.container.name}): {self.cmd}>"


def owner_id(pid: int, proc: str = "/proc") -> str | None:
    """The ID of the container whose cgroup holds host process `pid` (any container of any store), or None
    for a process in no container's cgroup; NotFound when there is no such process."""
    try:
        with open(os.path.join(proc, str(pid), "cgroup")) as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        raise NotFound(f"no such process: {pid}") from None
    for line in text.splitlines():
        parts = line.split(":", 2)[-1].split("/")
        for i, part in enumerate(parts[:-1]):
            cid = parts[i + 1]
            if part == CGROUP_PARENT and len(cid) == 64 and all(c in "0123456789abcdef" for c in cid):
                return cid
    return None


def owner(host: Host, pid: int) -> Container:
    """The container of this store that owns host process `pid`; NotFound, saying why, when none does."""
    cid = owner_id(pid)
    if cid is None:
        raise NotFound(f"process {pid} is in no container")
    try:
        return host.container(cid)
    except NotFound:
        raise NotFound(f"process {pid} is in container {cid[:12]}, which is not of this store") from None


def of_container(container: Container) -> list[Process]:
    """The processes of a running container (as Container.top() lists them); none when it stopped meanwhile."""
    try:
        return container.top()
    except (Conflict, FileNotFoundError, ProcessLookupError):
        return []


def listing(host: Host, filters: Filters | None = None) -> list[HostProcess]:
    """Every process of the store's running containers, the newest container first (as `ps`), each one's
    by host PID. filters: `ps`'s (name=, id=, label=, ...) select the containers, and pid=N (one or more)
    the processes, which is the reverse lookup of a host PID."""
    from corral.api import filters as container_filters

    wanted = dict(filters or {})
    pids: set[int] = set()
    for text in wanted.pop("pid", ()):
        if not text.isdigit():
            raise InvalidArgument(f"invalid filter 'pid={text}': give a host process ID")
        pids.add(int(text))
    if pids:
        owners = set()
        for pid in pids:
            try:
                owners.add(owner_id(pid))
            except NotFound:
                continue
        candidates = [c for c in container_filters.containers(host, filters=wanted) if c.id in owners]
    else:
        candidates = container_filters.containers(host, filters=wanted)
    found = []
    for c in candidates:
        found += [HostProcess(p, c) for p in of_container(c) if not pids or p.pid in pids]
    return found
