"""A container's place on the network: planned at create, wired at start, released at exit and rm.

create (api/host.py) calls plan(): the mode is resolved (the default switch
is made on first use), the container's address is leased in the DB, its
/etc files are written, and the bundle's config.json gets the annotation
that tells the supervisor and cleanup there is networking to do (a
container without it never imports this package).

start (monitor/supervisor.py, in the store's monitor) calls attach() before
forking the init: host ports are bound, a fresh network namespace is made
and wired (lo, a veth pair into the switch, address, default route) over
netlink, published ports go into nftables in one transaction, peers' hosts
files learn the new name, and the init joins that namespace by path. The
command never runs without its network.

Exit (supervisor.finish, a failed start, a monitor that finds its
predecessor's containers dead) calls release(): veth, port elements, port
rows and the peers' hosts lines go; rm calls forget(), which also gives back
the lease. All of them work from the DB, so they are idempotent.
"""
from __future__ import annotations

import os
import _socket

from corral import fastjson as json
from corral.errors import Conflict, CorralError, InvalidArgument, NotFound
from corral.network import etc, nft, sha256_hex, store_tag
from corral.network import ports as portmod
from corral.network import switch as switches
from corral.runtime.spec import NETWORK_ANNOTATION
from corral.store.root import Store

ANNOTATION = NETWORK_ANNOTATION
"""config.json's annotation: JSON {"mode": "switch"|"container", "container": id, "ports": [mapping…]}."""


def veth_name(cid: str, network_id: str) -> str:
    return "crv" + sha256_hex(cid + network_id)[:12]


# create --------------------------------------------------------------------------------------------

class Plan:
    """What create decided: the mode, the switch (with the leased address), the port mappings."""

    def __init__(self, store: Store, cid: str, opts, image_config: dict) -> None:  # noqa: ANN001 - ContainerOptions
        self.store, self.cid, self.opts = store, cid, opts
        self.mode = "none"
        self.target: str | None = None  # container:ID
        self.switch: switches.Switch | None = None
        self.ip: str | None = None
        mode = opts.network
        mappings = [m for spec in opts.ports for m in portmod.parse(spec)]
        if opts.publish_all:
            mappings += portmod.exposed(image_config)
        self.mappings = mappings
        if mode.startswith("container:"):
            if mappings:
                raise InvalidArgument("conflicting options: port publishing and the container type network mode")
            self.mode, self.target = "container", _container_id(store, mode.split(":", 1)[1])
        elif mode in ("none", "host"):
            if mappings and mode == "none":
                raise InvalidArgument("conflicting options: port publishing and network mode none")
            self.mode = mode
            self.mappings = []  # host: published ports are discarded, as in Docker
        else:
            self.mode = "switch"
            self.switch = switches.default(store) if mode in ("bridge", "default") else switches.find(store, mode)
        if opts.ip and self.mode != "switch":
            raise InvalidArgument("--ip needs a switch: give --network NAME")
        if opts.network_aliases and (self.switch is None or self.switch.is_default):
            raise InvalidArgument("network-scoped aliases are supported only for user-created switches")
        self.add_hosts = [etc.parse_add_host(h) for h in opts.add_host]

    def allocate(self) -> None:
        """Lease the container's address (its own transaction, before the container row exists)."""
        if self.switch is None:
            return
        sw = self.switch
        with self.store.transaction() as conn:
            row = conn.execute("SELECT id, subnet, gateway, cursor FROM networks WHERE id=?", (sw.id,)).fetchone()
            if row is None:
                raise NotFound(f"network {sw.name} not found")
            self.ip = _ipam().allocate(conn, row, self.cid, self.opts.ip)
            conn.execute("INSERT INTO leases(network_id, container_id, ip, ifname, aliases) VALUES(?,?,?,?,?)",
                         (sw.id, self.cid, self.ip, "eth0", json.dumps(list(self.opts.network_aliases))))

    def abandon(self) -> None:
        if self.switch is not None:
            with self.store.transaction() as conn:
                conn.execute("DELETE FROM leases WHERE container_id=?", (self.cid,))

    def annotate(self, spec: dict) -> None:
        if self.mode in ("switch", "container"):
            spec["annotations"][ANNOTATION] = json.dumps(
                {"mode": self.mode, "container": self.target, "ports": self.mappings})

    def etc_files(self, hostname: str) -> dict[str, str]:
        if self.mode == "container":
            src = self.store.container_dir(self.target)
            files = {}
            for name in ("hosts", "resolv.conf", "hostname"):
                try:
                    with open(os.path.join(src, name)) as f:
                        files[name] = f.read()
                except OSError:
                    files[name] = ""
            files["hosts.base"] = files["hosts"]
            return files
        base = etc.hosts_base(hostname, [self.ip] if self.ip else [], self._resolved_add_hosts(),
                              host_mode=self.mode == "host")
        resolv = etc.resolv_conf(self.opts.dns, self.opts.dns_search, self.opts.dns_option, self.mode == "host")
        if self.mode == "none" and not self.opts.dns:
            resolv = ""
        return {"hostname": hostname + "\n", "hosts": base, "hosts.base": base, "resolv.conf": resolv}

    def _resolved_add_hosts(self) -> list[tuple[str, str]]:
        gateway = self.switch.gateway if self.switch else None
        found = []
        for name, ip in self.add_hosts:
            if ip == "host-gateway":
                if not gateway:
                    raise InvalidArgument("--add-host NAME:host-gateway needs a switch")
                ip = gateway
            found.append((name, ip))
        return found


def _container_id(store: Store, ref: str) -> str:
    """A container's ID from its name, ID or unambiguous ID prefix."""
    bare = ref[1:] if ref.startswith("/") else ref
    rows = store.query("SELECT id FROM containers WHERE id=? OR name=?", (bare, bare))
    if not rows and bare and all(c in "0123456789abcdef" for c in bare):
        rows = store.query("SELECT id FROM containers WHERE id >= ? AND id < ?", (bare, bare + "g"))
        if len(rows) > 1:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {bare}")
    if not rows:
        raise NotFound(f"No such container: {ref}")
    return rows[0][0]


def plan(store: Store, cid: str, opts, image_config: dict) -> Plan:  # noqa: ANN001 - ContainerOptions
    return Plan(store, cid, opts, image_config)


def _ipam():  # noqa: ANN202 - the ipam module (imports ipaddress only when leasing)
    from corral.network import ipam

    return ipam


# start ---------------------------------------------------------------------------------------------

class Attachment:
    """A starting container's network: after_fork() once the init is forked, release() when it ends."""

    def __init__(self, store: Store, cid: str) -> None:
        self.store, self.cid = store, cid
        self.netns: int | None = None
        self.reservation = portmod.Reservation()

    def after_fork(self) -> None:
        if self.netns is not None:
            os.close(self.netns)
            self.netns = None

    def release(self) -> None:
        self.after_fork()
        self.reservation.close()
        release(self.store, self.cid)


def attach(store: Store, cid: str, spec: dict) -> Attachment:
    """Wire the network of container `cid` before its init is forked; sets the init's network
    namespace path in `spec`. On failure everything done is undone and the error raised."""
    info = json.loads(spec["annotations"][ANNOTATION])
    net_ns = next(ns for ns in spec["linux"]["namespaces"] if ns["type"] == "network")
    att = Attachment(store, cid)
    if info["mode"] == "container":
        net_ns["path"] = f"/proc/{_running_pid(store, info['container'])}/ns/net"
        return att
    try:
        _attach_switches(att, store, cid, info.get("ports") or [])
        net_ns["path"] = f"/proc/self/fd/{att.netns}"
    except BaseException:
        att.release()
        raise
    return att


def _running_pid(store: Store, target: str) -> int:
    from corral.runtime import state

    rows = store.query("SELECT state, pid, supervisor FROM containers WHERE id=?", (target,))
    if not rows:
        raise NotFound(f"cannot join the network of container {target[:12]}: it no longer exists")
    status, pid, supervisor = rows[0]
    if status != state.RUNNING or not pid or not state.is_alive(supervisor):
        raise Conflict(f"cannot join the network of container {target[:12]}: it is not running")
    return pid


def leases_of(store: Store, cid: str) -> list[tuple[switches.Switch, str, str]]:
    """(switch, ip, ifname) of every switch container `cid` is on, eth0 first."""
    rows = store.query(
        f"SELECT l.ip, l.ifname, {', '.join('n.' + c.strip() for c in switches.COLUMNS.split(','))}"
        " FROM leases l JOIN networks n ON n.id = l.network_id WHERE l.container_id=? ORDER BY l.ifname", (cid,))
    return [(switches.Switch(r[2:]), r[0], r[1]) for r in rows]


def _attach_switches(att: Attachment, store: Store, cid: str, mappings: list[dict]) -> None:
    leases = leases_of(store, cid)
    if not leases:
        raise CorralError("the container has no address on any switch: remove and create it again")
    for sw, _, _ in leases:
        switches.bring_up(store, sw)
    ip = leases[0][1]
    tag = f"{store_tag(store.root)}:{cid[:12]}"
    bound = []
    for m in mappings:
        port = att.reservation.reserve(m)
        bound.append((m["proto"], m["host_ip"], port, ip, m["container_port"]))
    if bound:
        from corral.store.db import IntegrityError

        try:
            with store.transaction() as conn:
                conn.executemany("INSERT INTO ports(container_id, proto, host_ip, host_port, container_ip,"
                                 " container_port) VALUES(?,?,?,?,?,?)", [(cid, *b) for b in bound])
        except IntegrityError:
            raise Conflict("a published host port is already allocated to another container") from None
    att.netns = _wire(store, cid, leases)
    if bound:
        elements = [e for b in bound for e in nft.port_elements(*b, tag)]
        try:
            nft.add(elements)  # the table is there: its switch was brought up
        except CorralError:  # someone flushed the ruleset: the whole table again, with the switches' elements
            nft.apply(add=[e for sw, _, _ in leases for e in sw.elements(store)] + elements)
    update_hosts(store, cid, joining=True)


def _wire(store: Store, cid: str, leases: list[tuple[switches.Switch, str, str]]) -> int:
    """A new network namespace with lo up and one veth per switch, addressed and routed; returns its fd."""
    from corral.network.netlink import Netlink
    from corral.sys import libc

    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    netns = None
    inner = host = None
    try:
        libc.unshare(libc.CLONE_NEWNET)
        try:
            netns = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            inner = Netlink()  # speaks for the container's namespace from now on
            inner.set_index_up(1)
            for sw, _, ifname in leases:
                inner.add_veth(ifname, veth_name(cid, sw.id), own)
            inner.flush()
            index = {ifname: _socket.if_nametoindex(ifname) for _, _, ifname in leases}
        finally:
            libc.setns(own, libc.CLONE_NEWNET)
        host = Netlink()
        routed = False
        for sw, ip, ifname in leases:
            veth = veth_name(cid, sw.id)
            host.set_link(veth, up=True, master=_socket.if_nametoindex(sw.bridge))
            host.set_alias(veth, f"corral:{store_tag(store.root)}:{cid}")
            inner.add_address(index[ifname], ip, sw.prefix, _broadcast(sw))
            inner.set_index_up(index[ifname])
            if not sw.internal and not routed:
                inner.add_default_route(sw.gateway, index[ifname])
                routed = True
        host.flush()
        inner.flush()
        for sw, _, _ in leases:
            _hairpin(veth_name(cid, sw.id))
    except BaseException:
        if netns is not None:
            os.close(netns)
        raise
    finally:
        os.close(own)
        for nl in (inner, host):
            if nl is not None:
                nl.close()
    return netns


def _broadcast(sw: switches.Switch) -> str:
    net = _socket.inet_aton(sw.subnet.split("/")[0])
    value = int.from_bytes(net, "big") | ((1 << (32 - sw.prefix)) - 1)
    return _socket.inet_ntoa(value.to_bytes(4, "big"))


def _hairpin(veth: str) -> None:
    """Let a container reach its own published ports: the bridge may send a frame back out its port."""
    try:
        with open(f"/sys/class/net/{veth}/brport/hairpin_mode", "w") as f:
            f.write("1")
    except OSError:
        pass


# exit and removal ------------------------------------------------------------------------------------

def release(store: Store, cid: str) -> None:
    """Undo what attach did (idempotent; works from the DB alone, so also after a crash).

    The veth pair is not deleted here: it goes with the container's network
    namespace once the last process in it is gone (deleting a link waits for
    RCU grace periods, ~18 ms here, which `run --rm` would wait for).
    disconnect deletes it from a running container; prune removes any left.
    """
    tag = f"{store_tag(store.root)}:{cid[:12]}"
    rows = store.query("SELECT proto, host_ip, host_port, container_ip, container_port FROM ports"
                       " WHERE container_id=?", (cid,))
    if rows:
        nft.remove([e for r in rows for e in nft.port_elements(*r, tag)])
        with store.transaction() as conn:
            conn.execute("DELETE FROM ports WHERE container_id=?", (cid,))
    update_hosts(store, cid, joining=False)


def forget(store: Store, cid: str) -> None:
    """release(), and give the container's addresses back (rm)."""
    release(store, cid)
    with store.transaction() as conn:
        conn.execute("DELETE FROM leases WHERE container_id=?", (cid,))


def recover(store: Store) -> None:
    """A monitor starting finds every container its predecessor ran dead (they died with it): record
    them as exited, and release their ports, rules and links."""
    from corral.runtime import state

    for cid, supervisor in store.query("SELECT id, supervisor FROM containers WHERE state=?", (state.RUNNING,)):
        state.refresh(store, cid, state.RUNNING, supervisor)
    for (cid,) in store.query("SELECT DISTINCT container_id FROM ports"):
        try:
            release(store, cid)
        except (OSError, CorralError):
            pass  # `corral system check` reports what is left, `corral system prune` removes it


# connect and disconnect ------------------------------------------------------------------------------

def connect(store: Store, cid: str, sw: switches.Switch, ip: str | None, aliases: list[str]) -> None:
    """Lease an address on one more switch; a running container gets its interface at once."""
    from corral.store.db import IntegrityError

    spec = _spec(store, cid)
    info = json.loads(spec.get("annotations", {}).get(ANNOTATION) or "{}")
    if info.get("mode") != "switch":
        raise Conflict("only a container on a switch can join another (not one with network none, host or "
                       "container:)")
    if aliases and sw.is_default:
        raise InvalidArgument("network-scoped aliases are supported only for user-created switches")
    taken = {r[0] for r in store.query("SELECT ifname FROM leases WHERE container_id=?", (cid,))}
    ifname = next(f"eth{i}" for i in range(len(taken) + 1) if f"eth{i}" not in taken)
    try:
        with store.transaction() as conn:
            if conn.execute("SELECT 1 FROM leases WHERE network_id=? AND container_id=?", (sw.id, cid)).fetchone():
                raise Conflict(f"endpoint with name {cid[:12]} already exists in network {sw.name}")
            row = conn.execute("SELECT id, subnet, gateway, cursor FROM networks WHERE id=?", (sw.id,)).fetchone()
            address = _ipam().allocate(conn, row, cid, ip)
            conn.execute("INSERT INTO leases(network_id, container_id, ip, ifname, aliases) VALUES(?,?,?,?,?)",
                         (sw.id, cid, address, ifname, json.dumps(aliases)))
    except IntegrityError:
        raise Conflict(f"address {ip} is already in use on the switch") from None
    pid = _live_pid(store, cid)
    if pid is None:
        return
    try:
        switches.bring_up(store, sw)
        _wire_into(store, cid, pid, sw, address, ifname)
    except BaseException:
        with store.transaction() as conn:
            conn.execute("DELETE FROM leases WHERE network_id=? AND container_id=?", (sw.id, cid))
        raise
    update_hosts(store, cid, joining=True)


def disconnect(store: Store, cid: str, sw: switches.Switch, force: bool = False) -> None:
    from corral.network.netlink import Netlink

    if not store.query("SELECT 1 FROM leases WHERE network_id=? AND container_id=?", (sw.id, cid)):
        if force:
            return
        raise NotFound(f"container {cid[:12]} is not connected to network {sw.name}")
    live = _live_pid(store, cid) is not None
    if live:
        update_hosts(store, cid, joining=False)
    with Netlink() as nl:
        nl.delete_link(veth_name(cid, sw.id))
        nl.flush(ignore=(19,))
    with store.transaction() as conn:
        conn.execute("DELETE FROM leases WHERE network_id=? AND container_id=?", (sw.id, cid))
    if live:
        update_hosts(store, cid, joining=True)  # its own file and its remaining switches' peers


def _spec(store: Store, cid: str) -> dict:
    with open(os.path.join(store.container_dir(cid), "config.json")) as f:
        return json.loads(f.read())


def _live_pid(store: Store, cid: str) -> int | None:
    from corral.runtime import state

    rows = store.query("SELECT state, pid, supervisor FROM containers WHERE id=?", (cid,))
    if rows and rows[0][0] == state.RUNNING and rows[0][1] and state.is_alive(rows[0][2]):
        return rows[0][1]
    return None


def _wire_into(store: Store, cid: str, pid: int, sw: switches.Switch, ip: str, ifname: str) -> None:
    """A veth pair from the switch into a running container's namespace, addressed (no route change)."""
    from corral.network.netlink import Netlink
    from corral.sys import libc

    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    veth = veth_name(cid, sw.id)
    inner = None
    try:
        libc.setns(target, libc.CLONE_NEWNET)
        try:
            inner = Netlink()
            inner.add_veth(ifname, veth, own)
            inner.flush()
            index = _socket.if_nametoindex(ifname)
        finally:
            libc.setns(own, libc.CLONE_NEWNET)
        with Netlink() as host:
            host.set_link(veth, up=True, master=_socket.if_nametoindex(sw.bridge))
            host.set_alias(veth, f"corral:{store_tag(store.root)}:{cid}")
            host.flush()
        inner.add_address(index, ip, sw.prefix, _broadcast(sw))
        inner.set_index_up(index)
        inner.flush()
        _hairpin(veth)
    finally:
        os.close(own)
        os.close(target)
        if inner is not None:
            inner.close()


# names on user-created switches -----------------------------------------------------------------------

def update_hosts(store: Store, cid: str, joining: bool) -> None:
    """Rewrite the hosts files of every running container sharing a user-created switch with `cid`
    (and cid's own when it joins), so names follow containers as they start and stop."""
    rows = store.query(
        "SELECT DISTINCT p.container_id, c.state FROM leases mine JOIN networks n ON n.id = mine.network_id"
        " JOIN leases p ON p.network_id = mine.network_id JOIN containers c ON c.id = p.container_id"
        " WHERE mine.container_id=? AND n.is_default=0", (cid,))
    for other, status in rows:
        if _present(other, status, cid, joining):
            _write_hosts(store, other, cid, joining)


def _present(other: str, status: str, changing: str, joining: bool) -> bool:
    from corral.runtime import state

    if other == changing:
        return joining
    return status == state.RUNNING


def _write_hosts(store: Store, cid: str, changing: str, joining: bool) -> None:
    rows = store.query(
        "SELECT DISTINCT p.container_id, p.ip, p.aliases, c.name, c.state FROM leases mine"
        " JOIN networks n ON n.id = mine.network_id AND n.is_default=0"
        " JOIN leases p ON p.network_id = mine.network_id JOIN containers c ON c.id = p.container_id"
        " WHERE mine.container_id=? AND p.container_id != ? ORDER BY c.name, p.ip", (cid, cid))
    peers = [(ip, [name, *json.loads(aliases), pid[:12]]) for pid, ip, aliases, name, status in rows
             if _present(pid, status, changing, joining)]
    bundle = store.container_dir(cid)
    try:
        with open(os.path.join(bundle, "hosts.base")) as f:
            base = f.read()
    except OSError:
        return
    etc.rewrite_in_place(os.path.join(bundle, "hosts"), base + etc.peers_section(peers))
