"""Pods (issue 21 item 1): containers sharing one network, IPC and UTS namespace through an infra container.

Real namespaces, cgroups, bridges and nft rules on this host; podman's behaviour is the model (its words
for bad input). Traffic goes only to 127.0.0.1 and to the test's own containers; switches take /24s of
10.242.0.0/16 (checked against the host's routes first), never the default switch.
"""
from __future__ import annotations

import glob
import json
import os
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import SRC, network_residue, network_tag
from test_network import free_port, http_get

sys.path.insert(0, SRC)

NAMESPACES = "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done"
HTTPD = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p {addr} -h /www"


def subnet(third: int) -> str:
    """10.242.<third>.0/24 after checking that the host is on no part of it."""
    import ipaddress
    import subprocess

    net = ipaddress.IPv4Network(f"10.242.{third}.0/24")
    routes = json.loads(subprocess.run(["ip", "-4", "-j", "route", "show", "table", "all"],
                                       capture_output=True).stdout)
    for r in routes:
        if r.get("dst") not in (None, "default") and r.get("type", "unicast") == "unicast":
            assert not net.overlaps(ipaddress.IPv4Network(r["dst"], strict=False)), f"the host uses {r['dst']}"
    return str(net)


def one_error(proc) -> str:  # noqa: ANN001 - a CompletedProcess
    """The single stderr line of a refused command (no traceback), after checking it failed."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def cgroup_dirs(cid: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/corral/{cid}") + glob.glob(f"/sys/fs/cgroup/corral/{cid}")


def test_members_share_localhost_hostname_and_ipc_but_not_pids(busybox):
    busybox.out("pod", "create", "--name", "duo", "--hostname", "duohost")
    web = busybox.out("run", "-d", "--pod", "duo", "--name", "web", "busybox", "sh", "-c",
                      "echo marked > /dev/shm/mark && " + HTTPD.format(text="hello-from-web", addr="127.0.0.1:8080"))
    web = web.strip()
    got = busybox.out("run", "--rm", "--pod", "duo", "busybox", "sh", "-c",
                      "for i in $(seq 50); do wget -qO- http://127.0.0.1:8080/ && break; sleep 0.1; done; hostname; "
                      "cat /dev/shm/mark; " + NAMESPACES)
    lines = got.split()
    assert lines[:3] == ["hello-from-web", "duohost", "marked"]
    mine = busybox.out("exec", "web", "sh", "-c", NAMESPACES).split()
    assert lines[3:6] == mine[:3]  # network, IPC and UTS shared with web
    assert lines[6] != mine[3]  # each member its own PID namespace
    assert busybox.out("exec", "web", "hostname").strip() == "duohost"
    outsider = busybox.out("run", "--rm", "busybox", "readlink", "/proc/self/ns/net").strip()
    assert outsider != mine[0]
    assert busybox.out("inspect", "-f", "{{.Pod}}", web).strip() == busybox.out("pod", "inspect", "-f", "{{.Id}}",
                                                                                 "duo").strip()
    assert json.loads(busybox.out("inspect", "duo"))[0]["Hostname"] == "duohost"  # podman's inspect finds pods
    assert busybox.out("inspect", "--type", "pod", "-f", "{{.Name}}", "duo") == "duo\n"
    busybox.out("pod", "rm", "-f", "-t", "0", "duo")


def test_published_pod_port_reaches_a_member_and_rm_f_leaves_nothing(busybox):
    busybox.out("network", "create", "--subnet", subnet(11), "podnet")
    port = free_port()
    pod_id = busybox.out("pod", "create", "--name", "webpod", "--network", "podnet", "-p",
                         f"127.0.0.1:{port}:80").strip()
    member = busybox.out("run", "-d", "--pod", "webpod", "busybox", "sh", "-c",
                         HTTPD.format(text="pod-port", addr="80")).strip()
    assert http_get(f"http://127.0.0.1:{port}/") == "pod-port\n"
    view = json.loads(busybox.out("pod", "inspect", "webpod"))[0]
    infra = view["InfraContainerID"]
    assert view["Id"] == pod_id and view["State"] == "Running" and view["NumContainers"] == 2
    assert view["InfraConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert view["InfraConfig"]["Networks"] == ["podnet"]
    assert view["SharedNamespaces"] == ["ipc", "net", "uts"]
    assert [c["Id"] for c in view["Containers"]] == [infra, member]
    tag = network_tag(busybox.root)
    assert any(f"{tag}:{infra[:12]}" in p for p in _elements(tag)), "the pod's port is the infra container's"
    busybox.out("pod", "rm", "-f", "-t", "0", "webpod")
    assert busybox.out("pod", "ps", "-q") == "" and busybox.out("ps", "-aq") == ""
    assert not os.path.exists(os.path.join(busybox.root, "containers", infra))
    assert not cgroup_dirs(infra) and not cgroup_dirs(member)
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if busybox.root in line]
    assert not [e for e in _elements(tag) if infra[:12] in e or member[:12] in e]

    def veths() -> list[str]:
        return [p for p in network_residue(busybox.root) if infra in p or member in p]

    deadline = time.monotonic() + 5
    while veths() and time.monotonic() < deadline:  # a veth goes with its network namespace
        time.sleep(0.05)
    assert veths() == []
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
    busybox.out("network", "rm", "podnet")
    assert network_residue(busybox.root) == [] or all("table" in p for p in network_residue(busybox.root))


def test_pods_on_a_switch_reach_each_other_by_pod_name(busybox):
    busybox.out("network", "create", "--subnet", subnet(14), "podlan")
    busybox.out("pod", "create", "--name", "front", "--network", "podlan")
    busybox.out("pod", "create", "--name", "back", "--network", "podlan")
    busybox.out("run", "-d", "--pod", "front", "--name", "client", "busybox", "sleep", "60")
    busybox.out("run", "-d", "--pod", "back", "busybox", "sh", "-c", HTTPD.format(text="from-back", addr="80"))
    # back started after client: its name reaches client through the infra container's hosts file it binds
    got = busybox.out("exec", "client", "sh", "-c",
                      "for i in $(seq 50); do wget -qO- http://back/ && break; sleep 0.1; done")
    assert got == "from-back\n"
    busybox.out("pod", "rm", "-f", "-t", "0", "front", "back")
    busybox.out("network", "rm", "podlan")


def _elements(tag: str) -> list[str]:
    """The nft elements of this store (their comments), read with nft."""
    import subprocess

    listed = subprocess.run(["nft", "-j", "list", "table", "ip", "corral"], capture_output=True)
    found = []
    for item in json.loads(listed.stdout or b'{"nftables": []}')["nftables"]:
        for elem in (item.get("set") or item.get("map") or {}).get("elem", []):
            raw = elem[0] if isinstance(elem, list) else elem
            if isinstance(raw, dict) and raw.get("elem", {}).get("comment", "").startswith(tag):
                found.append(raw["elem"]["comment"])
    return found


def test_limits_apply_to_each_member(busybox):
    busybox.out("pod", "create", "--name", "limited")
    small = busybox.out("run", "-d", "--pod", "limited", "-m", "32m", "--pids-limit", "20", "busybox",
                        "sleep", "60").strip()
    free = busybox.out("run", "-d", "--pod", "limited", "busybox", "sleep", "60").strip()

    def limit(cid: str, v1: str, v2: str) -> str:
        found = glob.glob(f"/sys/fs/cgroup/*/corral/{cid}/{v1}") + glob.glob(f"/sys/fs/cgroup/corral/{cid}/{v2}")
        assert found, f"no {v1} or {v2} for {cid[:12]}"
        with open(found[0]) as f:
            return f.read().strip()

    assert limit(small, "memory.limit_in_bytes", "memory.max") == str(32 * 1024 * 1024)
    assert limit(small, "pids.max", "pids.max") == "20"
    assert limit(free, "pids.max", "pids.max") == "max"
    assert limit(free, "memory.limit_in_bytes", "memory.max") != str(32 * 1024 * 1024)
    table = busybox.out("pod", "stats", "--no-stream", "limited", "--format", "{{.Pod}} {{.ID}} {{.MemUsage}}")
    lines = sorted(line.split(" ", 2) for line in table.splitlines())
    assert sorted([small[:12], free[:12]]) == [line[1] for line in lines] and {line[0] for line in lines} == {"limited"}
    assert next(line[2] for line in lines if line[1] == small[:12]).endswith(" / 32MiB")
    got = busybox("exec", small, "sh", "-c", "for i in $(seq 30); do sleep 1 & done; wait")
    assert got.returncode != 0 and b"fork" in got.stderr.lower() + got.stdout.lower()  # its own pids limit
    assert busybox.out("exec", free, "sh", "-c", "for i in $(seq 30); do sleep 0.1 & done; wait; echo ok") == "ok\n"
    busybox.out("pod", "rm", "-f", "-t", "0", "limited")


def test_lifecycle_states_and_the_infra_container(busybox):
    pod_id = busybox.out("pod", "create", "--name", "cycle", "-l", "tier=web").strip()
    infra = busybox.out("pod", "inspect", "-f", "{{.InfraContainerID}}", "cycle").strip()
    assert busybox.out("pod", "ps", "--format", "{{.Name}} {{.Status}} {{.NumberOfContainers}}") == "cycle Created 1\n"
    refused = one_error(busybox("rm", "-f", infra))
    assert refused == (f"Error: container {infra} is the infra container of pod {pod_id} and cannot be removed "
                       "without removing the pod")
    member = busybox.out("create", "--pod", "cycle", "--name", "m1", "busybox", "sleep", "60").strip()
    busybox.out("start", "m1")  # starts the infra container first
    assert busybox.out("inspect", "-f", "{{.State.Status}}", infra).strip() == "running"
    assert busybox.out("pod", "ps", "-f", "status=running", "-f", "label=tier=web", "-q") == pod_id[:12] + "\n"
    busybox.out("pod", "pause", "cycle")
    assert busybox.out("pod", "inspect", "-f", "{{.State}}", "cycle").strip() == "Paused"
    busybox.out("pod", "unpause", "cycle")
    busybox.out("stop", "-t", "0", "m1")
    assert busybox.out("pod", "inspect", "-f", "{{.State}}", "cycle").strip() == "Degraded"
    assert busybox.out("pod", "stop", "-t", "0", "cycle") == pod_id + "\n"
    assert busybox.out("pod", "inspect", "-f", "{{.State}}", "cycle").strip() == "Exited"
    busybox.out("pod", "start", "cycle")
    assert busybox.out("ps", "-q", "--no-trunc", "-f", "pod=cycle").split() == [member, infra]
    busybox.out("pod", "kill", "cycle")
    deadline = time.monotonic() + 5
    while busybox.out("pod", "inspect", "-f", "{{.State}}", "cycle").strip() != "Exited":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    busybox.out("rm", "m1")  # the last member goes; the pod stays
    assert busybox.out("pod", "ps", "--format", "{{.Name}} {{.NumberOfContainers}}") == "cycle 1\n"
    busybox.out("pod", "restart", "cycle")
    assert busybox.out("pod", "inspect", "-f", "{{.State}}", "cycle").strip() == "Running"
    refused = one_error(busybox("pod", "rm", "cycle"))  # its infra container runs
    assert refused == (f"Error: pod cycle has running containers ({pod_id[:12]}-infra): stop it first "
                       "(corral pod stop cycle), or remove it with -f")
    busybox.out("pod", "stop", "cycle")
    assert busybox.out("pod", "rm", "cycle") == pod_id + "\n"
    assert busybox.out("pod", "ps", "-q") == "" and busybox.out("ps", "-aq") == ""
    events = [json.loads(line) for line in busybox.out("events", "--since", "1m", "--until", f"{time.time():.9f}",
                                                        "-f", "type=pod", "--format", "json").splitlines()]
    assert [e["Action"] for e in events] == ["create", "pause", "unpause", "stop", "start", "kill", "stop", "start",
                                             "stop", "remove"]
    assert {e["Actor"]["ID"] for e in events} == {pod_id}
    assert events[0]["Actor"]["Attributes"] == {"name": "cycle"}
    by_name = busybox.out("events", "--since", "1m", "--until", f"{time.time():.9f}", "-f", "pod=cycle", "--format",
                          "{{.Type}} {{.Action}}").splitlines()
    assert by_name == [f"pod {e['Action']}" for e in events]


def test_the_infra_container_restarts_only_with_its_members(busybox):
    busybox.out("network", "create", "--subnet", subnet(15), "relan")
    port = free_port()
    busybox.out("pod", "create", "--name", "phoenix", "--network", "relan", "-p", f"127.0.0.1:{port}:80")
    busybox.out("run", "-d", "--pod", "phoenix", "--name", "site", "busybox", "sh", "-c",
                HTTPD.format(text="risen", addr="80"))
    assert http_get(f"http://127.0.0.1:{port}/") == "risen\n"
    infra = busybox.out("pod", "inspect", "-f", "{{.InfraContainerID}}", "phoenix").strip()
    busybox.out("stop", infra)
    assert busybox.out("pod", "inspect", "-f", "{{.State}}", "phoenix").strip() == "Degraded"
    line = one_error(busybox("start", infra))
    assert line == ("Error: cannot start the infra container of pod phoenix while its members run (site) in the "
                    "namespaces of its last run: restart the pod (corral pod restart phoenix)")
    assert one_error(busybox("pod", "start", "phoenix")) == line
    busybox.out("pod", "restart", "-t", "0", "phoenix")
    assert busybox.out("pod", "inspect", "-f", "{{.State}}", "phoenix").strip() == "Running"
    assert http_get(f"http://127.0.0.1:{port}/") == "risen\n"
    busybox.out("pod", "rm", "-f", "-t", "0", "phoenix")
    busybox.out("network", "rm", "relan")


def test_share_chooses_the_namespaces_members_share(busybox):
    busybox.out("pod", "create", "--name", "pidpod", "--share", "+pid")
    busybox.out("run", "-d", "--pod", "pidpod", "busybox", "sleep", "61")
    seen = busybox.out("run", "--rm", "--pod", "pidpod", "busybox", "ps", "-o", "pid,args")
    assert [line.split(None, 1) for line in seen.splitlines()[1:3]] == [["1", "/catatonit -P"], ["2", "sleep 61"]]
    assert busybox.out("pod", "inspect", "-f", "{{.SharedNamespaces}}", "pidpod") == "[ipc net pid uts]\n"
    line = one_error(busybox("run", "--pod", "pidpod", "--pid", "host", "busybox", "true"))
    assert line == "Error: invalid config provided: --pid cannot be given to a container of a pod sharing its PID " \
        "namespace"
    busybox.out("pod", "create", "--name", "pidpod", "--replace", "--share", "net")  # the old one goes
    assert busybox.out("pod", "ps", "--format", "{{.Name}} {{.NumberOfContainers}}") == "pidpod 1\n"
    got = busybox.out("run", "--rm", "--pod", "pidpod", "--hostname", "mine", "busybox", "sh", "-c",
                      "hostname; ps -o pid | wc -l")
    assert got.split() == ["mine", "4"]  # its own UTS and PID namespaces: header, sh, ps, wc (no catatonit)
    for args, want in ((("--share", "cgroup"), "Error: invalid kernel namespace to share: cgroup: give ipc, net, pid "
                        "or uts (or none)"),
                       (("--share", "ipc", "-p", "80"), "Error: a pod's published ports and network are its members' "
                        "only when they share its network namespace: add net to --share"),
                       (("--share", "none", "--hostname", "h"), "Error: a pod's hostname is its members' only when "
                        "they share its UTS namespace: add uts to --share")):
        assert one_error(busybox("pod", "create", *args)) == want
    busybox.out("pod", "rm", "-f", "-t", "0", "pidpod")


def test_pod_stop_stops_the_members_all_at_once(busybox):
    busybox.out("pod", "create", "--name", "crowd")
    for i in range(4):  # sleep as PID 1 ignores SIGTERM: each waits out the timeout
        busybox.out("run", "-d", "--pod", "crowd", "--name", f"c{i}", "busybox", "sleep", "60")
    started = time.monotonic()
    busybox.out("pod", "stop", "-t", "1", "crowd")
    took = time.monotonic() - started
    assert busybox.out("pod", "ps", "--ctr-status", "--format", "{{.Status}} {{.ContainerStatuses}}") == \
        "Exited exited,exited,exited,exited,exited\n"
    assert took < 3.5, f"pod stop took {took:.1f} s: the members were not stopped together"
    busybox.out("pod", "rm", "crowd")


def test_pod_rm_refuses_running_members_without_force(busybox):
    busybox.out("pod", "create", "--name", "busy")
    busybox.out("run", "-d", "--pod", "busy", "--name", "worker", "busybox", "sleep", "60")
    line = one_error(busybox("pod", "rm", "busy"))
    assert line == ("Error: pod busy has running containers (worker): stop it first (corral pod stop busy), "
                    "or remove it with -f")
    assert busybox.out("ps", "-q", "-f", "name=worker") != ""
    busybox.out("pod", "rm", "-f", "-t", "0", "busy")


def test_bad_input_gives_one_line_and_makes_nothing(busybox):
    busybox.out("pod", "create", "--name", "solo")
    before = busybox.out("ps", "-aq")
    cases = [
        (("run", "--pod", "nope", "busybox", "true"), "Error: no pod with name or ID nope found: no such pod"),
        (("pod", "create", "--name", "solo"), 'Error: adding pod to state: name "solo" is in use: pod already exists'),
        (("run", "--pod", "solo", "-p", "8080:80", "busybox", "true"),
         "Error: invalid config provided: published or exposed ports must be defined when the pod is created: "
         "network cannot be configured when it is shared with a pod"),
        (("create", "--pod", "solo", "--hostname", "x", "busybox", "true"),
         "Error: invalid config provided: cannot set hostname when joining the pod UTS namespace"),
        (("create", "--pod", "solo", "--network", "none", "busybox", "true"),
         "Error: invalid config provided: network cannot be configured when it is shared with a pod (give --network, "
         "--dns, --add-host ... to `pod create`)"),
        (("pod", "rm", "nope"), "Error: no pod with name or ID nope found: no such pod"),
        (("pod", "inspect", "nope"), "Error: no pod with name or ID nope found: no such pod"),
        (("pod", "create", "-p", "99999:80"), None),
        (("pod", "create", "--network", "container:x"), None),
        (("pod", "ps", "-f", "colour=red"), "Error: invalid filter 'colour'"),
        (("pod", "create", "--name", "a b"), "Error: Invalid pod name (a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
        (("run", "--pod", "new:-x", "busybox", "true"),
         "Error: Invalid pod name (-x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
    ]
    for args, want in cases:
        line = one_error(busybox(*args))
        if want is not None:
            assert line == want, args
        else:
            assert line.startswith("Error: ") and "Traceback" not in line
    assert busybox("pod", "exists", "nope").returncode == 1 and busybox("pod", "exists", "solo").returncode == 0
    assert busybox.out("ps", "-aq") == before
    assert busybox.out("pod", "ps", "--format", "{{.Name}}") == "solo\n"
    busybox.out("container", "prune", "-f")  # the infra container goes only with its pod
    assert busybox.out("ps", "-aq") == before
    busybox.out("pod", "rm", "solo")


def test_run_pod_new_makes_the_pod_with_the_containers_ports(busybox):
    busybox.out("network", "create", "--subnet", subnet(12), "newnet")
    port = free_port()
    busybox.out("run", "-d", "--pod", "new:fresh", "--network", "newnet", "-p", f"127.0.0.1:{port}:80",
                "--name", "first", "busybox", "sh", "-c", HTTPD.format(text="fresh", addr="80"))
    assert http_get(f"http://127.0.0.1:{port}/") == "fresh\n"
    view = json.loads(busybox.out("pod", "inspect", "fresh"))[0]
    assert view["InfraConfig"]["Networks"] == ["newnet"] and view["Hostname"] == "fresh"
    table = busybox.out("ps", "--pod", "--format", "table {{.Names}}\t{{.PodName}}").splitlines()
    assert table[0].split() == ["NAMES", "PODNAME"] and "first" in table[1] and table[1].split()[1] == "fresh"
    line = one_error(busybox("run", "--pod", "new:fresh", "busybox", "true"))
    assert line == 'Error: adding pod to state: name "fresh" is in use: pod already exists'
    busybox.out("pod", "rm", "-f", "-t", "0", "fresh")
    busybox.out("network", "rm", "newnet")


def test_pod_logs_prefix_each_members_lines(busybox):
    busybox.out("pod", "create", "--name", "chatty")
    one = busybox.out("run", "--pod", "chatty", "--name", "one", "busybox", "echo", "from-one")
    assert one == "from-one\n"
    busybox.out("run", "--pod", "chatty", "--name", "two", "busybox", "sh", "-c", "echo from-two; echo oops >&2")
    ids = {n: busybox.out("inspect", "-f", "{{.Id}}", n).strip()[:12] for n in ("one", "two")}
    got = busybox("pod", "logs", "chatty")
    assert got.stdout.decode() == f"{ids['one']} from-one\n{ids['two']} from-two\n"
    assert got.stderr.decode() == f"{ids['two']} oops\n"
    assert busybox.out("pod", "logs", "-n", "-c", "two", "chatty") == "two from-two\n"
    busybox.out("rm", "one", "two")
    for name, lines in (("a1", "echo a; sleep 0.6; echo b"), ("a2", "sleep 0.3; echo c; sleep 0.6; echo d")):
        busybox.out("run", "-d", "--pod", "chatty", "--name", name, "busybox", "sh", "-c", lines)
    started = time.monotonic()
    followed = busybox.out("pod", "logs", "-f", "--names", "chatty", timeout=20)  # ends when both have ended
    assert followed == "a1 a\na2 c\na1 b\na2 d\n" and time.monotonic() - started < 10
    line = one_error(busybox("pod", "top", "chatty"))
    assert line == "Error: pod chatty has no running container"
    busybox.out("pod", "rm", "-f", "-t", "0", "chatty")


def test_python_api_pods(busybox):
    import corral

    client = corral.Client(busybox.root)
    try:
        pod = client.pods.create("apipod", labels={"app": "demo"})
        assert pod.name == "apipod" and pod.status == "Created" and pod.attrs["Labels"] == {"app": "demo"}
        assert client.pods.get("apipod") == pod and client.pods.list(filters={"label": "app=demo"}) == [pod]
        member = client.containers.run("busybox", "sleep 60", detach=True, pod=pod, name="apimember")
        pod.reload()
        assert pod.status == "Running" and [c.id for c in pod.containers] == [member.id]
        assert pod.infra.id == pod.attrs["InfraContainerID"] and member.attrs["Pod"] == pod.id
        out = client.containers.run("busybox", ["hostname"], pod="apipod", remove=True)
        assert out == b"apipod\n"
        assert "sleep 60" in pod.top()["Processes"][0][-1]
        pod.stop(timeout=0)
        assert pod.status == "Exited"
        assert client.pods.prune() == {"PodsDeleted": [pod.id], "SpaceReclaimed": 0}
        assert client.pods.list() == [] and not client.pods.exists("apipod")
        with pytest.raises(corral.errors.NotFound, match="no pod with name or ID apipod found"):
            client.pods.get("apipod")
        port = free_port()
        with pytest.raises(corral.errors.InvalidArgument, match="port publishing and network mode none"):
            client.pods.create("apipod2", ports={"80/tcp": ("127.0.0.1", port)}, network="none")
        assert client.pods.list() == []
        client.networks.create("apinet", ipam={"Config": [{"Subnet": subnet(13)}]})
        again = client.pods.create("apipod2", ports={"80/tcp": ("127.0.0.1", port)}, network="apinet")
        assert again.attrs["InfraConfig"]["Networks"] == ["apinet"]
        assert again.attrs["InfraConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1",
                                                                          "HostPort": str(port)}]}
    finally:
        for p in client.pods.list():
            p.remove(force=True, timeout=0)
        for n in client.networks.list(names=["apinet"]):
            n.remove()
        client.close()


def test_a_pod_create_or_rm_killed_midway_is_reported_and_finished_by_pod_rm(busybox):
    killed = busybox.env | {"CORRAL_FAILPOINT": "pod.created"}
    import subprocess

    from conftest import CORRAL

    done = subprocess.run(CORRAL + ["pod", "create", "--name", "halfmade"], env=killed, capture_output=True)
    assert done.returncode == -9
    report = busybox("system", "check")
    assert report.returncode != 0
    assert "pod halfmade: its infra container is missing (an interrupted create): `corral pod rm -f halfmade` " \
        "removes it" in report.stdout.decode() + report.stderr.decode()
    busybox.out("pod", "rm", "-f", "halfmade")

    busybox.out("pod", "create", "--name", "halfgone")
    busybox.out("run", "-d", "--pod", "halfgone", "--name", "stays", "busybox", "sleep", "60")
    killed["CORRAL_FAILPOINT"] = "pod.removing"
    done = subprocess.run(CORRAL + ["pod", "rm", "-f", "-t", "0", "halfgone"], env=killed, capture_output=True)
    assert done.returncode == -9
    report = busybox("system", "check")
    assert "pod halfgone: its removal was interrupted: `corral pod rm -f halfgone` finishes it" in \
        report.stdout.decode() + report.stderr.decode()
    assert one_error(busybox("run", "--pod", "halfgone", "busybox", "true")) == "Error: pod halfgone is being removed"
    busybox.out("pod", "rm", "-f", "-t", "0", "halfgone")
    assert busybox.out("ps", "-aq") == "" and busybox.out("pod", "ps", "-q") == ""
    assert busybox("system", "check").returncode == 0


def test_a_hex_name_that_prefixes_several_pod_ids_is_still_a_name(busybox):
    """--replace and a free name look the name up as a name: `ab` is no ambiguous ID prefix there."""
    from corral.store import pods
    from corral.store.root import Store

    store = Store(busybox.root)
    try:
        for pod_id in ("ab" + "1" * 62, "ab" + "2" * 62):  # rows alone: no infra, never started
            pods.insert(store, pods.PodRecord(pod_id, f"other{pod_id[2]}", "now", None, {}, {}))
        r = busybox("pod", "create", "--replace", "--name", "ab")
        assert r.returncode == 0, r.stderr
        assert busybox.out("pod", "inspect", "--format", "{{.Name}}", "ab") == "ab\n"
        busybox.out("pod", "rm", "-f", "ab")
    finally:
        for pod_id in ("ab" + "1" * 62, "ab" + "2" * 62):
            pods.delete(store, pod_id)
        store.close()


def test_a_member_whose_pod_went_meanwhile_is_not_recorded(tmp_path):
    """run --pod P racing pod rm P: the foreign key refuses the member, in words about the pod."""
    from corral.errors import NotFound
    from corral.store import containers, pods
    from corral.store.root import Store

    store = Store(str(tmp_path / "s"))
    with store.transaction() as conn:
        conn.execute("INSERT INTO images VALUES('sha256:i', 'd', 'c', NULL, 0)")
    pods.insert(store, pods.PodRecord("p" * 64, "gone", "now", None, {}, {}))
    pods.delete(store, "p" * 64)
    member = containers.ContainerRecord("c" * 64, "late", "sha256:i", "busybox", "now", {}, pod_id="p" * 64)
    with pytest.raises(NotFound, match=f"^no pod with name or ID {'p' * 64} found: no such pod \\(it was removed"):
        containers.insert(store, member)
    assert store.query("SELECT count(*) FROM containers") == [(0,)]
    containers.insert(store, member.replace(pod_id=None))  # the image is there: only the pod was missing
    store.close()


def test_an_older_store_gains_pods(tmp_path):
    from corral.store import db

    conn = db.connect(str(tmp_path / "corral.db"))
    old = db.SCHEMA.replace(",\n    pod_id TEXT REFERENCES pods(id))", ")")
    start = old.index("CREATE TABLE IF NOT EXISTS pods(")
    old = old[:start] + old[old.index("CREATE TABLE", start + 10):]
    conn.executescript(old)
    conn.execute("PRAGMA user_version=5")
    conn.execute("INSERT INTO images VALUES('i', 'd', 'c', NULL, 0)")
    conn.execute("INSERT INTO containers(id, name, image_id, image_ref, created, options, state) "
                 "VALUES('c1', 'n', 'i', 'busybox', 'now', '{}', 'exited')")
    db.ensure_schema(conn)
    assert conn.execute("SELECT pod_id FROM containers").fetchall() == [(None,)]
    assert conn.execute("SELECT COUNT(*) FROM pods").fetchone() == (0,)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION


def test_the_pause_image_needs_a_static_catatonit():
    from corral.image import pause

    assert pause.is_static(pause.binary())
    assert not pause.is_static("/bin/ls") and not pause.is_static(__file__)


@pytest.mark.parametrize("states, want", [
    ([], "Created"), (["created"], "Created"), (["running", "running"], "Running"),
    (["running", "created"], "Running"), (["running", "exited"], "Degraded"), (["running", "paused"], "Degraded"),
    (["paused", "paused"], "Paused"), (["exited", "created"], "Exited"), (["exited", "exited"], "Exited"),
])
def test_pod_status_of_its_containers(states, want):
    from corral.api.pod import pod_status

    assert pod_status(states) == want
