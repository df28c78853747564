"""docker-py's helper types that scripts build arguments with (docker.types), as plain dicts.

Only those whose settings corral applies: an IPAM configuration for
client.networks.create, and Ulimit for containers.run/create. Each is a dict in
the Engine API's shape, as docker-py's.
"""
from __future__ import annotations


class IPAMPool(dict):
    """One address pool of a network: subnet and gateway (iprange and aux_addresses are refused
    by networks.create: corral's IPAM hands out the whole subnet)."""

    def __init__(self, subnet: str | None = None, iprange: str | None = None, gateway: str | None = None,
                 aux_addresses: dict | None = None) -> None:
        super().__init__(Subnet=subnet, IPRange=iprange, Gateway=gateway, AuxiliaryAddresses=aux_addresses)


class IPAMConfig(dict):
    """A network's IPAM configuration: the default driver and its pools."""

    def __init__(self, driver: str = "default", pool_configs: list[IPAMPool] | None = None,
                 options: dict | None = None) -> None:
        super().__init__(Driver=driver, Config=pool_configs or [], Options=options)


class Ulimit(dict):
    """A resource limit for containers.run(ulimits=[...]): name (nofile, nproc, core, ...), soft, hard."""

    def __init__(self, name: str, soft: int | None = None, hard: int | None = None) -> None:
        super().__init__(Name=name, Soft=soft, Hard=hard if hard is not None else soft)

    name = property(lambda self: self["Name"])
    soft = property(lambda self: self["Soft"])
    hard = property(lambda self: self["Hard"])
