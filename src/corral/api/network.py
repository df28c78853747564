"""Network objects: a switch a script keeps in a variable, lists containers of, connects and removes."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.container import Container
    from corral.api.host import Host
    from corral.network.switch import Switch


PREDEFINED = ("bridge", "host", "none")
"""docker's networks that always exist and cannot be removed: the default switch, the host's own
network stack (--network host) and no network at all (--network none)."""


def refuse_removal(name: str) -> None:
    from corral.errors import Conflict

    raise Conflict(f"{name} is a pre-defined network and cannot be removed")


class Network:
    driver = "bridge"

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
        if c.status == "running":  # one that is not running connects when it starts (the monitor records it)
            from corral.api import events

            events.record_network(self.host.store, "connect", self, c.id)

    def disconnect(self, container: "Container | str", *, force: bool = False) -> None:
        from corral.network import endpoint

        c = self.host.container(container) if isinstance(container, str) else container
        running = c.status == "running"
        endpoint.disconnect(self.host.store, c.id, self._switch, force)
        if running:
            from corral.api import events

            events.record_network(self.host.store, "disconnect", self, c.id)

    def remove(self) -> None:
        """Delete the switch and its bridge; refused while a container holds an address on it, and for
        the default switch, which is pre-defined as docker's (`network prune` removes it when unused)."""
        from corral.network import switch

        if self.is_default:
            refuse_removal(self.name)
        switch.remove(self.host.store, self._switch)
        from corral.api import events

        events.record_network(self.host.store, "destroy", self)

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


class ModeNetwork:
    """`host` or `none`: no switch, a network mode a container is created with, listed and inspected
    as docker shows its pre-defined networks of the host and null drivers. Its ID is stable per store."""

    internal = is_default = False
    subnet = gateway = bridge = ""

    def __init__(self, host: "Host", name: str) -> None:
        import hashlib

        self.host, self.name = host, name
        self.driver = "host" if name == "host" else "null"
        self.id = hashlib.sha256(f"{host.store.root}\0{name}".encode()).hexdigest()
        self.created, self.labels, self.options = "0001-01-01T00:00:00Z", {}, {}

    def __repr__(self) -> str:
        return f"<Network {self.short_id} {self.name}>"

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def reload(self) -> "ModeNetwork":
        return self

    @property
    def containers(self) -> list["Container"]:
        """The running containers created with this network mode."""
        return [c for c in self.host.containers() if c.options.network == self.name]

    def remove(self) -> None:
        refuse_removal(self.name)

    def connect(self, container: "Container | str", **_: object) -> None:
        from corral.errors import InvalidArgument

        raise InvalidArgument(f"container cannot be disconnected from {self.name} network or connected to "
                              f"{self.name} network: it is a mode chosen at create (--network {self.name})")

    disconnect = connect

    def inspect(self) -> dict:
        return {
            "Name": self.name, "Id": self.id, "Created": self.created, "Scope": "local", "Driver": self.driver,
            "EnableIPv4": True, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": None},
            "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": {c.id: {"Name": c.name, "EndpointID": "", "MacAddress": "", "IPv4Address": "",
                                  "IPv6Address": ""} for c in self.containers},
            "Options": {}, "Labels": {},
        }
