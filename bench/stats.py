"""CPU time of `stats` over 50 running containers: `corral stats --no-stream` and a streaming `corral stats`,
beside `podman stats` and `docker stats` against Debian's dockerd, in one run.

Why (issue 16): a stats window is left open on a host for hours, beside the containers it watches; it
must cost that host next to nothing. Target: streaming corral stats under 5 % of one core.

Each engine runs COUNT containers of `sleep 3600` without network, in its own store: corral's, podman's
private store, and a dockerd started here with its own data and exec roots and socket (--bridge=none
--iptables=false --ip-forward=false --ip-masq=false; busybox loaded from `corral save`), stopped after
with everything it made. podman streams every second as docker and corral do (--interval 1; its
default is 5 s).

CPU time counted for an engine: its command's (user + system, with every process it waited for, from
wait4's rusage) plus what the engine's resident processes used meanwhile: corral's monitor; dockerd,
its containerd and the containers' shims, where docker's stats are gathered; podman's conmons.
- no-stream: `stats --no-stream` (all waits a second between two samples, for CPU %); CPU and wall ms.
- stream: `stats` writing to a pipe drained to nowhere for WINDOW s, then SIGINT; CPU over the window
  as % of one core.
`--count` rounds, each taking both figures of every engine, the engines in a rotating order.
"""
from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (begin, corral_cmd, corral_env, corral_ready, host_forwarding, make_rootfs,  # noqa: E402
                     private_podman_store, run)
from api_py import Service, host_paths, start_dockerd, tear_down  # noqa: E402

CONTAINERS = 50
WINDOW = 10.0
TARGET_PERCENT = 5.0
ENGINES = ("corral", "podman", "docker")
TICKS = os.sysconf("SC_CLK_TCK")


class Engine:
    """An engine's CLI (command prefix, environment) and how to find its resident processes."""

    def __init__(self, cli: list[str], env: dict[str, str] | None, resident: Callable[[], list[int]]) -> None:
        self.cli, self.env, self.resident = cli, env, resident

    def do(self, *args: str, timeout: float = 120) -> str:
        return run([*self.cli, *args], env=self.env, timeout=timeout).stdout

    def stats(self, *args: str, window: float | None) -> tuple[float, float]:
        """(CPU seconds, wall seconds) of one stats command, resident processes included; a streaming
        one is stopped with SIGINT after `window` seconds."""
        pids = self.resident()
        before = {pid: cpu_ticks(pid) for pid in pids}
        t0 = time.perf_counter()
        p = subprocess.Popen([*self.cli, "stats", *args], env=self.env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ended = 0
        if window is not None:
            time.sleep(window)
            ended, status, usage = os.wait4(p.pid, os.WNOHANG)
            if not ended:  # still streaming, as it should be: stopped as a user stops it (the code is then
                p.send_signal(signal.SIGINT)  # the engine's: podman's is 1, docker's 130)
        try:
            if not ended:
                _, status, usage = os.wait4(p.pid, 0)
        finally:
            p.returncode = 0  # reaped here: Popen must not wait for it again
        wall = time.perf_counter() - t0
        err = p.stderr.read().decode(errors="replace").strip() if p.stderr else ""
        p.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        if (window is None and code != 0) or ended:
            raise RuntimeError(f"stats {' '.join(args)} exited {code}: {err[-400:]}")
        resident = sum(cpu_ticks(pid) - ticks for pid, ticks in before.items()) / TICKS
        return usage.ru_utime + usage.ru_stime + resident, wall


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (0 once it is gone: what it used is then lost, as little)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def processes_with(needle: bytes, where: str) -> list[int]:
    """PIDs (not this one) whose `where` (cmdline or environ) holds needle."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(proc.name) != os.getpid() and needle in (proc / where).read_bytes():
                found.append(int(proc.name))
        except (OSError, ValueError):
            pass
    return found


def corral_engine(root: Path) -> Engine:
    root.mkdir()
    if why := corral_ready(root):
        raise RuntimeError(why)
    e = Engine(corral_cmd(), corral_env(root), lambda: processes_with(f"CORRAL_ROOT={root}\0".encode(), "environ"))
    for _ in range(CONTAINERS):
        e.do("run", "-d", "--network", "none", "busybox", "sleep", "3600")
    return e


def podman_engine(store: Path, rootfs: Path) -> Engine:
    podman, image = private_podman_store(store, rootfs)
    e = Engine(list(podman), None, lambda: processes_with(str(store).encode(), "cmdline"))
    for _ in range(CONTAINERS):
        e.do("run", "-d", "--network", "none", image, "/bin/busybox", "sleep", "3600")
    return e


def docker_engine(home: Path, busybox: bytes, services: list[Service]) -> Engine:
    docker = shutil.which("docker")
    if docker is None:
        raise FileNotFoundError("the docker CLI is not installed")
    start_dockerd(home, busybox, services)  # loads busybox
    e = Engine([docker, "-H", f"unix://{home / 'docker.sock'}"], None,
               lambda: processes_with(str(home).encode(), "cmdline"))
    for _ in range(CONTAINERS):
        e.do("run", "-d", "--network", "none", "busybox", "sleep", "3600")
    return e


def measure(engines: dict[str, Engine], rounds: int, failed: dict[str, str]
            ) -> dict[str, dict[str, list[float]]]:
    figures: dict[str, dict[str, list[float]]] = {n: {"cpu": [], "wall": [], "stream": []} for n in engines}
    order = list(engines)
    for i in range(rounds):
        names = [n for n in order[i % len(order):] + order[:i % len(order)] if n not in failed]
        for name in names:
            try:
                extra = ["--interval", "1"] if name == "podman" else []
                cpu, wall = engines[name].stats("--no-stream", window=None)
                figures[name]["cpu"].append(cpu * 1000)
                figures[name]["wall"].append(wall * 1000)
                cpu, wall = engines[name].stats(*extra, window=WINDOW)
                figures[name]["stream"].append(cpu / wall * 100)
            except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
                failed[name] = str(e)
    return {n: f for n, f in figures.items() if n not in failed}


def report(figures: dict[str, dict[str, list[float]]], failed: dict[str, str], rounds: int) -> None:
    print(f"\nstats over {CONTAINERS} running containers, {rounds} rounds; CPU = the command's + the engine's "
          "resident processes' (medians, min-max)")
    print(f"{'engine':8} {'--no-stream CPU ms':>22} {'wall ms':>16} {f'streaming {WINDOW:g} s, % of one core':>34}")
    for name in ENGINES:
        if name not in figures:
            print(f"{name:8} could not run: {failed.get(name, 'not measured')}")
            continue
        cells = []
        for key, width in (("cpu", 22), ("wall", 16), ("stream", 34)):
            xs = figures[name][key]
            cells.append(f"{statistics.median(xs):.1f} ({min(xs):.1f}-{max(xs):.1f})".rjust(width))
        print(f"{name:8} {' '.join(cells)}")
    if "corral" in figures:
        pct = statistics.median(figures["corral"]["stream"])
        print(f"\ncorral streaming: {pct:.2f} % of one core (target < {TARGET_PERCENT:g}: "
              f"{'MET' if pct < TARGET_PERCENT else 'NOT met'})")
        for other in ("podman", "docker"):
            if other in figures:
                for key, what in (("cpu", "--no-stream CPU"), ("stream", "streaming CPU")):
                    r = statistics.median(figures["corral"][key]) / statistics.median(figures[other][key])
                    print(f"corral/{other} {what}: {r:.3f}")


def main() -> int:
    rounds, tmp = begin(__doc__, 3, "rounds (each: one --no-stream and one streaming window per engine)")
    root, store, home = tmp / "corral", tmp / "podman", tmp / "dockerd"
    failed: dict[str, str] = {}
    engines: dict[str, Engine] = {}
    services: list[Service] = []
    before, forwarding = host_paths(), host_forwarding()
    try:
        try:
            engines["corral"] = corral_engine(root)
            busybox = subprocess.run(corral_cmd() + ["save", "busybox"], env=corral_env(root), check=True,
                                     capture_output=True, timeout=120).stdout
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            print(f"corral could not run: {e}")
            return 1
        for name, make in (("podman", lambda: podman_engine(store, tmp / "rootfs")),
                           ("docker", lambda: docker_engine(home, busybox, services))):
            try:
                if name == "podman":
                    make_rootfs(tmp / "rootfs")
                engines[name] = make()
            except Exception as e:  # noqa: BLE001 - reported in the table
                failed[name] = str(e) or type(e).__name__
        report(measure(engines, rounds, failed), failed, rounds)
        optional = {"docker"} if shutil.which("dockerd") is None else set()  # as api_py.py: an optional anchor
        return 1 if set(failed) - optional else 0
    finally:
        for name, e in engines.items():
            ids = run([*e.cli, "ps", "-aq"], env=e.env, check=False).stdout.split()
            if ids:
                run([*e.cli, "rm", "-f", *ids], env=e.env, check=False, timeout=600)
        tear_down(tmp, services, before, forwarding, store, home, root)


if __name__ == "__main__":
    sys.exit(main())
