"""Network verbs (`corral network …`) and `corral port`: thin calls into corral.api, printed as Docker does."""
from __future__ import annotations

import sys

from corral.api import Host
from corral.cli.parser import Command, Opt, key_values, parse
from corral.cli.shared import each
from corral.errors import CorralError, InvalidArgument

_SUB = {c.name: c for c in [
    Command("create", "create", "network create [OPTIONS] NAME", "Create a switch.",
            [Opt(("--subnet",), "subnet", "value", "subnet in CIDR form (default: a free range of the pool)", "CIDR"),
             Opt(("--gateway",), "gateway", "value", "the bridge's address (default: the subnet's first)", "IP"),
             Opt(("--internal",), "internal", "flag", "no outbound traffic: containers reach only each other"),
             Opt(("-d", "--driver"), "driver", "value", "bridge (the only driver)", "DRIVER"),
             Opt(("-o", "--opt"), "opt", "multi", "driver option (recorded)", "K=V"),
             Opt(("--label",), "label", "multi", "set a label", "K=V")], min_args=1, max_args=1),
    Command("ls", "ls", "network ls [OPTIONS]", "List switches.",
            [Opt(("-q", "--quiet"), "quiet", "flag", "only IDs"),
             Opt(("--no-trunc",), "no_trunc", "flag", "full IDs")], max_args=0),
    Command("inspect", "inspect", "network inspect NETWORK [NETWORK...]", "Show switches as JSON.", min_args=1),
    Command("rm", "rm", "network rm NETWORK [NETWORK...]", "Remove switches.", min_args=1),
    Command("prune", "prune", "network prune [OPTIONS]", "Remove every switch no container uses.",
            [Opt(("-f", "--force"), "force", "flag", "do not prompt (corral never does)")], max_args=0),
    Command("connect", "connect", "network connect [OPTIONS] NETWORK CONTAINER", "Connect a container to a switch.",
            [Opt(("--ip",), "ip", "value", "the container's address on the switch", "IP"),
             Opt(("--alias",), "alias", "multi", "another name on the switch", "NAME")], min_args=2, max_args=2),
    Command("disconnect", "disconnect", "network disconnect [OPTIONS] NETWORK CONTAINER",
            "Disconnect a container from a switch.",
            [Opt(("-f", "--force"), "force", "flag", "no error when it is not connected")], min_args=2, max_args=2),
]}
_SUB["list"] = _SUB["ls"]
_SUB["remove"] = _SUB["rm"]


def network(o: dict, args: list[str]) -> int:
    from corral.cli.parser import help_text

    cmd = _SUB.get(args[0])
    if cmd is None:
        raise InvalidArgument(f"unknown network command {args[0]!r}: use create, ls, inspect, rm, prune, "
                              "connect or disconnect")
    if "--help" in args[1:]:
        print(help_text(cmd))
        return 0
    opts, rest = parse(cmd, args[1:])
    return globals()["_" + cmd.handler](opts, rest)


def _create(o: dict, args: list[str]) -> int:
    if o["driver"] not in (None, "bridge"):
        raise InvalidArgument(f"driver {o['driver']!r} is not supported: corral's switches are bridges")
    n = Host().create_network(args[0], subnet=o["subnet"], gateway=o["gateway"], internal=o["internal"],
                              labels=key_values(o["label"], "--label"), options=key_values(o["opt"], "--opt"))
    print(n.id)
    return 0


def _ls(o: dict, args: list[str]) -> int:
    from corral.cli import fmt

    nets = Host().networks()
    if o["quiet"]:
        for n in nets:
            print(n.id if o["no_trunc"] else n.short_id)
        return 0
    rows = [("NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET", "GATEWAY", "INTERNAL")]
    for n in nets:
        rows.append((n.id if o["no_trunc"] else n.short_id, n.name, "bridge", "local", n.subnet, n.gateway,
                     "yes" if n.internal else ""))
    print(fmt.table(rows))
    return 0


def _inspect(o: dict, args: list[str]) -> int:
    import json

    host = Host()
    found, status = [], 0
    for ref in args:
        try:
            found.append(host.network(ref).inspect())
        except CorralError as e:
            print(f"Error: {e}", file=sys.stderr)
            status = 1
    print(json.dumps(found, indent=4))
    return status


def _rm(o: dict, args: list[str]) -> int:
    return each(args, lambda host, ref: host.network(ref).remove())


def _prune(o: dict, args: list[str]) -> int:
    removed = Host().prune_networks()
    if removed:
        print("Deleted Networks:")
        for name in removed:
            print(name)
    return 0


def _connect(o: dict, args: list[str]) -> int:
    host = Host()
    host.network(args[0]).connect(host.container(args[1]), ip=o["ip"], aliases=o["alias"])
    return 0


def _disconnect(o: dict, args: list[str]) -> int:
    host = Host()
    host.network(args[0]).disconnect(host.container(args[1]), force=o["force"])
    return 0


def port(o: dict, args: list[str]) -> int:
    """`corral port C [PORT[/PROTO]]`: "80/tcp -> 0.0.0.0:8082" lines, or the host side of one port."""
    ports = Host().container(args[0]).ports
    if len(args) > 1:
        key = args[1] if "/" in args[1] else f"{args[1]}/tcp"
        if key not in ports:
            raise CorralError(f"no public port '{key}' published for {args[0]}")
        for b in ports[key]:
            print(f"{b['HostIp']}:{b['HostPort']}")
        return 0
    for key, bindings in ports.items():
        for b in bindings:
            print(f"{key} -> {b['HostIp']}:{b['HostPort']}")
    return 0
