"""RFC 3339 timestamps with nanoseconds, as Docker and the OCI image spec write them."""
from __future__ import annotations

import time


def rfc3339(ts: float | None = None) -> str:
    return from_ns(time.time_ns() if ts is None else int(ts * 1_000_000_000))


def from_ns(t_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ns // 1_000_000_000)) + f".{t_ns % 1_000_000_000:09d}Z"


def parse(text: str) -> float:
    """Seconds since the epoch of a timestamp written by rfc3339(); 0.0 if it is not one."""
    import calendar

    try:
        base = calendar.timegm((int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                                int(text[14:16]), int(text[17:19]), 0, 0, 0))
    except (ValueError, IndexError):
        return 0.0
    frac = text[20:29] if len(text) > 20 and text[19] == "." else ""
    return base + (int(frac) / 10 ** len(frac) if frac.isdigit() else 0.0)
