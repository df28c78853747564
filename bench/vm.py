"""A VM container against a process container: cold start, template start, exec latency and host memory per idle VM.

Why (issue 19): --isolation=vm buys a kernel of its own per container; what it costs at start, per exec and
in host memory are the figures a user weighs. Start: `corral run --rm [--isolation=vm] busybox true`, wall
time of the whole command to the exit of /bin/true: a process container; a VM booted cold (a store whose
monitor has CORRAL_VM_TEMPLATES=none: QEMU starts, the guest kernel boots, the init mounts the root over 9p,
runs /bin/true and powers off); a VM resumed from a template (runtime/vm/template.py; the bench's own template
directory, the template built before the runs and its build timed). Each set of commands runs interleaved
in one process, as these machines are noisy. Exec: `corral exec C true` into a running container (the VM
one resumed from the template), and the same through the Python API in this process (without the CLI's
interpreter start-up, which is the same in both modes). Memory: 1, then 10 idle VMs of one template (`sleep`),
after 3 s of idle: the PSS and the unique memory (Private_Clean + Private_Dirty) of each QEMU process
(/proc/PID/smaps_rollup), beside one cold-booted VM's and a process container's (its processes). The
accelerator this host uses (kvm or tcg) is printed, and whether Debian offers podman a VM runtime here (the
anchor: krun or Kata).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _common import (begin, corral_cmd, corral_env, corral_ready, interleave, median_table, ratio,  # noqa: E402
                     remove_corral_root, run, timed)

ENGINES = ("corral", "corral-vm-cold", "corral-vm")
IDLE = 3.0
"""Seconds VMs are left idle before their memory is read."""


def smaps(pid: int) -> dict[str, int]:
    """KiB of the fields of /proc/PID/smaps_rollup."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", text, re.M)}


def container_pids(corral: list[str], env: dict[str, str], name: str) -> list[int]:
    """The host PIDs of a container: a VM's QEMU, a process container's init (here its only process)."""
    return [int(run(corral + ["inspect", "-f", "{{.State.Pid}}", name], env=env).stdout)]


def memory_line(label: str, pids_of: list[list[int]]) -> None:
    """Mean PSS and unique memory per container, in MiB."""
    per = [[smaps(pid) for pid in pids] for pids in pids_of]
    pss = [sum(m["Pss"] for m in c) / 1024 for c in per]
    uss = [sum(m["Private_Clean"] + m["Private_Dirty"] for m in c) / 1024 for c in per]
    rss = [sum(m["Rss"] for m in c) / 1024 for c in per]
    print(f"  {label:<44} PSS {sum(pss) / len(pss):6.1f}   unique {sum(uss) / len(uss):6.1f}   "
          f"RSS {sum(rss) / len(rss):6.1f}")


def anchor() -> None:
    """Whether a Debian package gives podman a VM runtime here."""
    names = ["crun-krun", "libkrun", "kata-containers"]
    out = subprocess.run(["apt-cache", "policy", *names], capture_output=True, text=True).stdout
    found = [n for n in names if re.search(rf"^{re.escape(n)}:\n\s+Installed: .*\n\s+Candidate: (?!\(none\))",
                                               out, re.M)]
    print(f"\nanchor: `apt-cache policy {' '.join(names)}`: "
          + (f"candidates: {', '.join(found)} (not measured)" if found else
             "no candidate for any: Debian offers podman no krun or Kata runtime here, so no anchor"))


def api_execs(root: Path, runs: int, failed: dict[str, str]) -> None:
    """Exec latency without the CLI's interpreter start-up (about 15 ms of each command above, the same in both
    modes): `exec_run("true")` through the Python API, in this process."""
    import corral as api

    client = api.Client(str(root))
    try:
        def exec_ms(container: object) -> float:
            t0 = time.perf_counter()
            result = container.exec_run("true")  # type: ignore[attr-defined]
            if result.exit_code != 0:
                raise RuntimeError(f"exec_run('true') exited {result.exit_code}")
            return (time.perf_counter() - t0) * 1000

        containers = {"corral": client.containers.get("bench-ctr"), "corral-vm": client.containers.get("bench-vm")}
        times = interleave({name: (lambda i, c=c: exec_ms(c)) for name, c in containers.items()}, 3 * runs, failed,
                           warmup=2)
        median_table(f"exec latency through the Python API, `client.containers.get(C).exec_run('true')` in one "
                     f"process (no interpreter start-up), {3 * runs} interleaved runs each", times, failed,
                     ("corral", "corral-vm"))
    finally:
        client.close()


def main() -> None:
    runs, tmp = begin(__doc__, 10, "runs of each")
    root, cold_root, templates = tmp / "store", tmp / "store-cold", tmp / "templates"
    failed: dict[str, str] = {}
    os.environ["CORRAL_VM_TEMPLATES"] = str(templates)
    try:
        from corral.runtime.vm import accel

        why = corral_ready(root) or corral_ready(cold_root)
        if why:
            sys.exit(f"corral cannot run: {why}")
        corral = corral_cmd()
        env, cold_env = corral_env(root), dict(corral_env(cold_root), CORRAL_VM_TEMPLATES="none")
        ms, _ = timed([sys.executable, "-m", "corral.runtime.vm.template"],
                      env=dict(env, PYTHONPATH=str(Path(__file__).resolve().parent.parent / "src")))
        print(f"template build (`python -m corral.runtime.vm.template`, 128 MiB, 1 CPU): {ms:.0f} ms")
        true = ["run", "--rm", "busybox", "true"]
        vm_true = ["run", "--rm", "--isolation=vm", "busybox", "true"]
        cmds = {"corral": (corral + true, env), "corral-vm-cold": (corral + vm_true, cold_env),
                "corral-vm": (corral + vm_true, env)}
        times = interleave({name: (lambda i, c=c: timed(*c)[0]) for name, c in cmds.items()}, runs, failed)
        med = median_table(f"start to the exit of /bin/true, `corral run --rm [--isolation=vm] busybox true`, "
                           f"wall time of the whole command, {runs} interleaved runs each (VM accelerator: "
                           f"{accel.cached() or 'not probed'}; corral-vm-cold: CORRAL_VM_TEMPLATES=none)",
                           times, failed, ENGINES)
        for vm in ("corral-vm-cold", "corral-vm"):
            over = ratio(med, vm, "corral")
            print(f"{vm}/process median ratio: {'n/a' if over is None else f'{over:.1f}'}")
        for name, flags in (("ctr", []), ("vm", ["--isolation=vm"])):
            run(corral + ["run", "-d", "--name", f"bench-{name}", *flags, "busybox", "sleep", "100000"], env=env)
        execs = {"corral": lambda i: timed(corral + ["exec", "bench-ctr", "true"], env)[0],
                 "corral-vm": lambda i: timed(corral + ["exec", "bench-vm", "true"], env)[0]}
        times = interleave(execs, 3 * runs, failed, warmup=2)
        median_table(f"exec latency, `corral exec C true` into a running container (the VM resumed from the template), "
                     f"wall time of the whole command, {3 * runs} interleaved runs each", times, failed,
                     ("corral", "corral-vm"))
        api_execs(root, runs, failed)
        run(corral + ["run", "-d", "--name", "bench-cold", "--isolation=vm", "busybox", "sleep", "100000"],
            env=cold_env)
        for i in range(1, 10):
            run(corral + ["run", "-d", "--name", f"bench-vm{i}", "--isolation=vm", "busybox", "sleep", "100000"],
                env=env)
        time.sleep(IDLE)
        print(f"\nhost memory per idle container, MiB (mean of each container's processes' /proc/PID/smaps_rollup, "
              f"{IDLE:.0f} s idle; a VM's process is its QEMU)")
        memory_line("process container (sleep)", [container_pids(corral, env, "bench-ctr")])
        memory_line("VM booted cold, alone in its store", [container_pids(corral, cold_env, "bench-cold")])
        vms = [container_pids(corral, env, n) for n in ["bench-vm"] + [f"bench-vm{i}" for i in range(1, 10)]]
        memory_line("VM from the template, 10 of one template", vms)
        run(corral + ["rm", "-f", *[f"bench-vm{i}" for i in range(1, 10)]], env=env)
        time.sleep(1)
        memory_line("VM from the template, 1 of its template", [container_pids(corral, env, "bench-vm")])
        run(corral + ["rm", "-f", "bench-ctr", "bench-vm"], env=env)
        run(corral + ["rm", "-f", "bench-cold"], env=cold_env)
        anchor()
    finally:
        remove_corral_root(root)
        remove_corral_root(cold_root)
        remove_corral_root(tmp)


if __name__ == "__main__":
    main()
