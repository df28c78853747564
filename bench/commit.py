"""Commit time and layer storage: `corral commit` against `podman commit`, and the bytes ten containers cost.

Why (issue 4): a container's writes become an image by commit, so committing
must cost little beside podman's, and the store must keep an image's bytes
once however many containers run from it, each costing only what it wrote.

1. Commit: one stopped container per engine that wrote 200 MiB in 2,000 files
   of random bytes (written before timing starts) is committed `--count`
   times, interleaved with the other engine; each committed image is removed,
   untimed, before the next run, so every commit stores its layer anew.
   Target: corral/podman <= 0.5 (median wall time).
2. Storage: in a fresh store holding only busybox, a container writes 100 MiB
   (100 files of 1 MiB) and is committed as the image, then removed; ten
   containers from that image each write 1 MiB. The store's disk usage (blocks
   used, hard links once, not crossing into mounts) is taken before the image,
   after it, and after the ten containers.
   Target: corral's growth < 100 MiB + 10 x 1.1 MiB.

podman runs on private stores (--root/--runroot/--tmpdir in the temp dir), so
its figures are its own and nothing is left in the host's podman storage.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Callable

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (PREFIX, begin, corral_cmd, corral_env, corral_ready, make_rootfs, measure, median_table,  # noqa: E402
                     private_podman_store, ratio, remove_corral_root, remove_private_podman_store, run, verdict)

MIB = 1 << 20
WRITER = f"{PREFIX}-writer"
"""Part 1's container in each engine; part 2's are named from it."""
SMALL = [f"{PREFIX}-small{i}" for i in range(10)]
ONE_MIB = "busybox head -c 1048576 /dev/urandom > /f"
STORAGE_TARGET_MIB = 100 + 10 * 1.1
COMMIT_TARGET = 0.5
SLOW = 900  # s: writing hundreds of MiB through a shell loop, or a slow commit, is not a hang


def write_files(count: int, size: int) -> str:
    """Shell for busybox: `count` files of `size` random bytes in /data. Applets are called
    through `busybox` because the podman rootfs links only a few of them."""
    return (f"busybox mkdir /data && i=0 && while [ $i -lt {count} ]; do "
            f"busybox head -c {size} /dev/urandom > /data/f$i || exit 1; i=$((i+1)); done")


def disk_usage(top: Path) -> int:
    """Bytes of disk blocks used under top, as `du -sx` counts them: each inode once
    (hard links), and no descent into another file system (a container's mounted overlay)."""
    dev, seen, total = os.lstat(top).st_dev, set(), 0
    stack = [str(top)]
    while stack:
        path = stack.pop()
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if st.st_dev != dev:
            continue
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
        if stat.S_ISDIR(st.st_mode):
            try:
                stack.extend(e.path for e in os.scandir(path))
            except (FileNotFoundError, NotADirectoryError):
                pass
    return total


class Engine:
    """What parts 1 and 2 need of an engine: its CLI prefix and environment, the
    options its `run` takes here, and its busybox image. Both CLIs take the same
    run/commit/rm/rmi words."""

    def __init__(self, cli: list[str], env: dict[str, str] | None, run_opts: list[str], base: str,
                 store: Path) -> None:
        self.cli, self.env, self.run_opts, self.base, self.store = cli, env, run_opts, base, store

    def do(self, *args: str, timeout: float = 120) -> str:
        return run([*self.cli, *args], env=self.env, timeout=timeout).stdout

    def rmi(self, image: str) -> None:
        self.do("rmi", image, timeout=SLOW)

    def run_ctr(self, name: str, image: str, script: str) -> None:
        """Run `sh -c script` in a new container to its end; the container stays, stopped."""
        self.do("run", *self.run_opts, "--name", name, image, "sh", "-c", script, timeout=SLOW)


def corral_engine(root: Path) -> Engine:
    root.mkdir()
    if why := corral_ready(root):
        raise RuntimeError(why)
    return Engine(corral_cmd(), corral_env(root), [], "busybox", root)


def podman_engine(store: Path, rootfs: Path) -> Engine:
    podman, image = private_podman_store(store, rootfs)
    return Engine(list(podman), None, ["--network", "none"], image, store / "root")


def setup(make: Callable[[], Engine], failed: dict[str, str], name: str, engines: dict[str, Engine]) -> None:
    """Add make()'s engine, or record why it could not be set up."""
    try:
        engines[name] = make()
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        failed[name] = str(e)


# --- part 1: commit time -------------------------------------------------------

def commit_times(engines: dict[str, Engine], runs: int, corral_root: Path,
                 failed: dict[str, str]) -> dict[str, list[float]]:
    """Each engine's container writes 200 MiB in 2,000 files, untimed; then its commits are timed."""
    for name, e in engines.items():
        try:
            e.run_ctr(WRITER, e.base, write_files(2000, 100 * 1024))
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as err:
            failed[name] = str(err)
    tag = lambda i: f"{PREFIX}-commit:{i}"  # noqa: E731
    cmds = {n: (lambda i, e=e: [*e.cli, "commit", WRITER, tag(i)]) for n, e in engines.items()}
    after = {n: (lambda i, e=e: e.rmi(tag(i))) for n, e in engines.items()}
    return measure({n: c for n, c in cmds.items() if n not in failed}, runs, corral_root, failed,
                   after=after)


# --- part 2: storage -----------------------------------------------------------

def storage(e: Engine) -> tuple[int, int, int]:
    """Disk usage of the engine's store before the 100 MiB image, after it, after ten containers."""
    big, image = f"{PREFIX}-big", f"{PREFIX}-big:1"
    before = disk_usage(e.store)
    e.run_ctr(big, e.base, write_files(100, MIB))
    e.do("commit", big, image, timeout=SLOW)
    e.do("rm", big)
    with_image = disk_usage(e.store)
    for name in SMALL:
        e.run_ctr(name, image, ONE_MIB)
    return before, with_image, disk_usage(e.store)


def report_storage(usage: dict[str, tuple[int, int, int]], failed: dict[str, str], df: str) -> None:
    print("\nstorage: one 100 MiB image, then ten containers from it each writing 1 MiB;"
          " disk usage of the store (blocks used, hard links once), MiB")
    print(f"{'engine':8} {'before':>8} {'+image':>8} {'+10 ctrs':>9} {'image':>8} {'10 ctrs':>8} {'growth':>8}")
    for name in ("corral", "podman"):
        if name not in usage:
            print(f"{name:8} could not run: {failed.get(name, 'not measured')}")
            continue
        b, i, a = (x / MIB for x in usage[name])
        print(f"{name:8} {b:8.1f} {i:8.1f} {a:9.1f} {i - b:8.1f} {a - i:8.1f} {a - b:8.1f}")
    print("(image = +image - before, 10 ctrs = +10 ctrs - +image, growth = +10 ctrs - before)")
    if df:
        print("corral system df after the ten containers:\n" + "\n".join("  " + l for l in df.splitlines()))
    grow = {n: (u[2] - u[0]) / MIB for n, u in usage.items()}
    print(f"\ncorral growth, MiB: {verdict(grow.get('corral'), STORAGE_TARGET_MIB)}")
    r = ratio(grow, "corral", "podman")
    print(f"corral/podman growth ratio: {'n/a (not measured)' if r is None else f'{r:.3f}'}")


def main() -> int:
    runs, tmp = begin(__doc__, 5, "timed commits per engine")
    corral_roots = [tmp / "corral-commit", tmp / "corral-storage"]
    podman_stores = [tmp / "p1", tmp / "p2"]
    failed: dict[str, str] = {}
    try:
        make_rootfs(tmp / "rootfs")
        engines: dict[str, Engine] = {}
        setup(lambda: corral_engine(corral_roots[0]), failed, "corral", engines)
        setup(lambda: podman_engine(podman_stores[0], tmp / "rootfs"), failed, "podman", engines)
        times = commit_times(engines, runs, corral_roots[0], failed)
        med = median_table(f"commit: a stopped container that wrote 200 MiB in 2,000 files, wall time of"
                           f" `commit C NAME:TAG`, {runs} interleaved runs each", times, failed,
                           engines=("corral", "podman"))
        print(f"\ncorral/podman median ratio: {verdict(ratio(med, 'corral', 'podman'), COMMIT_TARGET)}")

        failed2: dict[str, str] = {}
        usage: dict[str, tuple[int, int, int]] = {}
        df = ""
        engines = {}
        setup(lambda: corral_engine(corral_roots[1]), failed2, "corral", engines)
        setup(lambda: podman_engine(podman_stores[1], tmp / "rootfs"), failed2, "podman", engines)
        for name, e in engines.items():
            try:
                usage[name] = storage(e)
                if name == "corral":
                    df = e.do("system", "df")
            except (OSError, RuntimeError, subprocess.TimeoutExpired) as err:
                failed2[name] = str(err)
        report_storage(usage, failed2, df)
        failed.update({f"{n} (storage)": why for n, why in failed2.items()})
    finally:
        for root in corral_roots:  # stop and remove containers, so no process outlives its store
            if root.exists():
                run(corral_cmd() + ["rm", "-f", WRITER, f"{PREFIX}-big", *SMALL], env=corral_env(root),
                    check=False, timeout=300)
            remove_corral_root(root)
        for store in podman_stores:  # the whole private store goes, images included
            remove_private_podman_store(store)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
