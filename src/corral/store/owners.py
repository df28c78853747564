"""Process identities that survive PID reuse: "pid:starttime:boot_id".

A record that names its owning process this way (a container's supervisor, a writer's scratch directory
in tmp/, a commit's pause) can be judged later: after a crash, a kill or a reboot the identity matches no
live process, and whatever the owner left can be recorded as lost or removed.
"""
from __future__ import annotations

import os

_BOOT_ID: list[str] = []

BUILD_STEP_LABEL = "corral.build.step-of"
"""The label of a build's RUN-step container: its builder's identity, so that the repair removes the step
containers of a builder that was killed (a live builder removes its own)."""


def _boot_id() -> str:
    if not _BOOT_ID:
        with open("/proc/sys/kernel/random/boot_id") as f:
            _BOOT_ID.append(f.read().strip())
    return _BOOT_ID[0]


def process_starttime(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None  # it has exited: a zombie waiting for its (re)parent is no live owner
    return fields[19]


def identity(pid: int | None = None) -> str:
    """The identity of process `pid` (default: this one)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{process_starttime(pid)}:{_boot_id()}"


def is_alive(ident: str | None) -> bool:
    if not ident or ident.count(":") != 2:
        return False
    pid, start, boot = ident.split(":")
    if boot != _boot_id() or not pid.isdecimal():
        return False
    return process_starttime(int(pid)) == start
