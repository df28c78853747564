"""A VM container's network: the namespace wired as a process container's, then handed to the guest's NICs.

endpoint.attach wires a VM container's network namespace exactly as a process container's (a veth
per switch, its address, the default route), so IPAM, the switch, the DNAT of published ports, the
firewall rules and the hosts files are the same code for both. But under --isolation=vm the
address belongs to the guest's virtio-net NIC, not to the namespace QEMU runs in: here each ethN
gives its address up (its routes go with it), a tap is made beside it (vmtapN, persistent, so QEMU
opens it by name, from inside this namespace) and two tc filters join them, every frame ethN receives sent out
of the tap to the guest and every frame of the guest out of ethN (Kata's tc-mirred way: no bridge,
no address learning, nothing for the host's firewall to see twice). The guest's NIC takes ethN's MAC,
so the switch and the peers see the same link they would for a process container; the guest init
gives it ethN's address, prefix and the default route (runtime/vm/network.py carries them).

Ownership: the taps and filters live in the container's namespace and go with it when its last
process (QEMU) ends, as its veth does: nothing to track or release.
"""
from __future__ import annotations

import _socket
import fcntl
import os
import struct

from corral import fastjson as json
from corral.network import tc
from corral.network.netlink import AF_INET, Netlink, attr
from corral.network.switch import Switch
from corral.runtime.vm.network import NICS_ANNOTATION, tap_name
from corral.sys import libc

RTM_DELADDR = 21
IFA_LOCAL, IFA_ADDRESS = 2, 1
SIOCGIFHWADDR = 0x8927
TUNSETIFF, TUNSETPERSIST = 0x400454CA, 0x400454CB
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000


def hand_over(netns: int, held: list[tuple[Switch, str, str]], spec: dict) -> None:
    """Give the addresses of the namespace `netns` (wired by endpoint._wire, `held` its leases: switch,
    ip, ifname, eth0 first) to taps for the guest, and record the guest's NICs in `spec` for the VM
    backend. Raises OSError naming the request that failed; the namespace, and all made here, go with
    the attachment's release."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    nics = []
    try:
        libc.setns(netns, libc.CLONE_NEWNET)
        try:
            with Netlink() as nl:  # speaks for the container's namespace
                routed = False
                for sw, ip, ifname in held:
                    index, tap = _socket.if_nametoindex(ifname), tap_name(ifname)
                    _make_tap(tap)
                    nl.queue(RTM_DELADDR, 0, _ifaddr(index, ip, sw.prefix), f"take {ip} off {ifname}")
                    nl.set_link(tap, up=True)
                    nl.flush()
                    tap_index = _socket.if_nametoindex(tap)
                    for src, src_name, dst in ((index, ifname, tap_index), (tap_index, tap, index)):
                        tc.add_ingress(nl, src, src_name)
                        tc.add_redirect(nl, src, src_name, dst)
                    nl.flush()
                    _silence(ifname, tap)
                    gateway = sw.gateway if not sw.internal and not routed else None
                    routed = routed or gateway is not None
                    nics.append({"ifname": ifname, "tap": tap, "mac": _mac(ifname), "address": ip,
                                 "prefix": sw.prefix, "gateway": gateway})
        finally:
            libc.setns(own, libc.CLONE_NEWNET)
    finally:
        os.close(own)
    spec["annotations"][NICS_ANNOTATION] = json.dumps(nics)


def _silence(*links: str) -> None:
    """No IPv6 on the namespace's side of the wire: its link-local addresses would share the guest's MAC
    (so its address) and its neighbour discovery would talk to the guest. A host without IPv6 has no such
    file, and nothing to silence."""
    for link in links:
        try:
            with open(f"/proc/sys/net/ipv6/conf/{link}/disable_ipv6", "w") as f:  # this thread's namespace's
                f.write("1")
        except OSError:
            pass


def _ifaddr(index: int, ip: str, prefix: int) -> bytes:
    body = struct.pack("=BBBBI", AF_INET, prefix, 0, 0, index)
    return body + attr(IFA_LOCAL, _socket.inet_aton(ip)) + attr(IFA_ADDRESS, _socket.inet_aton(ip))


def _make_tap(name: str) -> None:
    """A persistent tap in the current namespace: it outlives this fd until QEMU attaches to it by name."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
        fcntl.ioctl(fd, TUNSETPERSIST, 1)
    finally:
        os.close(fd)


def _mac(ifname: str) -> str:
    """The link's hardware address, as QEMU's mac= takes it (asked in the current namespace)."""
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        answer = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, struct.pack("16s16x", ifname.encode()))
    finally:
        s.close()
    return ":".join(f"{b:02x}" for b in answer[18:24])
