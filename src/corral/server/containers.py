"""Container endpoints: each reads the request, calls the engine's Container (client.api) or the docker-py
models, and writes docker's answer."""
from __future__ import annotations

import base64
import json

from corral.errors import Conflict, InvalidArgument
from corral.server import streams
from corral.server.http import ClientGone, Connection, Request
from corral.server.routes import route


def _container(client: object, ref: str):  # noqa: ANN202 - a corral.api.container.Container
    return client.api.container(ref.lstrip("/"))


@route("POST", "/containers/create")
def create(req: Request, conn: Connection, client: object) -> None:
    from corral.api.bodies import create_arguments

    image, command, options = create_arguments(req.json())
    c = client.api.create_container(image, command, name=req.arg("name") or None, **options)
    conn.json({"Id": c.id, "Warnings": []}, 201)


@route("GET", "/containers/json")
def listing(req: Request, conn: Connection, client: object) -> None:
    from corral.api import filters

    limit = req.int_arg("limit", -1)
    wanted = req.filters()
    all_ = req.flag("all") or limit > 0
    found = filters.containers(client.api, all=all_, filters=wanted, limit=limit) if wanted or limit > 0 \
        else client.api.containers(all=all_)
    size = req.flag("size")
    rows = []
    for c in found:
        try:
            rows.append(c.summary(size=size))
        except InvalidArgument:
            raise
        except Exception:  # noqa: BLE001, S112 - removed while listed: docker lists what it still finds
            continue
    conn.json(rows)


@route("GET", "/containers/{id}/json")
def inspect(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    conn.json(_container(client, id).inspect(size=req.flag("size")))


@route("POST", "/containers/{id}/start")
def start(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    c = _container(client, id)
    if c.status == "running":
        conn.empty(304)
        return
    c.start(record_exit=c.options.autoremove, detach_keys=req.arg("detachKeys"))
    conn.empty(204)


@route("POST", "/containers/{id}/stop")
def stop(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    c = _container(client, id)
    if c.status != "running":
        conn.empty(304)
        return
    c.stop(req.int_arg("t", req.int_arg("timeout")), req.arg("signal") or None)
    conn.empty(204)


@route("POST", "/containers/{id}/restart")
def restart(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    c = _container(client, id)
    c.stop(req.int_arg("t", req.int_arg("timeout")), req.arg("signal") or None)
    c.start(record_exit=c.options.autoremove)
    conn.empty(204)


@route("POST", "/containers/{id}/kill")
def kill(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    _container(client, id).kill(req.arg("signal") or "KILL")
    conn.empty(204)


@route("POST", "/containers/{id}/pause")
def pause(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    _container(client, id).pause()
    conn.empty(204)


@route("POST", "/containers/{id}/unpause")
def unpause(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    _container(client, id).unpause()
    conn.empty(204)


@route("POST", "/containers/{id}/rename")
def rename(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    name = req.arg("name")
    if not name:
        raise InvalidArgument("a new name is required (name=)")
    _container(client, id).rename(name)
    conn.empty(204)


@route("DELETE", "/containers/{id}")
def remove(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    if req.flag("link"):
        raise InvalidArgument("corral has no legacy links to remove")
    c = _container(client, id)
    if c.status == "running" and not req.flag("force"):
        raise Conflict(f'cannot remove container "/{c.name}": container is running: stop the container before '
                       "removing or force remove")
    c.remove(force=req.flag("force"), volumes=req.flag("v"))
    conn.empty(204)


@route("POST", "/containers/{id}/wait")
def wait(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    """The head goes out at once (the CLI waits for it before it starts the container), the body at the exit."""
    condition = req.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise InvalidArgument(f"invalid condition: {condition!r}")
    c = _container(client, id)
    out = conn.stream("application/json")
    try:
        code = c.wait(condition=condition)
        out.json({"StatusCode": code, "Error": None})
    except ClientGone:
        raise
    except Exception as e:  # noqa: BLE001 - the status line is sent: the error goes in the body
        out.json({"StatusCode": -1, "Error": {"Message": str(e)}})
    conn.end()


@route("POST", "/containers/{id}/resize")
def resize(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    c = _container(client, id)
    if c.status != "running":
        raise Conflict(f"Container {c.id} is not running")
    c.resize(req.int_arg("h", 0), req.int_arg("w", 0))
    conn.respond(200, b"", "text/plain; charset=utf-8")


@route("POST", "/containers/{id}/attach")
def attach(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    """Hijacked: 101, then the output (with logs=1 the backlog first) until the exit, stdin from the client.
    A container not running yet is attached to its next start (docker run: attach, wait, start)."""
    from corral.api.sessions import StartWaiter

    c = _container(client, id)
    stdin, stdout, stderr = req.flag("stdin"), req.flag("stdout"), req.flag("stderr")
    tty = c.options.tty
    found = c.attach_channel(stdin=stdin) if req.flag("stream", True) else None
    sock, leftover = conn.hijack(streams.content_type(tty))
    try:
        if req.flag("logs"):
            for kind, _, data in c.logs(stdout=stdout, stderr=stderr):
                sock.sendall(data if tty else streams.frame(kind, data))
        if found is None:
            return
        channel = found
        if isinstance(found, StartWaiter):
            channel = None
            while channel is None:
                channel = found.get(0.5)
                if channel is None and conn.gone():
                    found.cancel()
                    return
        streams.pump(sock, leftover, channel, tty=tty, stdin=stdin and c.options.interactive, stdout=stdout,
                     stderr=stderr)
        channel.close()
    except OSError:
        return
    finally:
        streams.finish(sock)


@route("GET", "/containers/{id}/logs")
def logs(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    from corral.timestamps import from_ns

    c = _container(client, id)
    stdout, stderr = req.flag("stdout"), req.flag("stderr")
    if not (stdout or stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tail = req.arg("tail", "all")
    if tail not in ("all", "") and not tail.lstrip("-").isdigit():
        raise InvalidArgument(f"invalid tail value {tail!r}")
    tail_n = None if tail in ("all", "") or int(tail) < 0 else int(tail)
    lines = c.logs(stdout=stdout, stderr=stderr, tail=tail_n, follow=req.flag("follow"),
                   since=req.arg("since") or None, until=req.arg("until") or None)
    tty, stamps = c.options.tty, req.flag("timestamps")
    out = conn.stream(streams.content_type(tty))
    for kind, t_ns, data in lines:
        if stamps:
            data = from_ns(t_ns).encode() + b" " + data
        out.write(data if tty else streams.frame(kind, data))
    conn.end()


@route("GET", "/containers/{id}/top")
def top(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    ps_args = req.arg("ps_args")
    titles, rows = _container(client, id).top_table(ps_args.split() if ps_args else None)
    conn.json({"Titles": titles, "Processes": rows})


@route("GET", "/containers/{id}/stats")
def stats(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    c = _container(client, id)
    if not req.flag("stream", True):
        conn.json(c.stats(one_shot=req.flag("one-shot")))
        return
    out = conn.stream("application/json")
    for sample in c.stats(stream=True):
        out.json(sample)
    conn.end()


@route("GET", "/containers/{id}/changes")
def changes(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    kinds = {"C": 0, "A": 1, "D": 2}
    conn.json([{"Path": path, "Kind": kinds[kind]} for kind, path in _container(client, id).diff()] or None)


@route("GET", "/containers/{id}/export")
def export(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    c = _container(client, id)
    c.sandbox()  # fails before the head goes out for a container with nothing to export
    out = conn.stream("application/x-tar")
    c.export(out)
    conn.end()


def _stat_header(stat: dict) -> tuple[str, str]:
    return "X-Docker-Container-Path-Stat", base64.b64encode(json.dumps(stat).encode()).decode()


@route("HEAD", "/containers/{id}/archive")
def archive_head(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    stat = _container(client, id).stat_path(_path(req))
    conn.respond(200, b"", "application/json", [_stat_header(stat)])


@route("GET", "/containers/{id}/archive")
def archive_get(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    chunks, stat = _container(client, id).get_archive(_path(req))
    try:
        out = conn.stream("application/x-tar", headers=[_stat_header(stat)])
        for chunk in chunks:
            out.write(chunk)
        conn.end()
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


@route("PUT", "/containers/{id}/archive")
def archive_put(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    """The tar goes through corral.api.archive's extractor, resolved inside the container's root."""
    _container(client, id).put_archive(_path(req), req.stream(),
                                       no_overwrite_dir_non_dir=req.flag("noOverwriteDirNonDir"),
                                       copy_uid_gid=req.flag("copyUIDGID"))
    conn.respond(200)


def _path(req: Request) -> str:
    path = req.arg("path")
    if not path:
        raise InvalidArgument("the path parameter is required")
    return path


@route("POST", "/containers/{id}/update")
def update(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    body = req.json()
    names = {"Memory": "memory", "MemorySwap": "memory_swap", "MemoryReservation": "memory_reservation",
             "NanoCpus": "cpus", "CpuShares": "cpu_shares", "CpuPeriod": "cpu_period", "CpuQuota": "cpu_quota",
             "CpusetCpus": "cpuset_cpus", "CpusetMems": "cpuset_mems", "PidsLimit": "pids_limit",
             "BlkioWeight": "blkio_weight"}
    limits = {}
    for key, value in body.items():
        if key == "RestartPolicy" and (value or {}).get("Name") in (None, "", "no"):
            continue
        if key in names:
            if value not in (None, 0, ""):
                limits[names[key]] = value / 1e9 if key == "NanoCpus" else value
        elif value not in (None, 0, "", [], {}, False):
            raise InvalidArgument(f"update: {key}: corral does not support it yet")
    conn.json(_container(client, id).update(**limits))


@route("POST", "/containers/prune")
def prune(req: Request, conn: Connection, client: object) -> None:
    conn.json(client.api.prune_containers(req.filters()))
