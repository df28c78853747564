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

from corral import failpoints
from corral import fastjson as json
from corral.errors import APIError, Conflict, CorralError, InvalidArgument, NotFound
from corral.network import etc, nft, sha256_hex, store_tag
from corral.network import ports as portmod
from corral.network import switch as switches
from corral.runtime.spec import NETWORK_ANNOTATION, is_vm
from corral.store import containers, leases
from corral.store.root import Store

ANNOTATION = NETWORK_ANNOTATION
"""config.json's annotation: JSON {"mode": "switch"|"container", "container": id, "ports": [mapping…],
"bandwidth": [in, out]} (bits per second or null; the key only when a limit is set)."""


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
            from corral.runtime.options import expose_ports

            mappings += portmod.exposed(image_config, [k for text in opts.expose for k in expose_ports(text)])
        self.mappings = mappings
        if mode.startswith("container:"):
            if mappings:
                raise InvalidArgument("conflicting options: port publishing and the container type network mode")
            self.mode, self.target = "container", containers.find(store, mode.split(":", 1)[1]).id
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
        self.ip = leases.take(self.store, self.switch, self.cid, "eth0", list(self.opts.network_aliases),
                              _ipam().chooser(self.opts.ip))

    def abandon(self) -> None:
        if self.switch is not None:
            leases.give_back(self.store, self.cid)

    def annotate(self, spec: dict) -> None:
        if self.mode in ("switch", "container"):
            info = {"mode": self.mode, "container": self.target, "ports": self.mappings}
            rates = [self.opts.network_bandwidth_in, self.opts.network_bandwidth_out]
            if any(rates):
                info["bandwidth"] = rates
            spec["annotations"][ANNOTATION] = json.dumps(info)

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


def plan(store: Store, cid: str, opts, image_config: dict) -> Plan:  # noqa: ANN001 - ContainerOptions
    return Plan(store, cid, opts, image_config)


def _ipam():  # noqa: ANN202 - the ipam module (imports ipaddress only when leasing)
    from corral.network import ipam

    return ipam


def _bandwidth():  # noqa: ANN202 - the bandwidth module, imported when a container has or had a limit
    from corral.network import bandwidth

    return bandwidth


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
        from corral.runtime.state import running_pid

        net_ns["path"] = f"/proc/{running_pid(store, info['container'], 'network')}/ns/net"
        return att
    try:
        _attach_switches(att, store, cid, info.get("ports") or [], info.get("bandwidth"))
        net_ns["path"] = f"/proc/self/fd/{att.netns}"
        if is_vm(spec):  # the addresses go to the guest's NICs (network/vmnic.py)
            from corral.network import vmnic

            vmnic.hand_over(att.netns, leases_of(store, cid), spec)
    except BaseException:
        att.release()
        raise
    return att


def leases_of(store: Store, cid: str) -> list[tuple[switches.Switch, str, str]]:
    """(switch, ip, ifname) of every switch container `cid` is on, eth0 first."""
    return [(switches.Switch.of(net), lease.ip, lease.ifname) for net, lease in leases.of_container(store, cid)]


def _attach_switches(att: Attachment, store: Store, cid: str, mappings: list[dict],
                     rates: list[int | None] | None) -> None:
    held = leases_of(store, cid)
    if not held:
        raise APIError("the container has no address on any switch: remove and create it again")
    for sw, _, _ in held:
        switches.bring_up(store, sw)
    ip = held[0][1]
    tag = f"{store_tag(store.root)}:{cid[:12]}"
    bound = []
    for m in mappings:
        port = att.reservation.reserve(m)
        bound.append((m["proto"], m["host_ip"], port, ip, m["container_port"]))
    if bound:
        leases.bind_ports(store, [leases.PortBinding(cid, *b) for b in bound])
    _remove_leftover_veths(cid, held)
    att.netns = _wire(store, cid, held)
    if rates:
        _bandwidth().apply([veth_name(cid, sw.id) for sw, _, _ in held], f"corral:{store_tag(store.root)}:{cid}",
                           (None, None), (rates[0], rates[1]))
    if bound:
        elements = [e for b in bound for e in nft.port_elements(*b, tag)]
        try:
            nft.add(elements)  # the table is there: its switch was brought up
        except CorralError:  # someone flushed the ruleset: the whole table again, with the switches' elements
            nft.apply(add=[e for sw, _, _ in held for e in sw.elements(store)] + elements)
    update_hosts(store, cid, joining=True)


def _remove_leftover_veths(cid: str, held: list[tuple[switches.Switch, str, str]]) -> None:
    """Delete a veth of the container's last run that is still there, so that the new pair can take its
    name (a name only this container has). A network namespace goes asynchronously after its last
    process, and a pod's infra container's outlives its exit while the pod's members run in it: a quick
    restart (`pod restart`) finds it. One stat per switch when there is none."""
    stale = [veth_name(cid, sw.id) for sw, _, _ in held if os.path.exists(f"/sys/class/net/{veth_name(cid, sw.id)}")]
    if not stale:
        return
    from corral.network.netlink import Netlink

    with Netlink() as nl:
        for name in stale:
            nl.delete_link(name)
        nl.flush(ignore=(19,))  # gone meanwhile


def _wire(store: Store, cid: str, held: list[tuple[switches.Switch, str, str]]) -> int:
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
            for sw, _, ifname in held:
                inner.add_veth(ifname, veth_name(cid, sw.id), own)
            inner.flush()
            index = {ifname: _socket.if_nametoindex(ifname) for _, _, ifname in held}
        finally:
            libc.setns(own, libc.CLONE_NEWNET)
        host = Netlink()
        routed = False
        for sw, ip, ifname in held:
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
        for sw, _, _ in held:
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
    bindings = leases.ports_of(store, cid)
    if bindings:
        nft.remove([e for b in bindings for e in nft.port_elements(*b[1:], tag)])
        leases.unbind_ports(store, cid)
    _bandwidth().release([veth_name(cid, sw.id) for sw, _, _ in leases_of(store, cid)])
    update_hosts(store, cid, joining=False)


def forget(store: Store, cid: str) -> None:
    """release(), and give the container's addresses back (rm)."""
    release(store, cid)
    leases.give_back(store, cid)


def recover(store: Store) -> None:
    """A monitor starting finds every container its predecessor ran dead (they died with it): record
    them as exited, and release their ports, rules and links (an ifb of a bandwidth limit among them)."""
    from corral.runtime import state

    dead = []
    for rec in containers.recorded_running(store):
        if state.refresh(store, rec.id, state.RUNNING, rec.supervisor) != state.RUNNING:
            dead.append(rec.id)  # and its ifbs (bandwidth.py) with its ports
    for cid in {b.container_id for b in leases.every_port(store)} | set(dead):
        try:
            release(store, cid)
        except (OSError, CorralError):
            pass  # `corral system check` reports what is left, `corral system prune` removes it


# connect and disconnect ------------------------------------------------------------------------------

def connect(store: Store, cid: str, sw: switches.Switch, ip: str | None, aliases: list[str]) -> None:
    """Lease an address on one more switch; a running container gets its interface at once."""
    spec = _spec(store, cid)
    info = json.loads(spec.get("annotations", {}).get(ANNOTATION) or "{}")
    if info.get("mode") != "switch":
        raise Conflict("only a container on a switch can join another (not one with network none, host or "
                       "container:)")
    if aliases and sw.is_default:
        raise InvalidArgument("network-scoped aliases are supported only for user-created switches")
    _refuse_running_vm(store, cid, spec, "connect to")
    taken = {lease.ifname for _, lease in leases.of_container(store, cid)}
    ifname = next(f"eth{i}" for i in range(len(taken) + 1) if f"eth{i}" not in taken)
    address = leases.take(store, sw, cid, ifname, aliases, _ipam().chooser(ip))
    pid = _live_pid(store, cid)
    if pid is None:
        return
    try:
        switches.bring_up(store, sw)
        _wire_into(store, cid, pid, sw, address, ifname)
        failpoints.hit("network.veth")
        rates = info.get("bandwidth")
        if rates:
            _bandwidth().apply([veth_name(cid, sw.id)], f"corral:{store_tag(store.root)}:{cid}", (None, None),
                               (rates[0], rates[1]))
    except BaseException:
        _bandwidth().release([veth_name(cid, sw.id)])
        leases.give_back(store, cid, sw.id)
        raise
    update_hosts(store, cid, joining=True)


def disconnect(store: Store, cid: str, sw: switches.Switch, force: bool = False) -> None:
    from corral.network.netlink import Netlink

    if not leases.holds(store, sw.id, cid):
        if force:
            return
        raise NotFound(f"container {cid[:12]} is not connected to network {sw.name}")
    _refuse_running_vm(store, cid, _spec(store, cid), "disconnect from")
    live = _live_pid(store, cid) is not None
    if live:
        update_hosts(store, cid, joining=False)
    with Netlink() as nl:
        nl.delete_link(veth_name(cid, sw.id))
        nl.flush(ignore=(19,))
    _bandwidth().release([veth_name(cid, sw.id)])
    leases.give_back(store, cid, sw.id)
    if live:
        update_hosts(store, cid, joining=True)  # its own file and its remaining switches' peers


def _refuse_running_vm(store: Store, cid: str, spec: dict, verb: str) -> None:
    """A running VM's NICs are fixed when it boots (microvm has no hot-plug): a stopped one's change at its
    next start."""
    if is_vm(spec) and _live_pid(store, cid) is not None:
        raise Conflict(f"container {cid[:12]} runs in a VM (--isolation=vm): it cannot {verb} a network while it "
                       "runs; stop it first (its next start has the change)")


def _spec(store: Store, cid: str) -> dict:
    with open(os.path.join(store.container_dir(cid), "config.json")) as f:
        return json.loads(f.read())


def _live_pid(store: Store, cid: str) -> int | None:
    from corral.runtime import state

    rec = containers.get(store, cid)
    if rec is not None and rec.state == state.RUNNING and rec.pid and state.is_alive(rec.supervisor):
        return rec.pid
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


def change_bandwidth(store: Store, cid: str, old: tuple[int | None, int | None],
                     new: tuple[int | None, int | None]) -> None:
    """`update`: take a running container's interfaces from limits `old` to `new` (bits per second, None
    for none), live; a stopped container's are set at its next start, from its annotation."""
    if _live_pid(store, cid) is None:
        return
    veths = [veth_name(cid, sw.id) for sw, _, _ in leases_of(store, cid)]
    _bandwidth().apply(veths, f"corral:{store_tag(store.root)}:{cid}", old, new)


def annotate_bandwidth(spec: dict, rates: tuple[int | None, int | None]) -> None:
    """Record a container's limits in its config.json's annotation, which its next start applies."""
    info = json.loads(spec.get("annotations", {}).get(ANNOTATION) or "{}")
    if info.get("mode") != "switch":
        return
    info.pop("bandwidth", None)
    if any(rates):
        info["bandwidth"] = list(rates)
    spec["annotations"][ANNOTATION] = json.dumps(info)


# names on user-created switches -----------------------------------------------------------------------

def update_hosts(store: Store, cid: str, joining: bool) -> None:
    """Rewrite the hosts files of every running container sharing a user-created switch with `cid`
    (and cid's own when it joins), so names follow containers as they start and stop."""
    for other, status in leases.neighbours(store, cid):
        if _present(other, status, cid, joining):
            _write_hosts(store, other, cid, joining)


def _present(other: str, status: str, changing: str, joining: bool) -> bool:
    from corral.runtime import state

    if other == changing:
        return joining
    return status == state.RUNNING


def _write_hosts(store: Store, cid: str, changing: str, joining: bool) -> None:
    peers = [(ip, [name, *aliases, pid[:12]]) for pid, ip, aliases, name, status in leases.peers(store, cid)
             if _present(pid, status, changing, joining)]
    bundle = store.container_dir(cid)
    try:
        with open(os.path.join(bundle, "hosts.base")) as f:
            base = f.read()
    except OSError:
        return
    etc.rewrite_in_place(os.path.join(bundle, "hosts"), base + etc.peers_section(peers))
