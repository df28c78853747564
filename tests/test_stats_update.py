"""stats and update against real running containers: the numbers move when the container works, and a
limit updated takes effect in its cgroup, is recorded, and survives a restart."""
from __future__ import annotations

import json
import os
import re

import pytest

from corral.api import Host
from corral.cli import resource_cmds
from corral.errors import Conflict, InvalidArgument

BUSY = "while :; do :; done"


@pytest.fixture
def host(busybox, monkeypatch) -> Host:
    monkeypatch.setenv("CORRAL_ROOT", busybox.root)
    return Host(busybox.root)


def running(host: Host, *command: str, name: str, **options: object):  # noqa: ANN201
    c = host.create_container("busybox", list(command), name=name, **options)
    c.start()
    return c


def cgroup_file(c, controller: str, name: str) -> str:  # noqa: ANN001
    """A file of the container's v1 cgroup (these hosts run v1)."""
    with open(f"/sys/fs/cgroup/{controller}/corral/{c.id}/{name}") as f:
        return f.read().strip()


def test_stats_numbers_move_when_the_container_works(host):
    c = running(host, "sleep", "600", name="st1", memory=128 << 20)
    try:
        before = c.stats(one_shot=True)
        assert before["name"] == "/st1" and before["id"] == c.id and before["pids_stats"]["current"] == 1
        assert before["memory_stats"]["limit"] == 128 << 20
        c.exec(["sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=24 2>/dev/null;"
                            " sleep 300 >/dev/null 2>&1 & sleep 300 >/dev/null 2>&1 &"])
        c.exec(["sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
        after = c.stats()
        grown = resource_cmds.memory_used(after["memory_stats"]) - resource_cmds.memory_used(before["memory_stats"])
        assert grown >= 20 << 20, f"24 MiB written to the container's /dev/shm count as its memory: +{grown}"
        assert after["pids_stats"]["current"] == 3, after["pids_stats"]
        used = after["cpu_stats"]["cpu_usage"]["total_usage"] - before["cpu_stats"]["cpu_usage"]["total_usage"]
        assert used > 50_000_000, f"the busy loop used CPU time: {used} ns"
        assert after["precpu_stats"]["system_cpu_usage"] < after["cpu_stats"]["system_cpu_usage"]
        assert after["preread"] < after["read"] and after["cpu_stats"]["online_cpus"] == os.cpu_count()
        assert "networks" not in after, "a container without network has no interface docker reports (lo is not)"
    finally:
        c.remove(force=True)


def test_cpu_percent_of_a_busy_container_and_the_stream(host):
    c = running(host, "sh", "-c", BUSY, name="st2", cpus=0.5)
    try:
        frames = c.stats(stream=True)
        first, second, third = next(frames), next(frames), next(frames)
        frames.close()
        assert first["precpu_stats"]["cpu_usage"]["total_usage"] == 0 and first["preread"] == "0001-01-01T00:00:00Z"
        assert second["precpu_stats"] == first["cpu_stats"] and second["preread"] == first["read"]
        percent = resource_cmds.cpu_percent(third)
        assert 30 <= percent <= 65, f"a busy loop under --cpus 0.5 shows about 50 %: {percent:.1f}"
        assert third["cpu_stats"]["throttling_data"]["throttled_periods"] > 0
    finally:
        c.remove(force=True)


def test_network_counters_of_the_containers_interface(busybox, host):
    from test_network import subnet

    net = subnet(61)
    busybox.out("network", "create", "--subnet", net, "st61")
    c = running(host, "sleep", "600", name="st3", network="st61")
    try:
        gateway = net.rsplit(".", 1)[0] + ".1"
        before = c.stats(one_shot=True)["networks"]
        assert list(before) == ["eth0"], before
        c.exec(["ping", "-c", "3", "-W", "2", gateway])
        after = c.stats(one_shot=True)["networks"]["eth0"]
        assert after["tx_packets"] - before["eth0"]["tx_packets"] >= 3
        assert after["tx_bytes"] - before["eth0"]["tx_bytes"] >= 3 * 84
        assert after["rx_bytes"] > before["eth0"]["rx_bytes"]
    finally:
        c.remove(force=True)
        busybox.out("network", "rm", "st61")


def test_a_stopped_container_gives_dockers_zeroed_sample(host):
    c = host.create_container("busybox", ["true"], name="st4")
    sample = c.stats()
    assert sample["read"] == "0001-01-01T00:00:00Z" and sample["name"] == "/st4" and sample["memory_stats"] == {}
    assert sample["cpu_stats"]["cpu_usage"]["total_usage"] == 0 and sample["pids_stats"] == {}
    assert list(c.stats(stream=True)) == [sample], "the stream of a stopped container is that one sample"
    with pytest.raises(InvalidArgument):
        c.stats(stream=True, one_shot=True)
    c.remove()


def test_cli_stats_table(busybox, host):
    running(host, "sleep", "600", name="st5", memory=64 << 20)
    host.create_container("busybox", ["true"], name="st6")
    lines = busybox.out("stats", "--no-stream").splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == list(resource_cmds.HEADER)
    assert len(lines) == 2 and lines[1].split()[1] == "st5" and "/ 64MiB" in lines[1]
    every = busybox.out("stats", "--no-stream", "-a", "--no-trunc").splitlines()
    assert sorted(line.split()[1] for line in every[1:]) == ["st5", "st6"]
    assert all(len(line.split()[0]) == 64 for line in every[1:])
    assert "0B / 0B" in next(line for line in every if " st6 " in line)
    missing = busybox("stats", "--no-stream", "nosuch")
    assert missing.returncode == 1 and b"No such container: nosuch" in missing.stderr
    busybox.out("rm", "-f", "st5", "st6")


def test_update_applies_live_records_and_survives_a_restart(busybox, host):
    c = running(host, "sleep", "600", name="up1", memory=64 << 20)
    try:
        assert busybox.out("update", "-m", "96m", "--cpus", "0.5", "-c", "512", "--pids-limit", "30", "up1") == "up1\n"
        assert cgroup_file(c, "memory", "memory.limit_in_bytes") == str(96 << 20)
        assert cgroup_file(c, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_file(c, "cpu", "cpu.shares") == "512"
        assert cgroup_file(c, "pids", "pids.max") == "30"
        config = json.loads(busybox.out("inspect", "up1"))[0]["HostConfig"]
        assert (config["Memory"], config["NanoCpus"], config["CpuShares"], config["PidsLimit"]) == \
            (96 << 20, 500_000_000, 512, 30)
        assert c.stats(one_shot=True)["memory_stats"]["limit"] == 96 << 20
        busybox.out("restart", "-t", "0", "up1")
        assert cgroup_file(c, "memory", "memory.limit_in_bytes") == str(96 << 20), "the restart keeps the update"
        assert cgroup_file(c, "pids", "pids.max") == "30"
        assert c.update(pids_limit=-1) == {"Warnings": []}
        assert cgroup_file(c, "pids", "pids.max") == "max"
        assert json.loads(busybox.out("inspect", "up1"))[0]["HostConfig"]["PidsLimit"] in (None, 0, -1)
    finally:
        c.remove(force=True)


def test_a_lowered_pids_limit_stops_forks(host):
    c = running(host, "sleep", "600", name="up2")
    try:
        c.update(pids_limit=3)
        r = c.exec(["sh", "-c", "sleep 30 & sleep 30 & sleep 30 & wait"])
        assert r.exit_code != 0 and b"can't fork" in r.stderr, r
    finally:
        c.remove(force=True)


def test_a_stopped_containers_update_is_recorded_and_applied_at_start(busybox, host):
    c = host.create_container("busybox", ["sleep", "600"], name="up3")
    try:
        busybox.out("update", "--memory", "48m", "--memory-swap", "96m", "--cpuset-cpus", "0", "up3")
        spec = c.spec["linux"]["resources"]
        assert spec["memory"] == {"limit": 48 << 20, "swap": 96 << 20} and spec["cpu"] == {"cpus": "0"}
        c.start()
        assert cgroup_file(c, "memory", "memory.limit_in_bytes") == str(48 << 20)
        assert cgroup_file(c, "memory", "memory.memsw.limit_in_bytes") == str(96 << 20)
        assert cgroup_file(c, "cpuset", "cpuset.cpus") == "0"
        assert c.exec(["cat", "/proc/self/status"]).stdout.count(b"Cpus_allowed_list:\t0\n") == 1
    finally:
        c.remove(force=True)


@pytest.mark.skipif(os.path.exists("/sys/fs/cgroup/blkio/blkio.weight")
                    or os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
                    reason="this host's cgroups can weigh block I/O")
def test_a_blkio_weight_the_host_cannot_apply_is_refused(busybox, host):
    r = busybox("create", "--name", "up5", "busybox", "true")
    c = host.container("up5")
    with pytest.raises(InvalidArgument, match="--blkio-weight is not supported on this host"):
        c.update(blkio_weight=100)
    assert c.reload().options.blkio_weight is None and r.returncode == 0
    c.remove()


def test_update_is_refused_in_dockers_words(busybox, host):
    c = host.create_container("busybox", ["sleep", "600"], name="up4", cpus=1.0, memory=64 << 20,
                              memory_swap=128 << 20)
    try:
        for flags, message in (([], b"you must provide one or more flags"),
                               (["-m", "1m"], b"Minimum memory limit allowed is 6MB"),
                               (["--cpu-quota", "50000"], b"CPU Quota cannot be updated as NanoCPUs has already been"),
                               (["-m", "256m"], b"update the memoryswap at the same time"),
                               (["--restart", "sometimes"], b"unknown policy 'sometimes'"),
                               (["--cpuset-cpus", "999"], b"Requested CPUs are not available"),
                               (["--blkio-weight", "1"], b"Range of blkio weight is from 10 to 1000")):
            r = busybox("update", *flags, "up4")
            assert r.returncode == 1 and message in r.stderr, (flags, r.stderr)
        with pytest.raises(Conflict):
            c.update(cpu_period=50000)
        with pytest.raises(InvalidArgument, match="unknown update option"):
            c.update(kernel_memory=1)
        assert c.reload().options.memory == 64 << 20, "nothing refused was recorded"
    finally:
        c.remove(force=True)
