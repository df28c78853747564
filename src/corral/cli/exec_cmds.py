"""`corral exec`, and what every attached verb shares: which stdin to attach, what a detach returns.

Apart from container_cmds so that `exec` loads only corral.api.sessions, not
the store and the container objects (the monitor resolves the container).
"""
from __future__ import annotations

import os

from corral.errors import InvalidArgument


def stdin_of(o: dict) -> int | None:
    """fd 0 when stdin is to be attached; a terminal session needs a terminal there, as in Docker."""
    if not o["interactive"]:
        return None
    if o.get("tty") and not os.isatty(0):
        raise InvalidArgument("the input device is not a TTY: drop -t, or run from a terminal")
    return 0


def attached(code: int | None) -> int:
    """The exit code of an attached session; a detach (None) is a success, as in Docker."""
    return 0 if code is None else code


def exec(o: dict, args: list[str]) -> int:  # noqa: A001 - the verb's name
    from corral.api import sessions

    how = {"user": o["user"], "env": o["env"], "workdir": o["workdir"], "privileged": o["privileged"]}
    if o["detach"]:
        sessions.exec_detached(None, args[0], args[1:], **how)
        return 0
    return attached(sessions.exec_attached(None, args[0], args[1:], tty=o["tty"], stdin_fd=stdin_of(o),
                                           detach_keys=o["detach_keys"], **how))
