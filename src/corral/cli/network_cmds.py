"""Network verbs (`corral network …`) and `corral port`: thin calls into corral.api, printed as Docker does."""
from __future__ import annotations

from corral.api import Host
from corral.cli.parser import key_values
from corral.cli.shared import confirmed, each, inspect_each
from corral.errors import APIError, InvalidArgument


def create(o: dict, args: list[str]) -> int:
    if o["driver"] not in (None, "bridge"):
        raise InvalidArgument(f"driver {o['driver']!r} is not supported: corral's switches are bridges")
    n = Host().create_network(args[0], subnet=o["subnet"], gateway=o["gateway"], internal=o["internal"],
                              labels=key_values(o["label"], "--label"), options=key_values(o["opt"], "--opt"))
    print(n.id)
    return 0


def ls(o: dict, args: list[str]) -> int:
    from corral.cli import fmt

    from corral.api import filters

    nets = filters.networks(Host(), filters.parse(o["filter"]))
    if o["quiet"] and o["format"] is None:
        for n in nets:
            print(n.id if o["no_trunc"] else n.short_id)
        return 0
    rows = [fmt.Row(n.labels, ID=n.id if o["no_trunc"] else n.short_id, Name=n.name, Driver=n.driver, Scope="local",
                    IPv6="false", Internal="true" if n.internal else "false", Labels=fmt.labels(n.labels),
                    CreatedAt=fmt.go_time(n.created), Subnet=n.subnet, Gateway=n.gateway) for n in nets]
    fmt.print_rows(rows, o["format"], ("ID", "Name", "Driver", "Scope", "Subnet", "Gateway", "Internal"),
                   NETWORK_HEADERS)
    return 0


NETWORK_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
                   "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT", "Subnet": "SUBNET",
                   "Gateway": "GATEWAY"}


def inspect(o: dict, args: list[str]) -> int:
    return inspect_each(args, lambda host, ref: host.network(ref).inspect(), o["format"])


def rm(o: dict, args: list[str]) -> int:
    return each(args, lambda host, ref: host.network(ref).remove())


def prune(o: dict, args: list[str]) -> int:
    from corral.api import filters

    wanted = filters.parse(o["filter"])
    if not confirmed("WARNING! This will remove all custom networks not used by at least one container.",
                     o["force"]):
        return 0
    removed = Host().prune_networks(wanted)
    if removed:
        print("Deleted Networks:")
        for name in removed:
            print(name)
    return 0


def connect(o: dict, args: list[str]) -> int:
    host = Host()
    host.network(args[0]).connect(host.container(args[1]), ip=o["ip"], aliases=o["alias"])
    return 0


def disconnect(o: dict, args: list[str]) -> int:
    host = Host()
    host.network(args[0]).disconnect(host.container(args[1]), force=o["force"])
    return 0


def port(o: dict, args: list[str]) -> int:
    """`corral port C [PORT[/PROTO]]`: "80/tcp -> 0.0.0.0:8082" lines, or the host side of one port."""
    ports = Host().container(args[0]).ports
    if len(args) > 1:
        key = args[1] if "/" in args[1] else f"{args[1]}/tcp"
        if key not in ports:
            raise APIError(f"no public port '{key}' published for {args[0]}")
        for b in ports[key]:
            print(f"{b['HostIp']}:{b['HostPort']}")
        return 0
    for key, bindings in ports.items():
        for b in bindings:
            print(f"{key} -> {b['HostIp']}:{b['HostPort']}")
    return 0
