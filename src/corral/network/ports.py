"""Published ports: Docker's -p syntax, and holding the host port while the container runs.

A published port is a DNAT rule, not a proxy: nothing on the host listens.
So that nothing else can take the port meanwhile (and so that "in use by
anything" is decided by the kernel, not guessed), the monitor binds a socket
to every published host port before the container starts and holds it until
the container stops: EADDRINUSE is the refusal, with the port chosen by the
kernel when none was asked for.
"""
from __future__ import annotations

import _socket
import errno

from corral.errors import Conflict, InvalidArgument

PROTOCOLS = ("tcp", "udp")


def parse(spec: str) -> list[dict]:
    """`[HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTO]` (ports may be equal-length ranges) → mappings
    {host_ip, host_port (0: any free one), container_port, proto}."""
    text, _, proto = spec.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid port {spec!r}: the protocol must be tcp or udp")
    if text.startswith("["):
        raise InvalidArgument(f"invalid port {spec!r}: corral publishes on IPv4 host addresses only")
    parts = text.split(":")
    if len(parts) == 1:
        host_ip, host, cont = "", "", parts[0]
    elif len(parts) == 2:
        host_ip, host, cont = "", parts[0], parts[1]
    elif len(parts) == 3:
        host_ip, host, cont = parts
    else:
        raise InvalidArgument(f"invalid port {spec!r}: use [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]")
    if host_ip:
        try:
            _socket.inet_aton(host_ip)
        except (OSError, ValueError):  # ValueError: a NUL byte in it
            raise InvalidArgument(f"invalid port {spec!r}: {host_ip!r} is not an IPv4 address") from None
        if host_ip.count(".") != 3:
            raise InvalidArgument(f"invalid port {spec!r}: {host_ip!r} is not an IPv4 address")
    cports = _range(cont, spec)
    hports = _range(host, spec) if host else [0] * len(cports)
    if len(hports) != len(cports):
        if len(cports) == 1 and host:
            raise InvalidArgument(f"invalid port {spec!r}: a host port range needs a container range of the same size")
        raise InvalidArgument(f"invalid port {spec!r}: the host and container ranges differ in size")
    return [{"host_ip": "" if host_ip == "0.0.0.0" else host_ip, "host_port": h, "container_port": c,
             "proto": proto} for h, c in zip(hports, cports)]


def _range(text: str, spec: str) -> list[int]:
    first, sep, last = text.partition("-")
    try:
        lo = int(first)
        hi = int(last) if sep else lo
    except ValueError:
        raise InvalidArgument(f"invalid port {spec!r}: {text!r} is not a port number") from None
    if not 1 <= lo <= hi <= 65535:
        raise InvalidArgument(f"invalid port {spec!r}: ports are 1 to 65535")
    return list(range(lo, hi + 1))


def exposed(image_config: dict, extra: list[str] | tuple[str, ...] = ()) -> list[dict]:
    """-P: every port the image EXPOSEs ("80/tcp") and the container's --expose keys (`extra`), each on a
    free host port."""
    found = []
    for key in sorted(set((image_config.get("config") or {}).get("ExposedPorts") or {}) | set(extra)):
        port, _, proto = key.partition("/")
        found += parse(f"{port}/{proto or 'tcp'}")
    return found


def describe(m: dict) -> str:
    return f"{m['host_ip'] or '0.0.0.0'}:{m['host_port']}->{m['container_port']}/{m['proto']}"


class Reservation:
    """Sockets bound to the host ports of a container's mappings, held until close()."""

    def __init__(self) -> None:
        self.sockets: list[_socket.socket] = []

    def reserve(self, m: dict) -> int:
        """Bind m's host port (or a free one); returns the port. Conflict when it is in use."""
        kind = _socket.SOCK_STREAM if m["proto"] == "tcp" else _socket.SOCK_DGRAM
        sock = _socket.socket(_socket.AF_INET, kind)
        address = m["host_ip"] or "0.0.0.0"
        try:
            sock.bind((address, m["host_port"]))
        except OSError as e:
            sock.close()
            if e.errno == errno.EADDRINUSE:
                raise Conflict(f"Bind for {address}:{m['host_port']} failed: port is already allocated "
                               f"({m['proto']} port {m['host_port']} is in use on the host)") from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise InvalidArgument(f"cannot publish on {address}: not an address of this host") from None
            if e.errno == errno.EACCES:
                raise Conflict(f"Bind for {address}:{m['host_port']} failed: permission denied") from None
            raise
        self.sockets.append(sock)
        return sock.getsockname()[1]

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets = []
