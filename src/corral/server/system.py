"""System endpoints: _ping, version, info, system/df; events and auth answer 501 until their parts land."""
from __future__ import annotations

import h11

from corral.server.http import Connection, Request, common_headers, reason
from corral.server.routes import not_yet, route


@route("GET", "/_ping")
def ping(req: Request, conn: Connection, client: object) -> None:
    """GET and HEAD, with or without a version prefix (docker-py pings /v1.NN/_ping). Api-Version here
    is what the CLI negotiates from: without it, it falls back to 1.24 (docker-api-notes §0.1)."""
    head = common_headers() + [("Cache-Control", "no-cache, no-store, must-revalidate"), ("Pragma", "no-cache"),
                               ("Builder-Version", "1"), ("Swarm", "inactive")]
    body = b"" if req.method == "HEAD" else b"OK"
    head += [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    conn.send(h11.Response(status_code=200, reason=reason(200), headers=head))
    if body:
        conn.send(h11.Data(data=body))
    conn.send(h11.EndOfMessage())


@route("GET", "/version")
def version(req: Request, conn: Connection, client: object) -> None:
    conn.json(client.version())


@route("GET", "/info")
def info(req: Request, conn: Connection, client: object) -> None:
    conn.json(client.info())


@route("GET", "/system/df")
def df(req: Request, conn: Connection, client: object) -> None:
    conn.json(client.df())


route("GET", "/events")(not_yet("events (`docker events`, and `docker stats` without names) are"))
route("POST", "/auth")(not_yet("registry log-in is"))
