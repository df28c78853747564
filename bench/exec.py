"""Exec latency: `corral exec C true` into a running container, against crun and podman.

Why (issue 3): running a command in a container that is already up is what
tools and health checks do all the time, so corral's exec must cost far less
than podman's and stay near a bare OCI runtime's. One long-running `sleep`
container per engine, then the three execs interleaved in one process,
because these machines are noisy and only same-run figures compare.
Target: corral/podman <= 0.25 (median wall time); corral/crun is shown for scale; an exec into a container
with the default seccomp filter within 10 % of one into a --security-opt seccomp=unconfined container.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (ENGINES, PODMAN_IMAGE, PREFIX, begin, cleanup_crun, cleanup_podman, Command,  # noqa: E402
                     corral_cmd, corral_env, corral_ready, make_crun_bundle, measure, median_table, podman_import, ratio,
                     remove_corral_root, run, verdict)

NAME = f"{PREFIX}-exec"
"""Each engine's running container; names are per engine, so one name serves all three."""
SLEEP = ["sleep", "100000"]
WARMUP = 2


def crun_run_detached(bundle: Path, cid: str) -> None:
    """`crun run -d` hands its own stdio to the container's process, which keeps
    it open: give it /dev/null and a file, or reading its output never ends."""
    err = bundle.parent / "crun-run.err"
    with err.open("w+") as f:
        p = subprocess.run(["crun", "run", "-d", "-b", str(bundle), cid], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=f, timeout=120)
        f.seek(0)
        if p.returncode != 0:
            raise RuntimeError(f"crun run -d exited {p.returncode}: {f.read().strip()[-600:]}")


def prepare(tmp: Path, root: Path, failed: dict[str, str]) -> dict[str, Command]:
    """Start each engine's `sleep` container; an engine that cannot is recorded in `failed`."""
    cmds: dict[str, Command] = {}
    why = corral_ready(root)
    if why:
        failed["corral"] = why
    else:
        corral = corral_cmd()
        try:
            run(corral + ["run", "-d", "--name", NAME, "busybox", *SLEEP], env=corral_env(root))
            cmds["corral"] = lambda i: corral + ["exec", NAME, "true"]
            run(corral + ["run", "-d", "--name", NAME + "-u", "--security-opt", "seccomp=unconfined", "busybox",
                          *SLEEP], env=corral_env(root))
            cmds["corral-unconfined"] = lambda i: corral + ["exec", NAME + "-u", "true"]
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            failed["corral"] = str(e)
    bundle = tmp / "bundle"
    try:
        make_crun_bundle(bundle, SLEEP)
        crun_run_detached(bundle, NAME)
        cmds["crun"] = lambda i: ["crun", "exec", NAME, "true"]
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        failed["crun"] = str(e)
    try:
        podman_import(bundle / "rootfs", tmp / "rootfs.tar")
        run(["podman", "run", "-d", "--network", "none", "--name", NAME, PODMAN_IMAGE, *SLEEP])
        cmds["podman"] = lambda i: ["podman", "exec", NAME, "true"]
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        failed["podman"] = str(e)
    return cmds


def report(times: dict[str, list[float]], failed: dict[str, str], runs: int) -> None:
    med = median_table(f"exec latency, `exec C true` into a running container, wall time of the"
                       f" whole command, {runs} interleaved runs each", times, failed,
                       ENGINES + ("corral-unconfined",))
    crun = ratio(med, "corral", "crun")
    print(f"\ncorral/podman median ratio: {verdict(ratio(med, 'corral', 'podman'), 0.25)}")
    print(f"corral/crun   median ratio: {'n/a (not measured)' if crun is None else f'{crun:.3f}'}")
    print(f"corral/corral-unconfined median ratio (seccomp's cost): "
          f"{verdict(ratio(med, 'corral', 'corral-unconfined'), 1.1)}")


def remove_corral_container(root: Path) -> None:
    """Stop and remove corral's container, so no process outlives its store."""
    try:
        run(corral_cmd() + ["rm", "-f", NAME, NAME + "-u"], env=corral_env(root), check=False, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        pass


def main() -> int:
    runs, tmp = begin(__doc__, 30, "timed runs per engine")
    root = tmp / "corral-root"
    root.mkdir()
    failed: dict[str, str] = {}
    try:
        cmds = prepare(tmp, root, failed)
        times = measure(cmds, runs, root, failed, warmup=WARMUP)
        report(times, failed, runs)
    finally:
        remove_corral_container(root)
        cleanup_crun()
        cleanup_podman(PODMAN_IMAGE)  # even if an interruption lost podman_import's answer
        remove_corral_root(root)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
