"""Health checks: docker's HEALTHCHECK semantics, for the monitor to run as execs in the container.

The monitor (monitor.py) owns the timers and the processes; this holds what decides: the command a
check runs (CMD as given, CMD-SHELL through the image's shell, NONE: none), when the next probe is due
(the start interval while starting within the start period, else the interval, counted from the end
of the last probe as docker does), and what a result does to the status: an exit 0 makes the container
healthy and clears the failing streak; any other result (a timeout is -1) adds to the streak, except
while it is still starting within its start period, and `retries` failures in a row make it
unhealthy. The last five results are kept, each probe's output cut at 4096 bytes ("..." marks the cut).
"""
from __future__ import annotations

from corral.timestamps import from_ns, go_duration_text

DEFAULT_INTERVAL = 30 * 10**9
DEFAULT_TIMEOUT = 30 * 10**9
DEFAULT_START_INTERVAL = 5 * 10**9
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096
MAX_LOG = 5
STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
DEFAULT_SHELL = ["/bin/sh", "-c"]


def probe_command(check: dict | None, shell: list[str] | None = None) -> list[str] | None:
    """The command a Config.Healthcheck runs, or None when it runs none (no test, NONE, an unknown type)."""
    test = (check or {}).get("Test") or []
    if not test:
        return None
    if test[0] == "CMD" and len(test) > 1:
        return list(test[1:])
    if test[0] == "CMD-SHELL" and len(test) > 1:
        return list(shell or DEFAULT_SHELL) + list(test[1:])
    return None


class Output:
    """A probe's stdout and stderr together, up to MAX_OUTPUT bytes (docker's limitedBuffer)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        room = MAX_OUTPUT - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        if len(chunk) > room:
            self.truncated = True

    def text(self) -> str:
        return self.data.decode(errors="replace") + ("..." if self.truncated else "")


class Health:
    """One running container's health: its check's settings and State.Health, as docker keeps them.

    Times are nanoseconds since the epoch (the container's start, each probe's start and end).
    """

    def __init__(self, check: dict, started_ns: int, previous: dict | None = None) -> None:
        self.interval = check.get("Interval") or DEFAULT_INTERVAL
        self.timeout = check.get("Timeout") or DEFAULT_TIMEOUT
        self.start_period = check.get("StartPeriod") or 0
        self.start_interval = check.get("StartInterval") or DEFAULT_START_INTERVAL
        self.retries = check.get("Retries") or DEFAULT_RETRIES
        self.started_ns = started_ns
        # a restart keeps the log and starts over: status starting, no failing streak (docker's initHealthMonitor)
        self.state = {"Status": STARTING, "FailingStreak": 0, "Log": list((previous or {}).get("Log") or [])}

    @property
    def status(self) -> str:
        return self.state["Status"]

    def next_delay_ns(self, now_ns: int) -> int:
        """Nanoseconds from now (the end of a probe, or the start) until the next probe."""
        elapsed = now_ns - self.started_ns
        if elapsed >= self.start_period:
            return self.interval
        remaining = self.start_period - elapsed
        if remaining < self.interval:
            return remaining  # the first probe after the start period comes as it ends
        return self.start_interval if self.status == STARTING else self.interval

    def timed_out(self, output: str) -> tuple[int, str]:
        """The exit code and output docker records for a probe killed at its timeout."""
        limit = go_duration_text(self.timeout)
        return -1, f"Health check exceeded timeout ({limit}): {output}" if output else \
            f"Health check exceeded timeout ({limit})"

    def record(self, start_ns: int, end_ns: int, code: int, output: str) -> bool:
        """Add a probe's result; True when it changed the status (docker then logs a health_status event)."""
        before = self.status
        log = self.state["Log"]
        log.append({"Start": from_ns(start_ns), "End": from_ns(end_ns), "ExitCode": code, "Output": output})
        del log[:-MAX_LOG]
        if code == 0:
            self.state["FailingStreak"] = 0
            self.state["Status"] = HEALTHY
        elif before != STARTING or start_ns - self.started_ns >= self.start_period:
            self.state["FailingStreak"] += 1
            if self.state["FailingStreak"] >= self.retries:
                self.state["Status"] = UNHEALTHY
        return self.status != before
