"""Switches: a store's named networks (DB rows) and the Linux bridges that carry them.

A switch is brought up on demand (creation, a container's start, after a
reboot took the bridge away): bridge cr-<id> with the gateway address,
route_localnet and forwarding on that bridge only, and its elements in the
nft table. net.ipv4.ip_forward is turned on for a NAT switch, as Docker and
podman do; when corral is the one that turned it on, the table's guard
chain keeps the host from forwarding anything that involves no corral bridge,
and removing the last switch turns it off again (unless another engine's
bridge has appeared meanwhile, which may rely on it).
"""
from __future__ import annotations

import os
import _socket

from corral import failpoints
from corral.errors import APIError, Conflict, InvalidArgument
from corral.network import HostLock, ipam, nft, register, store_tag, unregister
from corral.store import leases, networks
from corral.store.networks import NetworkRecord
from corral.store.root import Store

DEFAULT_NAME = "bridge"
RESERVED = ("none", "host", "default")


class Switch(NetworkRecord):
    """A switch's record (store/networks.py) with what it means on the host: its bridge and nft elements."""

    __slots__ = ()

    @property
    def prefix(self) -> int:
        return int(self.subnet.rsplit("/", 1)[1])

    def elements(self, store: Store) -> list[nft.Element]:
        return nft.switch_elements(self.bridge, self.subnet, self.internal, f"{store_tag(store.root)}:{self.id[:12]}")

    def alias(self, store: Store) -> str:
        return f"corral:{store_tag(store.root)}:{self.id}"

    def __repr__(self) -> str:
        return f"<Switch {self.name} {self.subnet}>"


def all_switches(store: Store) -> list[Switch]:
    return [Switch.of(r) for r in networks.by_creation(store)]


def find(store: Store, ref: str) -> Switch:
    """A switch by name, full ID or unambiguous ID prefix."""
    return Switch.of(networks.find(store, ref))


def default(store: Store) -> Switch:
    """The default NAT switch ("bridge"), its record made on first use (a container that asks for it,
    `network ls`, `network inspect bridge`) with a free range from the pool. Its bridge comes up with
    the first container started on it (endpoint's bring_up, as after a reboot), so that listing or
    inspecting it leaves nothing on the host; `network prune` removes it when unused."""
    found = networks.default(store)
    if found:
        return Switch.of(found)
    try:
        return create(store, DEFAULT_NAME, is_default=True, up=False)
    except Conflict:
        found = networks.default(store)  # a parallel run made it
        if found:
            return Switch.of(found)
        raise


def create(store: Store, name: str, subnet: str | None = None, gateway: str | None = None, internal: bool = False,
           labels: dict | None = None, options: dict | None = None, is_default: bool = False,
           up: bool = True) -> Switch:
    """A new switch's record, and its bridge unless up=False (the default switch's comes with its first
    container)."""
    from corral.runtime.state import now

    if name in RESERVED or (name == DEFAULT_NAME and not is_default):
        raise Conflict(f"network name {name} is reserved: pick another name")
    _check_name(name)
    if gateway and not subnet:
        raise InvalidArgument("--gateway needs --subnet")
    net = ipam.parse_subnet(subnet) if subnet else None
    nid = os.urandom(32).hex()
    with HostLock():
        if networks.name_taken(store, name):
            raise Conflict(f"network with name {name} already exists")
        others = [(s.name, s.subnet) for s in all_switches(store)]
        if net is None:
            net = ipam.choose_free(others)
        else:
            ipam.check_free(net, others)
        gw = ipam.gateway_for(net, gateway)
        sw = Switch(nid, name, "cr-" + nid[:12], str(net), gw, bool(internal), bool(is_default), now(),
                    dict(labels or {}), dict(options or {}))
        networks.insert(store, sw)
        if not up:
            return sw
        try:
            _bring_up(store, sw)
        except BaseException:
            _tear_down(store, sw)
            networks.delete(store, nid)
            _forget_if_bare(store)
            raise
    return sw


_NAME_FIRST = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _check_name(name: str) -> None:
    if not name or name[0] not in _NAME_FIRST or any(c not in _NAME_FIRST | set("_.-") for c in name):
        raise InvalidArgument(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")


def is_up(sw: Switch) -> bool:
    """Whether the switch's bridge is there and complete: its route_localnet (off for a new interface, where
    forwarding may follow the host's) is the last step of _bring_up, so a bridge that a killed corral left
    half made reads as down and is made whole."""
    try:
        return _read_sysctl(f"net/ipv4/conf/{sw.bridge}/route_localnet") == "1"
    except OSError:
        return False


def _exists(sw: Switch) -> bool:
    try:
        _socket.if_nametoindex(sw.bridge)
        return True
    except OSError:
        return False


def bring_up(store: Store, sw: Switch) -> None:
    """Make sure the switch's bridge exists (after a reboot it does not); cheap when it does."""
    if is_up(sw):
        return
    with HostLock():
        if not is_up(sw):
            _bring_up(store, sw)


def _bring_up(store: Store, sw: Switch) -> None:
    """Make the bridge, in an order that a kill at any point leaves repairable: the firewall elements first
    (they name the bridge, which need not exist yet), the bridge's route_localnet last (is_up reads it)."""
    from corral.network.netlink import Netlink

    register(store.root)
    extra = []
    if not sw.internal and _read_sysctl("net/ipv4/ip_forward") == "0":
        extra.append(nft.GUARD_RULE)
    nft.apply(add=sw.elements(store), extra=extra)
    with Netlink() as nl:
        if not _exists(sw):
            nl.add_bridge(sw.bridge, sw.alias(store))
            nl.flush()
        index = _socket.if_nametoindex(sw.bridge)
        broadcast = _broadcast(sw.subnet)
        nl.add_address(index, sw.gateway, sw.prefix, broadcast)
        nl.flush(ignore=(17,))  # EEXIST: the address is there already
    failpoints.hit("network.bridge")
    _sysctl(f"net/ipv4/conf/{sw.bridge}/forwarding", "1")
    if extra:
        _sysctl("net/ipv4/ip_forward", "1")
    _sysctl(f"net/ipv4/conf/{sw.bridge}/route_localnet", "1")


def remove(store: Store, sw: Switch) -> None:
    """Delete the switch: refused while a container holds an address on it."""
    users = leases.on_network(store, sw.id)
    if users:
        raise Conflict(f"error while removing network: network {sw.name} id {sw.id} has active endpoints "
                       f"(container {users[0].container_id[:12]})")
    with HostLock():
        _tear_down(store, sw)
        networks.delete(store, sw.id)
        _forget_if_bare(store)


def _forget_if_bare(store: Store) -> None:
    """A store without switches has nothing on the host for another store's prune to reclaim."""
    if not networks.by_creation(store):
        unregister(store_tag(store.root))


def _tear_down(store: Store, sw: Switch) -> None:
    from corral.network.netlink import Netlink

    with Netlink() as nl:
        nl.delete_link(sw.bridge)
        nl.flush(ignore=(19,))  # ENODEV: already gone
    drop_table_if_unused(delete=sw.elements(store))


def drop_table_if_unused(delete: list[nft.Element] = ()) -> None:
    """Remove `delete`, then the whole table when no switch of any store is left in it (and turn IP
    forwarding back off if corral turned it on and no other engine's bridge appeared). Under HostLock."""
    if not nft.table_exists():
        return
    if delete:
        nft.apply(delete=delete)
    if any(e.set == "bridges" for e in nft.elements()):
        return
    guarded = nft.guarded()
    nft.delete_table()
    if guarded and not _foreign_bridges():
        _sysctl("net/ipv4/ip_forward", "0")


def _foreign_bridges() -> bool:
    """Another engine's bridge (docker0, podman0…) may have come to rely on IP forwarding since corral
    turned it on: then it stays on."""
    from corral.network.netlink import Netlink

    with Netlink() as nl:
        return any(kind == "bridge" and not alias.startswith("corral:") for _, _, kind, alias in nl.links())


def _broadcast(subnet: str) -> str:
    import ipaddress

    return str(ipaddress.IPv4Network(subnet).broadcast_address)


def _sysctl(key: str, value: str) -> None:
    try:
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)
    except OSError as e:
        raise APIError(f"cannot set {key.replace('/', '.')} to {value}: {e.strerror}") from None


def _read_sysctl(key: str) -> str:
    with open(f"/proc/sys/{key}") as f:
        return f.read().strip()
