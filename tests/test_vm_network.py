"""VM containers on networks (issue 19 item 3): the guest's NIC on the container's switch.

The monitor wires a VM container's network namespace as a process container's, then hands its address
to a tap joined to the veth by tc mirred, QEMU runs in that namespace and the guest init takes the
address (network/vmnic.py, runtime/vm/network.py, guest/init.c). These tests boot real VMs, few of
them: a published port reached from the host, names both ways between a process container and a VM on
one user switch, and nothing left on the host after rm (links, firewall elements, the namespace).
Subnets come from 10.246.0.0/16; traffic goes only to 127.0.0.1 and the containers' own addresses.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from conftest import network_tag
from test_network import get_in, http_get, ip_of

import corral
from corral.runtime.vm import describe, network

WEB = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"


def switch(cli, name: str, third: int) -> None:
    """A user switch on 10.246.<third>.0/24 (the host is checked to use no part of it)."""
    import ipaddress

    net = ipaddress.IPv4Network(f"10.246.{third}.0/24")
    for iface in json.loads(subprocess.run(["ip", "-4", "-j", "addr"], capture_output=True).stdout):
        for a in iface.get("addr_info", []):
            if net.overlaps(ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False)):
                pytest.skip(f"the host already uses {a['local']}, inside the test's {net}")
    cli.out("network", "create", "--subnet", str(net), name)


def host_state(cli) -> tuple[list[str], list[str]]:
    """The host's links and firewall lines that are this store's (other stores run beside the tests):
    `ip -o link` lines with its alias tag, `nft list ruleset` lines with its tag or its subnets."""
    tag = network_tag(cli.root)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    rules = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout
    mine = [line.split(": ")[1].split("@")[0] + " " + line.rsplit("alias ", 1)[-1].strip()
            for line in links.splitlines() if f"corral:{tag}:" in line]  # name and owner, not the link's state
    return sorted(mine), sorted(line.strip() for line in rules.splitlines() if tag in line or "10.246." in line)


def fetch_in(cli, container: str, host: str, text: str, timeout: float = 15) -> str:
    """get_in, again until `text` comes back (a guest's server may still be starting) or the time is up."""
    deadline = time.monotonic() + timeout
    while text not in (got := get_in(cli, container, host)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return got


def net_namespaces() -> set[int]:
    """The inode of every network namespace a process is in or holds an fd of."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        paths = [f"/proc/{pid}/ns/net"]
        try:
            paths += [f"/proc/{pid}/fd/{fd}" for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        for path in paths:
            try:
                if os.readlink(path).startswith("net:["):
                    found.add(os.stat(path).st_ino)
            except OSError:
                continue
    return found


# ---------------------------------------------------------------- unit: what the guest and QEMU are given

@pytest.mark.unit
def test_nics_reach_qemu_and_the_guest_init():
    nics = [{"ifname": "eth0", "tap": "vmtap0", "mac": "02:42:0a:f6:00:02", "address": "10.246.0.2", "prefix": 24,
             "gateway": "10.246.0.1"},
            {"ifname": "eth1", "tap": "vmtap1", "mac": "02:42:0a:f6:01:02", "address": "10.246.1.2", "prefix": 24,
             "gateway": None}]
    spec = {"process": {"args": ["true"]}, "annotations": {network.NICS_ANNOTATION: json.dumps(nics)}}
    argv = network.qemu_args(spec)
    assert argv == ["-netdev", "tap,id=net0,ifname=vmtap0,script=no,downscript=no",
                    "-device", "virtio-net-device,netdev=net0,mac=02:42:0a:f6:00:02",
                    "-netdev", "tap,id=net1,ifname=vmtap1,script=no,downscript=no",
                    "-device", "virtio-net-device,netdev=net1,mac=02:42:0a:f6:01:02"]
    [payload], _ = describe.parse_messages(describe.process_message(spec))
    assert payload.split(b"\0")[-3:-1] == [b"neth0 02:42:0a:f6:00:02 10.246.0.2 24 10.246.0.1",
                                           b"neth1 02:42:0a:f6:01:02 10.246.1.2 24 -"]
    assert network.qemu_args({"annotations": {}}) == [] and network.tap_name("eth1") == "vmtap1"


# ---------------------------------------------------------------- real VMs on a switch

def test_a_published_port_reaches_a_vm_and_rm_leaves_nothing(busybox):
    switch(busybox, "vmnet-pub", 1)
    links_before, rules_before = host_state(busybox)
    cid = busybox.out("run", "-d", "--name", "vmweb", "--isolation=vm", "--network", "vmnet-pub",
                      "-p", "127.0.0.1::80", "busybox", "sh", "-c", WEB.format(text="from-the-guest")).strip()
    port = int(busybox.out("port", cid, "80/tcp").strip().rsplit(":", 1)[1])
    assert http_get(f"http://127.0.0.1:{port}/", timeout=15) == "from-the-guest\n"  # the host's DNAT
    ip = ip_of(busybox, cid)
    assert ip.startswith("10.246.1.") and http_get(f"http://{ip}/") == "from-the-guest\n"
    guest = busybox.out("exec", cid, "ip", "-4", "-o", "addr", "show", "eth0")
    assert f"inet {ip}/24" in guest
    assert busybox.out("exec", cid, "ip", "route").startswith("default via 10.246.1.1 dev eth0")
    pid = int(busybox.out("inspect", "-f", "{{.State.Pid}}", cid))
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert b"\0-incoming\0defer\0" in f.read(), "a VM with a NIC is restored from its template too"
    [veth] = json.loads(subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-j", "link", "show", "eth0"],
                                       capture_output=True, text=True, check=True).stdout)
    guest_mac = busybox.out("exec", cid, "cat", "/sys/class/net/eth0/address").strip()
    assert guest_mac == veth["address"], "the guest's NIC has the veth's MAC, not the template's"
    inside = [subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-o", what], capture_output=True, text=True,
                             check=True).stdout for what in ("addr", "link")]
    assert ip not in inside[0] and "vmtap0" in inside[1]  # QEMU's namespace is a wire: the address is the guest's
    client = corral.Client(busybox.root)
    try:
        counted = client.containers.get(cid).stats(stream=False)["networks"]
    finally:
        client.close()
    assert set(counted) == {"eth0"} and counted["eth0"]["rx_bytes"] > 0  # the taps are not counted twice
    netns = os.stat(f"/proc/{pid}/ns/net").st_ino
    links_running, rules_running = host_state(busybox)
    assert len(links_running) == len(links_before) + 1  # the veth
    assert any(f"{ip} . 80" in line for line in rules_running)  # the published port's DNAT element
    busybox.out("rm", "-f", cid)
    assert host_state(busybox) == (links_before, rules_before)
    assert netns not in net_namespaces()  # no process in it, no fd of it: gone with its veth and tap
    busybox.out("network", "rm", "vmnet-pub")


def test_a_process_container_and_a_vm_reach_each_other_by_name(busybox):
    switch(busybox, "vmnet-lan", 2)
    busybox.out("run", "-d", "--name", "proc", "--network", "vmnet-lan", "busybox", "sh", "-c",
                WEB.format(text="from-the-process"))
    busybox.out("run", "-d", "--name", "vm", "--isolation=vm", "--network", "vmnet-lan", "busybox", "sh", "-c",
                WEB.format(text="from-the-vm"))
    assert "from-the-vm" in fetch_in(busybox, "proc", "vm", "from-the-vm")  # proc's hosts file names the VM
    assert "from-the-process" in fetch_in(busybox, "vm", "proc", "from-the-process")  # the guest's names proc
    assert "from-the-vm" in get_in(busybox, "proc", ip_of(busybox, "vm"))
    busybox.out("run", "-d", "--name", "late", "--network", "vmnet-lan", "busybox", "sh", "-c",
                WEB.format(text="from-a-later-one"))
    assert "from-a-later-one" in fetch_in(busybox, "vm", "late", "from-a-later-one")  # rewritten in place, seen by 9p
    r = busybox("network", "disconnect", "vmnet-lan", "vm")
    assert r.returncode != 0 and r.stderr.decode().count("\n") == 1
    assert "runs in a VM (--isolation=vm): it cannot disconnect from a network while it runs" in r.stderr.decode()
    busybox.out("rm", "-f", "proc", "vm", "late")
    busybox.out("network", "rm", "vmnet-lan")


def test_networks_a_vm_cannot_share_are_refused_in_one_line(busybox):
    busybox.out("run", "-d", "--name", "peer", "busybox", "sleep", "60")
    for mode in ("host", "container:peer"):
        r = busybox("run", "--rm", "--isolation=vm", "--network", mode, "busybox", "true")
        assert r.returncode == 125 and r.stderr.decode().count("\n") == 1, r.stderr
        assert f"--isolation=vm does not support --network {mode} (a VM has a network stack of its own" \
            in r.stderr.decode()
    assert busybox.out("ps", "-aq", "--no-trunc").split() == [busybox.out("inspect", "-f", "{{.Id}}", "peer").strip()]
    busybox.out("rm", "-f", "peer")
