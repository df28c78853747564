"""Published ports (Docker's -p syntax) and IPAM (the address pool, subnet conflicts, leases): pure logic.

The host's own networks come from `ip`; here they are given, so every
conflict case is tested whatever this machine's routes are.
"""
from __future__ import annotations

import ipaddress

import pytest

from corral.errors import Conflict, InvalidArgument
from corral.network import ipam, ports

pytestmark = pytest.mark.unit


def mapping(host_ip: str, host_port: int, container_port: int, proto: str = "tcp") -> dict:
    return {"host_ip": host_ip, "host_port": host_port, "container_port": container_port, "proto": proto}


# ------------------------------------------------------------------------------------- -p


@pytest.mark.parametrize("spec, expected", [
    ("80", [mapping("", 0, 80)]),
    ("8080:80", [mapping("", 8080, 80)]),
    ("127.0.0.1:8080:80", [mapping("127.0.0.1", 8080, 80)]),
    ("127.0.0.1::80", [mapping("127.0.0.1", 0, 80)]),
    ("0.0.0.0:53:53/udp", [mapping("", 53, 53, "udp")]),
    ("53/UDP", [mapping("", 0, 53, "udp")]),
    ("8000-8001:80-81", [mapping("", 8000, 80), mapping("", 8001, 81)]),
    ("80-82", [mapping("", 0, 80), mapping("", 0, 81), mapping("", 0, 82)]),
    ("65535:1/tcp", [mapping("", 65535, 1)]),
])
def test_port_specs(spec, expected):
    assert ports.parse(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("80/sctp", "the protocol must be tcp or udp"),
    ("[::1]:80:80", "IPv4 host addresses only"),
    ("1:2:3:4", "use \\[HOSTIP:\\]"),
    ("300.1.1.1:80:80", "is not an IPv4 address"),
    ("10.1:80:80", "is not an IPv4 address"),
    ("http", "is not a port number"),
    ("0", "ports are 1 to 65535"),
    ("65536", "ports are 1 to 65535"),
    ("90-80", "ports are 1 to 65535"),
    ("8000-8002:80-81", "ranges differ in size"),
    ("8000-8001:80", "needs a container range of the same size"),
])
def test_bad_port_specs(spec, message):
    with pytest.raises(InvalidArgument, match=message):
        ports.parse(spec)


def test_publish_all_takes_every_exposed_port_in_order():
    image = {"config": {"ExposedPorts": {"80/tcp": {}, "53/udp": {}, "443": {}}}}
    assert ports.exposed(image) == [mapping("", 0, 443), mapping("", 0, 53, "udp"), mapping("", 0, 80)]
    assert ports.exposed({}) == [] and ports.exposed({"config": None}) == []


def test_describe_as_docker_port_does():
    assert ports.describe(mapping("", 8080, 80)) == "0.0.0.0:8080->80/tcp"
    assert ports.describe(mapping("127.0.0.1", 53, 53, "udp")) == "127.0.0.1:53->53/udp"


def test_a_reserved_port_is_held_until_closed():
    """The kernel decides what is in use: a second reservation of a held port is a Conflict."""
    first, second = ports.Reservation(), ports.Reservation()
    try:
        port = first.reserve(mapping("127.0.0.1", 0, 80))
        assert port > 0
        with pytest.raises(Conflict, match=f"Bind for 127.0.0.1:{port} failed: port is already allocated"):
            second.reserve(mapping("127.0.0.1", port, 80))
        assert second.sockets == []
        first.close()
        assert second.reserve(mapping("127.0.0.1", port, 80)) == port
    finally:
        first.close()
        second.close()


def test_publishing_on_an_address_the_host_lacks_is_refused():
    reservation = ports.Reservation()
    with pytest.raises(InvalidArgument, match="cannot publish on 192.0.2.1: not an address of this host"):
        reservation.reserve(mapping("192.0.2.1", 0, 80))  # TEST-NET-1: never a host's own
    assert reservation.sockets == []


# ------------------------------------------------------------------------------------- the pool


def test_the_default_pool_is_dockers(monkeypatch):
    monkeypatch.delenv(ipam.POOLS_ENV, raising=False)
    pools = ipam.pools()
    assert [str(net) for net, _ in pools[:2]] == ["172.17.0.0/16", "172.18.0.0/16"]
    assert (str(pools[-1][0]), pools[-1][1]) == ("192.168.0.0/16", 20) and len(pools) == 16


def test_the_pool_from_the_environment(monkeypatch):
    monkeypatch.setenv(ipam.POOLS_ENV, " 10.213.0.0/16:24 , 10.9.0.0/24")
    assert [(str(net), size) for net, size in ipam.pools()] == [("10.213.0.0/16", 24), ("10.9.0.0/24", 24)]


@pytest.mark.parametrize("value, message", [
    ("10.0.0.0/33", "use BASE/LEN:SIZE"), ("10.0.0.0/16:x", "use BASE/LEN:SIZE"),
    ("10.0.0.0/16:8", "SIZE must be between 16 and 30"), ("10.0.0.0/16:31", "SIZE must be between 16 and 30"),
])
def test_bad_pools(monkeypatch, value, message):
    monkeypatch.setenv(ipam.POOLS_ENV, value)
    with pytest.raises(InvalidArgument, match=message):
        ipam.pools()


def test_subnets_and_gateways():
    net = ipam.parse_subnet("192.168.250.0/24")
    assert str(net) == "192.168.250.0/24"
    assert ipam.gateway_for(net, None) == "192.168.250.1"
    assert ipam.gateway_for(net, "192.168.250.254") == "192.168.250.254"
    with pytest.raises(InvalidArgument, match="the network address of that range is 192.168.250.0/24"):
        ipam.parse_subnet("192.168.250.7/24")
    with pytest.raises(InvalidArgument, match="too small"):
        ipam.parse_subnet("10.0.0.0/31")
    with pytest.raises(InvalidArgument, match="give an IPv4 CIDR"):
        ipam.parse_subnet("fd00::/64")
    for bad in ("192.168.250.0", "192.168.250.255", "10.0.0.1"):
        with pytest.raises(InvalidArgument, match="is not a usable address"):
            ipam.gateway_for(net, bad)
    with pytest.raises(InvalidArgument, match="give an IPv4 address"):
        ipam.gateway_for(net, "gw")


HOST = [(ipaddress.IPv4Network("172.17.0.0/16"), "interface docker0 (address 172.17.0.1/16)"),
        (ipaddress.IPv4Network("10.0.0.0/8"), "route 10.0.0.0/8 via 192.168.1.1 dev eth0")]


def test_a_subnet_overlapping_the_host_or_a_switch_is_refused_naming_it(monkeypatch):
    monkeypatch.setattr(ipam, "host_networks", lambda: list(HOST))
    with pytest.raises(Conflict, match="subnet 10.5.0.0/24 overlaps route 10.0.0.0/8 via 192.168.1.1 dev eth0"):
        ipam.check_free(ipaddress.IPv4Network("10.5.0.0/24"), [])
    with pytest.raises(Conflict, match=r"overlaps switch lab \(192.168.250.0/24\)"):
        ipam.check_free(ipaddress.IPv4Network("192.168.250.128/25"), [("lab", "192.168.250.0/24")])
    ipam.check_free(ipaddress.IPv4Network("192.168.251.0/24"), [("lab", "192.168.250.0/24")])


def test_the_first_free_range_of_the_pool_is_chosen(monkeypatch):
    monkeypatch.setattr(ipam, "host_networks", lambda: list(HOST))
    monkeypatch.delenv(ipam.POOLS_ENV, raising=False)
    assert str(ipam.choose_free([("a", "172.18.0.0/16")])) == "172.19.0.0/16"
    monkeypatch.setenv(ipam.POOLS_ENV, "10.0.0.0/8:24,172.16.0.0/12:16")
    assert str(ipam.choose_free([])) == "172.16.0.0/16"
    monkeypatch.setenv(ipam.POOLS_ENV, "10.1.0.0/16:24")
    with pytest.raises(Conflict, match="every range of the address pool overlaps"):
        ipam.choose_free([])


# ------------------------------------------------------------------------------------- leases


class Leases:
    """One switch 10.9.0.0/29 (addresses .1 to .6, gateway .1) as store/leases.take keeps it: the
    addresses in use and the cursor, with ipam.choose picking each address."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.cursor = 0


@pytest.fixture
def leases() -> Leases:
    return Leases()


def allocate(switch: Leases, cid: str = "c", requested: str | None = None) -> str:
    ip, cursor = ipam.choose("10.9.0.0/29", "10.9.0.1", switch.cursor, switch.used, requested)
    switch.used.add(ip)
    if cursor is not None:
        switch.cursor = cursor
    return ip


def test_addresses_are_handed_out_in_turn_skipping_the_gateway_until_none_is_left(leases):
    assert [allocate(leases) for _ in range(5)] == [f"10.9.0.{i}" for i in range(2, 7)]
    with pytest.raises(Conflict, match="no free address left in subnet 10.9.0.0/29"):
        allocate(leases)


def test_a_freed_address_is_not_reused_at_once(leases):
    """Other containers' ARP caches may still point at its last holder."""
    first, second = allocate(leases), allocate(leases)
    leases.used.discard(first)
    assert allocate(leases) == "10.9.0.4" and second == "10.9.0.3"
    for _ in range(2):
        allocate(leases)
    assert allocate(leases) == first  # the cursor wrapped around


def test_a_requested_address(leases):
    assert allocate(leases, requested="10.9.0.5") == "10.9.0.5"
    with pytest.raises(Conflict, match="already in use"):
        allocate(leases, requested="10.9.0.5")
    with pytest.raises(Conflict, match="is the switch's gateway"):
        allocate(leases, requested="10.9.0.1")
    for outside in ("10.9.0.0", "10.9.0.7", "10.9.1.2"):
        with pytest.raises(InvalidArgument, match="is not a usable address of the switch's subnet"):
            allocate(leases, requested=outside)
    for bad in ("10.9.0", "10.9.0.300", "host"):
        with pytest.raises(InvalidArgument, match="give an IPv4 address"):
            allocate(leases, requested=bad)
    assert allocate(leases) == "10.9.0.2", "a requested address does not move the cursor"
