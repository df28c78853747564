"""Container objects: what a script keeps in a variable and calls start/exec/stop/remove on."""
from __future__ import annotations

from corral import fastjson as json
import os
import _signal
import sys
import time

from corral.errors import APIError, Conflict, CorralError, InvalidArgument, NotFound
from corral.runtime import state
from corral.runtime.options import INIT_PATH, ContainerOptions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime
    from typing import BinaryIO

    from corral.api import sessions
    from corral.api.host import Host
    from corral.api.image import Image
    from corral.store.containers import ContainerRecord

class ExecResult(tuple):
    """What `Container.exec` returns: (exit_code, stdout, stderr), also as attributes."""

    __slots__ = ()

    def __new__(cls, exit_code: int, stdout: bytes, stderr: bytes) -> "ExecResult":
        return tuple.__new__(cls, (exit_code, stdout, stderr))

    exit_code = property(lambda self: self[0])
    stdout = property(lambda self: self[1])
    stderr = property(lambda self: self[2])


class OutputStream:
    """Output of a streaming exec or start: iterate for (1 or 2, bytes); exit_code is set once it is over."""

    def __init__(self, events: Iterator[tuple[int, bytes]]) -> None:
        self._events = events
        self.exit_code: int | None = None

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for kind, data in self._events:
            if kind in (1, 2):
                yield kind, data
            else:  # the wire's EXIT frame: the last
                self.exit_code = int(data)


def parse_signal(sig: str | int) -> int:
    if isinstance(sig, int):
        return sig
    text = sig.upper().removeprefix("SIG")
    if text.isdecimal():
        return int(text)
    try:
        return int(getattr(_signal, "SIG" + text))
    except AttributeError:
        raise InvalidArgument(f"invalid signal: {sig}") from None


def _log_bound(when: "float | str | datetime | None") -> int | None:
    """A logs since/until bound in nanoseconds since the epoch; None (and docker's 0) for no bound."""
    if when is None or when == 0 or when == "":
        return None
    if isinstance(when, str):
        from corral.timestamps import docker_time

        t_ns = docker_time(when)
        return None if t_ns == 0 else t_ns
    if isinstance(when, (int, float)):
        return int(when * 1_000_000_000)
    return int(when.timestamp() * 1_000_000_000)  # a datetime, as docker-py takes it


class Container:
    def __init__(self, host: "Host", record: "ContainerRecord") -> None:
        self.host = host
        self._load(record)

    def _load(self, record: "ContainerRecord") -> None:
        (self.id, self.name, self.image_id, self.image_ref, self.created, options, self._state, self.pid,
         self._supervisor, self.exit_code, self.started_at, self.finished_at, self.error) = record[:13]
        self.oom_killed = bool(record.oom_killed)
        self.pod_id = record.pod_id  # the pod it belongs to (api/pod.py), or None
        self.options = ContainerOptions.from_dict(options)

    def __repr__(self) -> str:
        return f"<Container {self.id[:12]} {self.name} {self.status}>"

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def reload(self) -> "Container":
        from corral.store import containers

        record = containers.get(self.host.store, self.id)
        if record is None:
            raise NotFound(f"No such container: {self.id}")
        self._load(record)
        return self

    @property
    def status(self) -> str:
        """created, running, restarting (between two runs under its restart policy) or exited; a running
        or restarting record whose supervisor is gone reads as exited."""
        if self._state in state.SUPERVISED and not state.is_alive(self._supervisor):
            state.refresh(self.host.store, self.id, self._state, self._supervisor)
            self.reload()
            if self._state in state.SUPERVISED:  # a full or read-only store kept the old row
                self._state, self.exit_code = state.EXITED, state.LOST_EXIT_CODE
        return self._state

    @property
    def status_text(self) -> str:
        """docker's Status of `ps` and of GET /containers/json: "Up 2 seconds", "Up 5 minutes (Paused)",
        "Up 1 minute (healthy)", "Restarting (1) 2 seconds ago", "Exited (0) 3 seconds ago", "Created"."""
        from corral.timestamps import human_duration, parse

        st = self.status
        if st == state.RUNNING:
            up = "Up " + human_duration(time.time() - parse(self.started_at or self.created))
            if self.paused:
                return up + " (Paused)"
            health = self.health if self.options.healthcheck else "none"
            return up if health == "none" else f"{up} (health: starting)" if health == "starting" else f"{up} ({health})"
        if st in (state.EXITED, state.RESTARTING):
            ended = parse(self.finished_at or self.created)
            word = "Exited" if st == state.EXITED else "Restarting"
            return f"{word} ({self.exit_code}) {human_duration(time.time() - ended)} ago"
        return st.capitalize()

    def summary(self, size: bool = False) -> dict:
        """The container as GET /containers/json lists it (docker's ContainerSummary): its names, image,
        command, state and Status text, published ports, labels, mounts, networks; with size SizeRw and
        SizeRootFs."""
        from corral.timestamps import parse

        found = self.inspect(size=size)
        ports = []
        for key, bindings in (found["NetworkSettings"].get("Ports") or {}).items():
            port, _, proto = key.partition("/")
            for b in bindings or [{}]:
                entry = {"PrivatePort": int(port), "Type": proto or "tcp"}
                if b.get("HostPort"):
                    entry.update(IP=b.get("HostIp") or "0.0.0.0", PublicPort=int(b["HostPort"]))
                ports.append(entry)
        command = self.command
        summary = {
            "Id": self.id, "Names": ["/" + self.name], "Image": self.image_ref, "ImageID": self.image_id,
            "Command": " ".join(command), "Created": int(parse(self.created)), "Ports": ports,
            "Labels": self.options.labels or {}, "State": found["State"]["Status"], "Status": self.status_text,
            "HostConfig": {"NetworkMode": found["HostConfig"].get("NetworkMode") or "default"},
            "NetworkSettings": {"Networks": found["NetworkSettings"].get("Networks") or {}},
            "Mounts": found.get("Mounts") or [],
        }
        if size:
            summary.update(SizeRw=found.get("SizeRw", 0), SizeRootFs=found.get("SizeRootFs", 0))
        return summary

    @property
    def bundle(self) -> str:
        return self.host.store.container_dir(self.id)

    @property
    def spec(self) -> dict:
        with open(os.path.join(self.bundle, "config.json")) as f:
            return json.loads(f.read())

    def _event(self, action: str, attributes: dict | None = None) -> None:
        """Record a container event (corral.api.events) with docker's attributes of this container."""
        from corral.api import events

        events.record_container(self.host.store, action, self, attributes)

    # lifecycle -----------------------------------------------------------------------------------------

    def start(self, attach: bool = False, stdin_fd: int | None = None, *, stdout_fd: int = 1,
              stderr_fd: int = 2, detach_keys: str | None = None, sig_proxy: bool = True,
              stream: bool = False, record_exit: bool = False) -> int | OutputStream | None:
        """Start the command under the store's monitor.

        attach=True stays attached as `corral start -a` does: output goes to
        stdout_fd/stderr_fd from the first byte, stdin_fd feeds the command
        (created with interactive=True), and the exit code is returned, or
        None when the user detached (the container keeps running).
        stream=True returns an OutputStream of the output from the first byte
        instead (its exit_code set at the end): what a build's RUN step shows.
        An attacher waiting in this process (attach_channel on a container not yet running) gets
        the session; record_exit=True keeps one open meanwhile to learn the exit code, which an
        auto-removed container takes with it (a server's wait?condition=removed needs it).
        """
        from corral.monitor import client

        status = self.status
        if status == state.RESTARTING:  # docker: already started (its monitor starts it after the back-off)
            if attach or stream:
                raise Conflict(f"container {self.name} is restarting: stop it first, or wait for its restart")
            return None
        if status == state.RUNNING:
            if self.paused:
                raise Conflict("cannot start a paused container, try unpause instead")
            if attach or stream:
                raise Conflict(f"container {self.name} is already running")
            return None
        if self.pod_id:
            self._before_start_in_pod()
        req = {"op": "start", "id": self.id, "autoremove": self.options.autoremove}
        if stream:
            from corral.api import sessions

            return OutputStream(sessions.events(self.host.store, req))
        if not attach:
            sessions = sys.modules.get("corral.api.sessions")  # none loaded: no attacher is waiting
            waiter = sessions.take_waiter(self.id) if sessions is not None else None
            if waiter is not None or record_exit:
                from corral.api import sessions

                sessions.start_session(self.host.store, req, waiter)
            else:
                client.call(self.host.store, req)
            self.reload()
            return None
        from corral.api import sessions

        return sessions.attach(self.host.store, dict(req, attach=True), stdin_fd=stdin_fd, stdout_fd=stdout_fd,
                               stderr_fd=stderr_fd, tty=self.options.tty, detach_keys=detach_keys,
                               sig_proxy=sig_proxy)

    def _before_start_in_pod(self) -> None:
        """What a pod's container needs before it starts (api/pod.py). A member: its pod's infra container
        running (started now if it is not, as podman does). The infra container: no member running, since
        those still hold the namespaces of its last run (its new run would have a network of its own, and
        the pod's ports would not reach them): `pod restart` starts them all again, in order."""
        from corral.store import containers, pods

        pod = pods.get(self.host.store, self.pod_id)  # type: ignore[arg-type]
        if pod is None:
            raise NotFound(f"no pod with name or ID {self.pod_id} found: no such pod")
        if pod.infra_id is None:
            raise Conflict(f"pod {pod.name} has no infra container: remove it (corral pod rm -f {pod.name})")
        if pod.infra_id != self.id:
            infra = self.host.container(pod.infra_id)
            if infra.status != state.RUNNING:
                infra.start()
            return
        members = [Container(self.host, r) for r in containers.of_pod(self.host.store, pod.id) if r.id != self.id]
        running = [c.name for c in members if c.status in state.SUPERVISED]
        if running:
            raise Conflict(f"cannot start the infra container of pod {pod.name} while its members run "
                           f"({', '.join(running)}) in the namespaces of its last run: restart the pod "
                           f"(corral pod restart {pod.name})")

    def attach(self, stdin_fd: int | None = None, *, stdout_fd: int = 1, stderr_fd: int = 2,
               detach_keys: str | None = None, sig_proxy: bool = True) -> int | None:
        """Connect fds to the running container, as `corral attach`: from now on its output goes to
        stdout_fd/stderr_fd and stdin_fd feeds it (when created with interactive=True); returns
        its exit code, or None once the user detaches with the detach keys."""
        if self.status != state.RUNNING:
            raise Conflict("You cannot attach to a stopped container, start it first")
        if self.paused:
            raise Conflict("You cannot attach to a paused container, unpause it first")
        if stdin_fd is not None and not self.options.interactive:
            stdin_fd = None  # as Docker: a container created without -i has no stdin to attach
        from corral.api import sessions

        return sessions.attach(self.host.store, {"op": "attach", "id": self.id}, stdin_fd=stdin_fd,
                               stdout_fd=stdout_fd, stderr_fd=stderr_fd, tty=self.options.tty,
                               detach_keys=detach_keys, sig_proxy=sig_proxy)

    def kill(self, signal: str | int = "KILL") -> None:
        """Send a signal to the container's init, through the store's monitor: it holds the init as its
        child and knows whether it was reaped, so the signal never reaches a process that reused the PID.
        A container with a restart policy so tells its monitor that the user stopped it (no restart then,
        as docker's); one that is restarting has its restart cancelled instead. A VM container's init is
        QEMU: its monitor delivers the signal inside the guest (runtime/vm/)."""
        from corral.monitor import client

        sig = parse_signal(signal)
        recorded, status = self._state, self.status
        if status not in state.SUPERVISED:
            if recorded in state.SUPERVISED:  # status read it as exited: its monitor is gone
                raise Conflict(f"Cannot kill container: {self.name}: container {self.id} is not running: "
                               "its monitor is gone, and it ended with it")
            raise Conflict(f"Cannot kill container: {self.name}: container {self.id} is not running")
        restarts = self.options.restart not in (None, "no")
        ends = (restarts or status == state.RESTARTING) and self._ends(sig)
        client.call(self.host.store, {"op": "kill", "id": self.id, "signal": sig, "ends": ends})
        if status == state.RUNNING:
            self._event("kill", {"signal": sig})
            self._resume_after(sig)

    def _ends(self, sig: int) -> bool:
        """Whether `sig` is meant to end the container (docker's ExitOnNext): SIGKILL or its stop signal,
        or any signal when it has no stop signal configured."""
        configured = self.options.stop_signal or self._image_stop_signal()
        return not configured or sig == _signal.SIGKILL or sig == parse_signal(configured)

    def stop(self, timeout: int | None = None, signal: str | int | None = None) -> None:
        """SIGTERM (or the configured stop signal), then SIGKILL after `timeout` seconds, like docker stop."""
        status = self.status
        if status == state.RESTARTING:  # between two runs: the pending restart is cancelled
            self.kill("KILL")
            self.reload()
            return
        if status != state.RUNNING:
            return
        if timeout is None:
            timeout = self.options.stop_timeout if self.options.stop_timeout is not None else 10
        sig = signal or self.options.stop_signal or self._image_stop_signal() or "TERM"
        try:
            self.kill(sig)
        except Conflict:
            return
        if not state.wait_stopped(self.host.store, self.id, self.pid, self._supervisor, timeout):
            self._kill_and_wait()
        self.reload()
        self._event("stop")

    def _kill_and_wait(self) -> None:
        try:
            self.kill("KILL")
        except Conflict:
            pass  # it stopped on its own meanwhile
        state.wait_stopped(self.host.store, self.id, self.pid, self._supervisor, None)

    def _image_stop_signal(self) -> str | None:
        from corral.image import repo

        return (repo.config(self.host.store, self.image_id).get("config") or {}).get("StopSignal")

    def restart(self, timeout: int | None = None) -> None:
        self.stop(timeout)
        self.start()
        self._event("restart")

    def wait(self, timeout: float | None = None, condition: str = "not-running") -> int:
        """Block until the container is not running; returns its exit code. docker's conditions:
        "not-running" returns at once for a container that is not running (created, and then its
        exit code is 0, or 127/126/125 of a failed start; or exited);
        "next-exit" waits for the next exit, through a start if it is not running now; "removed"
        waits until it is also gone (an auto-removed one), through a start if it was only created,
        and answers the exit code it had (kept by this process's session if it went with it)."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def pause(seconds: float = 0.05) -> None:
            if deadline is not None and time.monotonic() > deadline:
                raise APIError(f"timed out waiting for {self.name}")
            time.sleep(seconds)

        try:
            if condition == "next-exit" or (condition == "removed" and self._state == state.CREATED):
                before = (self.started_at, self.exit_code, self.error)
                while self.status != state.RUNNING and (self.started_at, self.exit_code, self.error) == before:
                    pause(0.01)
                    self.reload()
            if self.status == state.RUNNING:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not state.wait_stopped(self.host.store, self.id, self.pid, self._supervisor, remaining):
                    raise APIError(f"timed out waiting for {self.name}")
                self.reload()
                self.status  # noqa: B018 - settles a record whose supervisor died without writing
        except NotFound:  # gone meanwhile: auto-removed at its exit
            return self._exit_of_removed()
        if self.exit_code is not None:
            code = self.exit_code
        else:  # never started: docker answers 0; started but its exit lost: LOST_EXIT_CODE
            code = 0 if self._state == state.CREATED else state.LOST_EXIT_CODE
        if condition == "removed":
            while True:
                try:
                    self.reload()
                except NotFound:
                    break
                pause(0.01)
        return code

    def _exit_of_removed(self) -> int:
        """The exit code of this container, removed since it was read: what its record said when it had
        exited, else what a session of this process saw, else docker's code for a lost exit."""
        if self._state == state.EXITED and self.exit_code is not None:
            return self.exit_code
        sessions = sys.modules.get("corral.api.sessions")
        seen = sessions.exit_seen(self.id, 2.0) if sessions is not None else None
        return state.LOST_EXIT_CODE if seen is None else seen

    def attach_channel(self, stdin: bool = False) -> "sessions.Channel | sessions.StartWaiter":
        """An attached session the caller drives (corral serve's hijacked attach): of the running
        container now; for one not running, a StartWaiter whose get() gives the session of its next
        start by this process (docker's attach before start, in `docker run` and `start -a`). stdin
        is attached only to a container created with interactive=True, as docker's."""
        from corral.api import sessions

        stdin = stdin and self.options.interactive
        if self.status != state.RUNNING:
            return sessions.wait_for_start(self.id, stdin)
        if self.paused:
            raise Conflict("You cannot attach to a paused container, unpause it first")
        return sessions.open_channel(self.host.store, {"op": "attach", "id": self.id}, stdin=stdin)

    def exec_channel(self, cmd: list[str], *, tty: bool = False, stdin: bool = False, rows: int = 0,
                     cols: int = 0, **how: object) -> "sessions.Channel":
        """A command run in the running container with an attached session the caller drives (corral
        serve's exec start); `how` is exec_request's user, env, workdir and privileged."""
        from corral.api import sessions

        req = dict(sessions.exec_request(self.id, cmd, **how), tty=tty, rows=rows, cols=cols,  # type: ignore
                   pid=True)  # the monitor says the command's host PID (docker's exec inspect shows it)
        return sessions.open_channel(self.host.store, req, stdin=stdin)

    def resize(self, rows: int, cols: int) -> None:
        """Set the size of the running container's terminal (created with tty=True)."""
        from corral.monitor import client

        client.call(self.host.store, {"op": "resize", "id": self.id, "rows": rows, "cols": cols})
        self._event("resize", {"height": rows, "width": cols})

    def remove(self, force: bool = False, volumes: bool = False) -> None:
        """`rm`: a running container only with force; volumes (`rm -v`): its anonymous volumes too."""
        from corral.monitor.cleanup import remove_container

        self.reload()  # this object may be stale: the container gone (NotFound), or started or stopped since
        if self.pod_id:
            from corral.store import pods

            pod = pods.of_infra(self.host.store, self.id)
            if pod is not None and not pod.removing:  # podman's words
                raise Conflict(f"container {self.id} is the infra container of pod {pod.id} and cannot be removed "
                               "without removing the pod")
        if self.status == state.RESTARTING:
            if not force:
                raise Conflict(f"You cannot remove a restarting container {self.id}. Stop the container before "
                               "attempting removal or force remove")
            self.kill("KILL")
            self.reload()
        if self.status == state.RUNNING:
            if not force:
                raise Conflict(
                    f"You cannot remove a running container {self.id}. Stop the container before attempting "
                    "removal or force remove"
                )
            self._kill_and_wait()
        remove_container(self.host.store, self.id, volumes)

    def rename(self, new_name: str) -> None:
        from corral.api import names

        from corral.store import containers

        bare = names.validate(new_name)
        old = self.name
        containers.rename(self.host.store, self.id, bare)
        self.name = bare
        self._event("rename", {"oldName": old})

    # inside the container ---------------------------------------------------------------------------

    def exec(self, cmd: list[str] | str, *, user: str | None = None, env: list[str] | None = None,
             workdir: str | None = None, stdin: bytes | None = None, privileged: bool = False,
             stream: bool = False, detach: bool = False) -> ExecResult | OutputStream | None:
        """Run `cmd` inside the running container, as `docker exec` does.

        Returns (exit code, stdout, stderr) once it ends; with stream=True an
        OutputStream yielding (1 or 2, bytes) as output comes, exit_code set at
        the end; with detach=True nothing: the store's monitor reaps it.
        """
        from corral.api import sessions

        if isinstance(cmd, str):  # docker-py's habit: a command line, split as a shell would
            import shlex

            cmd = shlex.split(cmd)
        how = {"user": user, "env": env, "workdir": workdir, "privileged": privileged}
        if detach:
            sessions.exec_detached(self.host.store, self.id, cmd, **how)
            return None
        output = OutputStream(sessions.exec_events(self.host.store, self.id, cmd, stdin, **how))
        if stream:
            return output
        out: list[bytes] = []
        err: list[bytes] = []
        for kind, data in output:
            (out if kind == 1 else err).append(data)
        return ExecResult(output.exit_code, b"".join(out), b"".join(err))

    def exec_attached(self, cmd: list[str], *, tty: bool = False, stdin_fd: int | None = None,
                      stdout_fd: int = 1, stderr_fd: int = 2, user: str | None = None,
                      env: list[str] | None = None, workdir: str | None = None, privileged: bool = False,
                      detach_keys: str | None = None) -> int | None:
        """`corral exec [-i] [-t]`: the command's streams on these fds; its exit code, or None when
        the user detached from its terminal (it goes on, owned by the store's monitor)."""
        from corral.api import sessions

        return sessions.exec_attached(self.host.store, self.id, cmd, tty=tty, stdin_fd=stdin_fd, stdout_fd=stdout_fd,
                                      stderr_fd=stderr_fd, detach_keys=detach_keys, user=user, env=env,
                                      workdir=workdir, privileged=privileged)

    # observing ---------------------------------------------------------------------------------------

    def logs(self, *, stdout: bool = True, stderr: bool = True, tail: int | None = None, follow: bool = False,
             since: "float | str | datetime | None" = None,
             until: "float | str | datetime | None" = None) -> Iterator[tuple[int, int, bytes]]:
        """(stream, time_ns, bytes) of the container's output, line by line; follow waits for more.

        since/until keep the lines written at or after / at or before a time: Unix seconds, a
        datetime, or a string as `docker logs --since` takes it ("10m", "2024-05-01T10:00:00Z",
        "1700000000.5"); as docker, --tail picks the last lines first, then they are filtered,
        and a follow ends once `until` has passed."""
        from corral.monitor import logs

        since_ns, until_ns = _log_bound(since), _log_bound(until)
        path = os.path.join(self.bundle, "log")
        wanted = {logs.STDOUT} if stdout else set()
        if stderr:
            wanted.add(logs.STDERR)

        def kept(t_ns: int) -> bool:
            return (since_ns is None or t_ns >= since_ns) and (until_ns is None or t_ns <= until_ns)

        if tail is not None:  # from the end of the log back (logs.tail): --tail 1 of a large log stays quick
            entries = logs.tail(path, tail, wanted) if wanted else []
        else:
            entries = [e for e in logs.lines(path) if e[0] in wanted]
        yield from (e for e in entries if kept(e[1]))
        if not follow:
            return
        offset = logs.size(path)
        while True:
            try:
                running = self.reload().status == state.RUNNING  # read afresh: the monitor records the exit
            except NotFound:
                running = False  # removed (--rm) once it exited; what it wrote was read below
            for stream, t_ns, data, offset in logs.read_records(path, offset):
                if stream in wanted and kept(t_ns):
                    yield stream, t_ns, data
            if not running or (until_ns is not None and time.time_ns() > until_ns):
                return
            time.sleep(0.05)

    @property
    def command(self) -> list[str]:
        """The command as the user gave it (docker's Path and Args): without --init's init before it."""
        args = self.spec["process"]["args"]
        return args[2:] if self.options.init and args[:2] == [INIT_PATH, "--"] else args

    def inspect(self, size: bool = False) -> dict:
        """docker's container inspect; size=True adds SizeRw and SizeRootFs (`inspect -s`), which walk the
        sandbox."""
        from corral.image import repo

        from corral.store import runstate

        status = self.status
        paused = status == state.RUNNING and self.paused
        opts = self.options
        run = runstate.read(self.host.store, self.id) if opts.restart or opts.healthcheck else {}
        spec = self.spec if os.path.exists(os.path.join(self.bundle, "config.json")) else {}
        process = spec.get("process", {})
        args = self.command if spec else []
        img = (repo.config(self.host.store, self.image_id).get("config") or {})
        limits = spec.get("linux", {}).get("resources", {})
        from corral.store.rootfs import empty_layers, rootfs_of

        rootfs = rootfs_of(spec, self.bundle)
        own = empty_layers(rootfs, self.bundle)
        layers = [os.path.realpath(d) for d in rootfs.lowerdirs() if d not in own]
        found = {
            "Id": self.id,
            "Created": self.created,
            "Path": args[0] if args else "",
            "Args": args[1:],
            "State": {
                "Status": "paused" if paused else status, "Running": status in state.SUPERVISED,
                "Paused": paused, "Restarting": status == state.RESTARTING,
                "OOMKilled": self.oom_killed, "Dead": False, "Pid": self.pid or 0,
                "ExitCode": self.exit_code or 0, "Error": self.error or "",
                "StartedAt": self.started_at or "0001-01-01T00:00:00Z",
                "FinishedAt": self.finished_at or "0001-01-01T00:00:00Z",
            },
            "Image": self.image_id,
            "ResolvConfPath": self._etc_file(spec, "resolv.conf"),
            "HostnamePath": self._etc_file(spec, "hostname"),
            "HostsPath": self._etc_file(spec, "hosts"),
            "LogPath": os.path.join(self.bundle, "log"),
            "Name": "/" + self.name,
            "RestartCount": run.get("RestartCount") or 0,
            "Driver": "overlay",
            "Platform": "linux",
            "HostConfig": self._host_config(spec),
            "GraphDriver": {"Name": rootfs.type, "Data": {
                "LowerDir": ":".join(layers), "UpperDir": rootfs.option("upperdir") or "",
                "WorkDir": rootfs.option("workdir") or "", "MergedDir": os.path.join(self.bundle, "rootfs")}},
            "Mounts": self._mounts(),
            "Config": {
                "Hostname": self._hostname(spec), "User": opts.user or img.get("User", ""),
                "ExposedPorts": self._exposed_ports(img),
                "Env": process.get("env", []), "Cmd": opts.cmd or img.get("Cmd"),
                "Entrypoint": opts.entrypoint if opts.entrypoint is not None else img.get("Entrypoint"),
                "Image": self.image_ref, "WorkingDir": process.get("cwd", ""), "Labels": opts.labels,
                "Tty": opts.tty, "OpenStdin": opts.interactive, "StopSignal": opts.stop_signal,
            },
            "NetworkSettings": self._network_settings(),
            "Resources": limits,
        }
        if not found["Config"]["ExposedPorts"]:
            del found["Config"]["ExposedPorts"]  # omitted when empty, as docker's omitempty does
        if opts.healthcheck:
            found["Config"]["Healthcheck"] = opts.healthcheck
        health = self._health(run)
        if health is not None:
            found["State"]["Health"] = health
        if self.pod_id:
            found["Pod"] = self.pod_id  # podman's: the pod it belongs to (api/pod.py)
        if size:
            found["SizeRw"], found["SizeRootFs"] = self._sizes()
        return found

    def _etc_file(self, spec: dict, name: str) -> str:
        """The host file bound at /etc/`name`: the bundle's own, or (a pod member's) its infra container's, as
        docker shows a --network container: member the files of the container it joined."""
        for m in spec.get("mounts", []):
            if m.get("destination") == f"/etc/{name}" and m.get("type") == "bind":
                return m["source"]
        return os.path.join(self.bundle, name)

    def _hostname(self, spec: dict) -> str:
        """The name the container's UTS namespace has: its own, the host's (--uts host) or, when it joined
        another container's (a pod's infra, --uts container:), that container's."""
        if "hostname" in spec:
            return spec["hostname"]
        from corral.runtime.spec import JOINS_ANNOTATION

        joined = json.loads(spec.get("annotations", {}).get(JOINS_ANNOTATION) or "{}").get("uts")
        if joined:
            try:
                with open(os.path.join(self.host.store.container_dir(joined), "config.json")) as f:
                    return json.loads(f.read()).get("hostname") or joined[:12]
            except (OSError, ValueError):
                return joined[:12]  # the joined container is gone; its hostname was its short ID by default
        return os.uname().nodename

    def _host_config(self, spec: dict) -> dict:
        """docker's HostConfig for what corral applies (`spec`: the container's OCI spec, {} before it has one);
        null where docker has null for "not set"."""
        from corral.runtime.options import DEFAULT_SHM_SIZE, parse_device, parse_ulimit

        opts = self.options
        found = {
            "Binds": opts.binds + [m["spec"] for m in opts.mounts if m.get("spec") and not m.get("anonymous")]
            or None, "Mounts": [{"Type": m["type"], "Source": m.get("source") or "", "Target": m["target"],
                                 "ReadOnly": bool(m.get("readonly"))} for m in opts.mounts
                                if not (m.get("spec") or m.get("inherited") or m.get("declared"))]
            or None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": opts.network, "PortBindings": self._port_bindings(),
            "RestartPolicy": self.restart_policy, "AutoRemove": opts.autoremove,
            "VolumeDriver": "", "VolumesFrom": opts.volumes_from or None,
            "CapAdd": opts.cap_add or None, "CapDrop": opts.cap_drop or None,
            "CgroupnsMode": opts.cgroupns or "private",  # private on v1 too (docker's default there is host)
            "Dns": opts.dns, "DnsOptions": opts.dns_option, "DnsSearch": opts.dns_search,
            "ExtraHosts": opts.add_host or None, "GroupAdd": opts.group_add or None, "IpcMode": opts.ipc or "private",
            "Cgroup": "", "Links": None, "PidMode": opts.pid or "", "Privileged": opts.privileged,
            "PublishAllPorts": opts.publish_all, "ReadonlyRootfs": opts.read_only,
            "SecurityOpt": opts.security_opt or None,
            "UTSMode": opts.uts or "", "UsernsMode": opts.userns or "", "ShmSize": opts.shm_size or DEFAULT_SHM_SIZE,
            "Runtime": "corral", "Isolation": opts.isolation or "",
            "Memory": opts.memory or 0, "NanoCpus": int(round((opts.cpus or 0) * 1e9)),
            "CgroupParent": "corral",
            "Devices": [dict(zip(("PathOnHost", "PathInContainer", "CgroupPermissions"), parse_device(d)))
                        for d in opts.devices],
            "DeviceCgroupRules": None, "PidsLimit": opts.pids_limit,
            "Ulimits": [dict(zip(("Name", "Soft", "Hard"), parse_ulimit(u))) for u in opts.ulimits],
            **self._limits_config(),
            # corral's own: the bandwidth limits in bits per second, 0 for none (network/bandwidth.py)
            "NetworkBandwidthIn": opts.network_bandwidth_in or 0,
            "NetworkBandwidthOut": opts.network_bandwidth_out or 0,
        }
        if opts.sysctls:
            found["Sysctls"] = dict(opts.sysctls)
        if opts.isolation == "vm":  # corral's own: what runs this host's VMs, kvm or tcg (runtime/vm/accel.py)
            from corral.runtime.vm import accel

            found["VmAccelerator"] = accel.cached()
        if opts.init:
            found["Init"] = True
        if opts.userns not in (None, "", "host"):  # podman's: the user namespace's mappings, container:host:size
            linux = spec.get("linux", {})
            found["IDMappings"] = {name: [f"{m['containerID']}:{m['hostID']}:{m['size']}" for m in linux.get(key, ())]
                                   for name, key in (("UidMap", "uidMappings"), ("GidMap", "gidMappings"))}
        if opts.tmpfs:
            found["Tmpfs"] = dict(opts.tmpfs)  # omitted when empty, as docker's omitempty
        return found

    # health and restart policy -----------------------------------------------------------------------

    @property
    def restart_policy(self) -> dict:
        """docker's HostConfig.RestartPolicy: {"Name": no|always|on-failure|unless-stopped, "MaximumRetryCount"}."""
        from corral.runtime.options import parse_restart

        name, count = parse_restart(self.options.restart or "no")
        return {"Name": name, "MaximumRetryCount": count}

    def _health(self, run: dict | None = None) -> dict | None:
        """State.Health as the monitor last recorded it, if the container has a check and has run with it."""
        check = self.options.healthcheck
        if not check or not check.get("Test") or check["Test"][0] == "NONE":
            return None
        if run is None:
            from corral.store import runstate

            run = runstate.read(self.host.store, self.id)
        return run.get("Health")

    @property
    def health(self) -> str:
        """starting, healthy or unhealthy; "none" without a health check (docker's ps filter value)."""
        found = self._health()
        return found["Status"] if found else "none"

    def _mounts(self) -> list[dict]:
        """docker's Mounts: one entry per bind (the builder's HOST:CONTAINER[:ro] ones too), volume and tmpfs."""
        found = []
        for bind in self.options.binds:
            source, _, rest = bind.partition(":")
            destination, _, mode = rest.partition(":")
            found.append({"Type": "bind", "Source": source, "Destination": destination, "Mode": mode,
                          "RW": mode != "ro", "Propagation": "rprivate"})
        for m in self.options.mounts:
            entry = {"Type": m["type"]}
            if m["type"] == "volume":
                from corral.store import volumes

                entry.update(Name=m["source"], Source=volumes.data_dir(self.host.store, m["source"]), Driver="local")
            else:
                entry["Source"] = m["source"]
            mode = ",".join(["ro"] * m["readonly"] + ["nocopy"] * m.get("nocopy", False))
            entry.update(Destination=m["target"], Mode=mode if m["type"] != "volume" else mode or "z",
                         RW=not m["readonly"],
                         Propagation=(m.get("propagation") or "rprivate") if m["type"] == "bind" else "")
            found.append(entry)
        return found

    def _exposed_ports(self, image_config: dict) -> dict[str, dict]:
        """The image's EXPOSE, --expose and the published ports, as docker's Config.ExposedPorts."""
        keys = set(image_config.get("ExposedPorts") or {})
        if self.options.expose:
            from corral.runtime.options import expose_ports

            keys.update(k for text in self.options.expose for k in expose_ports(text))
        keys.update(self._port_bindings())
        return {k: {} for k in sorted(keys)}

    def _sizes(self) -> tuple[int, int]:
        """(SizeRw, SizeRootFs): the bytes of the container's own writes, and those plus its image's."""
        from corral.image.commit import changes_size

        try:
            upper, _, skip = self.sandbox()
            rw = changes_size(upper, skip)
        except (CorralError, OSError):
            rw = 0
        return rw, rw + self.host.image(self.image_id).size

    def _limits_config(self) -> dict:
        """HostConfig's limits beyond Memory, NanoCpus and PidsLimit, docker's zeros when unset."""
        o = self.options
        return {"MemorySwap": o.memory_swap or 0, "MemoryReservation": o.memory_reservation or 0,
                "CpuShares": o.cpu_shares or 0, "CpuPeriod": o.cpu_period or 0, "CpuQuota": o.cpu_quota or 0,
                "CpusetCpus": o.cpuset_cpus or "", "CpusetMems": o.cpuset_mems or "",
                "BlkioWeight": o.blkio_weight or 0, "BlkioWeightDevice": list(o.blkio_weight_device),
                "BlkioDeviceReadBps": list(o.device_read_bps), "BlkioDeviceWriteBps": list(o.device_write_bps),
                "BlkioDeviceReadIOps": list(o.device_read_iops), "BlkioDeviceWriteIOps": list(o.device_write_iops),
                "MemorySwappiness": o.memory_swappiness, "OomKillDisable": o.oom_kill_disable,
                "OomScoreAdj": o.oom_score_adj or 0}

    # network -----------------------------------------------------------------------------------------

    @property
    def ports(self) -> dict[str, list[dict[str, str]]]:
        """Published ports while running, Docker's shape: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8082"}]}."""
        found: dict[str, list[dict[str, str]]] = {}
        if self.status != state.RUNNING:
            return found
        from corral.store import leases

        for b in leases.ports_of(self.host.store, self.id):
            found.setdefault(f"{b.container_port}/{b.proto}", []).append(
                {"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(b.host_port)})
        return found

    @property
    def networks(self) -> dict[str, dict]:
        """The switches the container is on: name → {IPAddress, Gateway, IPPrefixLen, NetworkID, Aliases…}."""
        from corral.store import leases

        found = {}
        for net, lease in leases.of_container(self.host.store, self.id):
            found[net.name] = {"IPAMConfig": None, "Links": None, "Aliases": lease.aliases or None,
                               "NetworkID": net.id, "EndpointID": "", "Gateway": net.gateway, "IPAddress": lease.ip,
                               "IPPrefixLen": int(net.subnet.rsplit("/", 1)[1]), "IPv6Gateway": "",
                               "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "",
                               "DNSNames": [self.name, *lease.aliases, self.short_id]}
        return found

    def _port_bindings(self) -> dict[str, list[dict[str, str]]]:
        if not self.options.ports:
            return {}
        from corral.network.ports import parse

        found: dict[str, list[dict[str, str]]] = {}
        for spec in self.options.ports:
            for m in parse(spec):
                found.setdefault(f"{m['container_port']}/{m['proto']}", []).append(
                    {"HostIp": m["host_ip"], "HostPort": str(m["host_port"] or "")})
        return found

    def _network_settings(self) -> dict:
        networks = self.networks
        first = next(iter(networks.values()), {})
        return {"Networks": networks, "Ports": self.ports, "IPAddress": first.get("IPAddress", ""),
                "Gateway": first.get("Gateway", ""), "IPPrefixLen": first.get("IPPrefixLen", 0), "MacAddress": "",
                "Bridge": "", "SandboxID": "", "SandboxKey": f"/proc/{self.pid}/ns/net" if self.pid else ""}

    # the sandbox ------------------------------------------------------------------------------------

    def sandbox(self) -> tuple[str, list[str], set[str]]:
        """The upper dir, the image's layer dirs (top first), and the mount points to leave out.

        Public because more than this class reads a container's own writes: diff, commit and
        export here, and the builder, which turns a RUN step's sandbox into its layer.
        """
        spec = self.spec
        from corral.image.commit import mount_stubs
        from corral.store.rootfs import rootfs_of

        rootfs = rootfs_of(spec, self.bundle)
        upper = rootfs.option("upperdir")
        if rootfs.type != "overlay" or upper is None:
            raise APIError(f"container {self.short_id}: its root filesystem ({rootfs.type}) keeps no writes"
                              " of its own")
        return upper, rootfs.lowerdirs(), mount_stubs(upper, {m["destination"] for m in spec.get("mounts", [])})

    def size(self) -> tuple[int, int]:
        """(SizeRw, SizeRootFs) as `docker ps -s` shows them: the bytes of the files this container wrote
        (their lengths), and those plus its image's; read from the sandbox, running or not."""
        from corral.api.image import Image
        from corral.store.fsutil import apparent_size
        from corral.store.rootfs import upper_dir

        rw = apparent_size(upper_dir(self.bundle))
        return rw, rw + Image(self.host, self.image_id).size

    def diff(self) -> list[tuple[str, str]]:
        """("A"|"C"|"D", path) for what the container added, changed or deleted, as `docker diff`."""
        from corral.image import commit

        return commit.changes(*self.sandbox())

    def commit(self, repository: str | None = None, tag: str | None = None, *, author: str = "",
               message: str = "", changes: list[str] | None = None, pause: bool = True) -> "Image":
        """A new image: this container's image plus its sandbox as exactly one layer.

        A running container is paused meanwhile (unless pause=False), so the
        layer is one consistent moment of its files, as `docker commit` does.
        """
        from corral import failpoints
        from corral.api.image import Image
        from corral.image import commit, repo
        from corral.image.reference import validate_tag
        from corral.runtime.spec import merge_env

        tags = [validate_tag(f"{repository}:{tag}" if tag else repository)] if repository else []
        base = repo.config(self.host.store, self.image_id).get("config") or {}
        opts = self.options
        config = dict(base, Env=merge_env(base.get("Env") or [], opts.env, {}))
        if opts.cmd:
            config["Cmd"] = opts.cmd
        if opts.entrypoint is not None:
            config["Entrypoint"] = opts.entrypoint or None
        for key, value in (("WorkingDir", opts.workdir), ("User", opts.user)):
            if value:
                config[key] = value
        if opts.labels:
            config["Labels"] = dict(base.get("Labels") or {}, **opts.labels)
        if opts.expose:  # docker's commit keeps the container's --expose, as its Config.ExposedPorts has it
            config["ExposedPorts"] = self._exposed_ports(base)
        config = commit.apply_changes(config, changes or [])
        upper, _, skip = self.sandbox()
        args = self.spec["process"]["args"]
        frozen = False
        if pause and self.status == state.RUNNING and not self.paused:
            self._own_pause()
            self._cgroup().freeze()
            frozen = True
        try:
            failpoints.hit("commit.paused")
            image_id = commit.commit(self.host.store, upper, skip, self.image_id, config, tags, author=author,
                                     message=message, created_by=" ".join(args))
        finally:
            if frozen:
                self._cgroup().thaw()
                self._disown_pause()
        from corral.api import events

        self._event("commit", {"comment": message, "imageID": image_id, "imageRef": tags[0] if tags else ""})
        for name in tags:
            events.record(self.host.store, "image", "tag", image_id, {"name": name})
        return Image(self.host, image_id)

    # pausing and processes ---------------------------------------------------------------------------

    def _cgroup(self):  # noqa: ANN202 - a cgroups.CgroupV1 or CgroupV2, imported only when needed
        from corral.runtime import cgroups

        return cgroups.manager(self.spec["linux"]["cgroupsPath"])

    @property
    def paused(self) -> bool:
        """Read from the kernel, not the DB: the freezer state is the truth and survives a monitor restart.

        A pause owned by a commit whose process is gone (killed mid-commit) is undone here, by whichever
        command looks next: nothing else would ever unpause it."""
        if self.status != state.RUNNING or not self._cgroup().frozen():
            return False
        owner = self._pause_owner()
        if owner is None or state.is_alive(owner):
            return True
        self._cgroup().thaw()
        self._disown_pause()
        return False

    def _pause_path(self) -> str:
        return os.path.join(self.bundle, "pause-owner")

    def _pause_owner(self) -> str | None:
        try:
            with open(self._pause_path()) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def _own_pause(self) -> None:
        """Record this process as the owner of the pause about to be made (commit's), before making it."""
        from corral.store.fsutil import write_atomic
        from corral.store.owners import identity

        write_atomic(self._pause_path(), identity().encode())

    def _disown_pause(self) -> None:
        try:
            os.unlink(self._pause_path())
        except FileNotFoundError:
            pass

    def pause(self) -> None:
        """Freeze every process of the container (cgroup freezer); the DB keeps calling it running, as Docker does."""
        if self.status != state.RUNNING:
            raise Conflict(f"Container {self.id} is not running")
        self._disown_pause()  # a user's pause is the user's: no dead committer's record may undo it
        cg = self._cgroup()
        if cg.frozen():
            raise Conflict(f"Container {self.id} is already paused")
        try:
            cg.freeze()
        except FileNotFoundError:
            raise Conflict(f"Container {self.id} is not running") from None  # it exited meanwhile
        self._event("pause")

    def unpause(self) -> None:
        if not self.paused:
            raise Conflict(f"Container {self.id} is not paused")
        self._cgroup().thaw()
        self._event("unpause")

    def _resume_after(self, sig: int) -> None:
        """Thaw after a signal meant to end the container, or it would sit pending (v1: even SIGKILL) until unpause.

        Docker's rule: SIGKILL or the container's stop signal, or any signal
        when no stop signal is configured; other signals wait for unpause.
        """
        if self.status != state.RUNNING:
            return
        cg = self._cgroup()
        if not cg.frozen():
            return
        if not self._ends(sig):
            return
        try:
            cg.thaw()
        except FileNotFoundError:
            pass  # it exited meanwhile and its cgroup is gone

    def stats(self, stream: bool = False, one_shot: bool = False) -> dict | Iterator[dict]:
        """Resource use in docker's stats JSON shape (the Engine API's GET /containers/{id}/stats).

        stream=True yields a sample a second while the container runs, each with the one before as
        precpu_stats (zeros in the first); stream=False returns one sample, taken a second after a
        first so that CPU % can be computed from it, or at once (precpu zero) with one_shot=True.
        A container that is not running gives docker's zeroed sample.
        """
        from corral.api import stats

        if stream:
            if one_shot:
                raise InvalidArgument("cannot have stream=True and one_shot=True")
            return stats.stream(self)
        return stats.one(self, one_shot=one_shot)

    UPDATABLE = ("memory", "memory_swap", "memory_reservation", "cpus", "cpu_shares", "cpu_period", "cpu_quota",
                 "cpuset_cpus", "cpuset_mems", "pids_limit", "blkio_weight",
                 "network_bandwidth", "network_bandwidth_in", "network_bandwidth_out")
    """The limits update() changes, by their ContainerOptions names."""

    def update(self, **limits: object) -> dict:
        """`docker update`: change resource limits, live on a running container's cgroup, and recorded
        (the options and the bundle's config.json) so that inspect shows them and a restart keeps them.

        Keywords are UPDATABLE's; None leaves a limit as it is; pids_limit 0 or -1, cpu_quota -1 and
        memory_swap -1 lift theirs. Checked as docker checks them, against the limits already set.
        network_bandwidth (both directions), network_bandwidth_in and _out take a rate ("10mbit", or bits
        per second as an int; 0 lifts it). Returns docker's {"Warnings": [...]}.
        """
        policy = limits.pop("restart_policy", None)
        unknown = sorted(set(limits) - set(self.UPDATABLE))
        if unknown:
            raise InvalidArgument(f"unknown update option(s): {', '.join(unknown)}")
        given = {key: value for key, value in limits.items() if value is not None}
        if set(given) & {"network_bandwidth", "network_bandwidth_in", "network_bandwidth_out"}:
            from corral.network.bandwidth import split

            given = dict({k: v for k, v in given.items() if not k.startswith("network_bandwidth")}, **split(given))
        if policy is not None:
            self._update_restart(policy)
            if not given:
                return {"Warnings": []}
        if not given:
            raise InvalidArgument("you must provide one or more flags when using this command")
        old = self.reload().options
        if old.isolation == "vm" and "memory" in given:
            raise InvalidArgument("the memory of a VM container (--isolation=vm) is its guest's RAM, fixed when it is "
                                  "created: create the container again to change it")
        for mine, theirs, name, other in (("cpus", "cpu_period", "Nano CPUs", "CPU Period"),
                                          ("cpus", "cpu_quota", "Nano CPUs", "CPU Quota"),
                                          ("cpu_period", "cpus", "CPU Period", "NanoCPUs"),
                                          ("cpu_quota", "cpus", "CPU Quota", "NanoCPUs")):
            if given.get(mine) and getattr(old, theirs) and theirs not in given:
                raise Conflict(f"Conflicting options: {name} cannot be updated as {other} has already been set")
        if given.get("memory") and (old.memory_swap or 0) > 0 and "memory_swap" not in given \
                and given["memory"] > old.memory_swap:  # type: ignore[operator]
            raise Conflict("Memory limit should be smaller than already set memoryswap limit, update the memoryswap "
                           "at the same time")
        lifted = {key for key in ("pids_limit",) if key in given and given[key] <= 0}  # type: ignore[operator]
        merged = ContainerOptions.from_dict(dict(old.to_dict(), **{k: None if k in lifted else v
                                                                   for k, v in given.items()}))
        merged.check(update=True)
        from corral.runtime import resources

        limits_now = resources.limits(merged)
        groups = {"memory": ("memory", "memory_swap", "memory_reservation"), "pids": ("pids_limit",),
                  "cpu": ("cpus", "cpu_shares", "cpu_period", "cpu_quota", "cpuset_cpus", "cpuset_mems"),
                  "blockIO": ("blkio_weight",)}
        live = {group: dict(limits_now.get(group, {})) for group, keys in groups.items() if set(keys) & set(given)}
        if lifted:
            live["pids"] = {"limit": -1}
        if self.status == state.RUNNING:
            try:
                self._cgroup().set(live)
            except FileNotFoundError:
                pass  # it stopped meanwhile: recorded below, applied at its next start
        if "network_bandwidth_in" in given or "network_bandwidth_out" in given:
            from corral.network import endpoint

            endpoint.change_bandwidth(self.host.store, self.id, (old.network_bandwidth_in, old.network_bandwidth_out),
                                      (merged.network_bandwidth_in, merged.network_bandwidth_out))
        self._record_limits(merged, limits_now)
        return {"Warnings": []}

    def _update_restart(self, policy: str | dict) -> None:
        """`update --restart`: the new policy, read by the monitor at the container's next exit (docker's
        {"Name", "MaximumRetryCount"} or --restart's text)."""
        from corral.runtime.options import parse_restart, restart_text
        from corral.store import containers

        text = restart_text(policy)
        name, _ = parse_restart(text)
        old = self.reload().options
        if old.autoremove and name != "no":
            raise Conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
        old.restart = text
        containers.set_options(self.host.store, self.id, old.to_dict())
        self.options = old

    def _record_limits(self, options: ContainerOptions, limits: dict) -> None:
        """The options in the store, the limits in config.json's linux.resources (its devices kept)."""
        from corral.store import containers
        from corral.store.fsutil import write_atomic

        spec = self.spec
        resources = spec.setdefault("linux", {}).setdefault("resources", {})
        spec["linux"]["resources"] = dict({"devices": resources.get("devices", [])}, **limits)
        rates = (options.network_bandwidth_in, options.network_bandwidth_out)
        if rates != (self.options.network_bandwidth_in, self.options.network_bandwidth_out):
            from corral.network.endpoint import annotate_bandwidth

            annotate_bandwidth(spec, rates)  # what its next start applies
        write_atomic(os.path.join(self.bundle, "config.json"), json.dumps(spec).encode())
        containers.set_options(self.host.store, self.id, options.to_dict())
        self.options = options

    def top(self) -> list[tuple]:  # procs.Process: (pid, container_pid, user, cmd, ppid, started, cpu_seconds)
        """Every process in the container's cgroup, so exec'd commands and daemons' children are listed too."""
        from corral.runtime import procs

        if self.status != state.RUNNING or not self.pid:
            raise Conflict(f"Container {self.id} is not running")
        return procs.list_processes(self._cgroup().pids(), f"/proc/{self.pid}/root")

    def top_table(self, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        """`docker top`: titles and rows. Without ps options docker's `ps -ef` columns (UID PID PPID C
        STIME TTY TIME CMD), read from /proc with the container's own user names; with them, the
        host's ps given those options, restricted to the container's processes, as docker does."""
        from corral.runtime import procs

        if ps_args:
            if self.status != state.RUNNING or not self.pid:
                raise Conflict(f"Container {self.id} is not running")
            return procs.ps_listing(self._cgroup().pids(), ps_args)
        now = time.time()
        rows = [[p.user, str(p.pid), str(p.ppid), str(min(99, int(p.cpu_seconds * 100 / max(now - p.started, 1)))),
                 _ps_start_time(p.started, now), p.tty, _ps_cpu_time(p.cpu_seconds), p.cmd] for p in self.top()]
        return ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], rows

    # files in and out -------------------------------------------------------------------------------

    def put_archive(self, path: str, data: "bytes | BinaryIO", *, no_overwrite_dir_non_dir: bool = False,
                    copy_uid_gid: bool = False) -> None:
        """Unpack the tar `data` (bytes or a binary file; plain, gzip, bzip2 or xz) into the directory
        `path` inside the container, running or not, as docker's PUT /containers/{id}/archive does.
        Paths resolve inside the container's root only; see corral.api.archive for how and why."""
        from corral.api import archive

        archive.put(self, path, data, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, copy_uid_gid=copy_uid_gid)

    def get_archive(self, path: str, chunk_size: int = 1 << 20) -> tuple["Iterator[bytes]", dict]:
        """(a tar of the file or directory at `path` in chunks, docker's stat of it: name, size, mode as
        Go's os.FileMode, mtime, linkTarget), as docker's GET /containers/{id}/archive. Iterate the
        stream to its end (or close() it): the reading is done by a helper process until then."""
        from corral.api import archive

        return archive.get(self, path, chunk_size)

    def stat_path(self, path: str) -> dict:
        """docker's HEAD /containers/{id}/archive: the stat get_archive would give, without the tar."""
        from corral.api import archive

        return archive.stat_path(self, path)

    # save, load, export ------------------------------------------------------------------------------

    def export(self, dest: str | BinaryIO) -> None:
        """`docker export`: the container's root filesystem as one flat tar (image layers and sandbox
        merged, deletions applied, /proc /sys /dev empty) to the path `dest` (written atomically) or
        the binary stream `dest`. Read from the directories, so it works while the container runs."""
        from corral.image import archive
        from corral.image.export import export_rootfs

        upper, lower, _ = self.sandbox()
        with archive.output(dest) as out:
            export_rootfs(upper, lower, out)
        self._event("export")


def _ps_start_time(started: float, now: float) -> str:
    """ps's STIME: the clock time today, the date this year, the year before that."""
    then, today = time.localtime(started), time.localtime(now)
    if then[:3] == today[:3]:
        return time.strftime("%H:%M", then)
    return time.strftime("%b%d" if then.tm_year == today.tm_year else "%Y", then)


def _ps_cpu_time(seconds: float) -> str:
    """ps's TIME: [DD-]HH:MM:SS of CPU used."""
    s = int(seconds)
    days, s = divmod(s, 86400)
    text = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{days}-{text}" if days else text
