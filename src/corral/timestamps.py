"""RFC 3339 timestamps with nanoseconds, as Docker and the OCI image spec write them."""
from __future__ import annotations

import time


def rfc3339(ts: float | None = None) -> str:
    return from_ns(time.time_ns() if ts is None else int(ts * 1_000_000_000))


def from_ns(t_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ns // 1_000_000_000)) + f".{t_ns % 1_000_000_000:09d}Z"


def human_duration(seconds: float) -> str:
    """docker's (go-units') HumanDuration: "Less than a second", "5 seconds", "About a minute", "3 hours"."""
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


def parse(text: str) -> float:
    """Seconds since the epoch of a timestamp written by rfc3339(); 0.0 if it is not one."""
    import calendar

    try:
        base = calendar.timegm((int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                                int(text[14:16]), int(text[17:19]), 0, 0, 0))
    except (ValueError, IndexError):
        return 0.0
    frac = text[20:29] if len(text) > 20 and text[19] == "." else ""
    return base + (int(frac) / 10 ** len(frac) if frac.isdecimal() else 0.0)


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float | None:
    """Seconds of a Go time.ParseDuration string ("10m", "1h30m", "1.5h", "-2s", "300ms"); None if it is not one."""
    import re

    m = re.fullmatch(r"([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+", text)
    if m is None:
        return None if text not in ("0", "+0", "-0") else 0.0
    total = sum(float(n) * _DURATION_UNITS[u]
                for n, u in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text))
    return -total if m.group(1) == "-" else total


def docker_time(text: str, now: float | None = None) -> int:
    """Nanoseconds since the epoch (exact: a bound compared with log records' times) of a `logs
    --since/--until` value, as docker's GetTimestamp reads it: a Go duration before `now` ("10m",
    "1h30m", whole seconds as docker keeps them), an RFC 3339 date or time (local time without a
    zone: 2024-05-01, 2024-05-01T10:00, 2024-05-01T10:00:00.5Z, 2024-05-01T10:00:00+02:00), or Unix
    time with an optional fraction (1700000000.123456789)."""
    import re

    from corral.errors import InvalidArgument

    value = text.strip()
    span = go_duration(value)
    if span is not None and value != "0":
        return int((time.time() if now is None else now) - span) * 1_000_000_000
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?"
                     r"(Z|z|[+-]\d{2}:\d{2})?", value)
    if m is not None:
        import calendar

        year, month, day, hour, minute, sec, frac, zone = m.groups()
        fields = (int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(sec or 0))
        if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] < 24 and fields[4] < 60
                and fields[5] < 61):
            raise InvalidArgument(f'parsing time "{text}": field out of range')
        if zone is None:  # docker parses a time without a zone in the local zone
            base = int(time.mktime(fields + (0, 0, -1)))
        else:
            base = calendar.timegm(fields + (0, 0, 0))
            if zone not in ("Z", "z"):
                sign = 1 if zone[0] == "+" else -1
                base -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
        return base * 1_000_000_000 + int((frac or "0").ljust(9, "0"))
    m = re.fullmatch(r"(\d+)(?:\.(\d{1,9}))?", value)
    if m is None:
        raise InvalidArgument(f'failed to parse value as time or duration: "{text}"')
    return int(m.group(1)) * 1_000_000_000 + int((m.group(2) or "0").ljust(9, "0"))


def go_duration_text(ns: int) -> str:
    """A duration as Go's time.Duration.String() writes it ("30s", "1m30s", "500ms", "1.5s", "0s")."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)

    def trim(value: float) -> str:
        return f"{value:.9f}".rstrip("0").rstrip(".")

    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{trim(ns / 1000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{trim(ns / 1_000_000)}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return f"{sign}{text}{trim(rest / 1e9)}s"
