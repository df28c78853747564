"""Resource limits checked by their effect on real containers: CPU time under --cpus, a CFS quota and
--cpu-shares, I/O time under the block throttles, OOM kills reported (and held off), a fork bomb
stopped at --pids-limit, and `update` changing each of these on a running container.

These machines are noisy (other work shares their CPUs), so the bounds are wide and each figure is
taken over a couple of seconds; every wait is bounded.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from corral.api import Host
from corral.errors import InvalidArgument

BUSY = "while :; do :; done"
TICK = os.sysconf("SC_CLK_TCK")


@pytest.fixture
def host(busybox, monkeypatch) -> Host:
    monkeypatch.setenv("CORRAL_ROOT", busybox.root)
    return Host(busybox.root)


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) of a host process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_shares_of(pids: list[int], seconds: float = 2.0) -> list[float]:
    """The fraction of one CPU each process used over the next `seconds`."""
    before, start = [cpu_seconds(p) for p in pids], time.monotonic()
    time.sleep(seconds)
    after, took = [cpu_seconds(p) for p in pids], time.monotonic() - start
    return [(a - b) / took for a, b in zip(after, before)]


def init_pid(busybox, name: str) -> int:  # noqa: ANN001
    return json.loads(busybox.out("inspect", name))[0]["State"]["Pid"]


def test_cpus_and_a_cfs_quota_bound_a_busy_loop_and_update_changes_them(busybox):
    busybox.out("run", "-d", "--name", "lc1", "--cpus", "0.5", "busybox", "sh", "-c", BUSY)
    busybox.out("run", "-d", "--name", "lc2", "--cpu-period", "50000", "--cpu-quota", "10000", "busybox",
                "sh", "-c", BUSY)
    try:
        pids = [init_pid(busybox, "lc1"), init_pid(busybox, "lc2")]
        half, fifth = cpu_shares_of(pids)
        assert 0.40 <= half <= 0.60, f"--cpus 0.5: {half:.2f} of a CPU"
        assert 0.12 <= fifth <= 0.28, f"--cpu-quota 10000 per 50000: {fifth:.2f} of a CPU"
        busybox.out("update", "--cpus", "0.25", "lc1")
        busybox.out("update", "--cpu-quota", "30000", "lc2")
        quarter, three_fifths = cpu_shares_of(pids)
        assert 0.17 <= quarter <= 0.33, f"updated to --cpus 0.25: {quarter:.2f} of a CPU"
        assert 0.48 <= three_fifths <= 0.72, f"updated to --cpu-quota 30000 per 50000: {three_fifths:.2f}"
        config = json.loads(busybox.out("inspect", "lc2"))[0]["HostConfig"]
        assert (config["CpuPeriod"], config["CpuQuota"], config["NanoCpus"]) == (50000, 30000, 0)
    finally:
        busybox.out("rm", "-f", "lc1", "lc2")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 1, reason="needs a CPU")
def test_cpu_shares_divide_one_cpu_two_to_one_and_update_reverses_them(busybox):
    cpu = str(min(os.sched_getaffinity(0)))
    for name, shares in (("ls1", "1024"), ("ls2", "512")):
        busybox.out("run", "-d", "--name", name, "--cpuset-cpus", cpu, "-c", shares, "busybox", "sh", "-c", BUSY)
    try:
        pids = [init_pid(busybox, "ls1"), init_pid(busybox, "ls2")]
        big, small = cpu_shares_of(pids)
        assert 1.4 <= big / small <= 2.9, f"1024:512 shares on one CPU: {big:.2f} and {small:.2f}"
        busybox.out("update", "--cpu-shares", "2048", "ls2")
        small, big = cpu_shares_of(pids)
        assert 1.4 <= big / small <= 2.9, f"1024:2048 after the update: {small:.2f} and {big:.2f}"
        assert json.loads(busybox.out("inspect", "ls2"))[0]["HostConfig"]["CpuShares"] == 2048
    finally:
        busybox.out("rm", "-f", "ls1", "ls2")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="moving a container between CPUs needs two")
def test_update_moves_a_running_container_to_other_cpus(busybox):
    first, second = sorted(os.sched_getaffinity(0))[:2]
    busybox.out("run", "-d", "--name", "lcs", "--cpuset-cpus", str(first), "--cpuset-mems", "0", "busybox",
                "sleep", "600")
    try:
        pid = init_pid(busybox, "lcs")
        assert os.sched_getaffinity(pid) == {first}
        busybox.out("update", "--cpuset-cpus", str(second), "lcs")
        assert os.sched_getaffinity(pid) == {second}, "the running init itself moved"
        assert busybox.out("exec", "lcs", "grep", "Cpus_allowed_list", "/proc/self/status").split()[-1] == \
            str(second)
        config = json.loads(busybox.out("inspect", "lcs"))[0]["HostConfig"]
        assert (config["CpusetCpus"], config["CpusetMems"]) == (str(second), "0")
    finally:
        busybox.out("rm", "-f", "lcs")


# ------------------------------------------------------------------------------- memory and OOM

ALLOCATE_32M = ["dd", "if=/dev/zero", "of=/dev/null", "bs=32M", "count=1"]  # dd's buffer is 32 MiB of memory


def test_a_process_past_its_memory_limit_is_oom_killed_and_reported(busybox):
    r = busybox("run", "--name", "lm1", "-m", "16m", "busybox", *ALLOCATE_32M)
    state = json.loads(busybox.out("inspect", "lm1"))[0]["State"]
    assert r.returncode == 137 and (state["ExitCode"], state["OOMKilled"]) == (137, True), (r, state)
    busybox.out("run", "--name", "lm2", "-m", "64m", "busybox", *ALLOCATE_32M)
    info = json.loads(busybox.out("inspect", "lm2"))[0]
    assert (info["State"]["ExitCode"], info["State"]["OOMKilled"]) == (0, False)
    from corral.runtime.cgroups import swap_accounted

    assert info["HostConfig"]["MemorySwap"] == (128 << 20 if swap_accounted() else -1), \
        "docker's default for --memory alone: as much swap again, where the kernel limits swap"
    busybox.out("rm", "lm1", "lm2")


def test_update_memory_takes_effect_on_a_running_container(busybox, host):
    c = host.create_container("busybox", ["sleep", "600"], name="lm3", memory=64 << 20)
    c.start()
    try:
        assert c.exec(ALLOCATE_32M).exit_code == 0, "32 MiB fit under 64m"
        busybox.out("update", "--memory", "16m", "lm3")
        assert c.exec(ALLOCATE_32M).exit_code == 137, "and no longer under 16m: the OOM killer takes it"
        busybox.out("update", "--memory", "48m", "--memory-reservation", "24m", "lm3")
        assert c.exec(ALLOCATE_32M).exit_code == 0, "a limit raised again lets it through"
        assert c.reload().status == "running", "the OOM kill took only the process past the limit"
        c.stop(timeout=0)
        state = c.reload().inspect()["State"]
        assert state["OOMKilled"] is True, "an OOM kill in the container's run shows once it has stopped"
        config = c.inspect()["HostConfig"]
        assert (config["Memory"], config["MemoryReservation"]) == (48 << 20, 24 << 20)
    finally:
        c.remove(force=True)


def test_oom_kill_disable_makes_the_process_wait_instead(busybox):
    """A shell doubling a string faults its memory in from user space, where a task at its limit waits
    (a read() into a buffer would instead come back short)."""
    grow = "x=0123456789abcdef; while :; do x=$x$x; done"
    assert busybox("run", "--rm", "-m", "16m", "busybox", "sh", "-c", grow, timeout=20).returncode == 137
    cid = busybox.out("run", "-d", "--name", "lm4", "-m", "16m", "--oom-kill-disable", "busybox",
                      "sh", "-c", grow).strip()
    try:
        time.sleep(1.5)  # without the flag, the OOM killer takes it within milliseconds (as just seen)
        state = json.loads(busybox.out("inspect", "lm4"))[0]
        assert state["State"]["Running"] and not state["State"]["OOMKilled"], state["State"]
        assert state["HostConfig"]["OomKillDisable"] is True
        used = busybox.out("stats", "--no-stream", "--format", "{{.MemPerc}}", cid)
        assert float(used.strip().rstrip("%")) > 90, f"it waits at its limit: {used}"
    finally:
        start = time.monotonic()
        busybox.out("rm", "-f", "lm4")
        assert time.monotonic() - start < 10, "a process waiting for memory still dies of SIGKILL"


def test_oom_score_adj_is_the_containers_processes(busybox):
    busybox.out("run", "-d", "--name", "lo1", "--oom-score-adj", "500", "busybox", "sleep", "600")
    try:
        assert open(f"/proc/{init_pid(busybox, 'lo1')}/oom_score_adj").read().strip() == "500"
        assert busybox.out("exec", "lo1", "cat", "/proc/self/oom_score_adj") == "500\n", "exec'd processes too"
        assert json.loads(busybox.out("inspect", "lo1"))[0]["HostConfig"]["OomScoreAdj"] == 500
    finally:
        busybox.out("rm", "-f", "lo1")
    with open("/proc/self/status") as f:
        caps = int(next(line for line in f if line.startswith("CapEff:")).split()[1], 16)
    r = busybox("run", "--rm", "--oom-score-adj", "-500", "busybox", "cat", "/proc/self/oom_score_adj")
    if caps & (1 << 24):  # CAP_SYS_RESOURCE: lowering is allowed
        assert r.stdout == b"-500\n"
    else:
        assert r.returncode == 125 and b"lowering it needs CAP_SYS_RESOURCE" in r.stderr, r
    assert busybox.out("ps", "-aq") == ""


def test_a_fork_bomb_stops_at_the_pids_limit_and_the_host_stays_responsive(busybox):
    # a bomb with a bound of its own (2^9 processes at most) should the limit ever fail
    # (in a subshell, and PID 1 exec's sleep: a shell whose fork fails exits, and the container would with it)
    bomb = "f() { if [ $1 -gt 0 ]; then f $(($1 - 1)) & f $(($1 - 1)); fi; sleep 20; }; (f 8) & exec sleep 30"
    cid = busybox.out("run", "-d", "--name", "lp1", "--pids-limit", "32", "busybox", "sh", "-c", bomb).strip()
    try:
        time.sleep(1.5)
        start = time.monotonic()
        subprocess.run(["true"], check=True, timeout=5)
        assert time.monotonic() - start < 1.0, "the host still forks at once"
        count = int(busybox.out("stats", "--no-stream", "--format", "{{.PIDs}}", cid))
        assert 1 <= count <= 32, f"the bomb (511 processes unbounded) went no further than 32: {count}"
        assert "can't fork" in busybox.out("logs", "lp1") + busybox("logs", "lp1").stderr.decode()
    finally:
        busybox("rm", "-f", "lp1", timeout=30)


# ------------------------------------------------------------------------------- block I/O

def _disk_of(path: str) -> None:
    from corral.runtime.blockdev import whole_disk

    try:
        whole_disk(path, "--device-write-bps")
    except InvalidArgument as e:
        pytest.skip(f"the test's directory is on no disk: {e}")


def _timed_exec(busybox, name: str, *command: str) -> float:  # noqa: ANN001
    start = time.monotonic()
    busybox.out("exec", name, *command, timeout=30)
    return time.monotonic() - start


def test_direct_writes_and_reads_take_the_time_their_throttle_allows(busybox, tmp_path):
    """2 MiB written with O_DIRECT under 1 MiB/s take about 2 s; 40 reads under 20 IOPS about 2 s;
    the same with no limit a fraction of that. The limits name the test's directory, not a device."""
    _disk_of(str(tmp_path))
    data = tmp_path / "data"
    data.mkdir()
    with open(data / "f", "wb") as f:  # written and synced beforehand: O_DIRECT then rewrites blocks in place
        f.write(os.urandom(4 << 20))
        os.fsync(f.fileno())
    bind = f"{data}:/data"
    write = ("dd", "if=/dev/zero", "of=/data/f", "bs=64k", "count=32", "oflag=direct", "conv=notrunc")
    read = ("dd", "if=/data/f", "of=/dev/null", "bs=4k", "count=40", "iflag=direct")
    busybox.out("run", "-d", "--name", "lb1", "-v", bind, "--device-write-bps", f"{tmp_path}:1mb",
                "--device-read-iops", f"{tmp_path}:20", "busybox", "sleep", "600")
    busybox.out("run", "-d", "--name", "lb2", "-v", bind, "busybox", "sleep", "600")
    try:
        free_write, free_read = _timed_exec(busybox, "lb2", *write), _timed_exec(busybox, "lb2", *read)
        throttled_write, throttled_read = _timed_exec(busybox, "lb1", *write), _timed_exec(busybox, "lb1", *read)
        assert 1.6 <= throttled_write <= 4.0 and free_write < 1.0, (throttled_write, free_write)
        assert 1.5 <= throttled_read <= 4.0 and free_read < 1.0, (throttled_read, free_read)
        config = json.loads(busybox.out("inspect", "lb1"))[0]["HostConfig"]
        assert config["BlkioDeviceWriteBps"] == [{"Path": str(tmp_path), "Rate": 1 << 20}]
        assert config["BlkioDeviceReadIOps"] == [{"Path": str(tmp_path), "Rate": 20}]
        assert config["BlkioDeviceReadBps"] == [] and config["BlkioWeightDevice"] == []
    finally:
        busybox.out("rm", "-f", "lb1", "lb2")


def test_a_throttle_on_no_disk_is_refused_in_words(busybox):
    r = busybox("run", "--rm", "--device-write-bps", "/dev/shm:1mb", "busybox", "true")
    assert r.returncode == 125 and r.stderr == b"Error: --device-write-bps /dev/shm: its filesystem (tmpfs) is " \
                                               b"not on a block device, so there is no disk to limit\n", r.stderr
    r = busybox("create", "--device-read-iops", "/proc:ten", "busybox", "true")
    assert r.returncode == 125 and b'invalid argument "/proc:ten" for "--device-read-iops" flag: invalid rate' \
        in r.stderr, r.stderr
    assert busybox.out("ps", "-aq") == "", "nothing was made"


def test_docker_py_keywords_reach_the_cgroup(busybox, tmp_path):
    import corral

    _disk_of(str(tmp_path))
    client = corral.Client(busybox.root)
    c = client.containers.run("busybox", ["sh", "-c", BUSY], detach=True, cpu_period=50000, cpu_quota=10000,
                              oom_score_adj=200, mem_reservation="8m",
                              device_write_bps=[{"Path": str(tmp_path), "Rate": 1 << 20}])
    try:
        pid = c.attrs["State"]["Pid"]
        fifth, = cpu_shares_of([pid], 1.5)
        assert 0.12 <= fifth <= 0.28, f"cpu_quota 10000 per cpu_period 50000: {fifth:.2f} of a CPU"
        assert open(f"/proc/{pid}/oom_score_adj").read().strip() == "200"
        config = c.attrs["HostConfig"]
        assert (config["CpuPeriod"], config["CpuQuota"], config["OomScoreAdj"], config["MemoryReservation"]) == \
            (50000, 10000, 200, 8 << 20)
        assert config["BlkioDeviceWriteBps"] == [{"Path": str(tmp_path), "Rate": 1 << 20}]
    finally:
        c.remove(force=True)
        client.close()
