"""`corral serve`: the Docker Engine API over a unix socket (or mutual-TLS TCP), so the stock docker CLI,
docker-py, testcontainers and docker-compose drive the same store as the corral CLI.

Layout: `listen.py` makes the socket (atomically, 0660 root:group, refusing a live owner) and accepts;
`http.py` is one connection on h11 (requests, streamed and chunked bodies, hijacking); `routes.py`
maps a method and path onto a handler; the handlers (`system.py`, `containers.py`, `execs.py`,
`images.py`, `objects.py`) translate the request onto `corral.api` and its answer back, nothing more.
Imported only by `corral serve` (h11 is a dependency of this package alone).
"""
