"""Verbs on a running container's processes: pause, unpause (the cgroup freezer) and top."""
from __future__ import annotations

from corral.api import Host
from corral.cli.shared import each_container


def pause(o: dict, args: list[str]) -> int:
    return each_container(args, lambda c: c.pause())


def unpause(o: dict, args: list[str]) -> int:
    return each_container(args, lambda c: c.unpause())


def top(o: dict, args: list[str]) -> int:
    """docker top's table: `ps -ef` columns, or what the ps options after the container name ask for."""
    from corral.cli import fmt

    titles, rows = Host().container(args[0]).top_table(args[1:])
    print(fmt.table([tuple(titles)] + [tuple(r) for r in rows]))
    return 0
