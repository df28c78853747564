"""The few rtnetlink requests a switch and a container's link need, over a stdlib AF_NETLINK socket.

One socket speaks for the network namespace it was created in, whatever
namespace its user later sits in: the supervisor opens one inside a
container's fresh namespace and one on the host, and wires both ends of a
veth pair in a handful of messages, with no `ip` process on the start path.
Requests queue up and go in one sendmsg; `flush()` waits for every ack and
raises the first error as OSError, naming the request that failed.
"""
from __future__ import annotations

import _socket
import os
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 1, 3, 10, 18, 20, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_OIF, RTA_GATEWAY = 4, 5
IFF_UP = 0x1
AF_INET = 2
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_HDR = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")


def attr(kind: int, payload: bytes) -> bytes:
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * (-size % 4)


def _name(text: str) -> bytes:
    return text.encode() + b"\0"


def _ipv4(text: str) -> bytes:
    return _socket.inet_aton(text)


def ifinfo(index: int = 0, up: bool | None = None) -> bytes:
    flags = IFF_UP if up else 0
    return _IFINFO.pack(0, 0, index, flags, IFF_UP if up is not None else 0)


class Netlink:
    """A NETLINK_ROUTE socket in the namespace current at creation; queue requests, then flush()."""

    def __init__(self) -> None:
        self.sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0
        self.pending: list[tuple[int, bytes, str]] = []

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Netlink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def queue(self, kind: int, flags: int, body: bytes, what: str) -> None:
        self.seq += 1
        msg = _HDR.pack(_HDR.size + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK, self.seq, 0) + body
        self.pending.append((self.seq, msg, what))

    def flush(self, ignore: tuple[int, ...] = ()) -> None:
        """Send what is queued as one datagram; raise OSError for the first failed request
        (an errno in `ignore` counts as success: ENODEV for a link already gone)."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        self.sock.sendall(b"".join(m for _, m, _ in pending))
        waiting = {seq: what for seq, _, what in pending}
        first: OSError | None = None
        while waiting:
            data = self.sock.recv(65536)
            for kind, seq, payload in _messages(data):
                if kind != NLMSG_ERROR or seq not in waiting:
                    continue
                what = waiting.pop(seq)
                err = -struct.unpack_from("=i", payload)[0]
                if err and err not in ignore and first is None:
                    first = OSError(err, f"{what}: {os.strerror(err)}")
        if first is not None:
            raise first

    # requests ---------------------------------------------------------------------------------------

    def add_bridge(self, name: str, alias: str) -> None:
        self.add_link(name, "bridge", alias)

    def add_link(self, name: str, kind: str, alias: str) -> None:
        """A link of a kind that needs no options (bridge, ifb), up, with corral's alias."""
        info = attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, kind.encode()))
        self.queue(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                   ifinfo(up=True) + attr(IFLA_IFNAME, _name(name)) + info, f"create {kind} {name}")
        self.set_alias(name, alias)

    def add_veth(self, name: str, peer: str, peer_netns_fd: int) -> None:
        """A veth pair: `name` here, `peer` created in the namespace of peer_netns_fd."""
        peer_info = ifinfo() + attr(IFLA_IFNAME, _name(peer)) + attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
        data = attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info))
        info = attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, b"veth") + data)
        self.queue(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfo() + attr(IFLA_IFNAME, _name(name)) + info,
                   f"create veth pair {name}/{peer}")

    def set_alias(self, name: str, alias: str) -> None:
        self.queue(RTM_NEWLINK, 0, ifinfo() + attr(IFLA_IFNAME, _name(name)) + attr(IFLA_IFALIAS, alias.encode()),
                   f"set the alias of {name}")

    def set_link(self, name: str, up: bool = True, master: int | None = None) -> None:
        body = ifinfo(up=up) + attr(IFLA_IFNAME, _name(name))
        if master is not None:
            body += attr(IFLA_MASTER, struct.pack("=I", master))
        self.queue(RTM_NEWLINK, 0, body, f"set {name} {'up' if up else 'down'}")

    def set_index_up(self, index: int) -> None:
        self.queue(RTM_NEWLINK, 0, ifinfo(index, up=True), f"set link {index} up")

    def add_address(self, index: int, ip: str, prefix: int, broadcast: str | None = None) -> None:
        body = _IFADDR.pack(AF_INET, prefix, 0, RT_SCOPE_UNIVERSE, index)
        body += attr(IFA_LOCAL, _ipv4(ip)) + attr(IFA_ADDRESS, _ipv4(ip))
        if broadcast:
            body += attr(IFA_BROADCAST, _ipv4(broadcast))
        self.queue(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, f"add address {ip}/{prefix}")

    def add_default_route(self, gateway: str, index: int) -> None:
        body = _RTMSG.pack(AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
        body += attr(RTA_GATEWAY, _ipv4(gateway)) + attr(RTA_OIF, struct.pack("=I", index))
        self.queue(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body, f"add default route via {gateway}")

    def delete_link(self, name: str) -> None:
        self.queue(RTM_DELLINK, 0, ifinfo() + attr(IFLA_IFNAME, _name(name)), f"delete link {name}")

    def links(self) -> list[tuple[int, str, str, str]]:
        """(index, name, kind, alias) of every link in this socket's namespace."""
        self.seq += 1
        body = _IFINFO.pack(0, 0, 0, 0, 0)
        self.sock.sendall(_HDR.pack(_HDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, self.seq, 0)
                          + body)
        found = []
        while True:
            data = self.sock.recv(1 << 16)
            for kind, seq, payload in _messages(data):
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    raise OSError(err, f"list links: {os.strerror(err)}")
                if kind != RTM_NEWLINK:
                    continue
                index = _IFINFO.unpack_from(payload)[2]
                attrs = dict(_attrs(payload[_IFINFO.size:]))
                name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode()
                alias = attrs.get(IFLA_IFALIAS, b"").rstrip(b"\0").decode(errors="replace")
                kind_name = dict(_attrs(attrs.get(IFLA_LINKINFO, b""))).get(IFLA_INFO_KIND, b"")
                found.append((index, name, kind_name.rstrip(b"\0").decode(), alias))


def _messages(data: bytes):  # noqa: ANN202 - yields (type, seq, payload)
    offset = 0
    while offset + _HDR.size <= len(data):
        length, kind, _flags, seq, _pid = _HDR.unpack_from(data, offset)
        if length < _HDR.size:
            return
        yield kind, seq, data[offset + _HDR.size:offset + length]
        offset += (length + 3) & ~3


def _attrs(data: bytes):  # noqa: ANN202 - yields (type, payload)
    offset = 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            return
        yield kind & 0x3FFF, data[offset + 4:offset + length]
        offset += (length + 3) & ~3
