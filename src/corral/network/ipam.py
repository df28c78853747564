"""Subnets and addresses: the pool a switch's subnet comes from, conflicts with the host, leases.

A subnet overlapping a network the host is on (an interface's address, a
route, another switch) would cut containers off from that network, or the
host from it; it is refused with one line naming the conflict. With no
subnet asked for, the first range of the pool that overlaps nothing is used.

The pool is Docker's default (172.17.0.0/16 … 172.31.0.0/16, then
192.168.0.0/16 in /20s) unless CORRAL_NETWORK_POOLS says otherwise:
comma-separated BASE/LEN:SIZE, e.g. "10.213.0.0/16:24" for /24s out of 10.213/16.
"""
from __future__ import annotations

import _socket
import os

from corral.errors import APIError, Conflict, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ipaddress  # imported where used: it costs milliseconds, and `run` only needs choose()

DEFAULT_POOLS = [(f"172.{n}.0.0/16", 16) for n in range(17, 32)] + [("192.168.0.0/16", 20)]
POOLS_ENV = "CORRAL_NETWORK_POOLS"


def pools() -> list[tuple[ipaddress.IPv4Network, int]]:
    import ipaddress

    text = os.environ.get(POOLS_ENV, "").strip()
    if not text:
        return [(ipaddress.IPv4Network(b), size) for b, size in DEFAULT_POOLS]
    found = []
    for item in text.split(","):
        base, _, size = item.strip().partition(":")
        try:
            net = ipaddress.IPv4Network(base)
            length = int(size) if size else net.prefixlen
        except ValueError:
            raise InvalidArgument(f"invalid {POOLS_ENV} entry {item!r}: use BASE/LEN:SIZE, e.g. 10.213.0.0/16:24") \
                from None
        if not net.prefixlen <= length <= 30:
            raise InvalidArgument(f"invalid {POOLS_ENV} entry {item!r}: SIZE must be between {net.prefixlen} and 30")
        found.append((net, length))
    return found


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    import ipaddress

    try:
        net = ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid subnet {text!r}: give an IPv4 CIDR such as 192.168.250.0/24") from None
    if net.prefixlen > 30:
        raise InvalidArgument(f"subnet {text} is too small: a switch needs at least a /30")
    if str(net) != text and "/" in text:
        raise InvalidArgument(f"invalid subnet {text}: the network address of that range is {net}")
    return net


def gateway_for(net: ipaddress.IPv4Network, gateway: str | None) -> str:
    import ipaddress

    if not gateway:
        return str(net.network_address + 1)
    try:
        ip = ipaddress.IPv4Address(gateway)
    except ValueError:
        raise InvalidArgument(f"invalid gateway {gateway!r}: give an IPv4 address") from None
    if ip not in net or ip in (net.network_address, net.broadcast_address):
        raise InvalidArgument(f"gateway {gateway} is not a usable address of subnet {net}")
    return str(ip)


# what the host is on -------------------------------------------------------------------------------

def host_networks() -> list[tuple[ipaddress.IPv4Network, str]]:
    """Every IPv4 network the host has an address in or a route to (default routes aside), described."""
    import ipaddress

    from corral import fastjson as json

    found: list[tuple[ipaddress.IPv4Network, str]] = []
    for iface in json.loads(_ip("-4", "-j", "addr", "show") or "[]"):
        for a in iface.get("addr_info", []):
            if a.get("family") != "inet":
                continue
            net = ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False)
            found.append((net, f"interface {iface['ifname']} (address {a['local']}/{a['prefixlen']})"))
    for r in json.loads(_ip("-4", "-j", "route", "show", "table", "all") or "[]"):
        if r.get("dst") in (None, "default") or r.get("type", "unicast") not in ("unicast", "blackhole",
                                                                                   "unreachable", "prohibit"):
            continue
        try:
            net = ipaddress.IPv4Network(r["dst"], strict=False)
        except ValueError:
            continue
        via = f" via {r['gateway']}" if r.get("gateway") else ""
        dev = f" dev {r['dev']}" if r.get("dev") else ""
        table = f" table {r['table']}" if r.get("table") not in (None, "main") else ""
        found.append((net, f"route {r['dst']}{via}{dev}{table}"))
    return found


def _ip(*args: str) -> str:
    import subprocess

    try:
        proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise APIError("the ip command is missing: install the iproute2 package (setup.sh does)") from None
    if proc.returncode != 0:
        raise APIError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def conflict(net: ipaddress.IPv4Network, taken: list[tuple[ipaddress.IPv4Network, str]]) -> str | None:
    for other, what in taken:
        if net.overlaps(other):
            return what
    return None


def check_free(net: ipaddress.IPv4Network, switches: list[tuple[str, str]]) -> None:
    """Refuse `net` if it overlaps the host's networks or another switch ((name, subnet) pairs)."""
    import ipaddress

    taken = [(ipaddress.IPv4Network(s), f"switch {n} ({s})") for n, s in switches] + host_networks()
    what = conflict(net, taken)
    if what:
        raise Conflict(f"subnet {net} overlaps {what}: choose another --subnet")


def choose_free(switches: list[tuple[str, str]]) -> ipaddress.IPv4Network:
    """The first range of the pool that overlaps nothing on the host and no switch."""
    import ipaddress

    taken = [(ipaddress.IPv4Network(s), f"switch {n}") for n, s in switches] + host_networks()
    for base, size in pools():
        for candidate in base.subnets(new_prefix=size):
            if not conflict(candidate, taken):
                return candidate
    raise Conflict("every range of the address pool overlaps a host network or a switch: "
                   f"give --subnet, or set {POOLS_ENV}")


# leases ----------------------------------------------------------------------------------------------

def chooser(requested: str | None):  # noqa: ANN201 - a store.leases.Chooser
    """What store/leases.take asks for the address to lease: `requested` if it is usable and free, else
    the next free one after the last handed out, so a freed address is not reused at once (other
    containers' ARP caches may still point at the old holder)."""
    return lambda subnet, gateway, cursor, used: choose(subnet, gateway, cursor, used, requested)


def choose(subnet: str, gateway: str, cursor: int, used: set[str], requested: str | None) -> tuple[str, int | None]:
    """The address to lease on a switch with `subnet` and `gateway` when `used` are taken, and the switch's
    next cursor (None when a requested address leaves it as it is)."""
    address, length = subnet.split("/")
    base = _ip_int(address)
    first, last = base + 1, base + (1 << (32 - int(length))) - 2
    if requested:
        value = _ip_int(requested) if _is_ipv4(requested) else None
        if value is None:
            raise InvalidArgument(f"invalid --ip {requested!r}: give an IPv4 address")
        if not first <= value <= last:
            raise InvalidArgument(f"--ip {requested} is not a usable address of the switch's subnet {subnet}")
        if requested == gateway:
            raise Conflict(f"--ip {requested} is the switch's gateway")
        if requested in used:
            raise Conflict(f"address {requested} is already in use on the switch")
        return requested, None
    size = last - first + 1
    start = cursor if first <= cursor <= last else first
    for i in range(size):
        candidate = first + (start - first + i) % size
        text = _ip_text(candidate)
        if text not in used and text != gateway:
            return text, candidate + 1
    raise Conflict(f"no free address left in subnet {subnet}")


def _is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdecimal() and int(p) < 256 for p in parts)


def _ip_int(text: str) -> int:
    return int.from_bytes(_socket.inet_aton(text), "big")


def _ip_text(value: int) -> str:
    return _socket.inet_ntoa(value.to_bytes(4, "big"))
