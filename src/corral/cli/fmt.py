"""Human output: tables, "3 minutes ago", container status lines, as the docker CLI shows them."""
from __future__ import annotations

import calendar
import time


def parse_time(text: str) -> float:
    """Seconds since the epoch of our RFC 3339 timestamps (YYYY-MM-DDTHH:MM:SS.fffffffffZ)."""
    try:
        base = calendar.timegm((int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                                int(text[14:16]), int(text[17:19]), 0, 0, 0))
    except (ValueError, IndexError):
        return 0.0
    frac = text[20:29] if len(text) > 20 and text[19] == "." else ""
    return base + (int(frac) / 10 ** len(frac) if frac.isdigit() else 0.0)


def human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s < 60:
        return f"{s} second{'s' if s != 1 else ''}"
    if s < 3600:
        m = s // 60
        return f"{m} minute{'s' if m != 1 else ''}" if m > 1 else "About a minute"
    if s < 86400:
        h = s // 3600
        return f"{h} hours" if h > 1 else "About an hour"
    d = s // 86400
    return f"{d} days" if d > 1 else "1 day"


def ago(text: str) -> str:
    return human_duration(time.time() - parse_time(text)) + " ago"


def status(c) -> str:  # noqa: ANN001 - a corral.api.Container
    st = c.status
    if st == "running":
        return "Up " + human_duration(time.time() - parse_time(c.started_at or c.created))
    if st == "exited":
        return f"Exited ({c.exit_code}) " + ago(c.finished_at or c.created)
    return st.capitalize()


def table(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)


def timestamp(t_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ns // 1_000_000_000)) + f".{t_ns % 1_000_000_000:09d}Z"
