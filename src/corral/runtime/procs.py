"""The processes of a container as `top` shows them, read from /proc rather than by running the host's ps.

The host may have no ps (or a busybox one without -o); /proc is always
there, and it alone gives the PID a process has inside its PID namespace.
"""
from __future__ import annotations

import os


class Process(tuple):
    """One process of a container; PIDs are both the host's and the container's, since each side needs its own.

    A tuple (pid, container_pid, user, cmd, ppid, started, cpu_seconds, tty) with its fields by name too:
    `started` in seconds since the epoch, `tty` as ps names the controlling terminal (pts/0, or ? for none).
    A plain tuple class, not typing.NamedTuple, whose import (~10 ms) `ps --processes` is not to pay.
    """

    __slots__ = ()

    def __new__(cls, pid: int, container_pid: int, user: str, cmd: str, ppid: int, started: float,
                cpu_seconds: float, tty: str = "?") -> Process:
        return tuple.__new__(cls, (pid, container_pid, user, cmd, ppid, started, cpu_seconds, tty))

    pid = property(lambda self: self[0])
    container_pid = property(lambda self: self[1])
    user = property(lambda self: self[2])
    cmd = property(lambda self: self[3])
    ppid = property(lambda self: self[4])
    started = property(lambda self: self[5])
    cpu_seconds = property(lambda self: self[6])
    tty = property(lambda self: self[7])


def _boot_time() -> float:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def user_names(root: str) -> dict[int, str]:
    """uid → name from the container's own /etc/passwd, whose names mean something there (the host's may not).

    Read through the init's /proc/PID/root as users.read_file reads it:
    links followed inside the container only, a FIFO never opened.
    """
    from corral.runtime import users

    text = users.read_file([root], "etc/passwd", live=True) or ""
    names: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[2].isdecimal():
            names.setdefault(int(fields[2]), fields[0])
    return names


def read(pid: int, names: dict[int, str], boot: float, tick: int) -> Process | None:
    """None when the process exited meanwhile: a listing races with every exit, which is not an error."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    comm = stat[stat.index("(") + 1: stat.rindex(")")]
    fields = stat.rsplit(")", 1)[1].split()
    uid = int(status["Uid"].split()[1])  # effective, as ps shows
    cmd = raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace") or f"[{comm}]"
    return Process(
        pid=pid,
        container_pid=int(status.get("NSpid", str(pid)).split()[-1]),
        user=names.get(uid, str(uid)),
        cmd=cmd,
        ppid=int(fields[1]),
        started=boot + int(fields[19]) / tick,
        cpu_seconds=(int(fields[11]) + int(fields[12])) / tick,
        tty=_tty_name(int(fields[4])),
    )


def _tty_name(tty_nr: int) -> str:
    """ps's TTY column for /proc/PID/stat's tty_nr: pts/N for a pseudo-terminal, ? for none."""
    if tty_nr == 0:
        return "?"
    major, minor = (tty_nr >> 8) & 0xFFF, (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)
    if 136 <= major <= 143:
        return f"pts/{(major - 136) * 256 + minor}"
    return f"tty{minor}" if major == 4 and minor < 64 else f"{major}:{minor}"


def list_processes(pids: list[int], root: str) -> list[Process]:
    """The live ones among `pids`, sorted by host PID; `root` is a path to the container's root directory."""
    names = user_names(root)
    boot, tick = _boot_time(), os.sysconf("SC_CLK_TCK")
    found = (read(pid, names, boot, tick) for pid in sorted(pids))
    return [p for p in found if p is not None]


def ps_listing(pids: list[int], args: list[str]) -> tuple[list[str], list[list[str]]]:
    """The titles and rows of the host's `ps ARGS` for these PIDs only, as docker top does it: ps is
    asked for them alone (-q), and where the options refuse -q (forest listings), the whole listing
    is filtered by its PID column. Docker's own error when the options drop that column."""
    import subprocess

    from corral.errors import APIError

    wanted = sorted(pids)
    try:
        done = subprocess.run(["ps", *args, "-q", ",".join(map(str, wanted))], capture_output=True)
        if done.returncode != 0:
            done = subprocess.run(["ps", *args], capture_output=True)
    except FileNotFoundError:
        raise APIError("top with ps options runs the host's ps, which is not installed (procps)") from None
    if done.returncode != 0:
        raise APIError(f"ps: {done.stderr.decode(errors='replace').strip()}")
    lines = done.stdout.decode(errors="replace").splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise APIError("Couldn't find PID field in ps output")
    at, keep, rows = titles.index("PID"), set(map(str, wanted)), []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > at and fields[at] in keep:
            rows.append(fields[:len(titles) - 1] + [" ".join(fields[len(titles) - 1:])])
    return titles, rows
