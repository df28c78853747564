"""Which handler answers a method and path, and engine errors as docker's status codes and JSON bodies.

A handler is `handler(req, conn, client, **path_parts)`: it reads the request, calls `corral.api`
(the docker-py-shaped `client`, one per connection thread: an SQLite connection must not be shared)
and writes the answer. Handlers register with `@route(METHOD, PATTERN)`; a pattern's named groups
are the path's parts (`{id}`), matched against the path without its /vN.NN prefix.
"""
from __future__ import annotations

import re
import sys
import traceback

from corral.errors import CorralError
from corral.server.http import ClientGone, Connection, Request, error_status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

ROUTES: list[tuple[str, re.Pattern, Callable]] = []
_PART = {"id": r"[^/]+", "name": r".+?"}  # an image name may hold slashes (docker.io/library/busybox)


def route(method: str, pattern: str) -> Callable:
    regex = re.compile(re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>{_PART.get(m.group(1), '[^/]+')})",
                              pattern))

    def register(handler: Callable) -> Callable:
        for each in method.split("|"):
            ROUTES.append((each, regex, handler))
        return handler

    return register


def load() -> None:
    """The handler modules, which register their routes as they are imported: once, before the first
    connection is accepted (threads finding a half-filled table would answer 404)."""
    if ROUTES:
        return
    import importlib

    for module in ("system", "containers", "execs", "images", "objects"):
        importlib.import_module(f"corral.server.{module}")


def dispatch(req: Request, conn: Connection, client: object) -> None:
    allowed = False
    for method, regex, handler in ROUTES:
        m = regex.fullmatch(req.path)
        if m is None:
            continue
        if method != req.method and not (method == "GET" and req.method == "HEAD" and handler.__name__ == "ping"):
            allowed = True
            continue
        _call(handler, req, conn, client, m.groupdict())
        return
    if allowed:
        conn.error(405, f"method {req.method} not allowed for {req.path}")
    else:
        conn.error(404, f"page not found: {req.method} {req.path}")


def _call(handler: Callable, req: Request, conn: Connection, client: object, parts: dict) -> None:
    try:
        handler(req, conn, client, **parts)
    except ClientGone:
        raise
    except CorralError as e:
        _fail(conn, error_status(e), str(e))
    except Exception as e:  # noqa: BLE001 - one request's failure answers 500, the server goes on
        traceback.print_exc(file=sys.stderr)
        _fail(conn, 500, f"{type(e).__name__}: {e}")


def _fail(conn: Connection, status: int, message: str) -> None:
    """The error as a response, or, once a streamed answer began, an end of the connection."""
    if conn.started:
        raise ClientGone()  # nothing proper can be said any more: close
    conn.error(status, message)
