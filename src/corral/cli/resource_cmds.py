"""Verbs on containers' resources: `stats` (docker's table, streamed or once) and `update` (live limits).

The figures are computed here from the engine's samples (docker's stats JSON) with the docker CLI's
formulas, as the docker CLI computes them from the Engine API's: CPU % is the container's CPU time
over the host's between two samples, times the online CPUs; memory is the usage less the inactive
file cache (total_inactive_file on cgroup v1, inactive_file on v2).
"""
from __future__ import annotations

import os
import sys

from corral.api import Host
from corral.cli import fmt
from corral.cli.shared import each_container
from corral.errors import InvalidArgument

HEADER = ("CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS")


def cpu_percent(frame: dict) -> float:
    """docker's calculateCPUPercentUnix: container CPU delta over system CPU delta, times the CPUs."""
    cur, pre = frame["cpu_stats"], frame["precpu_stats"]
    cpu_delta = cur["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
    system_delta = cur.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cur.get("online_cpus") or len(cur["cpu_usage"].get("percpu_usage") or ())
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * cpus * 100.0
    return 0.0


def memory_used(memory: dict) -> int:
    """docker's calculateMemUsageUnixNoCache: the usage less inactive file pages (v1's total_, else v2's)."""
    usage, stats = memory.get("usage", 0), memory.get("stats") or {}
    if "total_inactive_file" in stats and stats["total_inactive_file"] < usage:
        return usage - stats["total_inactive_file"]
    if stats.get("inactive_file", 0) < usage:
        return usage - stats.get("inactive_file", 0)
    return usage


def block_io(blkio: dict) -> tuple[int, int]:
    """Bytes read and written, summed over the devices' Read/Write entries (v1 "Read", v2 "read")."""
    read = write = 0
    for entry in blkio.get("io_service_bytes_recursive") or ():
        op = entry.get("op", "")[:1].lower()
        if op == "r":
            read += entry["value"]
        elif op == "w":
            write += entry["value"]
    return read, write


def network_io(networks: dict | None) -> tuple[int, int]:
    rx = sum(n["rx_bytes"] for n in (networks or {}).values())
    return rx, sum(n["tx_bytes"] for n in (networks or {}).values())


COLUMNS = ("ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs")
HEADERS = dict(zip(COLUMNS, HEADER), Container="CONTAINER")


def row(frame: dict, no_trunc: bool = False) -> fmt.Row:
    """One line of docker's stats table, by docker's --format field names (.Container is the name or
    ID as given; corral shows the name)."""
    memory = frame["memory_stats"]
    used, limit = memory_used(memory), memory.get("limit", 0)
    rx, tx = network_io(frame.get("networks"))
    read, write = block_io(frame["blkio_stats"])
    name = frame["name"].lstrip("/")
    return fmt.Row(ID=frame["id"] if no_trunc else frame["id"][:12], Name=name, Container=name,
                   CPUPerc=f"{cpu_percent(frame):.2f}%", MemUsage=f"{fmt.binary_size(used)} / {fmt.binary_size(limit)}",
                   MemPerc=f"{used / limit * 100 if limit else 0.0:.2f}%", NetIO=f"{fmt.size(rx)} / {fmt.size(tx)}",
                   BlockIO=f"{fmt.size(read)} / {fmt.size(write)}", PIDs=str(frame["pids_stats"].get("current", 0)))


def stats(o: dict, args: list[str]) -> int:
    """docker stats: named containers (stopped ones as zeros), else the running ones (all with -a),
    followed as they come and go; --no-stream prints one table, a second after a first sample."""
    host = Host()
    named = [host.container(ref) for ref in args] if args else None
    return _show(o, named, lambda: host.containers(all=o["all"]))


def pod_stats(o: dict, args: list[str]) -> int:
    """podman's `pod stats`: `stats` of the members of the pods named (of every pod with -a, of the
    running ones without names), a POD column first; as `stats`, streamed unless --no-stream."""
    host = Host()
    if args and o["all"]:
        raise InvalidArgument("--all and pod names cannot be given together")
    named = [host.pod(ref) for ref in args] if args else None
    pod_of: dict[str, str] = {}

    def members() -> list:
        """Asked every round: pods and members come and go."""
        found = []
        for p in [q.reload() for q in named] if named is not None else host.pods():
            for c in p.containers(infra=False):
                if named is not None or o["all"] or c.status == "running":
                    pod_of[c.id] = p.name
                    found.append(c)
        return found

    return _show(o, None, members, lambda frame: {"Pod": pod_of.get(frame["id"], "")}, ("Pod",))


def _show(o: dict, named: list | None, running: object, extra: object = None, before: tuple[str, ...] = ()) -> int:
    """The stats table of the containers `named` (or of those running() gives, asked every round), streamed
    or once (--no-stream); extra(frame) adds fields, `before` the columns shown before docker's."""
    from corral.api import stats as samples

    columns = before + COLUMNS
    headers = dict(HEADERS, Pod="POD")
    if o["format"] is not None:
        fmt.render_rows([], o["format"], columns, headers)  # a bad template fails before the first sample
    frames = samples.frames(named, primed=o["no_stream"], running=running)  # type: ignore[arg-type]

    def text(batch: list[dict]) -> str:
        rows = [fmt.Row(**row(f, o["no_trunc"]), **(extra(f) if extra else {})) for f in batch]  # type: ignore
        return fmt.render_rows(rows, o["format"], columns, headers)

    if o["no_stream"]:
        sys.stdout.write(text(next(frames)))
        return 0
    terminal = os.isatty(1)
    if terminal:
        sys.stdout.write("\033[2J")
    for batch in frames:
        shown = text(batch).rstrip("\n")
        if terminal:  # redraw in place, as docker: home, each line cleared to its end, the rest cleared
            shown = "\033[H" + "".join(line + "\033[K\n" for line in shown.split("\n")) + "\033[J"
        else:
            shown += "\n\n"
        sys.stdout.write(shown)
        sys.stdout.flush()
    return 0


def update(o: dict, args: list[str]) -> int:
    from corral.cli.limits import read

    limits = read(o)
    if o["restart"] is not None:
        from corral.runtime.options import parse_restart

        parse_restart(o["restart"])  # a bad policy is refused before any container is changed
        limits["restart_policy"] = o["restart"]
    if any(o.get(k) is not None for k in ("network_bandwidth", "network_bandwidth_in", "network_bandwidth_out")):
        from corral.network import bandwidth

        limits.update(bandwidth.flags(o))
    if not limits:
        raise InvalidArgument("you must provide one or more flags when using this command")
    return each_container(args, lambda c: c.update(**limits))
