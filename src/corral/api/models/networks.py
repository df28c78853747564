"""client.networks and the Network model, in docker-py's shape (docker.models.networks)."""
from __future__ import annotations

from corral.api.models import Collection, Model, check_type, refuse_unknown, wanted_filters
from corral.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.models.containers import Container


class Network(Model):
    """A switch as docker-py shows it; `attrs` is `corral network inspect`'s dict."""

    @property
    def name(self) -> str:
        return self.attrs["Name"]

    @property
    def containers(self) -> list[Container]:
        """The containers with an address on the switch, as attrs last read them."""
        return [self.client.containers.get(cid) for cid in self.attrs.get("Containers") or {}]

    def reload(self) -> None:
        self.attrs = self.client.api.network(self.id).inspect()

    def connect(self, container: str | Container, aliases: list[str] | None = None,
                ipv4_address: str | None = None, **kwargs: object) -> None:
        """Give the container an address on this switch (a running one at once)."""
        for key in ("links", "ipv6_address", "link_local_ips", "driver_opt", "mac_address"):
            if kwargs.pop(key, None):
                raise InvalidArgument(f"connect(): {key}: corral does not support it")
        refuse_unknown("connect", kwargs)
        check_type("connect", "ipv4_address", ipv4_address, str)
        self.client.api.network(self.id).connect(_container_id(container), ip=ipv4_address, aliases=aliases)

    def disconnect(self, container: str | Container, force: bool = False) -> None:
        self.client.api.network(self.id).disconnect(_container_id(container), force=force)

    def remove(self) -> None:
        self.client.api.network(self.id).remove()


class NetworkCollection(Collection):
    model = Network

    def create(self, name: str, driver: str | None = None, options: dict | None = None, ipam: dict | None = None,
               check_duplicate: bool | None = None, internal: bool = False, labels: dict | None = None,
               enable_ipv6: bool = False, attachable: bool | None = None, scope: str | None = None,
               ingress: bool | None = None) -> Network:
        """A NAT switch (driver "bridge", the only one). ipam: {"Config": [{"Subnet": ..., "Gateway": ...}]}
        or corral.types.IPAMConfig(pool_configs=[IPAMPool(subnet=..., gateway=...)]), one pool."""
        check_type("create", "name", name, str)
        check_type("create", "ipam", ipam, dict)
        if driver not in (None, "bridge"):
            raise InvalidArgument(f"create(): driver {driver!r}: corral's switches are bridges")
        for key, value in (("enable_ipv6", enable_ipv6), ("attachable", attachable), ("ingress", ingress)):
            if value:
                raise InvalidArgument(f"create(): {key}: corral does not support it")
        if scope not in (None, "local"):
            raise InvalidArgument(f"create(): scope {scope!r}: corral's switches are local")
        pools = (ipam or {}).get("Config") or []
        if (ipam or {}).get("Driver", "default") != "default" or len(pools) > 1:
            raise InvalidArgument("create(): ipam: corral takes the default driver and one pool")
        pool = pools[0] if pools else {}
        if pool.get("IPRange") or pool.get("AuxiliaryAddresses"):
            raise InvalidArgument("create(): ipam: corral does not support IPRange or AuxiliaryAddresses")
        network = self.client.api.create_network(name, subnet=pool.get("Subnet"), gateway=pool.get("Gateway"),
                                                 internal=internal, labels=labels, options=options)
        return self.prepare_model(network.inspect())  # type: ignore[return-value]

    def get(self, network_id: str, verbose: bool | None = None, scope: str | None = None) -> Network:
        check_type("get", "network_id", network_id, str)
        return self.prepare_model(self.client.api.network(network_id).inspect())  # type: ignore[return-value]

    def list(self, names: list[str] | None = None, ids: list[str] | None = None, filters: dict | None = None,
             greedy: bool = False) -> list[Network]:
        """Switches, by name or ID when given, passing `filters` as `docker network ls --filter`."""
        from corral.api import filters as listing
        wanted = wanted_filters(filters)
        for key, values in (("name", names), ("id", ids)):
            if values:
                wanted.setdefault(key, []).extend(values)
        return [self.prepare_model(n.inspect()) for n in  # type: ignore[misc]
                listing.networks(self.client.api, filters=wanted)]

    def prune(self, filters: dict | None = None) -> dict:
        """Remove every switch no container uses: {"NetworksDeleted": [names]}."""
        return {"NetworksDeleted": self.client.api.prune_networks(filters=wanted_filters(filters)) or None}


def _container_id(container: str | Container) -> str:
    return container if isinstance(container, str) else container.id
