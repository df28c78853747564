"""The resource-limit flags of run, create and update, read into the engine's option values.

One reading for the three verbs, so `run --cpu-shares x` and `update --cpu-shares x`
fail alike, in the docker CLI's words (`invalid argument "x" for "--cpu-shares" flag`).
Imported only when a command line has a limit flag: `run` without one pays nothing.
"""
from __future__ import annotations

from corral.errors import InvalidArgument

SIZES = ("memory", "memory_reservation", "memory_swap")
INTS = ("cpu_shares", "cpu_period", "cpu_quota", "pids_limit", "blkio_weight", "memory_swappiness", "oom_score_adj")
STRINGS = ("cpuset_cpus", "cpuset_mems")
THROTTLES = ("device_read_bps", "device_write_bps", "device_read_iops", "device_write_iops")
FLAGS = SIZES + INTS + STRINGS + THROTTLES + ("cpus", "oom_kill_disable", "blkio_weight_device")
"""Every option key a limit flag sets (the flags' dests in cli/main.py's tables)."""


def given(o: dict) -> bool:
    """Whether the parsed command line `o` has any limit flag (a multi flag is a list, empty when absent)."""
    return any(o.get(key) not in (None, False, []) for key in FLAGS)


def read(o: dict) -> dict:
    """The limit flags present in `o` as ContainerOptions values: sizes in bytes (-1 kept for
    --memory-swap), numbers, throttles and device weights as HostConfig's {"Path", "Rate"|"Weight"}."""
    from corral.runtime.options import parse_bytes, parse_throttle, parse_weight_device

    found: dict = {}
    for key in SIZES:
        if o.get(key) is not None:
            text = o[key].strip()
            try:
                found[key] = -1 if key == "memory_swap" and text == "-1" else parse_bytes(text)
            except InvalidArgument:
                raise _bad(key, o[key], f"invalid size: '{o[key]}'") from None
    for key, kind in [(k, int) for k in INTS] + [("cpus", float)]:
        if o.get(key) is not None:
            try:
                found[key] = kind(o[key])
            except ValueError:
                raise _bad(key, o[key], "not a number" if kind is float else "not an integer") from None
    if found.get("memory_swappiness") == -1:
        del found["memory_swappiness"]  # docker's default: the host's swappiness
    for key in STRINGS:
        if o.get(key) is not None:
            found[key] = o[key]
    if o.get("oom_kill_disable"):
        found["oom_kill_disable"] = True
    for key in THROTTLES:
        if o.get(key):
            found[key] = [_entry(key, text, lambda t: parse_throttle(t, iops=key.endswith("iops"))) for text in o[key]]
    if o.get("blkio_weight_device"):
        found["blkio_weight_device"] = [_entry("blkio_weight_device", text, parse_weight_device)
                                        for text in o["blkio_weight_device"]]
    return found


def _entry(key: str, text: str, parse) -> dict:  # noqa: ANN001 - parse_throttle or parse_weight_device
    try:
        return parse(text)
    except InvalidArgument as e:
        raise _bad(key, text, str(e)) from None


def _bad(key: str, value: str, why: str) -> InvalidArgument:
    return InvalidArgument(f'invalid argument "{value}" for "--{key.replace("_", "-")}" flag: {why}')
