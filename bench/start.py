"""Start-up latency: `corral run --rm busybox true` against crun and podman.

Why: corral's promise is to start containers far faster than podman and not
much slower than a bare OCI runtime. The three run interleaved in one process
because these machines are noisy and only same-run figures compare.
Targets: corral/podman <= 0.3, corral/crun <= 4 (median wall time), and corral with its default seccomp
filter within 10 % of corral --security-opt seccomp=unconfined ("corral-unconfined": the cost of seccomp). corral and
crun are also timed back to back, where crun's cgroup moves are cheaper
(_common.back_to_back); both ratios are printed.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (ENGINES, PREFIX, back_to_back, begin, cleanup_crun, cleanup_podman, Command,  # noqa: E402
                     corral_cmd, corral_ready, make_crun_bundle, measure, median_table, podman_import, ratio,
                     remove_corral_root, verdict)


def prepare(tmp: Path, root: Path, failed: dict[str, str]) -> tuple[dict[str, Command], str | None]:
    """Set up each engine; an engine that cannot be set up is recorded in `failed`."""
    cmds: dict[str, Command] = {}
    why = corral_ready(root)
    if why:
        failed["corral"] = why
    else:
        corral = corral_cmd()
        cmds["corral"] = lambda i: corral + ["run", "--rm", "busybox", "true"]
        cmds["corral-unconfined"] = lambda i: corral + ["run", "--rm", "--security-opt", "seccomp=unconfined",
                                                        "busybox", "true"]
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


def report(times: dict[str, list[float]], loop: dict[str, list[float]], failed: dict[str, str], runs: int) -> None:
    med = median_table(f"start latency, wall time of the whole command, {runs} interleaved runs each",
                       times, failed, ENGINES + ("corral-unconfined",))
    print(f"\ncorral/podman median ratio: {verdict(ratio(med, 'corral', 'podman'), 0.3)}")
    print(f"corral/crun   median ratio: {verdict(ratio(med, 'corral', 'crun'), 4)}")
    print(f"corral/corral-unconfined median ratio (seccomp's cost): "
          f"{verdict(ratio(med, 'corral', 'corral-unconfined'), 1.1)}")
    med = median_table(f"the same, {runs} runs of each engine back to back (crun's cgroup moves stay warm: "
                       "see _common.back_to_back)", loop, failed, ("corral", "corral-unconfined", "crun"))
    print(f"\ncorral/crun   median ratio, back to back: {verdict(ratio(med, 'corral', 'crun'), 4)}")
    print(f"corral/corral-unconfined median ratio, back to back: "
          f"{verdict(ratio(med, 'corral', 'corral-unconfined'), 1.1)}")


def main() -> int:
    runs, tmp = begin(__doc__, 30, "timed runs per engine", flag="--runs")
    root, image = tmp / "corral-root", None
    root.mkdir()
    failed: dict[str, str] = {}
    try:
        cmds, image = prepare(tmp, root, failed)
        times = measure(cmds, runs, root, failed)
        loop = back_to_back({k: v for k, v in cmds.items() if k != "podman"}, runs, root, failed)
        report(times, loop, failed, runs)
    finally:
        cleanup_crun()
        cleanup_podman(image)
        remove_corral_root(root)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
