"""System endpoints: _ping, version, info, system/df, events, auth."""
from __future__ import annotations

import h11

from corral.server.http import Connection, Request, common_headers, reason
from corral.server.routes import route


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


@route("GET", "/events")
def events(req: Request, conn: Connection, client: object) -> None:
    """docker's event stream (corral.api.events): the head at once, then each event as a JSON line, until
    `until` passes or the client hangs up."""
    from corral.api import events as journal

    since, until, wanted = req.arg("since") or None, req.arg("until") or None, req.filters()
    journal.check_filters(wanted)  # a bad since, until or filter is a 400 before any head goes out
    journal.window(since, until)
    out = conn.stream("application/json")
    for message in journal.stream(client.api.store, since, until, wanted, stopped=conn.gone):
        out.json(message)
    conn.end()


@route("POST", "/auth")
def auth(req: Request, conn: Connection, client: object) -> None:
    """`docker login`: the credentials checked against the registry (corral.api.logins.check), docker's
    {"Status": "Login Succeeded", "IdentityToken": ...}; the docker CLI keeps them in its own config.json,
    the server keeps nothing (as dockerd). A refusal is a 401 with docker's "login attempt to ... failed"."""
    from corral.api import logins

    conn.json(logins.check(req.json()))
