"""The escape suite (issue 20, item 5): what a process inside a default container tries, and must fail at."""
from __future__ import annotations

import subprocess

WATCH = r"""
while [ ! -f /stop ]; do
  for p in /proc/[0-9]*; do
    echo "exe $(readlink $p/exe 2>/dev/null)"
    ls -l $p/fd 2>/dev/null | sed -n 's/.* -> /fd /p'
  done
done > /seen 2>/dev/null
sleep 60
"""


def test_a_process_joining_the_container_shows_nothing_of_the_host_through_proc(busybox):
    """The runc CVE-2019-5736 class: between the fork into the container's PID namespace and the exec of
    the container's binary, a joining process is the host's interpreter holding the monitor's fds. A
    process inside races /proc/N/exe and /proc/N/fd during 500 execs and must see only its own world."""
    cid = busybox.out("run", "-d", "busybox", "sh", "-c", WATCH).strip()
    from conftest import CORRAL

    subprocess.run(["sh", "-c", f'for i in $(seq 500); do "$@" exec {cid} true || exit 1; done', "sh", *CORRAL],
                   env=busybox.env, check=True, timeout=300)
    busybox.out("exec", cid, "touch", "/stop")
    seen = set(busybox.out("exec", cid, "sort", "-u", "/seen").splitlines())
    exes = {line for line in seen if line.startswith("exe ")}
    assert exes <= {"exe /bin/busybox", "exe "}, exes  # "": a process gone, or not dumpable
    fds = {line[3:] for line in seen if line.startswith("fd ")}
    assert fds, "the watcher saw no fd at all: it did not run"
    host = [f for f in fds if not (f.startswith(("pipe:", "socket:", "anon_inode:", "/dev/")) or f == "/seen")]
    assert host == [], host
    busybox.out("rm", "-f", cid)
