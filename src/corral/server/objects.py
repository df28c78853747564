"""Network and volume endpoints: create, list, inspect, delete, connect/disconnect, prune."""
from __future__ import annotations

from corral.errors import InvalidArgument
from corral.server.http import Connection, Request
from corral.server.routes import route


def _neutral(value: object) -> bool:
    return value in (None, "", False, 0, [], {})


# networks ------------------------------------------------------------------------------------------------


@route("POST", "/networks/create")
def network_create(req: Request, conn: Connection, client: object) -> None:
    body = req.json()
    name = body.get("Name")
    if not name:
        raise InvalidArgument("a network name is required (Name)")
    if body.get("Driver") not in (None, "", "bridge"):
        raise InvalidArgument(f"network driver {body['Driver']!r}: corral has the bridge driver only")
    # Attachable (compose sets it) is about swarm services joining: a local switch takes any container anyway
    for key in ("EnableIPv6", "Ingress", "ConfigOnly", "ConfigFrom", "Scope"):
        if not _neutral(body.get(key)) and not (key == "Scope" and body[key] == "local"):
            raise InvalidArgument(f"network create: {key}: corral does not support it yet")
    ipam = body.get("IPAM") or {}
    configs = ipam.get("Config") or []
    if len(configs) > 1 or ipam.get("Driver") not in (None, "", "default"):
        raise InvalidArgument("network create: one IPv4 subnet of the default IPAM driver")
    config = configs[0] if configs else {}
    if config.get("IPRange") or config.get("AuxiliaryAddresses"):
        raise InvalidArgument("network create: IPRange and AuxiliaryAddresses are not supported yet")
    net = client.api.create_network(name, subnet=config.get("Subnet") or None, gateway=config.get("Gateway") or None,
                                    internal=bool(body.get("Internal")), labels=body.get("Labels") or None,
                                    options=body.get("Options") or None)
    conn.json({"Id": net.id, "Warning": ""}, 201)


@route("GET", "/networks")
def network_list(req: Request, conn: Connection, client: object) -> None:
    from corral.api import filters

    conn.json([n.inspect() for n in filters.networks(client.api, req.filters())])


@route("GET", "/networks/{id}")
def network_inspect(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    conn.json(client.api.network(id).inspect())


@route("DELETE", "/networks/{id}")
def network_remove(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    client.api.network(id).remove()
    conn.empty(204)


@route("POST", "/networks/{id}/connect")
def network_connect(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    body = req.json()
    endpoint = body.get("EndpointConfig") or {}
    if not body.get("Container"):
        raise InvalidArgument("no container given (Container)")
    client.api.network(id).connect(body["Container"], ip=(endpoint.get("IPAMConfig") or {}).get("IPv4Address"),
                                   aliases=endpoint.get("Aliases") or None)
    conn.respond(200)


@route("POST", "/networks/{id}/disconnect")
def network_disconnect(req: Request, conn: Connection, client: object, id: str) -> None:  # noqa: A002
    body = req.json()
    if not body.get("Container"):
        raise InvalidArgument("no container given (Container)")
    client.api.network(id).disconnect(body["Container"], force=bool(body.get("Force")))
    conn.respond(200)


@route("POST", "/networks/prune")
def network_prune(req: Request, conn: Connection, client: object) -> None:
    conn.json({"NetworksDeleted": client.api.prune_networks(req.filters()) or None})


# volumes -------------------------------------------------------------------------------------------------


@route("POST", "/volumes/create")
def volume_create(req: Request, conn: Connection, client: object) -> None:
    body = req.json()
    vol = client.api.create_volume(body.get("Name") or None, driver=body.get("Driver") or None,
                                   options=body.get("DriverOpts") or None, labels=body.get("Labels") or None)
    conn.json(vol.inspect(), 201)


@route("GET", "/volumes")
def volume_list(req: Request, conn: Connection, client: object) -> None:
    conn.json({"Volumes": [v.inspect() for v in client.api.volumes(req.filters())], "Warnings": []})


@route("GET", "/volumes/{name}")
def volume_inspect(req: Request, conn: Connection, client: object, name: str) -> None:
    conn.json(client.api.volume(name).inspect())


@route("DELETE", "/volumes/{name}")
def volume_remove(req: Request, conn: Connection, client: object, name: str) -> None:
    client.api.remove_volume(name, force=req.flag("force"))
    conn.empty(204)


@route("POST", "/volumes/prune")
def volume_prune(req: Request, conn: Connection, client: object) -> None:
    conn.json(client.api.prune_volumes(req.filters()))
