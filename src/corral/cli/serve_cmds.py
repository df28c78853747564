"""`corral serve`: the Docker Engine API on a unix socket (or mutual-TLS TCP) over this store."""
from __future__ import annotations

import os
import signal
import sys

DEFAULT_HOST = "unix:///run/corral.sock"


def serve(o: dict, args: list[str]) -> int:
    from corral.server import listen

    hosts = o["host"] or [DEFAULT_HOST]
    tls = listen.tls_context(o["tlscacert"], o["tlscert"], o["tlskey"]) if o["tlsverify"] else None
    if not o["tlsverify"] and (o["tlscacert"] or o["tlscert"] or o["tlskey"]):
        from corral.errors import InvalidArgument

        raise InvalidArgument("--tlscacert, --tlscert and --tlskey take effect with --tlsverify only: add it")
    listeners, paths = [], []
    try:
        for host in hosts:
            kind, where = listen.parse_host(host)
            if kind == "unix":
                listeners.append(listen.unix_listener(where, o["group"]))
                paths.append((where, os.stat(where).st_ino))
            else:
                listeners.append(listen.tcp_listener(where, tls))
        server = listen.Server(listeners, os.environ.get("CORRAL_ROOT"), tls)
        signal.signal(signal.SIGTERM, lambda *_: server.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: server.stopping.set())
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        print(f"corral serve: API listening on {', '.join(hosts)}", file=sys.stderr, flush=True)
        server.serve_forever()
    finally:
        for sock in listeners:
            sock.close()
        for path, inode in paths:  # only our own socket: a successor may already own the path
            try:
                if os.stat(path).st_ino == inode:
                    os.unlink(path)
            except FileNotFoundError:
                pass
    return 0
