"""Restart policies: whether the monitor starts a container again when its command exits, and when.

docker's restart manager, kept per container by the store's monitor: a first restart after 100 ms,
each next one after twice the last back-off (at most a minute), back to 100 ms once a run has lasted
10 s. `no` never restarts; `always` always does; `unless-stopped` unless the user stopped it;
`on-failure[:N]` after a non-zero exit, at most N times (no limit without N). A stop or kill by the
user (the container's stop signal, SIGKILL, or any signal when it has no stop signal: docker's
ExitOnNext) ends the container whatever its policy; a manual start counts afresh.
"""
from __future__ import annotations

from corral.runtime.options import parse_restart

FIRST_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0
"""Seconds: docker's defaultTimeout, maxRestartTimeout, and the run time that resets the back-off."""


def wanted(policy: str | None, code: int, stopped_by_user: bool, restart_count: int) -> bool:
    """Whether a container that exited with `code` is to be started again under `policy` (as typed);
    `restart_count` is how often it was restarted since its last manual start."""
    if not policy:
        return False
    name, maximum = parse_restart(policy)
    if stopped_by_user or name == "no":
        return False
    if name == "on-failure":
        return code != 0 and (maximum == 0 or restart_count < maximum)
    return True


def restorable(policy: str | None, code: int | None, stopped_by_user: bool, restart_count: int,
               ever_started: bool) -> bool:
    """Whether `corral system restore` starts a container that is not running (after a reboot took its
    monitor): docker's daemon start-up rule. `always` always (if it ever ran: a stop by the user
    holds only until the host restarts); `unless-stopped` unless the user stopped it; `on-failure`
    when it was not stopped by the user and its last exit was a failure with retries left."""
    if not policy or not ever_started:
        return False
    name, maximum = parse_restart(policy)
    if name == "always":
        return True
    if name == "unless-stopped":
        return not stopped_by_user
    if name == "on-failure":
        return not stopped_by_user and code not in (None, 0) and (maximum == 0 or restart_count < maximum)
    return False


class Backoff:
    """The delay before each restart of one container."""

    def __init__(self) -> None:
        self.delay = 0.0

    def next(self, ran_for: float) -> float:
        """The delay before the next restart, after a run of `ran_for` seconds."""
        if ran_for >= RESET_AFTER:
            self.delay = 0.0
        self.delay = FIRST_DELAY if self.delay == 0 else min(self.delay * 2, MAX_DELAY)
        return self.delay
