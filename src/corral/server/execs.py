"""Exec endpoints: create an exec instance, start it hijacked (or detached), resize it, inspect it."""
from __future__ import annotations

from corral.errors import CommandNotExecutable, CommandNotFound
from corral.server import streams
from corral.server.http import Connection, Request
from corral.server.routes import route


@route("POST", "/containers/{id}/exec")
def create(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    from corral.api import execs
    from corral.api.bodies import exec_arguments

    options = exec_arguments(req.json())
    found = execs.create(client.api.container(id.lstrip("/")), options)
    conn.json({"Id": found.id}, 201)


@route("POST", "/exec/{id}/start")
def start(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    """The session is opened before the 101 (a stopped container is a 409 the client can print); a
    command that cannot run is reported in-band on stderr with docker's 126/127, as dockerd's."""
    from corral.api import execs

    found = execs.get(id)
    body = req.json()
    c = client.api.container(found.container_id)
    if body.get("Detach"):
        found.start_detached(c)
        conn.respond(200, b"", "application/json")
        return
    tty = bool(body.get("Tty", found.options["tty"]))
    rows, cols = (body.get("ConsoleSize") or found.options.get("console") or [0, 0])[:2]
    failure = None
    try:
        channel = found.start(c, tty, int(rows or 0), int(cols or 0))
    except (CommandNotFound, CommandNotExecutable) as e:
        channel, failure = None, e
    sock, leftover = conn.hijack(streams.content_type(tty))
    try:
        if channel is None:
            found.finished(failure.exit_code)
            message = f"OCI runtime exec failed: {failure}\n".encode()
            sock.sendall(message if tty else streams.frame(2, message))
            return
        o = found.options
        code = streams.pump(sock, leftover, channel, tty=tty, stdin=o["stdin"], stdout=o["stdout"],
                            stderr=o["stderr"])
        channel.close()
        found.finished(code if code is not None else 0)
    except OSError:
        found.finished(found.exit_code or 0)
    finally:
        streams.finish(sock)


@route("POST", "/exec/{id}/resize")
def resize(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    from corral.api import execs

    execs.get(id).resize(req.int_arg("h", 0), req.int_arg("w", 0))
    conn.respond(200, b"", "text/plain; charset=utf-8")


@route("GET", "/exec/{id}/json")
def inspect(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    from corral.api import execs

    conn.json(execs.get(id).inspect())
