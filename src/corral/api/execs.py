"""docker's exec instances: a command prepared in a running container (POST /containers/{id}/exec),
started later with its streams (POST /exec/{id}/start) and inspected for its exit code
(GET /exec/{id}/json). They live in the process that made them, as dockerd keeps them in memory;
the command itself runs under the store's monitor like every `corral exec`."""
from __future__ import annotations

import os
import threading

from corral.errors import Conflict, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.container import Container
    from corral.api.sessions import Channel

_execs: dict[str, Exec] = {}
_lock = threading.Lock()
_KEEP = 1024  # the newest ones kept for inspect; older finished ones are forgotten


class Exec:
    def __init__(self, container: Container, options: dict) -> None:
        self.id = os.urandom(32).hex()
        self.container_id = container.id
        self.options = options
        self.running = False
        self.started = False
        self.exit_code: int | None = None
        self.channel: Channel | None = None
        self.pid = 0  # the command's host PID, once started (docker's exec inspect shows it)

    def start(self, container: Container, tty: bool | None = None, rows: int = 0, cols: int = 0) -> Channel:
        """Run the command with an attached session; Conflict if it was started before."""
        with _lock:
            if self.started:
                raise Conflict(f"exec {self.id} has already been started")
            self.started = True
        o = self.options
        try:
            channel = container.exec_channel(o["cmd"], tty=o["tty"] if tty is None else tty, stdin=o["stdin"],
                                             rows=rows, cols=cols, user=o["user"], env=o["env"],
                                             workdir=o["workdir"], privileged=o["privileged"])
        except BaseException:
            self.started = False
            raise
        self.running, self.channel, self.pid = True, channel, channel.pid or 0
        return channel

    def resize(self, rows: int, cols: int) -> None:
        """The terminal's size: for the start if it has not started, else sent on its session."""
        if self.channel is not None and self.running:
            self.channel.resize(rows, cols)
        else:
            self.options["console"] = [rows, cols]

    def start_detached(self, container: Container) -> None:
        with _lock:
            if self.started:
                raise Conflict(f"exec {self.id} has already been started")
            self.started = True
        o = self.options
        from corral.api import sessions

        self.pid = sessions.exec_detached(container.host.store, container.id, o["cmd"], user=o["user"],
                                          env=o["env"], workdir=o["workdir"], privileged=o["privileged"]) or 0
        self.running = True

    def finished(self, code: int) -> None:
        self.exit_code, self.running, self.channel = code, False, None

    def inspect(self) -> dict:
        """docker's GET /exec/{id}/json."""
        o = self.options
        return {"ID": self.id, "Running": self.running, "ExitCode": self.exit_code, "ContainerID": self.container_id,
                "OpenStdin": o["stdin"], "OpenStdout": o["stdout"], "OpenStderr": o["stderr"], "CanRemove": False,
                "DetachKeys": o.get("detach_keys") or "", "Pid": self.pid,
                "ProcessConfig": {"tty": o["tty"], "entrypoint": o["cmd"][0], "arguments": o["cmd"][1:],
                                  "privileged": o["privileged"], "user": o["user"] or ""}}


def create(container: Container, options: dict) -> Exec:
    """A new exec instance of the running `container`; options as bodies.exec_arguments gives them."""
    if container.status != "running":
        raise Conflict(f"container {container.id} is not running")
    if container.paused:
        raise Conflict(f"container {container.id} is paused, unpause the container before exec")
    found = Exec(container, options)
    with _lock:
        _execs[found.id] = found
        while len(_execs) > _KEEP:
            _execs.pop(next(iter(_execs)))
    return found


def get(exec_id: str) -> Exec:
    with _lock:
        found = _execs.get(exec_id)
    if found is None:
        raise NotFound(f"No such exec instance: {exec_id}")
    return found
