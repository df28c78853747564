"""Volume throughput: writing and reading 1 GiB in a named volume, in the container's overlay root and in the
host directory directly, in one run (and in a podman named volume, as an anchor).

Why (issue 15): state lives in volumes because a container's root is disposable; a volume must cost
nothing beside the host's own file system, or databases pay for being in containers.
Target: volume/host-direct >= 0.95, for writing and for reading (medians).

Every place is on the same file system (the benchmark's temp directory: the corral store, podman's
private store and the host directory are all under it), and every figure is the same program's:
`/bin/busybox dd` with bs=1M, on the host or inside the container through exec. Debian's busybox dd prints
no time, so a dd is timed from outside, less that place's start-up: the median of five runs of
`/bin/busybox true` by the same command (exec's few ms, next to seconds of I/O).
- write: `dd if=/dev/zero of=F bs=1M count=N conv=fsync`: the time includes the fsync, so every
  byte has reached the disk; nothing else is dirty first (sync before each write).
- read: `dd if=F of=/dev/null bs=1M`, with F's pages evicted from the page cache first (fsync and
  posix_fadvise(DONTNEED) on the file's host path: the volume's _data, the container's upper
  directory, the host directory), so every read comes from the disk. Only F is evicted, not the
  whole cache (no drop_caches), so other work on the machine keeps its cache. This disk (a VM's) is
  noisy: the same cold read of the same file on the host varies by 1.5x from one run to the next.
- cached read: right after, the file read 5 times from the page cache by one shell in that place:
  what the mount and the container themselves cost, with the disk's noise out.
`--count` rounds; each round writes then reads in every place, the places in a rotating order.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (PREFIX, begin, corral_cmd, corral_env, corral_ready, make_rootfs,  # noqa: E402
                     private_podman_store, remove_corral_root, remove_private_podman_store, run)
from api_py import kill_processes_of  # noqa: E402

MIB = 1 << 20
SIZE_MIB = 1024
VOLUME = f"{PREFIX}-vol"
CTR = f"{PREFIX}-ctr"
TARGET = 0.95
CACHED_PASSES = 5
OPS = ("write", "read", "cached read")
SLOW = 600  # s: a GiB through a slow disk is not a hang


class Place:
    """Where a file is written and read: the command prefix that runs busybox there, the file's path as that
    command sees it, and the same file's path on the host (for evicting its pages)."""

    def __init__(self, name: str, prefix: list[str], env: dict[str, str] | None, path: str, host_path: Path
                 ) -> None:
        self.name, self.prefix, self.env, self.path, self.host_path = name, prefix, env, path, host_path
        self.start_up = statistics.median(self.busybox("true") for _ in range(5))

    def busybox(self, *args: str) -> float:
        """Seconds of wall time of one busybox command run in this place."""
        t0 = time.perf_counter()
        run([*self.prefix, "/bin/busybox", *args], env=self.env, timeout=SLOW)
        return time.perf_counter() - t0

    def dd(self, *args: str) -> float:
        """MiB/s of one dd, its place's start-up taken out."""
        return SIZE_MIB / max(self.busybox("dd", *args) - self.start_up, 1e-6)

    def write(self) -> float:
        os.sync()
        return self.dd("if=/dev/zero", f"of={self.path}", "bs=1M", f"count={SIZE_MIB}", "conv=fsync")

    def read(self) -> float:
        evict(self.host_path)
        return self.dd(f"if={self.path}", "of=/dev/null", "bs=1M")

    def cached_read(self) -> float:
        """The file read CACHED_PASSES times from the page cache (the cold read just loaded it), by one
        shell: the mount's and the container's own cost, without the disk's noise."""
        loop = (f"i=0; while [ $i -lt {CACHED_PASSES} ]; do /bin/busybox dd if={self.path} of=/dev/null bs=1M "
                "2>/dev/null || exit 1; i=$((i+1)); done")
        seconds = self.busybox("sh", "-c", loop) - self.start_up
        self.busybox("rm", self.path)  # through the place: overlayfs would not see an unlink of its upper file
        return CACHED_PASSES * SIZE_MIB / max(seconds, 1e-6)


def evict(path: Path) -> None:
    """Take one file's pages out of the page cache (written back first, or DONTNEED keeps dirty pages)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def corral_places(root: Path) -> list[Place]:
    """A running corral container with the named volume at /vol; the volume and its overlay root."""
    root.mkdir()
    if why := corral_ready(root):
        raise RuntimeError(why)
    cmd, env = corral_cmd(), corral_env(root)
    run(cmd + ["volume", "create", VOLUME], env=env)
    run(cmd + ["run", "-d", "--name", CTR, "-v", f"{VOLUME}:/vol", "busybox", "sleep", "3600"], env=env)
    data = Path(run(cmd + ["volume", "inspect", "-f", "{{.Mountpoint}}", VOLUME], env=env).stdout.strip())
    upper = Path(run(cmd + ["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", CTR], env=env).stdout.strip())
    exec_ = cmd + ["exec", CTR]
    return [Place("corral volume", exec_, env, "/vol/f", data / "f"),
            Place("corral overlay root", exec_, env, "/f", upper / "f")]


def podman_places(store: Path, rootfs: Path) -> list[Place]:
    """A running podman container (private store) with a podman named volume at /vol."""
    podman, image = private_podman_store(store, rootfs)
    run([*podman, "volume", "create", VOLUME])
    run([*podman, "run", "-d", "--network", "none", "--name", CTR, "-v", f"{VOLUME}:/vol", image,
         "/bin/busybox", "sleep", "3600"])
    data = Path(run([*podman, "volume", "inspect", "-f", "{{.Mountpoint}}", VOLUME]).stdout.strip())
    return [Place("podman volume", [*podman, "exec", CTR], None, "/vol/f", data / "f")]


def report(speeds: dict[str, dict[str, list[float]]], failed: dict[str, str], rounds: int) -> dict[str, float]:
    print(f"\n{SIZE_MIB} MiB with busybox dd bs=1M, {rounds} rounds; MiB/s (median, min, max); "
          f"write with conv=fsync, read with the file's pages evicted first, cached read {CACHED_PASSES} passes "
          "right after")
    print(f"{'place':22}" + "".join(f" {op:>11} {'min':>6} {'max':>6}" for op in OPS))
    med: dict[str, float] = {}
    best: dict[str, float] = {}
    for name, by_op in speeds.items():
        cells = []
        for op in OPS:
            xs = by_op[op]
            med[f"{name} {op}"], best[f"{name} {op}"] = statistics.median(xs), max(xs)
            cells.append(f" {statistics.median(xs):11.0f} {min(xs):6.0f} {max(xs):6.0f}")
        print(f"{name:22}{''.join(cells)}")
    for name, why in failed.items():
        print(f"{name:22} could not run: {why}")
    print("\nratios to the host directory: of the medians (of the best runs, the least disturbed by the machine's "
          "other work)")
    for op in OPS:
        host = f"host directory {op}"
        for name in speeds:
            if name == "host directory" or host not in med:
                continue
            r = med[f"{name} {op}"] / med[host]
            mark = f" target >= {TARGET}: {'MET' if r >= TARGET else 'NOT met'}" if name == "corral volume" else ""
            print(f"{name}/host-direct {op}: {r:.3f} ({best[f'{name} {op}'] / best[host]:.3f}){mark}")
    return med


def main() -> int:
    rounds, tmp = begin(__doc__, 7, "rounds (each writes and reads 1 GiB in every place)")
    root, store = tmp / "corral", tmp / "podman"
    failed: dict[str, str] = {}
    try:
        (tmp / "host").mkdir()
        places = [Place("host directory", [], None, str(tmp / "host" / "f"), tmp / "host" / "f")]
        try:
            places += corral_places(root)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            failed["corral"] = str(e)
        try:
            make_rootfs(tmp / "rootfs")
            places += podman_places(store, tmp / "rootfs")
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            failed["podman volume"] = str(e)
        speeds: dict[str, dict[str, list[float]]] = {p.name: {op: [] for op in OPS} for p in places}
        for i in range(rounds):
            for k in range(len(places)):
                p = places[(i + k) % len(places)]
                if p.name in failed:
                    continue
                try:
                    speeds[p.name]["write"].append(p.write())
                    speeds[p.name]["read"].append(p.read())
                    speeds[p.name]["cached read"].append(p.cached_read())
                except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
                    failed[p.name] = str(e)
        report({n: s for n, s in speeds.items() if n not in failed}, failed, rounds)
    finally:
        if root.exists():
            run(corral_cmd() + ["rm", "-f", "-v", CTR], env=corral_env(root), check=False, timeout=120)
        remove_corral_root(root)
        remove_private_podman_store(store)
        kill_processes_of(tmp)  # podman's `container cleanup`, run by conmon as its container goes, may have
        remove_corral_root(tmp)  # mounted its storage again after the store's removal: unmount it, delete all
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
