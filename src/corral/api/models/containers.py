"""client.containers and the Container model, in docker-py's shape (docker.models.containers)."""
from __future__ import annotations

from corral.api.models import CHUNK, Collection, Model, check_type, produced, rechunk, refuse_unknown, wanted_filters
from corral.api.models.create import create_options, environment, split_command
from corral.errors import APIError, ContainerError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from corral.api.container import Container as Engine
    from corral.api.models.images import Image

_KINDS = {"C": 0, "A": 1, "D": 2}  # docker's change kinds: modified, added, deleted


class ExecResult(tuple):
    """(exit_code, output) as docker-py's exec_run returns it; exit_code is None for a stream or detach."""

    __slots__ = ()

    def __new__(cls, exit_code: int | None, output: object) -> ExecResult:
        return tuple.__new__(cls, (exit_code, output))

    exit_code = property(lambda self: self[0])
    output = property(lambda self: self[1])

    def __repr__(self) -> str:
        return f"ExecResult(exit_code={self[0]!r}, output={self[1]!r})"


class Container(Model):
    """A container as docker-py shows it; `attrs` is `corral inspect`'s dict."""

    def __init__(self, attrs: dict | None, client: object, collection: Collection,
                 engine: Engine | None = None) -> None:
        super().__init__(attrs, client, collection)  # type: ignore[arg-type]
        self._engine = engine

    @property
    def attrs(self) -> dict:
        """Read when first asked for, not at creation: containers.run needs none of it."""
        if self._attrs is None:
            self._attrs = self.engine.inspect()
        return self._attrs

    @attrs.setter
    def attrs(self, value: dict | None) -> None:
        self._attrs = value

    @property
    def id(self) -> str:
        return self._engine.id if self._engine is not None else self.attrs["Id"]

    @property
    def engine(self) -> Engine:
        """The engine's Container under this model (corral.api.Container: fds, signals, sandbox)."""
        if self._engine is None:
            self._engine = self.client.api.container(self._attrs["Id"])
        return self._engine

    def reload(self) -> None:
        self._engine = self.client.api.container(self.id)  # NotFound once it is gone, as docker-py
        self._attrs = self._engine.inspect()

    @property
    def name(self) -> str:
        return self.attrs["Name"].lstrip("/")

    @property
    def image(self) -> Image | None:
        """The image the container was created from; None when it was deleted since."""
        from corral.errors import NotFound

        try:
            return self.client.images.get(self.attrs["Image"])
        except NotFound:
            return None

    @property
    def labels(self) -> dict:
        return self.attrs["Config"].get("Labels") or {}

    @property
    def status(self) -> str:
        """created, running, paused or exited, as when attrs were read."""
        return self.attrs["State"]["Status"]

    @property
    def health(self) -> str:
        return (self.attrs["State"].get("Health") or {}).get("Status", "unknown")

    @property
    def ports(self) -> dict:
        return self.attrs["NetworkSettings"]["Ports"]

    # lifecycle ----------------------------------------------------------------------------------------

    def start(self, **kwargs: object) -> None:
        refuse_unknown("start", kwargs)
        self.engine.start()

    def stop(self, timeout: int | None = None) -> None:
        check_type("stop", "timeout", timeout, int, float)
        self.engine.stop(None if timeout is None else int(timeout))

    def restart(self, timeout: int | None = None) -> None:
        check_type("restart", "timeout", timeout, int, float)
        self.engine.restart(None if timeout is None else int(timeout))

    def kill(self, signal: str | int | None = None) -> None:
        check_type("kill", "signal", signal, str, int)
        self.engine.kill(signal or "KILL")

    def pause(self) -> None:
        self.engine.pause()

    def unpause(self) -> None:
        self.engine.unpause()

    def remove(self, v: bool = False, link: bool = False, force: bool = False) -> None:
        """Delete the container (force: a running one too); v: its anonymous volumes too. Legacy links
        do not exist here."""
        if link:
            raise InvalidArgument("remove(link=True): corral has no legacy links")
        self.engine.remove(force=force, volumes=v)

    def rename(self, name: str) -> None:
        check_type("rename", "name", name, str)
        self.engine.rename(name)

    def resize(self, height: int, width: int) -> None:
        """Set the size of the container's terminal (created with tty=True)."""
        check_type("resize", "height", height, int)
        check_type("resize", "width", width, int)
        self.engine.resize(height, width)

    def wait(self, timeout: float | None = None, condition: str | None = None) -> dict:
        """Block until the container stops; docker's answer {"StatusCode": n, "Error": None}.
        condition: "not-running" (the default), "next-exit" (the next stop, even if stopped now),
        "removed" (until it is gone, e.g. with auto_remove)."""
        check_type("wait", "timeout", timeout, int, float)
        if condition not in (None, "not-running", "next-exit", "removed"):
            raise InvalidArgument(f"wait(): condition {condition!r}: use not-running, next-exit or removed")
        code = self.engine.wait(timeout, condition or "not-running")
        return {"StatusCode": code, "Error": None}

    def update(self, **kwargs: object) -> dict:
        """Change resource limits, live when running: docker-py's names (mem_limit, memswap_limit,
        mem_reservation, cpu_shares, cpu_period, cpu_quota, cpuset_cpus, cpuset_mems, blkio_weight), and
        the restart policy (restart_policy);
        corral's network_bandwidth, network_bandwidth_in and _out (a rate such as "10mbit", or bits per second)."""
        from corral.api.models.create import memory

        names = {"mem_limit": "memory", "memswap_limit": "memory_swap", "mem_reservation": "memory_reservation",
                 "cpu_shares": "cpu_shares", "cpu_period": "cpu_period", "cpu_quota": "cpu_quota",
                 "cpuset_cpus": "cpuset_cpus", "cpuset_mems": "cpuset_mems", "blkio_weight": "blkio_weight",
                 "pids_limit": "pids_limit", "nano_cpus": "cpus",
                 **{key: key for key in ("network_bandwidth", "network_bandwidth_in", "network_bandwidth_out")}}
        limits = {}
        for key, value in kwargs.items():
            if key == "restart_policy":  # docker-py's {"Name": ..., "MaximumRetryCount": N}
                check_type("update", key, value, dict)
                if value is not None:
                    limits[key] = value
                continue
            if key not in names:
                if key == "kernel_memory":
                    raise InvalidArgument(f"update(): {key}: corral does not support it yet")
                refuse_unknown("update", {key: value})
            if key in ("mem_limit", "memswap_limit", "mem_reservation"):
                value = memory("update", key, value)
            elif key in ("cpuset_cpus", "cpuset_mems"):
                check_type("update", key, value, str)
            elif key.startswith("network_bandwidth"):
                check_type("update", key, value, str, int)
            else:
                check_type("update", key, value, int)
                if key == "nano_cpus" and value is not None:
                    value = value / 1e9
            if value is not None:
                limits[names[key]] = value
        return self.engine.update(**limits)

    # inside the container ---------------------------------------------------------------------------

    def exec_run(self, cmd: str | list[str], stdout: bool = True, stderr: bool = True, stdin: bool = False,
                 tty: bool = False, privileged: bool = False, user: str = "", detach: bool = False,
                 stream: bool = False, socket: bool = False, environment: dict | list | None = None,
                 workdir: str | None = None, demux: bool = False) -> ExecResult:
        """Run a command in the running container, as docker-py does: ExecResult(exit_code, output),
        output the bytes of stdout and stderr as they came (or (stdout, stderr) with demux=True),
        a generator of them with stream=True (exit_code None), nothing with detach=True. tty=True
        runs it on a terminal (one stream). stdin=True without a socket has no data to give: the
        command's stdin is empty, as with docker-py."""
        from corral.api import sessions

        argv = split_command("exec_run", "cmd", cmd)
        if not argv:
            raise InvalidArgument("exec_run(): no command given")
        env = _environment("exec_run", environment)
        check_type("exec_run", "user", user, str, int)
        check_type("exec_run", "workdir", workdir, str)
        if socket:
            raise InvalidArgument("exec_run(socket=True): the in-process API has no socket to hand out; "
                                  "use stream=True, or exec_attached() of the engine's Container for fds")
        how = {"user": str(user) if user not in ("", None) else None, "env": env, "workdir": workdir,
               "privileged": bool(privileged)}
        if detach:
            sessions.exec_detached(self.client.api.store, self.id, argv, **how)
            return ExecResult(None, b"")
        req = dict(sessions.exec_request(self.id, argv, **how), tty=bool(tty))
        wanted = {1} if stdout else set()
        if stderr:
            wanted.add(2)
        frames = _Frames(lambda: sessions.events(self.client.api.store, req, b"" if stdin else None), wanted)
        if stream:
            return ExecResult(None, frames.demuxed() if demux else frames.data())
        output = frames.collect(demux)
        return ExecResult(frames.exit_code, output)

    def put_archive(self, path: str, data: bytes | object) -> bool:
        """Unpack the tar `data` (bytes or a binary file object) into the directory `path`; True."""
        check_type("put_archive", "path", path, str)
        self.engine.put_archive(path, data)
        return True

    def get_archive(self, path: str, chunk_size: int | None = CHUNK,
                    encode_stream: bool = False) -> tuple[Iterator[bytes], dict]:
        """A tar of `path` as chunks, and its stat ({name, size, mode, mtime, linkTarget})."""
        check_type("get_archive", "path", path, str)
        if encode_stream:
            raise InvalidArgument("get_archive(encode_stream=True): corral sends the tar uncompressed")
        chunks, stat = self.engine.get_archive(path)
        return rechunk(chunks, chunk_size), stat

    # observing ---------------------------------------------------------------------------------------

    def logs(self, stdout: bool = True, stderr: bool = True, stream: bool = False, timestamps: bool = False,
             tail: str | int = "all", since: object = None, follow: bool | None = None,
             until: object = None) -> bytes | Iterator[bytes]:
        """The container's output: bytes, or with stream=True a generator of lines (following new
        output unless follow=False). since/until: a datetime, or Unix seconds as int or float."""
        from corral.timestamps import from_ns

        check_type("logs", "tail", tail, str, int)
        if isinstance(tail, str) and tail != "all":
            raise InvalidArgument(f"logs(): tail must be 'all' or an int, not {tail!r}")
        lines = self.engine.logs(stdout=stdout, stderr=stderr, tail=None if tail == "all" else tail,
                                 follow=stream if follow is None else follow, since=_moment("logs", "since", since),
                                 until=_moment("logs", "until", until))

        def chunks() -> Iterator[bytes]:
            for _, t_ns, data in lines:
                yield from_ns(t_ns).encode() + b" " + data if timestamps else data

        return chunks() if stream else b"".join(chunks())

    def attach(self, stdout: bool = True, stderr: bool = True, stream: bool = False, logs: bool = False,
               demux: bool = False) -> bytes | Iterator[bytes]:
        """The running container's output from now on (and before, with logs=True) until it exits:
        bytes, or with stream=True a generator of chunks ((stdout, stderr) pairs with demux=True)."""
        from corral.api import sessions

        wanted = {1} if stdout else set()
        if stderr:
            wanted.add(2)
        engine = self.engine
        if engine.status != "running":
            raise APIError("You cannot attach to a stopped container, start it first")
        before = [(s, d) for s, _, d in engine.logs(stdout=stdout, stderr=stderr)] if logs else []
        frames = _Frames(lambda: sessions.events(self.client.api.store, {"op": "attach", "id": self.id}), wanted,
                         before)
        if stream:
            return frames.demuxed() if demux else frames.data()
        return frames.collect(demux)

    def attach_socket(self, params: dict | None = None, ws: bool = False) -> object:
        """docker-py hands out the daemon's hijacked socket; in process there is none to hand out."""
        raise InvalidArgument("attach_socket(): the in-process API has no socket; use attach(stream=True), or "
                              "the engine's Container.attach() with file descriptors")

    def diff(self) -> list[dict]:
        """[{"Path": ..., "Kind": 0 changed, 1 added, 2 deleted}], as docker-py."""
        return [{"Path": path, "Kind": _KINDS[kind]} for kind, path in self.engine.diff()]

    def top(self, ps_args: str | None = None) -> dict:
        """{"Titles": [...], "Processes": [[...], ...]}: the container's processes, `ps -ef` columns
        unless ps_args names others."""
        check_type("top", "ps_args", ps_args, str)
        titles, rows = self.engine.top_table(ps_args.split() if ps_args else None)
        return {"Titles": titles, "Processes": rows}

    def stats(self, decode: bool | None = None, stream: bool = True, one_shot: bool | None = None) -> object:
        """docker's stats JSON: one dict with stream=False (one_shot=True: at once, without the CPU
        baseline a second earlier); else a generator of samples, one a second (JSON bytes, or dicts
        with decode=True)."""
        if not stream:
            return self.engine.stats(one_shot=bool(one_shot))
        from corral import fastjson as json

        samples = self.engine.stats(stream=True, one_shot=bool(one_shot))
        return samples if decode else (json.dumps(s).encode() for s in samples)

    def export(self, chunk_size: int | None = CHUNK) -> Iterator[bytes]:
        """The container's filesystem as one flat tar, in chunks (docker export)."""
        return rechunk(produced(self.engine.export), chunk_size)

    def commit(self, repository: str | None = None, tag: str | None = None, message: str | None = None,
               author: str | None = None, pause: bool = True, changes: str | list[str] | None = None,
               conf: dict | None = None) -> Image:
        """A new image of the container's changes (docker commit); its Image."""
        if conf:
            raise InvalidArgument("commit(conf=...): give Dockerfile instructions in changes= instead")
        check_type("commit", "changes", changes, str, list)
        image = self.engine.commit(repository, tag, author=author or "", message=message or "",
                                   changes=[changes] if isinstance(changes, str) else changes, pause=pause)
        return self.client.images.get(image.id)


class ContainerCollection(Collection):
    model = Container

    def run(self, image: str | Image, command: str | list[str] | None = None, stdout: bool = True,
            stderr: bool = False, remove: bool = False, **kwargs: object) -> Container | bytes | Iterator[bytes]:
        """Create and start a container, as `docker run`. detach=True returns the Container at once;
        otherwise its output once it exits (stdout by default; stderr=True adds stderr, in order),
        bytes or with stream=True a generator. A non-zero exit raises ContainerError with its stderr.
        remove=True deletes it once it exits."""
        stream = kwargs.pop("stream", False)
        detach = kwargs.pop("detach", False)
        if remove:
            kwargs["auto_remove"] = True  # the store's monitor removes it before the exit is reported
        container = self._create("run", image, command, kwargs)
        if detach:
            container.start()
            return container
        wanted = {1} if stdout else set()
        if stderr:
            wanted.add(2)
        output = container.engine.start(stream=True)
        out: list[bytes] = []
        err: list[bytes] = []
        for kind, data in output:
            if kind in wanted:
                out.append(data)
            if kind == 2:
                err.append(data)
        if output.exit_code:
            raise ContainerError(container, output.exit_code, command, getattr(image, "id", image), b"".join(err))
        return iter(out) if stream else b"".join(out)

    def create(self, image: str | Image, command: str | list[str] | None = None, **kwargs: object) -> Container:
        """Create (not start) a container; docker-py's keyword arguments (environment, ports, volumes,
        mem_limit, ...). An argument corral does not apply is refused with a message naming it."""
        for run_only in ("detach", "stream", "remove", "stdout", "stderr"):
            kwargs.pop(run_only, None)
        return self._create("create", image, command, kwargs)

    def _create(self, call: str, image: str | Image, command: str | list[str] | None, kwargs: dict) -> Container:
        from corral.api.models.images import Image

        image_ref = image.id if isinstance(image, Image) else image
        check_type(call, "image", image_ref, str)
        name = kwargs.pop("name", None)
        check_type(call, "name", name, str)
        pod = kwargs.pop("pod", None)  # podman-py's: a Pod, its name or ID, or new:NAME
        pod = getattr(pod, "id", pod)
        check_type(call, "pod", pod, str)
        options = create_options(call, kwargs)
        engine = self.client.api.create_container(image_ref, split_command(call, "command", command),
                                                  name=name, pod=pod, **options)
        return Container(None, self.client, self, engine)

    def get(self, container_id: str) -> Container:
        """A container by name, ID or ID prefix; NotFound otherwise."""
        check_type("get", "container_id", container_id, str)
        return Container(None, self.client, self, self.client.api.container(container_id))

    def list(self, all: bool = False, before: str | None = None,  # noqa: A002 - docker-py's names
             filters: dict | None = None, limit: int = -1, since: str | None = None, sparse: bool = False,
             ignore_removed: bool = False) -> list[Container]:
        """Containers, newest first: running ones, or all; filters as `docker ps --filter` (a dict of
        key to value or list of values); before/since a container; limit the newest N (of all)."""
        from corral.api import filters as listing

        check_type("list", "filters", filters, dict)
        check_type("list", "limit", limit, int)
        wanted = wanted_filters(filters)
        for key, value in (("before", before), ("since", since)):
            if value is not None:
                wanted.setdefault(key, []).append(value)
        found = listing.containers(self.client.api, all=all or bool(before or since), filters=wanted, limit=limit)
        return [Container(None, self.client, self, c) for c in found]

    def prune(self, filters: dict | None = None) -> dict:
        """Delete stopped containers: {"ContainersDeleted": [IDs], "SpaceReclaimed": bytes}."""
        check_type("prune", "filters", filters, dict)
        done = self.client.api.prune_containers(wanted_filters(filters))
        return {"ContainersDeleted": done["ContainersDeleted"] or None, "SpaceReclaimed": done["SpaceReclaimed"]}



def _environment(call: str, value: object) -> list[str]:
    return environment(call, "environment", value)


def _moment(call: str, name: str, value: object) -> object:
    """since/until as docker-py takes them, a datetime or Unix seconds, checked; the engine reads both."""
    if value is not None:
        import datetime

        check_type(call, name, value, datetime.datetime, int, float)
    return value


class _Frames:
    """The (stream, bytes) frames of an exec or attach, filtered to the wanted streams; exit_code
    once they end. `events` makes the session when the frames are first read: a command that cannot
    start is then output and an exit code, as docker's exec reports it."""

    def __init__(self, events: Callable[[], Iterator[tuple[int, bytes]]], wanted: set[int],
                 before: list[tuple[int, bytes]] | None = None) -> None:
        self.events, self.wanted, self.before = events, wanted, before or []
        self.exit_code: int | None = None

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        from corral.errors import CommandNotExecutable, CommandNotFound

        yield from ((s, d) for s, d in self.before if s in self.wanted)
        try:
            for kind, data in self.events():
                if kind in (1, 2):
                    if kind in self.wanted:
                        yield kind, data
                else:  # the wire's EXIT frame, the last
                    self.exit_code = int(data)
        except (CommandNotFound, CommandNotExecutable) as e:  # docker's exec: the error is output, 127 or 126
            self.exit_code = e.exit_code
            if 2 in self.wanted:
                yield 2, f"{e}\n".encode()

    def data(self) -> Iterator[bytes]:
        return (data for _, data in self)

    def demuxed(self) -> Iterator[tuple[bytes | None, bytes | None]]:
        return ((data, None) if kind == 1 else (None, data) for kind, data in self)

    def collect(self, demux: bool) -> bytes | tuple[bytes | None, bytes | None]:
        parts: dict[int, list[bytes]] = {1: [], 2: []}
        merged = []
        for kind, data in self:
            parts[kind].append(data)
            merged.append(data)
        if not demux:
            return b"".join(merged)
        return tuple(b"".join(parts[k]) if k in self.wanted else None for k in (1, 2))  # type: ignore[return-value]
