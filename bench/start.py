"""Start-up latency: `corral run --rm busybox true` against crun and podman.

Why: corral's promise is to start containers far faster than podman and not
much slower than a bare OCI runtime. The three run interleaved in one process
because these machines are noisy and only same-run figures compare.
Targets: corral/podman <= 0.3, corral/crun <= 4 (median wall time).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (PREFIX, cleanup_crun, cleanup_on_sigterm, cleanup_podman,  # noqa: E402
                     corral_cmd, corral_env, corral_ready, ensure_hugetlb_v1,
                     ensure_podman_ulimits, make_crun_bundle, pctl, podman_import,
                     remove_corral_root, timed, verdict)

Command = Callable[[int], list[str]]


def prepare(tmp: Path, root: Path, failed: dict[str, str]) -> tuple[dict[str, Command], str | None]:
    """Set up each engine; an engine that cannot be set up is recorded in `failed`."""
    cmds: dict[str, Command] = {}
    why = corral_ready(root)
    if why:
        failed["corral"] = why
    else:
        corral = corral_cmd()
        cmds["corral"] = lambda i: corral + ["run", "--rm", "busybox", "true"]
    bundle, image = tmp / "bundle", None
    try:
        make_crun_bundle(bundle, ["true"])
        cmds["crun"] = lambda i: ["crun", "run", "-b", str(bundle), f"{PREFIX}-{i}"]
    except (OSError, RuntimeError) as e:
        failed["crun"] = str(e)
    try:
        image = podman_import(bundle / "rootfs", tmp / "rootfs.tar")
        cmds["podman"] = lambda i: ["podman", "run", "--rm", "--network", "none",
                                    "--name", f"{PREFIX}-{i}", image, "true"]
    except (OSError, RuntimeError) as e:
        failed["podman"] = str(e)
    return cmds, image


def measure(cmds: dict[str, Command], runs: int, root: Path,
            failed: dict[str, str]) -> dict[str, list[float]]:
    """Warm each engine once, then interleave them, rotating the order so no
    engine always runs right after another's cleanup."""
    env = corral_env(root)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for i in range(-1, runs):
        names = [n for n in cmds if n not in failed]
        for k in range(len(names)):
            name = names[(i + k) % len(names)]
            try:
                ms, _ = timed(cmds[name](i + 1), env=env if name == "corral" else None)
            except Exception as e:  # a failed run's time means nothing: drop the engine
                failed[name] = str(e)
                continue
            if i >= 0:
                times[name].append(ms)
    return {n: t for n, t in times.items() if n not in failed}


def report(times: dict[str, list[float]], failed: dict[str, str], runs: int) -> None:
    print(f"\nstart latency, wall time of the whole command, {runs} interleaved runs each")
    print(f"{'engine':8} {'runs':>5} {'median':>9} {'p10':>9} {'p90':>9}  (ms)")
    med: dict[str, float] = {}
    for name in ("corral", "crun", "podman"):
        if name in times:
            med[name], p10, p90 = pctl(times[name])
            print(f"{name:8} {len(times[name]):5} {med[name]:9.1f} {p10:9.1f} {p90:9.1f}")
        else:
            print(f"{name:8} could not run: {failed.get(name, 'not measured')}")
    ratio = lambda a, b: med[a] / med[b] if a in med and b in med else None  # noqa: E731
    print(f"\ncorral/podman median ratio: {verdict(ratio('corral', 'podman'), 0.3)}")
    print(f"corral/crun   median ratio: {verdict(ratio('corral', 'crun'), 4)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=lambda v: max(1, int(v)), default=30,
                    help="timed runs per engine (default 30)")
    runs = ap.parse_args().runs
    ensure_hugetlb_v1()
    cleanup_on_sigterm()
    ensure_podman_ulimits()
    tmp = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    root, image = tmp / "corral-root", None
    root.mkdir()
    failed: dict[str, str] = {}
    try:
        cmds, image = prepare(tmp, root, failed)
        times = measure(cmds, runs, root, failed)
        report(times, failed, runs)
    finally:
        cleanup_crun()
        cleanup_podman(image)
        remove_corral_root(root)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
