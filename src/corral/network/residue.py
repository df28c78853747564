"""What a crash can leave of a store's networking, and putting it right (`system check` / `system prune`).

Links carry the alias corral:<store tag>:<id> and nft elements the comment
<store tag>:<id[:12]>, so this store's leftovers are found without touching
another store's: a bridge whose switch is gone, a veth or an ifb (a bandwidth limit's) whose
container is not running, an element for a removed switch or a stopped container; and, the
other way round, what a running container needs but lacks (after a reboot or
a flushed ruleset): its switch's bridge, the switch's elements, its ports, the
ifb of its outgoing bandwidth limit.
Also what a store whose directory is gone left (network.STORES_DIR says which
stores had bridges here and where they were): nothing else can remove it.
"""
from __future__ import annotations

import os

from corral.network import nft, registered, store_tag, unregister
from corral.network import switch as switches
from corral.store import containers, leases
from corral.store.root import Store


class Finding:
    """One inconsistency: what to tell the user, and how prune fixes it."""

    def __init__(self, message: str, fix) -> None:  # noqa: ANN001 - a callable taking no argument
        self.message, self.fix = message, fix


def findings(store: Store) -> list[Finding]:
    from corral.network.netlink import Netlink
    from corral.runtime import state

    tag = store_tag(store.root)
    nets = {s.id: s for s in switches.all_switches(store)}
    rows = containers.states(store)
    names = {cid: name for cid, name, _, _ in rows}
    running = {cid for cid, _, st, supervisor in rows if st == state.RUNNING and state.is_alive(supervisor)}
    found: list[Finding] = []

    with Netlink() as nl:
        links = nl.links()
    for _, name, kind, alias in links:
        parts = alias.split(":")
        if len(parts) != 3 or parts[0] != "corral" or parts[1] != tag:
            continue
        owner = parts[2]
        if kind == "bridge" and owner not in nets:
            found.append(Finding(f"network: bridge {name} of a removed switch is left", _delete_link(name)))
        elif kind in ("veth", "ifb") and owner not in running:  # an ifb shapes a bandwidth limit (bandwidth.py)
            found.append(Finding(f"network: {kind} {name} of container {owner[:12]}, which is not running, is left",
                                 _delete_link(name)))

    found += _of_removed_stores(tag, links)
    found += _of_unknown_stores(tag, links)

    if nets and not nft.skeleton_intact():
        found.append(Finding("network: the firewall table ip corral lacks some of its rules", lambda: nft.apply()))
    elements = [e for e in nft.elements() if e.comment.split(":")[0] == tag]
    ports = leases.every_port(store)
    wanted: set[nft.Element] = set()
    for sw in nets.values():
        wanted.update(sw.elements(store))
    for cid, *mapping in ports:
        if cid in running:
            wanted.update(nft.port_elements(*mapping, f"{tag}:{cid[:12]}"))
    present = set(elements)
    for e in elements:
        if e not in wanted:
            owner = e.comment.split(":")[1] if ":" in e.comment else "?"
            found.append(Finding(f"network: firewall element {e!r} of {owner}, which is gone, is left",
                                 _delete_elements([e])))
    for cid, *mapping in ports:
        if cid not in running:
            found.append(Finding(f"network: container {cid[:12]} is not running but holds host port "
                                 f"{mapping[2]}/{mapping[0]}", _release(store, cid)))
        elif not set(nft.port_elements(*mapping, f"{tag}:{cid[:12]}")) <= present:
            found.append(Finding(f"network: published port {mapping[2]}/{mapping[0]} of running container "
                                 f"{names.get(cid, cid[:12])} has no firewall rule",
                                 _add_elements(nft.port_elements(*mapping, f"{tag}:{cid[:12]}"))))
    held = leases.every(store)
    found += _lost_limits(store, [(lease.container_id, lease.network_id) for lease in held
                                  if lease.container_id in running], {name for _, name, _, _ in links})
    serving = {lease.network_id for lease in held if lease.container_id in running}
    for sw in nets.values():
        if sw.id not in serving:
            continue
        if not switches.is_up(sw):
            found.append(Finding(f"network: switch {sw.name} has running containers but no bridge {sw.bridge}",
                                 lambda sw=sw: switches.bring_up(store, sw)))
        elif not set(sw.elements(store)) <= present:
            found.append(Finding(f"network: switch {sw.name} lacks its firewall rules",
                                 _add_elements(sw.elements(store))))
    for net_id, cid, *_ in held:
        if cid not in names:
            found.append(Finding(f"network: address lease of missing container {cid[:12]}", _drop_lease(store, cid)))
        elif net_id not in nets:
            found.append(Finding(f"network: container {cid[:12]} leases an address on missing switch {net_id[:12]}",
                                 _drop_lease(store, cid, net_id)))
    return found


def _lost_limits(store: Store, attached: list[tuple[str, str]], present: set[str]) -> list[Finding]:
    """Running containers with an outgoing bandwidth limit whose ifb is gone (deleted by hand): their veth
    still redirects what they send, to nothing, so they are cut off. The fix shapes the veth afresh."""
    from corral.network.bandwidth import ifb_name
    from corral.network.endpoint import veth_name

    found = []
    limits: dict[str, tuple] = {}
    for cid, net_id in attached:
        if cid not in limits:
            rec = containers.get(store, cid)
            options = rec.options if rec is not None else {}
            limits[cid] = (options.get("network_bandwidth_in"), options.get("network_bandwidth_out"))
        veth = veth_name(cid, net_id)
        if limits[cid][1] and veth in present and ifb_name(veth) not in present:
            found.append(Finding(f"network: running container {cid[:12]} has lost the ifb of its outgoing bandwidth "
                                 "limit (what it sends goes nowhere)", _reshape(store, cid, veth, limits[cid])))
    return found


def _reshape(store: Store, cid: str, veth: str, rates: tuple):  # noqa: ANN202 - a fix
    def fix() -> None:
        from corral.network import bandwidth

        alias = f"corral:{store_tag(store.root)}:{cid}"
        bandwidth.apply([veth], alias, rates, (None, None))
        bandwidth.apply([veth], alias, (None, None), rates)
    return fix


def _of_removed_stores(own: str, links: list[tuple]) -> list[Finding]:
    """The links and firewall elements of every registered store whose root directory is gone."""
    found = []
    for tag, root in sorted(registered().items()):
        if tag == own or os.path.isdir(root):
            continue
        names = [name for _, name, _, alias in links if alias.startswith(f"corral:{tag}:")]
        elements = [e for e in nft.elements() if e.comment.split(":")[0] == tag]
        left = [f"link {name}" for name in names] + ([f"{len(elements)} firewall element(s)"] if elements else [])
        found.append(Finding(f"network: store {root}, which is gone, left {', '.join(left) or 'its record'}",
                             _reclaim(tag, names, elements)))
    return found


def _of_unknown_stores(own: str, links: list[tuple]) -> list[Finding]:
    """Firewall elements of a store no record names (its record lost, or made by an older corral) when
    every interface its elements name is gone (its bridges deleted from outside corral): no store's prune
    would ever match them otherwise. A store with an interface still present is left to itself."""
    known = set(registered()) | {own}
    present = {name for _, name, _, _ in links}
    by_tag: dict[str, list[nft.Element]] = {}
    for e in nft.elements():
        if e.comment and e.comment.split(":")[0] not in known:
            by_tag.setdefault(e.comment.split(":")[0], []).append(e)
    found = []
    for tag, elements in sorted(by_tag.items()):
        names = {w.strip('"') for e in elements for w in e.key.split(" . ") if w.startswith('"')}
        if names and not names & present:
            found.append(Finding(f"network: {len(elements)} firewall element(s) of an unknown store {tag} name only "
                                 f"interfaces that no longer exist ({', '.join(sorted(names))})",
                                 _delete_elements(elements)))
    return found


def _reclaim(tag: str, names: list[str], elements: list[nft.Element]):  # noqa: ANN202 - a fix
    def fix() -> None:
        from corral.network import HostLock
        from corral.network.netlink import Netlink

        with HostLock():
            with Netlink() as nl:
                for name in names:
                    nl.delete_link(name)
                nl.flush(ignore=(19,))
            switches.drop_table_if_unused(delete=elements)
            unregister(tag)
    return fix


def _delete_link(name: str):  # noqa: ANN202 - a fix
    def fix() -> None:
        from corral.network.netlink import Netlink

        with Netlink() as nl:
            nl.delete_link(name)
            nl.flush(ignore=(19,))
    return fix


def _delete_elements(elements: list[nft.Element]):  # noqa: ANN202 - a fix
    def fix() -> None:
        from corral.network import HostLock

        with HostLock():
            switches.drop_table_if_unused(delete=elements)
    return fix


def _add_elements(elements: list[nft.Element]):  # noqa: ANN202 - a fix
    return lambda: nft.apply(add=elements)


def _release(store: Store, cid: str):  # noqa: ANN202 - a fix
    def fix() -> None:
        from corral.network import endpoint

        endpoint.release(store, cid)
    return fix


def _drop_lease(store: Store, cid: str, net_id: str | None = None):  # noqa: ANN202 - a fix
    return lambda: leases.give_back(store, cid, net_id)


def check(store: Store) -> list[str]:
    return [f.message for f in findings(store)]


def prune(store: Store) -> list[str]:
    """Fix every finding; returns what was done."""
    done = []
    for f in findings(store):
        f.fix()
        done.append(f.message)
    return done
