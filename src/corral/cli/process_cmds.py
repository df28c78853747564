"""Verbs on a running container's processes: pause, unpause (the cgroup freezer) and top."""
from __future__ import annotations

import time

from corral.api import Host
from corral.cli.shared import each_container


def pause(o: dict, args: list[str]) -> int:
    return each_container(args, lambda c: c.pause())


def unpause(o: dict, args: list[str]) -> int:
    return each_container(args, lambda c: c.unpause())


def _start_time(started: float, now: float) -> str:
    """ps's STIME: the clock time today, the date this year, the year before that."""
    then, today = time.localtime(started), time.localtime(now)
    if then[:3] == today[:3]:
        return time.strftime("%H:%M", then)
    return time.strftime("%b%d" if then.tm_year == today.tm_year else "%Y", then)


def _cpu_time(seconds: float) -> str:
    """ps's TIME: [DD-]HH:MM:SS of CPU used."""
    s = int(seconds)
    days, s = divmod(s, 86400)
    text = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{days}-{text}" if days else text


def top(o: dict, args: list[str]) -> int:
    """docker top's columns (PID and PPID are the host's), plus CPID: the PID inside the container.

    Read from /proc, not by running the host's ps, so ps options after the
    container name are accepted for compatibility but do not change the output.
    """
    from corral.cli import fmt

    processes = Host().container(args[0]).top()
    now = time.time()
    rows: list[tuple] = [("UID", "PID", "PPID", "CPID", "STIME", "TIME", "CMD")]
    rows += [(p.user, p.pid, p.ppid, p.container_pid, _start_time(p.started, now), _cpu_time(p.cpu_seconds), p.cmd)
             for p in processes]
    print(fmt.table(rows))
    return 0
