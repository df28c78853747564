"""--network-bandwidth by its effect: a transfer between the host and a container through a 10 Mbit limit
takes the time 10 Mbit takes, in both directions; `update` changes it while the container runs; nothing of
it (ifb, qdisc) is left when the container goes, and what a killed monitor left `system check` finds and
repairs. Traffic goes only to the addresses of the switches these tests make (10.234.N.0/24)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import corral
from corral import errors

SIZE = 3_000_000  # 2.4 s of payload at 10 Mbit; frames' headers add ~4 %


def network(cli, n: int) -> str:  # noqa: ANN001
    """A switch of the test's own; returns its gateway, the host's address on it."""
    cli.out("network", "create", "--subnet", f"10.234.{n}.0/24", f"bw{n}")
    return json.loads(cli.out("network", "inspect", f"bw{n}"))[0]["IPAM"]["Config"][0]["Gateway"]


def listener(ip: str) -> socket.socket:
    s = socket.socket()
    s.bind((ip, 0))
    s.listen(1)
    s.settimeout(30)
    return s


def into_container(cli, name: str, gateway: str) -> float:  # noqa: ANN001
    """Seconds the container takes to receive SIZE bytes from the host (counted inside it)."""
    server = listener(gateway)

    def send() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"\0" * SIZE)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        start = time.monotonic()
        out = cli.out("exec", name, "sh", "-c", f"nc {gateway} {server.getsockname()[1]} | wc -c")
        took = time.monotonic() - start
    finally:
        sender.join(30)
        server.close()
    assert int(out) == SIZE
    return took


def out_of_container(cli, name: str, gateway: str) -> float:  # noqa: ANN001
    """Seconds the host takes to receive SIZE bytes the container sends (from the first byte's connection
    to the last)."""
    server = listener(gateway)
    result: dict = {}

    def receive() -> None:
        conn, _ = server.accept()
        start, got = time.monotonic(), 0
        with conn:
            while chunk := conn.recv(1 << 16):
                got += len(chunk)
        result.update(took=time.monotonic() - start, got=got)

    receiver = threading.Thread(target=receive)
    receiver.start()
    try:
        cli.out("exec", name, "sh", "-c", f"head -c {SIZE} /dev/zero | nc {gateway} {server.getsockname()[1]}")
    finally:
        receiver.join(30)
        server.close()
    assert result["got"] == SIZE
    return result["took"]


def links(kind: str, cli=None) -> set[str]:  # noqa: ANN001
    """The names of the host's links of a kind (with `cli`, only its store's)."""
    found = json.loads(subprocess.run(["ip", "-j", "link", "show", "type", kind], capture_output=True,
                                      check=True).stdout or b"[]")
    mark = f"corral:{cli_tag(cli)}:" if cli is not None else ""
    return {link["ifname"] for link in found if link.get("ifalias", "").startswith(mark)}


def qdiscs(link: str) -> str:
    return subprocess.run(["tc", "qdisc", "show", "dev", link], capture_output=True, text=True).stdout


def host_links(cli, name: str) -> tuple[str, str]:  # noqa: ANN001
    """(veth, ifb): the host end of the container's eth0 and the ifb named after it."""
    cid = cli.out("inspect", "-f", "{{.Id}}", name).strip()
    alias = f"corral:{cli_tag(cli)}:{cid}"
    found = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, check=True).stdout)
    veths = [link["ifname"] for link in found if link.get("ifalias") == alias and link["ifname"].startswith("crv")]
    assert len(veths) == 1, found
    return veths[0], "crb" + veths[0][3:]


def cli_tag(cli) -> str:  # noqa: ANN001
    from conftest import network_tag

    return network_tag(cli.root)


def test_a_10mbit_limit_takes_10mbits_time_both_ways_and_stats_still_count(busybox):
    gateway = network(busybox, 1)
    busybox.out("run", "-d", "--name", "bw1", "--network", "bw1", "--network-bandwidth", "10mbit", "busybox",
                "sleep", "600")
    veth, ifb = host_links(busybox, "bw1")
    assert ifb in links("ifb") and "tbf" in qdiscs(veth) and "tbf" in qdiscs(ifb)
    took_in = into_container(busybox, "bw1", gateway)
    assert 2.0 < took_in < 4.5, f"{SIZE} bytes into the container through 10 Mbit: {took_in:.2f} s"
    took_out = out_of_container(busybox, "bw1", gateway)
    print(f"10 Mbit, {SIZE} bytes: into the container {took_in:.2f} s, out of it {took_out:.2f} s")
    assert 2.0 < took_out < 4.5, f"{SIZE} bytes out of the container through 10 Mbit: {took_out:.2f} s"
    net_io = busybox.out("stats", "--no-stream", "--format", "{{.NetIO}}", "bw1").strip()
    rx, tx = (float(side.strip().removesuffix("MB")) for side in net_io.split("/"))
    # the container's own counters, not the ifb's: neither missing nor doubled (tx has TCP's retransmissions of
    # what the tbf dropped)
    assert 3.0 <= rx < 3.6 and 3.0 <= tx < 4.5, net_io
    busybox.out("rm", "-f", "bw1")
    assert ifb not in links("ifb") and veth not in links("veth"), "the ifb goes with the container"


def test_update_changes_the_rates_of_a_running_container(busybox):
    gateway = network(busybox, 2)
    busybox.out("run", "-d", "--name", "bw2", "--network", "bw2", "--network-bandwidth-in", "10mbit", "busybox",
                "sleep", "600")
    veth, ifb = host_links(busybox, "bw2")
    assert ifb not in links("ifb"), "no ifb without an outgoing limit"
    assert out_of_container(busybox, "bw2", gateway) < 1.0, "what the container sends is not limited"
    busybox.out("update", "--network-bandwidth-in", "20mbit", "--network-bandwidth-out", "10mbit", "bw2")
    took_in = into_container(busybox, "bw2", gateway)
    assert 1.0 < took_in < 2.2, f"{SIZE} bytes into the container through 20 Mbit: {took_in:.2f} s"
    took_out = out_of_container(busybox, "bw2", gateway)
    assert 2.0 < took_out < 4.5, f"{SIZE} bytes out of the container through 10 Mbit: {took_out:.2f} s"
    config = json.loads(busybox.out("inspect", "bw2"))[0]["HostConfig"]
    assert (config["NetworkBandwidthIn"], config["NetworkBandwidthOut"]) == (20_000_000, 10_000_000)
    busybox.out("update", "--network-bandwidth", "0", "bw2")
    assert ifb not in links("ifb") and "tbf" not in qdiscs(veth), "lifting the limits removes their tc state"
    assert into_container(busybox, "bw2", gateway) < 1.0
    busybox.out("restart", "-t", "0", "bw2")
    veth, ifb = host_links(busybox, "bw2")
    assert "tbf" not in qdiscs(veth) and ifb not in links("ifb"), "the restart keeps the lifted limits"
    config = json.loads(busybox.out("inspect", "bw2"))[0]["HostConfig"]
    assert (config["NetworkBandwidthIn"], config["NetworkBandwidthOut"]) == (0, 0)


def test_a_limit_recorded_while_stopped_applies_at_the_next_start(busybox):
    network(busybox, 3)
    busybox.out("create", "--name", "bw3", "--network", "bw3", "busybox", "sleep", "600")
    busybox.out("update", "--network-bandwidth-out", "1mbps", "bw3")
    busybox.out("start", "bw3")
    veth, ifb = host_links(busybox, "bw3")
    assert "rate 8Mbit" in qdiscs(ifb) and "tbf" not in qdiscs(veth)
    busybox.out("stop", "-t", "0", "bw3")
    assert ifb not in links("ifb"), "the ifb goes when the container stops"


def test_a_limit_needs_a_network_of_the_containers_own(busybox):
    busybox.out("run", "-d", "--name", "peer", "busybox", "sleep", "600")
    for network, said in (("none", b"the container has none"), ("host", b"are not the container's to limit"),
                          ("container:peer", b"set it on the container whose network this one shares")):
        r = busybox("run", "--rm", "--network", network, "--network-bandwidth", "1mbit", "busybox", "true")
        assert r.returncode == 125 and said in r.stderr, (network, r.stderr)
    r = busybox("update", "--network-bandwidth", "1mbit", "peer")
    assert r.returncode == 1 and b"the container has none" in r.stderr, r.stderr
    r = busybox("run", "--rm", "--network-bandwidth", "10mb", "busybox", "true")
    assert r.returncode == 125 and b'for "--network-bandwidth" flag: invalid rate' in r.stderr, r.stderr
    assert busybox.out("ps", "-aq").split() == [busybox.out("inspect", "-f", "{{.Id}}", "peer")[:12]]


def test_without_a_network_flag_a_limit_joins_the_default_switch(busybox):
    out = busybox.out("run", "--rm", "--network-bandwidth-out", "5mbit", "busybox", "cat", "/sys/class/net/eth0/mtu")
    assert out == "1500\n"


def test_a_killed_monitors_ifb_is_found_and_repaired(busybox):
    network(busybox, 4)
    busybox.out("run", "-d", "--name", "bw4", "--network", "bw4", "--network-bandwidth", "10mbit", "busybox",
                "sleep", "600")
    _, ifb = host_links(busybox, "bw4")
    from conftest import _store_processes

    for pid in _store_processes(busybox.root):
        os.kill(pid, signal.SIGKILL)  # the monitor: its container dies with it, the ifb (host's) stays
    deadline = time.monotonic() + 5
    while _store_processes(busybox.root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ifb in links("ifb")
    r = busybox("system", "check")
    assert r.returncode == 1 and f"ifb {ifb} of container".encode() in r.stdout + r.stderr, r
    busybox.out("system", "check", "--repair")
    assert ifb not in links("ifb")
    assert busybox("system", "check").returncode == 0


def test_the_python_api_takes_and_updates_the_limits(busybox):
    network(busybox, 5)
    client = corral.from_env(environment={"CORRAL_ROOT": busybox.root})
    c = client.containers.run("busybox", "sleep 600", network="bw5", network_bandwidth="10mbit",
                              network_bandwidth_out=2_000_000, detach=True)
    try:
        config = c.attrs["HostConfig"]
        assert (config["NetworkBandwidthIn"], config["NetworkBandwidthOut"]) == (10_000_000, 2_000_000)
        _, ifb = host_links(busybox, c.name)
        assert "rate 2Mbit" in qdiscs(ifb)
        c.update(network_bandwidth_out="4mbit")
        assert "rate 4Mbit" in qdiscs(ifb)
        c.reload()
        assert c.attrs["HostConfig"]["NetworkBandwidthOut"] == 4_000_000
        with pytest.raises(errors.InvalidArgument, match="invalid rate"):
            c.update(network_bandwidth="fast")
        with pytest.raises(errors.InvalidArgument, match="rate such as"):
            client.containers.create("busybox", network="bw5", network_bandwidth_in=-1)
    finally:
        c.remove(force=True)
        client.close()
    assert ifb not in links("ifb")


def test_an_interface_connected_later_is_limited_too_and_disconnect_takes_its_ifb(busybox):
    network(busybox, 6)
    network(busybox, 7)
    busybox.out("run", "-d", "--name", "bw6", "--network", "bw6", "--network-bandwidth-out", "3mbit", "busybox",
                "sleep", "600")
    first = host_links(busybox, "bw6")[1]
    busybox.out("network", "connect", "bw7", "bw6")
    second = links("ifb", busybox) - {first}
    assert len(second) == 1 and "rate 3Mbit" in qdiscs(second.pop()), links("ifb", busybox)
    busybox.out("network", "disconnect", "bw7", "bw6")
    assert links("ifb", busybox) == {first}


def test_a_lost_ifb_is_found_and_put_back(busybox):
    gateway = network(busybox, 8)
    busybox.out("run", "-d", "--name", "bw8", "--network", "bw8", "--network-bandwidth-out", "10mbit", "busybox",
                "sleep", "600")
    veth, ifb = host_links(busybox, "bw8")
    subprocess.run(["ip", "link", "del", ifb], check=True)  # what the container sends is redirected to nothing
    r = busybox("system", "check")
    assert r.returncode == 1 and b"has lost the ifb of its outgoing bandwidth limit" in r.stdout + r.stderr, r
    busybox.out("system", "check", "--repair")
    assert "rate 10Mbit" in qdiscs(ifb) and "ingress" in qdiscs(veth)
    assert busybox("system", "check").returncode == 0
    took_out = out_of_container(busybox, "bw8", gateway)
    assert 2.0 < took_out < 4.5, f"shaped again: {took_out:.2f} s"
