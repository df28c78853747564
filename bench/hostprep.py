"""The host made ready for the peer tools that tests and benchmarks run beside corral (crun, runc,
podman, skopeo, umoci); corral itself needs none of this.

Two changes, both described in design/HOST-NOTES.md and in the README, each made only where the host
needs it, and idempotent:

- On a hybrid cgroup host (v1 hierarchies under /sys/fs/cgroup plus a cgroup2 mount) whose hugetlb
  controller sits on the cgroup2 mount, crun 1.8 refuses every container ("cgroups in hybrid mode not
  supported"); hugetlb is mounted as a v1 hierarchy at /sys/fs/cgroup/hugetlb. The kernel keeps it
  bound to v1 until a reboot, so a used machine never shows the fresh state again: the decision is a
  pure function of what the host shows, tested on the fresh state as text.
- Without CAP_SYS_RESOURCE podman cannot raise rlimits to its defaults and fails every run
  ("setrlimit RLIMIT_NPROC"); /etc/containers/containers.conf gets `default_ulimits` at the host's
  own hard limits, unless it sets default_ulimits already.

Every test that runs one of these tools goes through `prepare()`, by the `peer_host` fixture
(tests/conftest.py, which also refuses a test that runs one without it), and so does every benchmark,
through bench/_common.begin: the first test to need the host ready must not depend on a test or
benchmark that happened to run before it.
"""
from __future__ import annotations

import os
import re
import resource
import subprocess
from pathlib import Path

PEERS = frozenset({"crun", "runc", "podman", "skopeo", "umoci", "buildah"})
"""The tools this module readies the host for; tests may run them only through the peer_host fixture."""

CGROUP_ROOT = "/sys/fs/cgroup"
CONTAINERS_CONF = Path("/etc/containers/containers.conf")
CAP_SYS_RESOURCE = 24


# --- decisions: pure functions of what the host shows -----------------------------------------

def cgroup2_beside_v1(mounts: str) -> str | None:
    """The cgroup2 mount point of a hybrid host (`mounts` as /proc/self/mounts gives them), or None
    on a pure v2 host, a pure v1 host, or one with no cgroups at CGROUP_ROOT."""
    fields = [line.split() for line in mounts.splitlines() if line.strip()]
    if any(f[1] == CGROUP_ROOT and f[2] == "cgroup2" for f in fields):
        return None  # the unified hierarchy alone: nothing for crun to refuse
    if not any(f[2] == "cgroup" and f[1].startswith(CGROUP_ROOT + "/") for f in fields):
        return None
    return next((f[1] for f in fields if f[2] == "cgroup2" and f[1].startswith(CGROUP_ROOT + "/")), None)


def hugetlb_needs_v1(proc_cgroups: str, unified_controllers: str) -> bool:
    """Whether hugetlb should be mounted as v1: the kernel has it enabled, no v1 hierarchy holds it
    (hierarchy 0 in /proc/cgroups), and the cgroup2 mount lists it in its cgroup.controllers."""
    if "hugetlb" not in unified_controllers.split():
        return False
    for line in proc_cgroups.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] == "hugetlb":
            return f[1] == "0" and f[3] == "1"
    return False


def podman_ulimits(conf: str, has_sys_resource: bool, nofile: int, nproc: int, pid_max: int) -> str | None:
    """containers.conf's new text with default_ulimits at the host's hard limits, or None when podman
    can raise its own (CAP_SYS_RESOURCE) or the file sets default_ulimits already. nproc is capped
    at kernel.pid_max, since podman lowers its own hard limit to that."""
    if has_sys_resource or re.search(r"^\s*default_ulimits\s*=", conf, re.M):
        return None
    nproc = pid_max if nproc == resource.RLIM_INFINITY else min(nproc, pid_max)
    line = f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
    if re.search(r"^\s*\[containers\]\s*$", conf, re.M):
        return re.sub(r"^(\s*\[containers\]\s*\n)", lambda m: m.group(1) + line, conf, count=1, flags=re.M)
    return conf + ("\n" if conf and not conf.endswith("\n") else "") + "[containers]\n" + line


# --- acting on this host ----------------------------------------------------------------------

def _read(path: str | Path) -> str:
    with open(path) as f:
        return f.read()


def _has_cap(bit: int) -> bool:
    m = re.search(r"^CapEff:\s*([0-9a-f]+)", _read("/proc/self/status"), re.M)
    return bool(m and int(m.group(1), 16) >> bit & 1)


def prepare_cgroups() -> None:
    """Mount hugetlb as v1 where hugetlb_needs_v1 says so; afterwards the cgroup2 mount of a hybrid
    host must list no controller, or crun still refuses, and this says which are left."""
    unified = cgroup2_beside_v1(_read("/proc/self/mounts"))
    if unified is None:
        return
    controllers = os.path.join(unified, "cgroup.controllers")
    if hugetlb_needs_v1(_read("/proc/cgroups"), _read(controllers)):
        target = os.path.join(CGROUP_ROOT, "hugetlb")
        os.makedirs(target, exist_ok=True)
        p = subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", target],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"mounting hugetlb as cgroup v1 at {target} failed: {p.stderr.strip()}")
    left = _read(controllers).split()
    if left:
        raise RuntimeError(f"crun refuses hybrid cgroup hosts whose cgroup2 mount ({unified}) holds controllers;"
                           f" it still holds {' '.join(left)}, which this preparation does not move"
                           " (see design/HOST-NOTES.md)")


def prepare_podman(conf: Path = CONTAINERS_CONF) -> None:
    """Write podman_ulimits' text into containers.conf when it has one (atomically)."""
    text = conf.read_text() if conf.exists() else ""
    nproc_hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    new = podman_ulimits(text, _has_cap(CAP_SYS_RESOURCE), resource.getrlimit(resource.RLIMIT_NOFILE)[1],
                         nproc_hard, int(_read("/proc/sys/kernel/pid_max")))
    if new is None:
        return
    conf.parent.mkdir(parents=True, exist_ok=True)
    tmp = conf.with_name(conf.name + ".corral-tmp")
    tmp.write_text(new)
    os.replace(tmp, conf)


def prepare() -> None:
    """Both preparations; safe to call any number of times."""
    prepare_cgroups()
    prepare_podman()
