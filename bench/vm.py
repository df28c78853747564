"""A VM container against a process container: cold start (`corral run --rm [--isolation=vm] busybox true`)
and exec latency (`corral exec C true` into a running one).

Why (issue 19): --isolation=vm buys a kernel of its own per container; what it costs at start and per
exec are the first figures a user weighs. Each pair of commands runs interleaved in one process, as these
machines are noisy. Each VM run is cold: QEMU starts, the guest kernel boots, the init mounts the root
over 9p, runs /bin/true and powers off (no template yet). The accelerator this host uses (kvm or tcg)
is printed.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _common import (begin, corral_cmd, corral_env, corral_ready, measure, median_table, ratio,  # noqa: E402
                     remove_corral_root, run)

ENGINES = ("corral", "corral-vm")


def main() -> None:
    runs, tmp = begin(__doc__, 10, "runs of each")
    root = tmp / "store"
    failed: dict[str, str] = {}
    try:
        from corral.runtime.vm import accel

        why = corral_ready(root)
        if why:
            sys.exit(f"corral cannot run: {why}")
        corral = corral_cmd()
        cmds = {"corral": lambda i: corral + ["run", "--rm", "busybox", "true"],
                "corral-vm": lambda i: corral + ["run", "--rm", "--isolation=vm", "busybox", "true"]}
        times = measure(cmds, runs, root, failed)
        med = median_table(f"cold start to the exit of /bin/true, `corral run --rm [--isolation=vm] busybox true`, "
                           f"wall time of the whole command, {runs} interleaved runs each "
                           f"(VM accelerator: {accel.cached() or 'not probed'})", times, failed, ENGINES)
        vm_over = ratio(med, "corral-vm", "corral")
        print(f"\nvm/process median ratio: {'n/a' if vm_over is None else f'{vm_over:.1f}'}")
        env = corral_env(root)
        for name, flags in (("ctr", []), ("vm", ["--isolation=vm"])):
            run(corral + ["run", "-d", "--name", f"bench-{name}", *flags, "busybox", "sleep", "100000"], env=env)
        execs = {"corral": lambda i: corral + ["exec", "bench-ctr", "true"],
                 "corral-vm": lambda i: corral + ["exec", "bench-vm", "true"]}
        times = measure(execs, 3 * runs, root, failed, warmup=2)
        med = median_table(f"exec latency, `corral exec C true` into a running container, wall time of the whole "
                           f"command, {3 * runs} interleaved runs each", times, failed, ENGINES)
        run(corral + ["rm", "-f", "bench-ctr", "bench-vm"], env=env)
    finally:
        remove_corral_root(root)
        remove_corral_root(tmp)


if __name__ == "__main__":
    main()
