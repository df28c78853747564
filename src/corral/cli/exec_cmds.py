"""`corral exec`.

Apart from container_cmds so that `exec` loads only corral.api.sessions, not
the store and the container objects (the monitor resolves the container).
"""
from __future__ import annotations

from corral.cli.shared import attached, env_list, stdin_of


def exec(o: dict, args: list[str]) -> int:  # noqa: A001 - the verb's name
    from corral.api import sessions

    how = {"user": o["user"], "env": env_list(o["env"], o["env_file"]), "workdir": o["workdir"],
           "privileged": o["privileged"]}
    if o["detach"]:
        sessions.exec_detached(None, args[0], args[1:], **how)
        return 0
    stdin = stdin_of(o["interactive"], o["tty"])
    return attached(sessions.exec_attached(None, args[0], args[1:], tty=o["tty"], stdin_fd=stdin,
                                           detach_keys=o["detach_keys"], **how))
