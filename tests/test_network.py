"""NAT switches, published ports, firewall rules, names and subnet conflicts (SCENARIOS story 6, issue 5).

Real bridges, veths and nft rules on this host. Traffic goes only to
127.0.0.0/8 and to addresses of the containers, bridges and namespaces a
test made; every test takes its own /24s in 10.213.0.0/16 (checked against
the host's addresses and routes first) and its own names, and the store
fixture checks that no link or firewall element of the store is left.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import SRC, network_residue

sys.path.insert(0, SRC)


# helpers ----------------------------------------------------------------------------------------------

def _host_networks() -> list[str]:
    import ipaddress

    nets = []
    for iface in json.loads(subprocess.run(["ip", "-4", "-j", "addr"], capture_output=True).stdout):
        nets += [f"{a['local']}/{a['prefixlen']}" for a in iface.get("addr_info", [])]
    for r in json.loads(subprocess.run(["ip", "-4", "-j", "route", "show", "table", "all"],
                                       capture_output=True).stdout):
        if r.get("dst") not in (None, "default") and r.get("type", "unicast") == "unicast":
            nets.append(r["dst"])
    return [str(ipaddress.IPv4Network(n, strict=False)) for n in nets]


def subnet(third: int) -> str:
    """10.213.<third>.0/24, after checking the host is on no part of it."""
    import ipaddress

    net = ipaddress.IPv4Network(f"10.213.{third}.0/24")
    for other in _host_networks():
        if net.overlaps(ipaddress.IPv4Network(other)):
            pytest.skip(f"the host already uses {other}, which overlaps the test's {net}")
    return str(net)


def use_pool(cli, third: int, count: int = 1) -> None:
    """The default switch of this store comes from 10.213.<third>.0/24 (or the next `count` /24s)."""
    for i in range(count):
        subnet(third + i)
    cli.env["CORRAL_NETWORK_POOLS"] = f"10.213.{third}.0/24:24" if count == 1 else \
        ",".join(f"10.213.{third + i}.0/24:24" for i in range(count))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 3) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except OSError:
        return True


WEB = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"


def web(cli, name: str, text: str, *flags: str) -> str:
    return cli.out("run", "-d", "--name", name, *flags, "busybox", "sh", "-c", WEB.format(text=text)).strip()


def get_in(cli, container: str, host: str, port: int = 80) -> str:
    """An HTTP GET from inside a container with busybox nc (its wget crashes on numeric addresses)."""
    r = cli("exec", container, "sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} {port}")
    return r.stdout.decode()


def ip_of(cli, container: str, network: str | None = None) -> str:
    nets = json.loads(cli.out("inspect", container))[0]["NetworkSettings"]["Networks"]
    return nets[network]["IPAddress"] if network else next(iter(nets.values()))["IPAddress"]


class Lan:
    """A network namespace playing another machine on the host's LAN: a veth pair, host end `host_ip`,
    its own end `ip`; held by a `sleep` process (no /run/netns entry to leave behind)."""

    def __init__(self, name: str, third: int) -> None:
        subnet(third)
        self.host_ip, self.ip, self.name = f"10.213.{third}.1", f"10.213.{third}.2", name
        self.proc = subprocess.Popen(["unshare", "--net", "sleep", "600"])
        self.pid = self.proc.pid
        for _ in range(100):
            if os.readlink(f"/proc/{self.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.01)
        sh(f"ip link add {name} type veth peer name eth0 netns {self.pid}")
        sh(f"ip addr add {self.host_ip}/24 dev {name}", f"ip link set {name} up")
        self.run(f"ip addr add {self.ip}/24 dev eth0", "ip link set eth0 up", "ip link set lo up")

    def run(self, *commands: str, check: bool = True) -> subprocess.CompletedProcess:
        result = None
        for c in commands:
            result = subprocess.run(["nsenter", "-t", str(self.pid), "-n", "sh", "-c", c], capture_output=True,
                                    timeout=30)
            if check and result.returncode != 0:
                raise AssertionError(f"{c}: {result.stderr.decode()}")
        return result

    def get(self, host: str, port: int) -> str:
        code = f"import urllib.request; print(urllib.request.urlopen('http://{host}:{port}/', timeout=3).read().decode(), end='')"
        return self.run(f"{sys.executable} -c \"{code}\"", check=False).stdout.decode()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        subprocess.run(["ip", "link", "del", self.name], capture_output=True)


def sh(*commands: str) -> None:
    for c in commands:
        subprocess.run(c.split(), check=True, capture_output=True)


@pytest.fixture
def lan():
    made: list[Lan] = []

    def make(name: str, third: int) -> Lan:
        made.append(Lan(name, third))
        return made[-1]
    yield make
    for lan_ in made:
        lan_.close()


@pytest.fixture
def scratch_links():
    """Host links a test makes itself (a fake LAN interface, a route), removed whatever happens."""
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


# story 6: the scenario ---------------------------------------------------------------------------------

def test_two_web_services_on_published_ports(busybox, lan):
    """Two identical web services on one switch, each on its own host port: reachable through 127.0.0.1
    and, from another machine on the LAN, through the host's address; gone after rm."""
    net = subnet(11)
    busybox.out("network", "create", "--subnet", net, "lab11")
    p1, p2 = free_port(), free_port()
    web(busybox, "dev11", "dev-site", "--network", "lab11", "-p", f"{p1}:80")
    web(busybox, "test11", "test-site", "--network", "lab11", "-p", f"{p2}:80")
    assert http_get(f"http://127.0.0.1:{p1}/") == "dev-site\n"
    assert http_get(f"http://127.0.0.1:{p2}/") == "test-site\n"
    other = lan("crt-lan11", 12)
    assert other.get(other.host_ip, p1) == "dev-site\n"
    assert other.get(other.host_ip, p2) == "test-site\n"
    assert other.get(ip_of(busybox, "dev11"), 80) == ""  # the LAN reaches published ports only
    assert busybox.out("port", "dev11") == f"80/tcp -> 0.0.0.0:{p1}\n"
    assert busybox.out("port", "test11", "80") == f"0.0.0.0:{p2}\n"
    assert f"0.0.0.0:{p1}->80/tcp" in busybox.out("ps")
    ports = json.loads(busybox.out("inspect", "dev11"))[0]["NetworkSettings"]["Ports"]
    assert ports == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(p1)}]}
    busybox.out("rm", "-f", "dev11", "test11")
    assert refused("127.0.0.1", p1) and refused("127.0.0.1", p2)
    assert other.get(other.host_ip, p1) == ""
    busybox.out("network", "rm", "lab11")
    assert network_residue(busybox.root) == []
    assert busybox("system", "check").returncode == 0


def test_default_switch_made_on_first_use_and_plain_run_has_no_network(busybox):
    use_pool(busybox, 13)
    assert busybox.out("run", "--rm", "busybox", "cat", "/sys/class/net/lo/operstate")
    out = busybox.out("run", "--rm", "busybox", "ls", "/sys/class/net")
    assert out.split() == ["lo"]
    listed = [line.split()[1:3] for line in busybox.out("network", "ls").splitlines()[1:]]
    assert listed == [["bridge", "bridge"], ["host", "host"], ["none", "null"]]  # docker's pre-defined three
    assert network_residue(busybox.root) == []  # listed, the default switch has no bridge on the host yet
    port = free_port()
    out = busybox.out("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
    assert "10.213.13." in out
    listed = busybox.out("network", "ls")
    assert "bridge" in listed and "10.213.13.0/24" in listed
    info = json.loads(busybox.out("network", "inspect", "bridge"))[0]
    assert info["IPAM"]["Config"] == [{"Subnet": "10.213.13.0/24", "Gateway": "10.213.13.1"}]
    assert busybox.out("network", "prune", "-f") == "Deleted Networks:\nbridge\n"


# subnets -------------------------------------------------------------------------------------------------

def test_subnet_overlapping_the_host_is_refused_naming_the_conflict(busybox, scratch_links):
    taken, routed = subnet(14), subnet(16)
    subnet(15)
    scratch_links.append("crt-lan14")
    sh("ip link add crt-lan14 type bridge", "ip addr add 10.213.14.1/24 dev crt-lan14", "ip link set crt-lan14 up",
       f"ip route add {routed} dev crt-lan14")
    r = busybox("network", "create", "--subnet", taken, "clash14")
    assert r.returncode == 1
    assert r.stderr.decode().count("\n") == 1
    assert "interface crt-lan14" in r.stderr.decode() and "10.213.14.1/24" in r.stderr.decode()
    r = busybox("network", "create", "--subnet", "10.213.16.0/25", "clash16")
    assert r.returncode == 1 and "route 10.213.16.0/24 dev crt-lan14" in r.stderr.decode()
    r = busybox("network", "create", "--subnet", "10.213.0.0/16", "wide")
    assert r.returncode == 1 and "crt-lan14" in r.stderr.decode()
    # with no subnet, the pool's first free range: 14 and 16 are taken, so 15
    busybox.env["CORRAL_NETWORK_POOLS"] = "10.213.14.0/23:24,10.213.16.0/24:24"
    busybox.out("network", "create", "auto15")
    assert json.loads(busybox.out("network", "inspect", "auto15"))[0]["IPAM"]["Config"][0]["Subnet"] == \
        "10.213.15.0/24"
    r = busybox("network", "create", "--subnet", "10.213.15.128/25", "clash15")
    assert r.returncode == 1 and "switch auto15 (10.213.15.0/24)" in r.stderr.decode()
    r = busybox("network", "create", "again")
    assert r.returncode == 1 and "every range of the address pool" in r.stderr.decode()
    sh("ip link del crt-lan14")  # first: a bridge not corral's keeps corral from turning IP forwarding off
    busybox.out("network", "rm", "auto15")


def test_network_commands_and_errors(busybox):
    net = subnet(17)
    nid = busybox.out("network", "create", "--subnet", net, "--gateway", "10.213.17.254", "--internal",
                      "--label", "team=a", "net17").strip()
    assert len(nid) == 64
    info = json.loads(busybox.out("network", "inspect", nid[:8]))[0]
    assert info["Name"] == "net17" and info["Internal"] and info["Labels"] == {"team": "a"}
    assert info["IPAM"]["Config"] == [{"Subnet": net, "Gateway": "10.213.17.254"}]
    assert busybox("network", "create", "--subnet", net, "net17").returncode == 1  # the name is taken
    for bad, message in ((["--subnet", "10.213.17.5/24"], "network address"), (["--subnet", "nonsense"], "invalid"),
                         (["--gateway", "10.0.0.1"], "--gateway needs --subnet")):
        r = busybox("network", "create", *bad, "bad17")
        assert r.returncode == 1 and message in r.stderr.decode(), r.stderr
    assert b"reserved" in busybox("network", "create", "host").stderr
    assert b"invalid network name" in busybox("network", "create", "bad/name").stderr
    busybox.out("create", "--name", "c17", "--network", "net17", "--ip", "10.213.17.9", "busybox", "true")
    assert ip_of(busybox, "c17") == "10.213.17.9"
    r = busybox("create", "--network", "net17", "--ip", "10.213.17.9", "busybox", "true")
    assert r.returncode == 125 and b"already in use" in r.stderr
    r = busybox("create", "--network", "net17", "--ip", "10.213.18.9", "busybox", "true")
    assert r.returncode == 125 and b"not a usable address" in r.stderr
    r = busybox("network", "rm", "net17")
    assert r.returncode == 1 and b"active endpoints" in r.stderr
    assert busybox.out("network", "prune", "-f") == ""
    busybox.out("rm", "c17")
    assert busybox.out("network", "rm", "net17") == "net17\n"
    assert busybox("network", "inspect", "net17").returncode == 1
    assert busybox("run", "--rm", "--network", "nosuch", "busybox", "true").returncode == 125
    r = busybox("run", "--rm", "--network", "none", "-p", "80", "busybox", "true")
    assert r.returncode == 125 and b"conflicting options" in r.stderr


# addresses -------------------------------------------------------------------------------------------------

def test_leases_never_handed_out_twice_under_parallel_runs(busybox):
    """20 `run`s at once on a store without a switch: one default switch is made, 20 distinct addresses."""
    use_pool(busybox, 18)

    def run(i: int) -> str:
        return busybox.out("run", "-d", "--name", f"p18-{i}", "--network", "bridge", "busybox", "sleep", "60").strip()

    with ThreadPoolExecutor(20) as pool:
        ids = list(pool.map(run, range(20)))
    assert busybox.out("network", "ls", "-q").count("\n") == 3  # one default switch, and host and none
    addresses = [ip_of(busybox, cid) for cid in ids]
    assert len(set(addresses)) == 20 and all(a.startswith("10.213.18.") for a in addresses)
    inside = busybox.out("exec", ids[0], "ip", "-4", "-o", "addr", "show", "eth0")
    assert f"{addresses[0]}/24" in inside
    assert "0% packet loss" in busybox.out("exec", ids[1], "ping", "-c", "1", "-W", "2", addresses[2])
    busybox.out("rm", "-f", *ids)
    assert json.loads(busybox.out("network", "inspect", "bridge"))[0]["Containers"] == {}
    assert busybox.out("network", "prune", "-f") == "Deleted Networks:\nbridge\n"  # pre-defined: prune, not rm


# the firewall ----------------------------------------------------------------------------------------------

def test_switches_are_isolated_nat_goes_out_internal_does_not(busybox, lan):
    busybox.out("network", "create", "--subnet", subnet(19), "a19")
    busybox.out("network", "create", "--subnet", subnet(20), "b20")
    busybox.out("network", "create", "--subnet", subnet(21), "--internal", "i21")
    web(busybox, "wa", "on-a", "--network", "a19")
    web(busybox, "wa2", "on-a-too", "--network", "a19")
    busybox.out("run", "-d", "--name", "wb", "--network", "b20", "busybox", "sleep", "60")
    busybox.out("run", "-d", "--name", "wi", "--network", "i21", "busybox", "sleep", "60")
    a_ip = ip_of(busybox, "wa")
    assert "on-a" in get_in(busybox, "wa2", a_ip)  # same switch: reachable
    assert get_in(busybox, "wb", a_ip) == ""  # another switch: dropped
    # outbound: a "LAN" server sees a NAT switch's container as the host's address
    other = lan("crt-lan22", 22)
    other.proc2 = subprocess.Popen(["nsenter", "-t", str(other.pid), "-n", sys.executable, "-c", (
        "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        "s.bind(('0.0.0.0', 7022)); s.listen()\n"
        "while True:\n c, a = s.accept(); c.sendall(a[0].encode() + b'\\n'); c.close()")])
    try:
        deadline = time.monotonic() + 5
        seen = ""
        while time.monotonic() < deadline and not seen:
            seen = busybox("exec", "wb", "nc", "-w", "2", other.ip, "7022").stdout.decode().strip()
        assert seen == other.host_ip  # masqueraded
        assert busybox("exec", "wi", "nc", "-w", "2", other.ip, "7022").stdout == b""  # internal: nowhere
    finally:
        other.proc2.kill()
        other.proc2.wait()
    busybox.out("rm", "-f", "wa", "wa2", "wb", "wi")
    busybox.out("network", "rm", "a19", "b20", "i21")


_SYN_PROBE = r"""
import random, socket, struct, sys, time
src_ip, dst_ip, dst_mac, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def checksum(data):
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


sport = random.randint(40000, 60000)
tcp = struct.pack("!HHIIBBHHH", sport, port, 1, 0, 5 << 4, 0x02, 64240, 0, 0)
pseudo = socket.inet_aton(src_ip) + socket.inet_aton(dst_ip) + struct.pack("!BBH", 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                 socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
src_mac = open("/sys/class/net/eth0/address").read().strip()
frame = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + b"\x08\x00" + ip + tcp
rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
rx.bind(("eth0", 0))
rx.settimeout(0.2)
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
tx.bind(("eth0", 0))
tx.send(frame)
deadline = time.monotonic() + 2
answer = "none"
while time.monotonic() < deadline and answer == "none":
    try:
        packet = rx.recv(65535)[14:]
    except socket.timeout:
        continue
    head = (packet[0] & 15) * 4
    if packet[9] == 6 and struct.unpack("!HH", packet[head:head + 4]) == (port, sport) \
            and packet[head + 13] & 0x12 == 0x12:
        answer = "syn-ack"
print(answer)
"""


def _syn_from(pid: int, src_ip: str, dst_ip: str, dst_mac: str, port: int) -> str:
    """Send a hand-made TCP SYN from a container's network namespace straight to `dst_mac` (as a
    process with CAP_NET_RAW, in Docker's default set, can); "syn-ack" if an answer comes back."""
    r = subprocess.run(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", _SYN_PROBE, src_ip, dst_ip, dst_mac,
                        str(port)], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def test_a_container_cannot_reach_the_hosts_loopback_services(busybox):
    """route_localnet on a bridge (so the host reaches published ports through 127.0.0.1) would also
    take in a packet a container addresses to 127.0.0.1 by the bridge's MAC (CVE-2020-8558): a host
    service listening only on loopback would answer. The raw chain drops such packets; the same
    hand-made SYN to the bridge's own address is answered, so the probe can see an answer."""
    gateway = subnet(40).replace(".0/24", ".1")
    busybox.out("network", "create", "--subnet", subnet(40), "lab40")
    busybox.out("run", "-d", "--name", "probe40", "--network", "lab40", "busybox", "sleep", "300")
    pid = json.loads(busybox.out("inspect", "probe40"))[0]["State"]["Pid"]
    links = json.loads(subprocess.run(["ip", "-4", "-j", "addr"], capture_output=True).stdout)
    bridge = next(i["ifname"] for i in links if any(a["local"] == gateway for a in i.get("addr_info", [])))
    with open(f"/sys/class/net/{bridge}/address") as f:
        mac = f.read().strip()
    with open(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet") as f:
        assert f.read().strip() == "1"  # what makes the drop necessary
    loopback, reachable = socket.socket(), socket.socket()
    try:
        loopback.bind(("127.0.0.1", 0))
        reachable.bind((gateway, 0))
        for s in (loopback, reachable):
            s.listen()
        container_ip = ip_of(busybox, "probe40")
        assert _syn_from(pid, container_ip, gateway, mac, reachable.getsockname()[1]) == "syn-ack"
        assert _syn_from(pid, container_ip, "127.0.0.1", mac, loopback.getsockname()[1]) == "none"
    finally:
        loopback.close()
        reachable.close()
    busybox.out("rm", "-f", "probe40")
    busybox.out("network", "rm", "lab40")


def test_port_in_use_is_refused_before_the_container_starts(busybox):
    use_pool(busybox, 23)
    port = free_port()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
        r = busybox("run", "--name", "late", "-p", f"{port}:80", "busybox", "sh", "-c", "echo started")
        assert r.returncode == 125 and f"{port} failed: port is already allocated".encode() in r.stderr
        assert b"started" not in r.stdout and busybox.out("logs", "late") == ""
        r = busybox("run", "--rm", "-p", f"{port}:80", "busybox", "true")
        assert r.returncode == 125
    busybox.out("rm", "late")
    web(busybox, "first", "first", "-p", f"{port}:80")
    r = busybox("run", "--rm", "-p", f"{port}:80/tcp", "busybox", "true")
    assert r.returncode == 125 and b"port is already allocated" in r.stderr
    busybox.out("run", "--rm", "-p", f"{port}:80/udp", "busybox", "true")  # another protocol: free
    assert http_get(f"http://127.0.0.1:{port}/") == "first\n"
    busybox.out("rm", "-f", "first")


def test_free_host_port_publish_all_and_udp(busybox):
    use_pool(busybox, 24)
    busybox.out("run", "--name", "exp", "busybox", "true")
    busybox.out("commit", "-c", "EXPOSE 80", "-c", "EXPOSE 81/udp", "exp", "exposed:1")
    busybox.out("rm", "exp")
    busybox.out("run", "-d", "--name", "pa", "-P", "exposed:1", "sh", "-c", WEB.format(text="all"))
    ports = json.loads(busybox.out("inspect", "pa"))[0]["NetworkSettings"]["Ports"]
    assert set(ports) == {"80/tcp", "81/udp"}
    tcp = int(ports["80/tcp"][0]["HostPort"])
    assert tcp > 1024 and http_get(f"http://127.0.0.1:{tcp}/") == "all\n"
    # UDP: busybox has no UDP server, but the container's kernel counts datagrams to a closed port
    udp = int(ports["81/udp"][0]["HostPort"])

    def no_ports() -> int:
        snmp = busybox.out("exec", "pa", "cat", "/proc/net/snmp").splitlines()
        names, values = [line.split()[1:] for line in snmp if line.startswith("Udp:")][:2]
        return int(values[names.index("NoPorts")])

    before = no_ports()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(3):
            s.sendto(b"ping", ("127.0.0.1", udp))
    assert no_ports() == before + 3
    busybox.out("rm", "-f", "pa")
    out = busybox.out("run", "-d", "--name", "one", "-p", "127.0.0.1::80", "busybox", "sh", "-c",
                      WEB.format(text="loopback-only"))
    assert out
    host_port = busybox.out("port", "one", "80/tcp").strip()
    assert host_port.startswith("127.0.0.1:")
    assert http_get(f"http://{host_port}/") == "loopback-only\n"
    busybox.out("rm", "-f", "one")


# /etc files and names ---------------------------------------------------------------------------------------

def test_hosts_resolv_and_network_modes(busybox):
    net = subnet(25)
    busybox.out("network", "create", "--subnet", net, "n25")
    out = busybox.out("run", "--rm", "--network", "n25", "--ip", "10.213.25.50", "--hostname", "box25",
                      "--dns", "10.213.25.53", "--dns-search", "corp.example", "--add-host", "db.local:10.213.25.7",
                      "--add-host", "gw:host-gateway", "busybox", "sh", "-c",
                      "cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; hostname")
    hosts, resolv, hostname = out.split("---\n")
    assert "10.213.25.50\tbox25" in hosts and "10.213.25.7\tdb.local" in hosts and "10.213.25.1\tgw" in hosts
    assert "127.0.0.1\tlocalhost" in hosts
    assert resolv == "nameserver 10.213.25.53\nsearch corp.example\n"
    assert hostname == "box25\n"
    out = busybox.out("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
    assert set(out.split()) == set(os.listdir("/sys/class/net"))
    busybox.out("run", "-d", "--name", "owner25", "--network", "n25", "busybox", "sleep", "60")
    out = busybox.out("run", "--rm", "--network", "container:owner25", "busybox", "ip", "-4", "-o", "addr", "show",
                      "eth0")
    assert ip_of(busybox, "owner25") + "/24" in out
    busybox.out("rm", "-f", "owner25")
    r = busybox("run", "--rm", "--network", "container:nosuch", "busybox", "true")
    assert r.returncode == 125 and b"No such container" in r.stderr
    busybox.out("network", "rm", "n25")


def _resolve(cli, container: str, name: str) -> str | None:
    """The address `name` resolves to inside `container` (busybox ping prints it), or None."""
    out = cli("exec", container, "ping", "-c", "1", "-W", "1", name).stdout.decode()
    if not out.startswith("PING"):
        return None
    return out.split("(", 1)[1].split(")", 1)[0]


def test_names_and_aliases_follow_containers_on_user_switches(busybox):
    busybox.out("network", "create", "--subnet", subnet(26), "n26")
    busybox.out("run", "-d", "--name", "db26", "--network", "n26", "--network-alias", "database", "busybox",
                "sleep", "60")
    busybox.out("run", "-d", "--name", "app26", "--network", "n26", "busybox", "sleep", "60")
    db = ip_of(busybox, "db26")
    assert _resolve(busybox, "app26", "db26") == db
    assert _resolve(busybox, "app26", "database") == db
    assert _resolve(busybox, "db26", "app26") == ip_of(busybox, "app26")  # the earlier one learnt the later
    busybox.out("stop", "-t", "0", "db26")
    assert _resolve(busybox, "app26", "db26") is None
    busybox.out("start", "db26")
    assert _resolve(busybox, "app26", "database") == db
    busybox.out("rm", "-f", "db26")
    assert _resolve(busybox, "app26", "db26") is None
    # the default switch has no names, as in Docker
    use_pool(busybox, 27)
    busybox.out("run", "-d", "--name", "d27", "--network", "bridge", "busybox", "sleep", "60")
    busybox.out("run", "-d", "--name", "e27", "--network", "bridge", "busybox", "sleep", "60")
    assert _resolve(busybox, "e27", "d27") is None
    r = busybox("run", "--rm", "--network", "bridge", "--network-alias", "x", "busybox", "true")
    assert r.returncode == 125 and b"user-created" in r.stderr
    busybox.out("rm", "-f", "app26", "d27", "e27")
    busybox.out("network", "rm", "n26")
    busybox.out("network", "prune", "-f")


def test_connect_and_disconnect(busybox):
    busybox.out("network", "create", "--subnet", subnet(28), "n28")
    busybox.out("network", "create", "--subnet", subnet(29), "n29")
    web(busybox, "s28", "served", "--network", "n28")
    busybox.out("run", "-d", "--name", "c29", "--network", "n29", "busybox", "sleep", "60")
    assert get_in(busybox, "c29", ip_of(busybox, "s28", "n28")) == ""
    busybox.out("network", "connect", "--alias", "peer", "n28", "c29")
    assert "10.213.28." in busybox.out("exec", "c29", "ip", "-4", "-o", "addr", "show", "eth1")
    assert "served" in get_in(busybox, "c29", ip_of(busybox, "s28", "n28"))
    assert _resolve(busybox, "s28", "peer") == ip_of(busybox, "c29", "n28")
    assert set(json.loads(busybox.out("inspect", "c29"))[0]["NetworkSettings"]["Networks"]) == {"n28", "n29"}
    busybox.out("network", "disconnect", "n28", "c29")
    assert busybox("exec", "c29", "ip", "link", "show", "eth1").returncode != 0
    assert _resolve(busybox, "s28", "peer") is None
    assert busybox("network", "disconnect", "n28", "c29").returncode == 1
    busybox.out("rm", "-f", "s28", "c29")
    busybox.out("network", "rm", "n28", "n29")


# crashes and cleanup -------------------------------------------------------------------------------------------

def _kill_monitor(root: str) -> None:
    """What a crash or a reboot does to a store's containers: its monitor dies, and they with it."""
    import signal

    from conftest import _store_processes

    for pid in _store_processes(root):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _store_processes(root) and time.monotonic() < deadline:
        time.sleep(0.02)


def test_after_the_monitor_dies_rules_are_released_and_prune_cleans(busybox):
    use_pool(busybox, 30)
    port = free_port()
    web(busybox, "crash30", "x", "-p", f"{port}:80")
    assert http_get(f"http://127.0.0.1:{port}/") == "x\n"
    _kill_monitor(busybox.root)
    r = busybox("system", "check")
    assert r.returncode == 1 and b"not running but holds host port" in r.stdout
    out = busybox.out("system", "check", "--repair")
    assert "fixed" in out
    assert busybox("system", "check").returncode == 0, busybox("system", "check").stdout
    assert refused("127.0.0.1", port)
    # and a monitor that starts after a crash releases what its predecessor's containers held
    busybox.out("start", "crash30")
    assert http_get(f"http://127.0.0.1:{port}/") == "x\n"
    _kill_monitor(busybox.root)
    busybox.out("run", "--rm", "busybox", "true")  # a new monitor
    assert busybox("system", "check").returncode == 0, busybox("system", "check").stdout
    assert refused("127.0.0.1", port)
    busybox.out("rm", "crash30")
    assert busybox.out("network", "prune", "-f") == "Deleted Networks:\nbridge\n"  # pre-defined: prune, not rm
    assert network_residue(busybox.root) == []


def test_prune_removes_links_and_rules_a_crash_left(busybox):
    from corral.network import nft, store_tag

    net = subnet(31)
    nid = busybox.out("network", "create", "--subnet", net, "n31").strip()
    tag = store_tag(busybox.root)
    # what a crash between steps could leave: an element of a stopped container, a veth without one
    stale = nft.port_elements("tcp", "", 1, "10.213.31.200", 80, f"{tag}:{'ab' * 6}")
    nft.add(stale)
    sh("ip link add crvtest31 type veth peer name crvtest31p")
    subprocess.run(["ip", "link", "set", "crvtest31", "alias", f"corral:{tag}:{'cd' * 32}"], check=True)
    problems = busybox("system", "check").stdout.decode()
    assert "veth crvtest31" in problems and "firewall element" in problems
    busybox.out("system", "check", "--repair")
    assert busybox("system", "check").returncode == 0
    assert not os.path.exists("/sys/class/net/crvtest31")
    # what a running container needs but lost (a ruleset flushed by hand): restored
    busybox.out("run", "-d", "--name", "r31", "--network", "n31", "busybox", "sleep", "60")
    subprocess.run(["nft", "delete", "element", "ip", "corral", "masq", "{", net, "}"], check=True)
    assert b"switch n31 lacks its firewall rules" in busybox("system", "check").stdout
    busybox.out("system", "check", "--repair")
    assert busybox("system", "check").returncode == 0
    busybox.out("rm", "-f", "r31")
    # a bridge whose switch vanished from the DB
    busybox.out("network", "rm", nid)
    sh("ip link add crtest31b type bridge")
    subprocess.run(["ip", "link", "set", "crtest31b", "alias", f"corral:{tag}:{'ef' * 32}"], check=True)
    assert b"bridge crtest31b of a removed switch" in busybox("system", "check").stdout
    busybox.out("system", "check", "--repair")
    assert not os.path.exists("/sys/class/net/crtest31b")


def test_prune_in_any_store_removes_what_a_deleted_store_left(busybox, other):
    """A store's directory deleted by hand (or with a test's temporary directory) leaves its bridge and
    firewall elements, which no command of that store can reach any more: another store's check finds
    them through /run/corral/stores, its prune removes them, and a store that still exists is left alone."""
    import shutil

    from conftest import network_residue
    from corral.network import store_tag

    other.out("image", "bootstrap", "busybox")
    other.out("network", "create", "--subnet", subnet(33), "n33")
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, check=True).stdout)
    tag = store_tag(other.root)
    (bridge,) = [link["ifname"] for link in links if link.get("ifalias", "").startswith(f"corral:{tag}:")]
    assert busybox("system", "check").returncode == 0  # that store exists: none of this store's business
    assert os.path.exists(f"/run/corral/stores/{tag}")
    shutil.rmtree(other.root)
    r = busybox("system", "check")
    assert r.returncode == 1 and f"network: store {other.root}, which is gone, left link {bridge}".encode() in r.stdout
    busybox.out("system", "prune", "-f")
    assert busybox("system", "check").returncode == 0
    assert network_residue(other.root) == [] and not os.path.exists(f"/sys/class/net/{bridge}")
    assert not os.path.exists(f"/run/corral/stores/{tag}")
    assert not os.path.exists("/run/corral/stores") or os.listdir("/run/corral/stores"), "an empty record dir left"


def test_prune_removes_the_elements_of_an_unknown_store_whose_bridges_were_deleted_from_outside(busybox, other):
    """A bridge deleted with `ip link del` and the store's record lost (or never made, by an older corral):
    its firewall elements name interfaces that are gone and a tag no store claims, so any store's prune
    removes them; a store whose bridge still exists is left alone even without its record."""
    import shutil

    from conftest import network_residue
    from corral.network import store_tag

    other.out("network", "create", "--subnet", subnet(34), "n34")
    tag = store_tag(other.root)
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, check=True).stdout)
    (bridge,) = [link["ifname"] for link in links if link.get("ifalias", "").startswith(f"corral:{tag}:")]
    os.unlink(f"/run/corral/stores/{tag}")
    assert busybox("system", "check").returncode == 0  # its bridge is there: not this store's to judge
    sh(f"ip link del {bridge}")
    shutil.rmtree(other.root)
    r = busybox("system", "check")
    assert r.returncode == 1
    assert f"of an unknown store {tag} name only interfaces that no longer exist ({bridge})".encode() in r.stdout
    busybox.out("system", "prune", "-f")
    assert busybox("system", "check").returncode == 0 and network_residue(other.root) == []


# the Python API ---------------------------------------------------------------------------------------------------

def test_python_api(busybox):
    from corral.api import Host

    os.environ["CORRAL_NETWORK_POOLS"] = f"{subnet(32)}:24"
    os.environ["CORRAL_ROOT"] = busybox.root  # the monitor this process starts is the store's
    try:
        host = Host(busybox.root)
        net = host.create_network("api32", subnet=subnet(33))
        assert [n.name for n in host.networks()] == ["bridge", "host", "none", "api32"]
        assert net.gateway == "10.213.33.1"
        port = free_port()
        c = host.create_container("busybox", ["sh", "-c", WEB.format(text="api")], name="api-web",
                                  network="api32", ports=[f"{port}:80"])
        assert [x.id for x in net.containers] == [c.id]
        assert c.ports == {}
        c.start()
        assert c.ports == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]}
        assert http_get(f"http://127.0.0.1:{port}/") == "api\n"
        with pytest.raises(Exception, match="active endpoints"):
            net.remove()
        c.remove(force=True)
        assert net.containers == []
        net.remove()
        d = host.create_container("busybox", ["true"], ports=["80"])  # publishing implies the default switch
        assert d.options.network == "bridge" and "bridge" in d.networks
        d.remove()
        assert host.prune_networks() == ["bridge"]
    finally:
        del os.environ["CORRAL_NETWORK_POOLS"]
        del os.environ["CORRAL_ROOT"]


# pure logic ---------------------------------------------------------------------------------------------------------

def test_port_specs():
    from corral.errors import InvalidArgument
    from corral.network.ports import parse

    assert parse("80") == [{"host_ip": "", "host_port": 0, "container_port": 80, "proto": "tcp"}]
    assert parse("8080:80/udp") == [{"host_ip": "", "host_port": 8080, "container_port": 80, "proto": "udp"}]
    assert parse("127.0.0.1::53") == [{"host_ip": "127.0.0.1", "host_port": 0, "container_port": 53, "proto": "tcp"}]
    assert parse("0.0.0.0:82:80")[0]["host_ip"] == ""
    assert [m["host_port"] for m in parse("9000-9002:80-82")] == [9000, 9001, 9002]
    for bad in ("80/sctp", "x", "70000", "1:2:3:4", "9000-9001:80", "[::1]:80:80", "300.1.1.1:80:80"):
        with pytest.raises(InvalidArgument):
            parse(bad)


def test_leases_skip_used_and_gateway_and_wrap(tmp_path):
    from corral.network.ipam import chooser
    from corral.store import leases, networks
    from corral.store.root import Store

    store = Store(str(tmp_path / "s"))
    net = networks.NetworkRecord("n", "n", "cr-n", "10.1.2.0/29", "10.1.2.1", False, False, "", {}, {})
    networks.insert(store, net)

    def lease(cid: str, requested: str | None = None) -> str:
        return leases.take(store, net, cid, "eth0", [], chooser(requested))

    got = [lease(f"c{i}") for i in range(5)]
    assert got == ["10.1.2.2", "10.1.2.3", "10.1.2.4", "10.1.2.5", "10.1.2.6"]
    with pytest.raises(Exception, match="no free address"):
        lease("c5")
    with pytest.raises(Exception, match="endpoint with name c0 already exists in network n"):
        lease("c0")
    leases.give_back(store, "c1")
    assert lease("c6") == "10.1.2.3"
    assert [(x.container_id, x.ip) for x in leases.on_network(store, "n")][:2] == [("c0", "10.1.2.2"), ("c6", "10.1.2.3")]
    store.close()


def test_nft_elements_round_trip_through_json():
    from corral.network import nft

    elements = nft.switch_elements("cr-x", "10.9.0.0/24", False, "t:n") + \
        nft.port_elements("udp", "127.0.0.1", 5353, "10.9.0.2", 53, "t:c")
    text = nft.script(add=elements)
    assert 'add element ip corral intra { "cr-x" . "cr-x" comment "t:n" }' in text
    assert "add element ip corral ports_addr { 127.0.0.1 . udp . 5353 comment \"t:c\" : 10.9.0.2 . 53 }" in text
    assert nft._text({"concat": ["cr-x", "cr-x"]}, 2) == '"cr-x" . "cr-x"'
    assert nft._text({"prefix": {"addr": "10.9.0.0", "len": 24}}, 0) == "10.9.0.0/24"
