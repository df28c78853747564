"""Density: cost of N idle `sleep` containers with corral against podman.

Why: corral promises to be cheap to keep many containers running. Memory is
taken from the processes' own counters (PSS of supervisor + init, so shared
pages are split fairly) plus the kernel memory each container's cgroup is
charged, never from `free`, which mixes in page cache and other tenants; the
system's Slab+PageTables delta is printed as a kernel-side cross-check.
Targets: corral <= 1 MiB per container, corral time per start <= podman's.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (PREFIX, begin, cgroup_kmem_kib, cleanup_podman, corral_cmd, corral_env, corral_ready,  # noqa: E402
                     make_rootfs, meminfo_kernel_kib, memory_cgroup, podman_import, ppid, pss_kib,
                     remove_corral_root, run, timed, verdict)

SETTLE_S = 1.0


@dataclass
class Batch:
    """What one engine's batch of containers cost."""
    start_ms: list[float]
    pss_kib: int          # PSS of all distinct supervisor and init processes
    kmem_kib: int         # kernel memory charged to the containers' own cgroups
    own_cgroups: int      # containers that had a memory cgroup of their own
    meminfo_kib: int      # system Slab+PageTables after minus before
    supervisor: str       # command name of the supervisor, to show what was measured

    def per_ctr_mib(self) -> float:
        return (self.pss_kib + self.kmem_kib) / len(self.start_ms) / 1024


def measure_memory(inits: list[int]) -> tuple[int, int, int, str]:
    """Sum PSS over the distinct init and supervisor processes (a shared
    supervisor counts once) and kmem over distinct container cgroups, leaving
    out a cgroup the benchmark itself sits in, which is not the container's."""
    own = memory_cgroup(os.getpid())
    procs = set(inits) | {ppid(p) for p in inits}
    cgroups = {cg for p in inits if (cg := memory_cgroup(p)) and not (own and own.is_relative_to(cg))}
    sup = Path(f"/proc/{ppid(inits[0])}/comm").read_text().strip()
    return (sum(pss_kib(p) for p in procs), sum(cgroup_kmem_kib(cg) for cg in cgroups),
            len(cgroups), sup)


def batch(start: list[list[str]], pids: Callable[[], list[int]], env: dict[str, str] | None) -> Batch:
    """Start every container (each timed alone), let them settle, then read counters."""
    before = meminfo_kernel_kib()
    ms = [timed(cmd, env=env)[0] for cmd in start]
    time.sleep(SETTLE_S)
    pss, kmem, ncg, sup = measure_memory(pids())
    return Batch(ms, pss, kmem, ncg, meminfo_kernel_kib() - before, sup)


def corral_batch(names: list[str], root: Path) -> Batch:
    cmd, env = corral_cmd(), corral_env(root)
    starts = [cmd + ["run", "-d", "--name", n, "busybox", "sleep", "100000"] for n in names]
    pids = lambda: [json.loads(run(cmd + ["inspect", n], env=env).stdout)[0]["State"]["Pid"]  # noqa: E731
                    for n in names]
    return batch(starts, pids, env)


def podman_batch(names: list[str], image: str) -> Batch:
    starts = [["podman", "run", "-d", "--network", "none", "--name", n, image, "sleep", "100000"]
              for n in names]
    pids = lambda: [int(x) for x in run(["podman", "inspect", "--format", "{{.State.Pid}}",  # noqa: E731
                                         *names]).stdout.split()]
    return batch(starts, pids, None)


def report(res: dict[str, Batch], failed: dict[str, str], count: int) -> None:
    print(f"\ndensity: {count} idle `sleep` containers per engine, per-container figures")
    print(f"{'engine':8} {'start ms':>9} {'PSS KiB':>9} {'kmem KiB':>9} {'total MiB':>10}"
          f" {'Slab+PT KiB':>12}  supervisor (own cgroups)")
    for name in ("corral", "podman"):
        if name not in res:
            print(f"{name:8} could not run: {failed.get(name, 'not measured')}")
            continue
        b, n = res[name], len(res[name].start_ms)
        print(f"{name:8} {statistics.mean(b.start_ms):9.1f} {b.pss_kib / n:9.0f} {b.kmem_kib / n:9.0f}"
              f" {b.per_ctr_mib():10.2f} {b.meminfo_kib / n:12.0f}  {b.supervisor} ({b.own_cgroups}/{n})")
    print("\nPSS = supervisor + init; kmem = container cgroup's kernel memory;"
          " Slab+PT = /proc/meminfo delta / count (cross-check)")
    mib = {n: b.per_ctr_mib() for n, b in res.items()}
    start = {n: statistics.mean(b.start_ms) for n, b in res.items()}
    both = "corral" in res and "podman" in res
    print("MiB per container: " + ", ".join(f"{n} {v:.2f}" for n, v in mib.items()))
    print(f"corral MiB per container: {verdict(mib.get('corral'), 1)}")
    print(f"corral/podman memory ratio: {mib['corral'] / mib['podman']:.2f}" if both
          else "corral/podman memory ratio: n/a (not measured)")
    print(f"corral/podman time per start: {verdict(start['corral'] / start['podman'] if both else None, 1)}")

def main() -> int:
    count, tmp = begin(__doc__, 50, "containers per engine")
    root, image = tmp / "corral-root", None
    root.mkdir()
    failed: dict[str, str] = {}
    res: dict[str, Batch] = {}
    corral_names = [f"{PREFIX}-c{i}" for i in range(count)]
    try:
        if why := corral_ready(root):
            failed["corral"] = why
        else:
            try:
                res["corral"] = corral_batch(corral_names, root)
            except Exception as e:
                failed["corral"] = str(e)
            finally:  # free corral's batch before podman's, so each delta is its own
                run(corral_cmd() + ["rm", "-f", *corral_names], env=corral_env(root),
                    check=False, timeout=300)
        try:
            make_rootfs(tmp / "rootfs")
            image = podman_import(tmp / "rootfs", tmp / "rootfs.tar")
            run(["podman", "run", "--rm", "--network", "none", image, "true"])  # warm
            res["podman"] = podman_batch([f"{PREFIX}-p{i}" for i in range(count)], image)
        except Exception as e:
            failed["podman"] = str(e)
        report(res, failed, count)
    finally:
        cleanup_podman(image)
        remove_corral_root(root)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
