"""Human output: tables, "3 minutes ago", container status lines, as the docker CLI shows them."""
from __future__ import annotations

import time

from corral.timestamps import parse as parse_time


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


def local_rfc3339(seconds: float) -> str:
    """Go's time.RFC3339 of a Unix time in the local zone (2024-05-01T12:00:00+02:00, or ...Z in UTC)."""
    t = time.localtime(seconds)
    off = t.tm_gmtoff or 0
    zone = "Z" if off == 0 else f"{'+' if off > 0 else '-'}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + zone


def ago(text: str) -> str:
    return human_duration(time.time() - parse_time(text)) + " ago"


def status(c) -> str:  # noqa: ANN001 - a corral.api.Container
    st = c.status
    if st == "running":
        up = "Up " + human_duration(time.time() - parse_time(c.started_at or c.created))
        return up + " (Paused)" if c.paused else up
    if st == "exited":
        return f"Exited ({c.exit_code}) " + ago(c.finished_at or c.created)
    return st.capitalize()


def ports(published: dict[str, list[dict[str, str]]]) -> str:
    """Docker's PORTS column: 0.0.0.0:8082->80/tcp, …"""
    return ", ".join(f"{b['HostIp']}:{b['HostPort']}->{key}" for key, bindings in published.items() for b in bindings)


def size(n: float) -> str:
    """Docker's units: powers of 1000, three significant digits (1.23MB, 512B)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}TB"


def binary_size(n: float) -> str:
    """Docker's BytesSize: powers of 1024, four significant digits (1.953MiB, 23.54GiB, 0B)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}"
        n /= 1024
    return f"{n:.4g}TiB"


def deleted_images(deleted: list[dict[str, str]]) -> str:
    """docker's "Deleted Images:" block of a prune (untagged: NAME, deleted: ID lines, a blank line), or ""."""
    if not deleted:
        return ""
    lines = [f"untagged: {d['Untagged']}" if "Untagged" in d else f"deleted: {d['Deleted']}" for d in deleted]
    return "Deleted Images:\n" + "\n".join(lines) + "\n\n"


def container_size(rw: int, rootfs: int) -> str:
    """docker's ps SIZE column: "12B (virtual 1.23MB)"."""
    return f"{size(rw)} (virtual {size(rootfs)})"


def table(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)
