"""Network objects: a switch a script keeps in a variable, lists containers of, connects and removes."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.container import Container
    from corral.api.host import Host
    from corral.network.switch import Switch


class Network:
    def __init__(self, host: "Host", switch: "Switch") -> None:
        self.host = host
        self._load(switch)

    def _load(self, sw: "Switch") -> None:
        self._switch = sw
        self.id, self.name, self.subnet, self.gateway = sw.id, sw.name, sw.subnet, sw.gateway
        self.internal, self.is_default, self.bridge, self.created = sw.internal, sw.is_default, sw.bridge, sw.created
        self.labels, self.options = sw.labels, sw.options

    def __repr__(self) -> str:
        return f"<Network {self.short_id} {self.name} {self.subnet}>"

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def reload(self) -> "Network":
        from corral.network import switch

        self._load(switch.find(self.host.store, self.id))
        return self

    def endpoints(self) -> list[tuple[str, str, list[str]]]:
        """(container id, address, aliases) of every container holding an address on the switch."""
        from corral.store import leases

        return [(lease.container_id, lease.ip, lease.aliases) for lease in leases.on_network(self.host.store, self.id)]

    @property
    def containers(self) -> list["Container"]:
        return [self.host.container(cid) for cid, _, _ in self.endpoints()]

    def connect(self, container: "Container | str", *, ip: str | None = None,
                aliases: list[str] | None = None) -> None:
        """Give the container an address on this switch too (a running one gets its interface at once)."""
        from corral.network import endpoint

        c = self.host.container(container) if isinstance(container, str) else container
        endpoint.connect(self.host.store, c.id, self._switch, ip, aliases or [])

    def disconnect(self, container: "Container | str", *, force: bool = False) -> None:
        from corral.network import endpoint

        c = self.host.container(container) if isinstance(container, str) else container
        endpoint.disconnect(self.host.store, c.id, self._switch, force)

    def remove(self) -> None:
        """Delete the switch and its bridge; refused while a container holds an address on it."""
        from corral.network import switch

        switch.remove(self.host.store, self._switch)

    def inspect(self) -> dict:
        """Docker's network inspect shape."""
        prefix = self.subnet.rsplit("/", 1)[1]
        from corral.network.endpoint import veth_name
        from corral.store import leases

        names = leases.holder_names(self.host.store, self.id)

        return {
            "Name": self.name, "Id": self.id, "Created": self.created, "Scope": "local", "Driver": "bridge",
            "EnableIPv4": True, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": self.subnet, "Gateway": self.gateway}]},
            "Internal": self.internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": {cid: {"Name": names.get(cid, ""), "EndpointID": veth_name(cid, self.id),
                                 "MacAddress": "", "IPv4Address": f"{ip}/{prefix}", "IPv6Address": "",
                                 "Aliases": aliases}
                           for cid, ip, aliases in self.endpoints()},
            "Options": dict(self.options, **{"com.docker.network.bridge.name": self.bridge}),
            "Labels": self.labels,
        }
