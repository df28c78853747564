"""Shared plumbing for the corral benchmarks (start.py, exec.py, density.py, commit.py, build.py, api_py.py).

The benchmarks compare corral with crun and podman in one run, because these
machines are noisy and only figures from the same run are comparable. This
module holds what they share: host set-up that podman and crun require here,
a busybox rootfs all three engines run, the interleaved timing loop and its
table, cleanup helpers and /proc readers.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import statistics
import sys
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable

import hostprep  # bench/ is on sys.path: the benchmarks are run as scripts

PREFIX = f"corral-bench-{os.getpid()}"
"""Names of everything a benchmark creates start with this, so cleanup finds them."""
PODMAN_IMAGE = f"localhost/{PREFIX}:latest"
"""What podman_import names its image, so cleanup can remove it even if an import was interrupted."""

BUSYBOX_APPLETS = ("true", "sh", "sleep", "ls", "cat", "echo")
ENGINES = ("corral", "crun", "podman")
PODMAN = ("podman",)
"""The podman command; a benchmark with a private store adds --root/--runroot/--tmpdir to it."""
Command = Callable[[int], list[str]]
"""An engine's command for its i-th run (from 0, warm-up runs included), e.g. to name containers."""


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 120,
        check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command quietly; on failure raise with its stderr, which is what explains it."""
    p = subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {p.returncode}: "
                           f"{(p.stderr or p.stdout).strip()[-600:]}")
    return p


def timed(cmd: list[str], env: dict[str, str] | None = None
          ) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall time in ms of the whole command, as a user waiting on it would see it."""
    t0 = time.perf_counter()
    p = run(cmd, env=env)
    return (time.perf_counter() - t0) * 1000, p


def begin(doc: str | None, default: int, what: str, *, flag: str = "--count") -> tuple[int, Path]:
    """What every benchmark does first: its count from the command line (`flag`, at least 1), the host
    set up for crun and podman (hostprep), SIGTERM turned into a normal exit so cleanup runs, and a temp dir."""
    import argparse

    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    ap.add_argument(flag, type=lambda v: max(1, int(v)), default=default, help=f"{what} (default {default})")
    count = getattr(ap.parse_args(), flag.lstrip("-").replace("-", "_"))
    hostprep.prepare()
    cleanup_on_sigterm()
    return count, Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))


def cleanup_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the benchmarks' finally blocks still remove
    the containers, images and directories they made (SIGINT already does)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


# --- engines -----------------------------------------------------------------

def corral_cmd() -> list[str]:
    """$CORRAL (may hold arguments, e.g. a venv python -m) overrides the installed command."""
    if os.environ.get("CORRAL"):
        return shlex.split(os.environ["CORRAL"])
    return [shutil.which("corral") or "/usr/local/bin/corral"]


def corral_env(root: Path) -> dict[str, str]:
    return {**os.environ, "CORRAL_ROOT": str(root)}


def corral_ready(root: Path) -> str | None:
    """Bootstrap busybox into a fresh store; return why corral cannot run, or None."""
    cmd, env = corral_cmd(), corral_env(root)
    if not shutil.which(cmd[0]):
        return f"command {cmd[0]!r} not found (install corral or set CORRAL=/path/to/corral)"
    try:
        run(cmd + ["--help"], env=env, timeout=30)
        run(cmd + ["image", "bootstrap", "busybox"], env=env)
        run(cmd + ["run", "--rm", "busybox", "true"], env=env)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None


def remove_corral_root(root: Path) -> None:
    """Unmount whatever corral (or a podman with a private store there) left
    mounted under its store, then delete it, so a crashed engine cannot make
    the benchmark leak its temp directory."""
    mounts = [l.split()[1] for l in Path("/proc/self/mounts").read_text().splitlines()]
    for m in sorted((m for m in mounts if m.startswith(f"{root}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def make_rootfs(rootfs: Path) -> None:
    """A minimal busybox-static rootfs: the same bytes corral bootstraps from."""
    (rootfs / "bin").mkdir(parents=True)
    for d in ("proc", "sys", "dev", "tmp", "etc"):
        (rootfs / d).mkdir()
    shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
    for applet in BUSYBOX_APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")


def make_crun_bundle(bundle: Path, args: list[str]) -> None:
    """OCI bundle from `crun spec` defaults (loopback-only network namespace,
    like corral's default), running args without a terminal."""
    make_rootfs(bundle / "rootfs")
    run(["crun", "spec"], cwd=bundle)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["args"], cfg["process"]["terminal"] = args, False
    (bundle / "config.json").write_text(json.dumps(cfg, indent=2))


def cleanup_crun() -> None:
    """`crun run` deletes its container on exit; this catches any an interrupted
    run left, and deletes (killing it first) any container left running."""
    p = run(["crun", "list", "-q"], check=False)
    for cid in p.stdout.split():
        if cid.startswith(PREFIX):
            run(["crun", "delete", "-f", cid], check=False)


def podman_import(rootfs: Path, tar_path: Path, podman: tuple[str, ...] = PODMAN) -> str:
    """Import the same rootfs as a podman image; returns the image reference."""
    with tarfile.open(tar_path, "w") as tar:
        tar.add(rootfs, arcname=".")
    run([*podman, "import", str(tar_path), PODMAN_IMAGE])
    return PODMAN_IMAGE


def cleanup_podman(*images: str | None, podman: tuple[str, ...] = PODMAN) -> None:
    """Remove every podman container named with our prefix, then our images
    (any of them may never have been made)."""
    ids = run([*podman, "ps", "-aq", "--filter", f"name={PREFIX}"], check=False).stdout.split()
    if ids:
        run([*podman, "rm", "-f", "-t", "0", *ids], check=False, timeout=300)
    if any(images):
        run([*podman, "rmi", "-f", "--ignore", *filter(None, images)], check=False, timeout=300)


def private_podman(store: Path) -> tuple[str, ...]:
    """podman with its images, containers and state all under `store`. Names are
    short: podman refuses a runroot path longer than 50 characters."""
    return (*PODMAN, "--root", str(store / "root"), "--runroot", str(store / "r"),
            "--tmpdir", str(store / "t"))


def private_podman_store(store: Path, rootfs: Path) -> tuple[tuple[str, ...], str]:
    """Make a private podman store and import rootfs into it; returns the podman
    command for that store and the image's reference (PODMAN_IMAGE)."""
    podman = private_podman(store)
    for d in ("root", "r", "t"):
        (store / d).mkdir(parents=True)
    image = podman_import(rootfs, store / "rootfs.tar", podman)
    (store / "rootfs.tar").unlink()
    return podman, image


def remove_private_podman_store(store: Path) -> None:
    """Remove the containers of a private store (buildah's too, which `podman ps`
    shows only with --external), then the whole store, images included."""
    if (store / "root").exists():
        podman = private_podman(store)
        cleanup_podman(podman=podman)
        ids = run([*podman, "ps", "-aq", "--external"], check=False).stdout.split()
        if ids:
            run([*podman, "rm", "-f", "-t", "0", *ids], check=False, timeout=300)
    remove_corral_root(store)


IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def bridges() -> set[str]:
    return {p.parent.name for p in Path("/sys/class/net").glob("*/bridge")}


def host_forwarding() -> tuple[str, set[str]]:
    """net.ipv4.ip_forward and the bridges there are, before a benchmark runs podman on its
    network: netavark turns forwarding on for its bridge and leaves it on."""
    return IP_FORWARD.read_text().strip(), bridges()


def restore_forwarding(before: tuple[str, set[str]]) -> None:
    """Put net.ipv4.ip_forward back as host_forwarding() found it, unless a bridge that was not
    there then (someone else's) is up now and may rely on it."""
    value, had = before
    if IP_FORWARD.read_text().strip() != value and bridges() <= had:
        IP_FORWARD.write_text(value)


# --- figures -------------------------------------------------------------------

def measure(cmds: dict[str, Command], runs: int, root: Path, failed: dict[str, str],
            warmup: int = 1, after: dict[str, Callable[[int], None]] | None = None
            ) -> dict[str, list[float]]:
    """Warm each engine `warmup` times, then interleave them (see interleave). An engine whose run
    fails is recorded in `failed` and dropped; corral's commands (engines named corral…) get root
    as CORRAL_ROOT.
    after[engine](i), if given, runs untimed after that engine's i-th run (e.g. to
    remove what the run made, so each run starts from the same state)."""
    env = corral_env(root)

    def clock(name: str) -> Callable[[int], float]:
        def one(i: int) -> float:
            ms, _ = timed(cmds[name](i), env=env if name.startswith("corral") else None)
            if after and name in after:
                after[name](i)
            return ms
        return one

    return interleave({name: clock(name) for name in cmds}, runs, failed, warmup)


Clocked = Callable[[int], float]
"""An engine's i-th run (from 0, warm-up runs included), returning the milliseconds that count."""


def interleave(runs_of: dict[str, Clocked], runs: int, failed: dict[str, str], warmup: int = 1
               ) -> dict[str, list[float]]:
    """Warm each engine `warmup` times, then interleave them, rotating the order so no engine
    always runs right after another's cleanup. An engine whose run raises is recorded in `failed`
    and dropped: a failed run's time means nothing. measure() times commands with it; a benchmark
    of in-process calls (api_py.py) gives it its own clocks."""
    times: dict[str, list[float]] = {name: [] for name in runs_of}
    for i in range(-warmup, runs):
        names = [n for n in runs_of if n not in failed]
        for k in range(len(names)):
            name = names[(i + k) % len(names)]
            try:
                ms = runs_of[name](i + warmup)
            except Exception as e:  # noqa: BLE001 - the engine is reported, not timed
                failed[name] = str(e) or type(e).__name__
                continue
            if i >= 0:
                times[name].append(ms)
    return {n: t for n, t in times.items() if n not in failed}


def back_to_back(cmds: dict[str, Command], runs: int, root: Path, failed: dict[str, str],
                 start: int = 100000) -> dict[str, list[float]]:
    """Each engine's runs in a row, not interleaved: what a tight loop of one engine sees.

    On cgroup v1 the first cgroup migration after a quiet spell waits an RCU
    grace period (10-20 ms here) and the next ones, within that period, do
    not: an engine that moves processes between cgroups from outside (crun)
    is much faster in a loop than when run once. `start` numbers these runs
    apart from measure()'s, for engines that name what they create by it."""
    env = corral_env(root)
    times: dict[str, list[float]] = {}
    for name, cmd in cmds.items():
        if name in failed:
            continue
        try:
            times[name] = [timed(cmd(start + i), env=env if name.startswith("corral") else None)[0]
                           for i in range(runs)]
        except Exception as e:  # noqa: BLE001 - as in measure(): the engine is reported, not timed
            failed[name] = str(e)
    return times


def median_table(title: str, times: dict[str, list[float]], failed: dict[str, str],
                 engines: tuple[str, ...] = ENGINES) -> dict[str, float]:
    """Print each engine's median, p10 and p90 (or why it could not run); return the medians."""
    w = max(8, *map(len, engines))
    print(f"\n{title}")
    print(f"{'engine':{w}} {'runs':>5} {'median':>9} {'p10':>9} {'p90':>9}  (ms)")
    med: dict[str, float] = {}
    for name in engines:
        if name in times:
            med[name], p10, p90 = pctl(times[name])
            print(f"{name:{w}} {len(times[name]):5} {med[name]:9.1f} {p10:9.1f} {p90:9.1f}")
        else:
            print(f"{name:{w}} could not run: {failed.get(name, 'not measured')}")
    return med


def ratio(med: dict[str, float], a: str, b: str) -> float | None:
    """med[a] / med[b], or None when either engine was not measured."""
    return med[a] / med[b] if a in med and b in med else None


def pctl(xs: list[float]) -> tuple[float, float, float]:
    """(median, p10, p90); with few samples quantiles degrade gracefully."""
    if len(xs) < 2:
        return (xs[0],) * 3 if xs else (float("nan"),) * 3
    q = statistics.quantiles(xs, n=10, method="inclusive")
    return statistics.median(xs), q[0], q[8]


def verdict(value: float | None, target: float) -> str:
    """Render value against an upper-bound target."""
    if value is None:
        return "n/a (not measured)"
    return f"{value:.3f} (target <= {target:g}: {'MET' if value <= target else 'NOT met'})"


# --- /proc and cgroup counters -------------------------------------------------

def ppid(pid: int) -> int:
    return int(re.search(r"^PPid:\s*(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))


def pss_kib(pid: int) -> int:
    """Proportional set size: private pages plus a fair share of shared ones,
    so N containers sharing one library are not charged N times."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(re.search(r"^Pss:\s*(\d+) kB", text, re.M).group(1))


def memory_cgroup(pid: int) -> Path | None:
    """The directory of pid's memory cgroup (v1 memory controller, else v2)."""
    v2 = None
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if "memory" in ctrls.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
        if ctrls == "":
            v2 = path
    if v2 is None:
        return None
    base = Path("/sys/fs/cgroup")
    base = base if (base / "cgroup.controllers").exists() else base / "unified"
    return base / v2.lstrip("/")


def cgroup_kmem_kib(cg: Path) -> int:
    """Kernel memory the cgroup is charged: v1 memory.kmem.usage_in_bytes, or
    v2 memory.stat's kernel counters. 0 when the cgroup reports none."""
    kmem = cg / "memory.kmem.usage_in_bytes"
    if kmem.exists():
        return int(kmem.read_text()) // 1024
    stat = cg / "memory.stat"
    if (cg / "cgroup.controllers").exists() and stat.exists():
        s = dict(l.split() for l in stat.read_text().splitlines())
        if "kernel" in s:
            return int(s["kernel"]) // 1024
        return sum(int(s.get(k, 0)) for k in ("kernel_stack", "pagetables", "slab", "percpu", "sock")) // 1024
    return 0


def meminfo_kernel_kib() -> int:
    """System-wide Slab + PageTables, a kernel-counter cross-check of the per-process figures."""
    m = dict(re.findall(r"^(\w+):\s*(\d+)", Path("/proc/meminfo").read_text(), re.M))
    return int(m["Slab"]) + int(m["PageTables"])
