"""Whether a VM container's boot stalls the store's monitor: the latency of `corral exec C true` into a
running process container, idle and while a VM container boots (QEMU started, its guest not yet ready).

Why (issue 19): every container of a store is supervised by one monitor, so a VM's 1-2 s boot under TCG
held up every exec, attach and output of the store's other containers while the monitor waited for it.
Run it with the src tree to measure: `python bench/vm_boot_stall.py [RUNS] [SRC]` (SRC: this tree's src).
"""
from __future__ import annotations

import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    src = sys.argv[2] if len(sys.argv) > 2 else str(Path(__file__).resolve().parent.parent / "src")
    root = tempfile.mkdtemp(prefix="corral-bench-vm-stall.")
    env = dict(os.environ, CORRAL_ROOT=root, PYTHONPATH=src)
    corral = [sys.executable, "-m", "corral.cli.main"]

    def out(*args: str) -> str:
        return subprocess.run(corral + list(args), env=env, capture_output=True, check=True).stdout.decode()

    def timed_exec(cid: str) -> float:
        started = time.monotonic()
        out("exec", cid, "true")
        return time.monotonic() - started

    def booting() -> bool:  # QEMU writes the guest's console from its start
        return bool(glob.glob(os.path.join(root, "containers", "*", "vm-console.log")))

    out("image", "bootstrap", "busybox")
    other = out("run", "-d", "busybox", "sleep", "600").strip()
    idle, during = [], []
    try:
        for _ in range(runs):
            idle.append(timed_exec(other))
            vm = subprocess.Popen(corral + ["run", "-d", "--isolation=vm", "busybox", "sleep", "600"], env=env,
                                  stdout=subprocess.PIPE)
            while not booting():
                time.sleep(0.005)
            during.append(timed_exec(other))
            out("rm", "-f", vm.communicate()[0].decode().strip())
    finally:
        subprocess.run(corral + ["rm", "-f", other], env=env, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    print(f"exec into a process container ({src}), median of {runs}: idle {statistics.median(idle) * 1000:.0f} ms, "
          f"while a VM container boots {statistics.median(during) * 1000:.0f} ms (max {max(during) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
