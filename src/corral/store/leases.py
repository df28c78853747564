"""A container's holds on the network: address leases on switches (leases table) and published host
ports (ports table), the one place their rows are read and written.

Both are leases in containerd's sense: a row keeps something (an address, a
host port) from being handed to another container until the row goes. Which
address is free is network/ipam.py's choice; taking it happens here, in the
same transaction that reads what is taken, so two creates never get one address.
"""
from __future__ import annotations

from corral import fastjson as json
from corral.errors import Conflict, NotFound
from corral.store.containers import RUNNING
from corral.store.records import Record, columns
from corral.store.root import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from corral.store.networks import NetworkRecord

    Chooser = Callable[[str, str, int, set], tuple[str, "int | None"]]


class Lease(Record):
    """One address on one switch: ifname is the container's interface for it (eth0 first)."""

    __slots__ = ()
    network_id: str
    container_id: str
    ip: str
    ifname: str
    aliases: list


class PortBinding(Record):
    """One published port: host_ip:host_port/proto forwarded to container_ip:container_port."""

    __slots__ = ()
    container_id: str
    proto: str
    host_ip: str
    host_port: int
    container_ip: str
    container_port: int


_LEASE_COLUMNS = columns(Lease)
_PORT_COLUMNS = columns(PortBinding)


def _lease(row: tuple) -> Lease:
    return Lease.of(row[:4] + (json.loads(row[4]),))


# addresses -----------------------------------------------------------------------------------------

def take(store: Store, network: NetworkRecord, cid: str, ifname: str, aliases: list[str],
         choose: Chooser) -> str:
    """Lease an address of `network` to container `cid`, in one transaction; returns it.

    choose(subnet, gateway, cursor, used addresses) returns the address and
    the switch's next cursor (None: unchanged). A container already on the
    switch, or an address taken by a racing writer, is a Conflict.
    """
    from corral.store import db

    with store.transaction() as conn:
        row = conn.execute("SELECT subnet, gateway, cursor FROM networks WHERE id=?", (network.id,)).fetchone()
        if row is None:
            raise NotFound(f"network {network.name} not found")
        if conn.execute("SELECT 1 FROM leases WHERE network_id=? AND container_id=?", (network.id, cid)).fetchone():
            raise Conflict(f"endpoint with name {cid[:12]} already exists in network {network.name}")
        used = {r[0] for r in conn.execute("SELECT ip FROM leases WHERE network_id=?", (network.id,))}
        ip, cursor = choose(row[0], row[1], row[2], used)
        if cursor is not None:
            conn.execute("UPDATE networks SET cursor=? WHERE id=?", (cursor, network.id))
        try:
            conn.execute(f"INSERT INTO leases({_LEASE_COLUMNS}) VALUES(?,?,?,?,?)",
                         (network.id, cid, ip, ifname, json.dumps(list(aliases))))
        except db.IntegrityError:
            raise Conflict(f"address {ip} is already in use on the switch") from None
    return ip


def give_back(store: Store, cid: str, network_id: str | None = None) -> None:
    """Drop container `cid`'s lease on `network_id`, or all its leases."""
    with store.transaction() as conn:
        if network_id is None:
            conn.execute("DELETE FROM leases WHERE container_id=?", (cid,))
        else:
            conn.execute("DELETE FROM leases WHERE network_id=? AND container_id=?", (network_id, cid))


def holds(store: Store, network_id: str, cid: str) -> bool:
    return bool(store.query("SELECT 1 FROM leases WHERE network_id=? AND container_id=?", (network_id, cid)))


def of_container(store: Store, cid: str) -> list[tuple[NetworkRecord, Lease]]:
    """Every switch container `cid` is on with its lease there, by interface name (eth0 first)."""
    from corral.store.networks import NetworkRecord, record as network_record  # not on `rm`'s path

    rows = store.query(f"SELECT {columns(Lease, 'l.')}, {columns(NetworkRecord, 'n.')}"
                       " FROM leases l JOIN networks n ON n.id = l.network_id WHERE l.container_id=?"
                       " ORDER BY l.ifname", (cid,))
    return [(network_record(r[5:]), _lease(r[:5])) for r in rows]


def on_network(store: Store, network_id: str) -> list[Lease]:
    """Every lease on the switch, by address."""
    return [_lease(r) for r in store.query(f"SELECT {_LEASE_COLUMNS} FROM leases WHERE network_id=? ORDER BY ip",
                                           (network_id,))]


def every(store: Store) -> list[Lease]:
    return [_lease(r) for r in store.query(f"SELECT {_LEASE_COLUMNS} FROM leases")]


def network_ids_in_use(store: Store) -> set[str]:
    return {r[0] for r in store.query("SELECT DISTINCT network_id FROM leases")}


def holder_names(store: Store, network_id: str) -> dict[str, str]:
    """Container ID → name of every container with an address on the switch."""
    return dict(store.query("SELECT c.id, c.name FROM containers c JOIN leases l ON l.container_id = c.id"
                            " WHERE l.network_id=?", (network_id,)))


def neighbours(store: Store, cid: str) -> list[tuple[str, str]]:
    """(container ID, recorded state) of every container sharing a user-created switch with `cid`, itself
    included: whose hosts files name it."""
    return store.query(
        "SELECT DISTINCT p.container_id, c.state FROM leases mine JOIN networks n ON n.id = mine.network_id"
        " JOIN leases p ON p.network_id = mine.network_id JOIN containers c ON c.id = p.container_id"
        " WHERE mine.container_id=? AND n.is_default=0", (cid,))


def peers(store: Store, cid: str) -> list[tuple[str, str, list[str], str, str]]:
    """(container ID, address, aliases, name, recorded state) of the others on `cid`'s user-created
    switches, by name and address: the entries of its hosts file."""
    rows = store.query(
        "SELECT DISTINCT p.container_id, p.ip, p.aliases, c.name, c.state FROM leases mine"
        " JOIN networks n ON n.id = mine.network_id AND n.is_default=0"
        " JOIN leases p ON p.network_id = mine.network_id JOIN containers c ON c.id = p.container_id"
        " WHERE mine.container_id=? AND p.container_id != ? ORDER BY c.name, p.ip", (cid, cid))
    return [(other, ip, json.loads(aliases), name, state) for other, ip, aliases, name, state in rows]


# host ports ----------------------------------------------------------------------------------------

def bind_ports(store: Store, bindings: list[PortBinding]) -> None:
    """Record published ports in one transaction; a host port another container holds is a Conflict."""
    from corral.store import db

    with store.transaction() as conn:
        try:
            conn.executemany(f"INSERT INTO ports({_PORT_COLUMNS}) VALUES(?,?,?,?,?,?)", bindings)
        except db.IntegrityError:
            raise Conflict("a published host port is already allocated to another container") from None


def ports_of(store: Store, cid: str) -> list[PortBinding]:
    """Container `cid`'s published ports, by container port then host port."""
    return [PortBinding.of(r) for r in store.query(
        f"SELECT {_PORT_COLUMNS} FROM ports WHERE container_id=? ORDER BY container_port, host_port", (cid,))]


def every_port(store: Store) -> list[PortBinding]:
    return [PortBinding.of(r) for r in store.query(f"SELECT {_PORT_COLUMNS} FROM ports")]


def unbind_ports(store: Store, cid: str) -> None:
    with store.transaction() as conn:
        conn.execute("DELETE FROM ports WHERE container_id=?", (cid,))


# both ----------------------------------------------------------------------------------------------

def held_by(store: Store, cid: str) -> bool:
    """Whether container `cid` holds an address or a host port (one cheap query on the `rm` path)."""
    return bool(store.query("SELECT 1 FROM leases WHERE container_id=? UNION ALL SELECT 1 FROM ports"
                            " WHERE container_id=? LIMIT 1", (cid, cid)))


def held_by_the_dead(store: Store) -> bool:
    """Whether any host port is held, or an address by a container recorded as running: what a monitor
    starting after its predecessor died must release (one query when there is nothing)."""
    return bool(store.query("SELECT 1 FROM ports UNION ALL SELECT 1 FROM leases l JOIN containers c"
                            " ON c.id = l.container_id WHERE c.state=? LIMIT 1", (RUNNING,)))
