"""Stats and limits without root: the cgroup counters read from directories laid out as cgroupfs (v1 and
v2, as test_cgroups.py lays them out), /proc/stat and net/dev from files, the limits the managers write
for an update, docker's checks of the options, and the docker CLI's formulas for the stats table."""
from __future__ import annotations

import os

import pytest

from corral.cli import fmt, limits, resource_cmds
from corral.errors import InvalidArgument
from corral.runtime import cgroups, stats
from corral.runtime.options import ContainerOptions

pytestmark = pytest.mark.unit

CID = "0123456789ab" * 5 + "cdef"


def files(d: str, contents: dict[str, str]) -> None:
    os.makedirs(d, exist_ok=True)
    for name, text in contents.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)


# ------------------------------------------------------------------------------- reading counters


def test_v2_counters_in_dockers_shape(tmp_path):
    d = str(tmp_path / "corral" / CID)
    files(d, {
        "cpu.stat": "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 7\nnr_throttled 3\n"
                    "throttled_usec 40\n",
        "memory.current": "10485760\n", "memory.max": "max\n",
        "memory.stat": "anon 4096\nfile 8192\ninactive_file 2048\nshmem 0\n",
        "memory.events": "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
        "pids.current": "3\n", "pids.max": "max\n",
        "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
    })
    got = stats.read(cgroups.CgroupV2(f"/corral/{CID}", str(tmp_path)))
    assert got["cpu_stats"] == {
        "cpu_usage": {"total_usage": 2_500_000, "usage_in_kernelmode": 500_000, "usage_in_usermode": 2_000_000},
        "throttling_data": {"periods": 7, "throttled_periods": 3, "throttled_time": 40_000}}
    memory = got["memory_stats"]
    assert memory["usage"] == 10485760 and memory["failcnt"] == 1
    assert memory["limit"] == stats.machine_memory(), "no limit reads as the host's memory, as docker's"
    assert list(memory["stats"]) == list(stats.V2_MEMORY_KEYS) and memory["stats"]["inactive_file"] == 2048
    assert "total_inactive_file" not in memory["stats"]
    assert got["pids_stats"] == {"current": 3}, "an unlimited pids.max is omitted, as docker's 0"
    assert got["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 4096}, {"major": 8, "minor": 0, "op": "write", "value": 8192}]
    assert got["blkio_stats"]["io_serviced_recursive"] is None


def test_v2_limits_below_the_host_are_reported_as_set(tmp_path):
    files(str(tmp_path), {"memory.current": "1\n", "memory.max": "67108864\n", "pids.max": "50\n"})
    got = stats.read_v2(str(tmp_path))
    assert got["memory_stats"]["limit"] == 64 << 20 and got["pids_stats"] == {"limit": 50}
    assert "failcnt" not in got["memory_stats"]


def test_v1_counters_in_dockers_shape(tmp_path):
    dirs = {c: str(tmp_path / c / "corral" / CID) for c in ("cpu", "cpuacct", "memory", "pids", "blkio")}
    ticks = stats.CLOCK_TICKS
    files(dirs["cpuacct"], {"cpuacct.usage": "300\n", "cpuacct.usage_percpu": "100 200 \n",
                            "cpuacct.stat": f"user {2 * ticks}\nsystem {ticks}\n"})
    files(dirs["cpu"], {"cpu.stat": "nr_periods 5\nnr_throttled 1\nthrottled_time 999\n"})
    files(dirs["memory"], {"memory.usage_in_bytes": "5000\n", "memory.max_usage_in_bytes": "6000\n",
                           "memory.limit_in_bytes": "9223372036854771712\n", "memory.failcnt": "0\n",
                           "memory.stat": "cache 100\nrss 200\ntotal_inactive_file 1000\n"})
    files(dirs["pids"], {"pids.current": "2\n", "pids.max": "10\n"})
    files(dirs["blkio"], {"blkio.io_service_bytes_recursive": "Total 0\n",
                          "blkio.throttle.io_service_bytes_recursive": "8:0 Read 10\n8:0 Write 20\n8:0 Total 30\n"
                                                                       "Total 30\n"})
    got = stats.read_v1(dirs)
    assert got["cpu_stats"]["cpu_usage"] == {"total_usage": 300, "percpu_usage": [100, 200],
                                             "usage_in_kernelmode": 10**9, "usage_in_usermode": 2 * 10**9}
    assert got["cpu_stats"]["throttling_data"] == {"periods": 5, "throttled_periods": 1, "throttled_time": 999}
    memory = got["memory_stats"]
    assert (memory["usage"], memory["max_usage"], memory["limit"]) == (5000, 6000, stats.machine_memory())
    assert "failcnt" not in memory, "docker's JSON omits a zero failcnt"
    assert list(memory["stats"]) == list(stats.V1_MEMORY_KEYS)
    assert (memory["stats"]["cache"], memory["stats"]["total_inactive_file"]) == (100, 1000)
    assert got["pids_stats"] == {"current": 2, "limit": 10}
    assert [(e["op"], e["value"]) for e in got["blkio_stats"]["io_service_bytes_recursive"]] == [
        ("Read", 10), ("Write", 20), ("Total", 30)], "the throttle layer's counters when CFQ's are empty"


def test_host_cpu_time_and_online_cpus_from_proc_stat(tmp_path):
    files(str(tmp_path), {"stat": "cpu  100 1 50 1000 9 2 3 77 0 0\ncpu0 50 0 25 500 4 1 1 0 0 0\n"
                                  "cpu1 50 1 25 500 5 1 2 0 0 0\nintr 5\n"})
    total, cpus = stats.system_cpu(str(tmp_path))
    assert total == (100 + 1 + 50 + 1000 + 9 + 2 + 3) * 10**9 // stats.CLOCK_TICKS, "steal is not counted"
    assert cpus == 2


def test_network_counters_per_interface_without_lo(tmp_path):
    files(str(tmp_path / "42" / "net"), {"dev": (
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls"
        " carrier compressed\n"
        "    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0"
        "       0          0\n"
        "  eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0"
        "       0          0\n")})
    assert stats.networks(42, str(tmp_path)) == {"eth0": {
        "rx_bytes": 2000, "rx_packets": 20, "rx_errors": 1, "rx_dropped": 2,
        "tx_bytes": 3000, "tx_packets": 30, "tx_errors": 3, "tx_dropped": 4}}
    assert stats.networks(43, str(tmp_path)) == {}, "a process gone has no interfaces"


# ------------------------------------------------------------------------------- writing limits


@pytest.fixture
def writes(monkeypatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    real = cgroups._write

    def recording(path: str, value: str) -> None:
        seen.append((os.path.basename(path), value))
        real(path, value)

    monkeypatch.setattr(cgroups, "_write", recording)
    return seen


def test_v2_set_converts_to_v2_files_and_units(tmp_path, writes):
    cg = cgroups.CgroupV2(f"/corral/{CID}", str(tmp_path))
    files(cg.dir, {"memory.swap.max": "max\n", "io.weight": "default 100\n", "cpu.max": "max 100000\n"})
    cg.set({"memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 32 << 20},
            "cpu": {"shares": 512, "cpus": "0", "mems": "0"}, "pids": {"limit": -1}, "blockIO": {"weight": 500}})
    assert writes == [("memory.max", str(64 << 20)), ("memory.swap.max", str(32 << 20)),
                      ("memory.low", str(32 << 20)), ("cpu.weight", "20"), ("cpuset.cpus", "0"),
                      ("cpuset.mems", "0"), ("pids.max", "max"), ("io.weight", "default 4950")]
    writes.clear()
    cg.set({"cpu": {"period": 50000}})
    assert writes == [("cpu.max", "max 50000")], "a new period keeps the quota in force"
    writes.clear()
    cg.set({"cpu": {"quota": -1, "period": 100000}, "memory": {"limit": 64 << 20, "swap": -1}})
    assert writes == [("memory.max", str(64 << 20)), ("memory.swap.max", "max"), ("cpu.max", "max 100000")]


def test_shares_map_onto_v2_weights_as_runc_maps_them():
    assert [cgroups.shares_to_weight(s) for s in (2, 1024, 262144, 1)] == [1, 39, 10000, 1]


def test_v1_memsw_is_raised_before_a_limit_that_outgrows_it(tmp_path, writes):
    d = str(tmp_path / "memory" / "corral" / CID)
    files(d, {"memory.memsw.limit_in_bytes": str(64 << 20)})
    cg = cgroups.CgroupV1(f"/corral/{CID}", {"memory": str(tmp_path / "memory")})
    cg.set({"memory": {"limit": 128 << 20, "swap": 256 << 20}})
    assert writes == [("memory.memsw.limit_in_bytes", str(256 << 20)), ("memory.limit_in_bytes", str(128 << 20))]
    writes.clear()
    cg.set({"memory": {"limit": 32 << 20, "swap": 64 << 20, "reservation": 16 << 20}})
    assert writes == [("memory.limit_in_bytes", str(32 << 20)), ("memory.memsw.limit_in_bytes", str(64 << 20)),
                      ("memory.soft_limit_in_bytes", str(16 << 20))]


def test_v1_limits_a_host_cannot_apply_are_refused_in_words(tmp_path):
    for ctrl in cgroups.V1_CONTROLLERS:
        os.makedirs(tmp_path / ctrl)
    with pytest.raises(InvalidArgument, match="--blkio-weight is not supported on this host"):
        cgroups.refuse_unsupported({"blockIO": {"weight": 100}}, str(tmp_path))
    with pytest.raises(InvalidArgument, match="swapaccount=1"):
        cgroups.refuse_unsupported({"memory": {"limit": 64 << 20, "swap": 128 << 20}}, str(tmp_path))
    cgroups.refuse_unsupported({"memory": {"swap": -1}}, str(tmp_path))  # unlimited swap needs no accounting
    (tmp_path / "blkio" / "blkio.weight").write_text("500\n")
    cgroups.refuse_unsupported({"blockIO": {"weight": 100}}, str(tmp_path))


# ------------------------------------------------------------------------------- docker's checks


@pytest.mark.parametrize(("options", "message"), [
    ({"memory_reservation": 1 << 20}, "Minimum memory reservation allowed is 6MB"),
    ({"memory": 64 << 20, "memory_swap": 32 << 20}, "Minimum memoryswap limit should be larger than memory limit"),
    ({"memory_swap": 64 << 20}, "You should always set the Memory limit when using Memoryswap limit"),
    ({"memory": 64 << 20, "memory_reservation": 128 << 20}, "can not be less than memory reservation limit"),
    ({"cpus": 1.0, "cpu_period": 50000}, "Nano CPUs and CPU Period cannot both be set"),
    ({"cpus": 1.0, "cpu_quota": 50000}, "Nano CPUs and CPU Quota cannot both be set"),
    ({"cpu_period": 500}, "CPU cfs period can not be less than 1ms"),
    ({"cpu_quota": 999}, "CPU cfs quota can not be less than 1ms"),
    ({"cpuset_cpus": "1-0"}, "Invalid value 1-0 for cpuset cpus"),
    ({"cpuset_cpus": "0,4096"}, "Requested CPUs are not available - requested 0,4096, available: "),
    ({"blkio_weight": 5}, "Range of blkio weight is from 10 to 1000"),
])
def test_limits_are_checked_in_dockers_words(options, message):
    with pytest.raises(InvalidArgument, match=message):
        ContainerOptions(cmd=["sh"], **options).check()


def test_an_update_may_set_swap_alone_and_lift_limits():
    ContainerOptions(cmd=["sh"], memory_swap=64 << 20).check(update=True)
    ContainerOptions(cmd=["sh"], memory=64 << 20, memory_swap=-1, cpu_quota=-1, cpuset_cpus="0").check()


# ------------------------------------------------------------------------------- the docker CLI's formulas


def frame(total: int, pre_total: int, system: int, pre_system: int, online: int = 2, **memory: int) -> dict:
    return {"id": "f" * 64, "name": "/web", "pids_stats": {"current": 4},
            "cpu_stats": {"cpu_usage": {"total_usage": total, "percpu_usage": [0] * 4}, "system_cpu_usage": system,
                          "online_cpus": online},
            "precpu_stats": {"cpu_usage": {"total_usage": pre_total}, "system_cpu_usage": pre_system},
            "memory_stats": memory, "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 1500}, {"major": 8, "minor": 0, "op": "write",
                                                                        "value": 2_500_000},
                {"major": 8, "minor": 0, "op": "Total", "value": 2_501_500}]},
            "networks": {"eth0": {"rx_bytes": 1000, "tx_bytes": 24}, "eth1": {"rx_bytes": 50, "tx_bytes": 0}}}


def test_cpu_percent_is_the_cpu_delta_over_the_system_delta_times_cpus():
    assert resource_cmds.cpu_percent(frame(1_500, 1_000, 12_000, 10_000)) == pytest.approx(50.0)
    assert resource_cmds.cpu_percent(frame(1_500, 1_000, 12_000, 10_000, online=0)) == pytest.approx(100.0), \
        "without online_cpus, the per-CPU list's length"
    assert resource_cmds.cpu_percent(frame(1_000, 1_000, 12_000, 10_000)) == 0.0
    assert resource_cmds.cpu_percent(frame(1_500, 0, 12_000, 0)) > 0, "a first frame against zeros, as docker"


def test_memory_in_use_leaves_out_inactive_file_pages():
    assert resource_cmds.memory_used({"usage": 1000, "stats": {"total_inactive_file": 300, "inactive_file": 1}}) \
        == 700, "v1: total_inactive_file"
    assert resource_cmds.memory_used({"usage": 1000, "stats": {"inactive_file": 400}}) == 600, "v2: inactive_file"
    assert resource_cmds.memory_used({"usage": 1000, "stats": {"inactive_file": 4000}}) == 1000
    assert resource_cmds.memory_used({}) == 0


def test_a_row_of_the_table_as_docker_prints_it():
    f = frame(1_500, 1_000, 12_000, 10_000, usage=2 << 20, limit=64 << 20, stats={"total_inactive_file": 0})
    def cells(r: dict) -> tuple:
        return tuple(r[c] for c in resource_cmds.COLUMNS)

    assert cells(resource_cmds.row(f)) == ("ffffffffffff", "web", "50.00%", "2MiB / 64MiB", "3.12%", "1.05kB / 24B",
                                           "1.5kB / 2.5MB", "4")
    assert resource_cmds.row(f, no_trunc=True)["ID"] == "f" * 64 and resource_cmds.row(f)["Container"] == "web"
    stopped = dict(f, memory_stats={}, networks=None, blkio_stats={"io_service_bytes_recursive": None},
                   pids_stats={})
    assert cells(resource_cmds.row(stopped))[3:] == ("0B / 0B", "0.00%", "0B / 0B", "0B / 0B", "0")


def test_binary_sizes_as_dockers_bytes_size():
    assert [fmt.binary_size(n) for n in (0, 512, 2048, 2_048_000, 25_276_194_816)] == [
        "0B", "512B", "2KiB", "1.953MiB", "23.54GiB"]


def test_update_flags_become_engine_keywords():
    o = {"memory": "64m", "memory_reservation": None, "memory_swap": "-1", "cpus": "0.5", "cpu_shares": "512",
         "cpu_period": None, "cpu_quota": None, "pids_limit": "-1", "blkio_weight": None, "cpuset_cpus": "0-1",
         "cpuset_mems": None}
    assert limits.read(o) == {"memory": 64 << 20, "memory_swap": -1, "cpus": 0.5, "cpu_shares": 512,
                              "pids_limit": -1, "cpuset_cpus": "0-1"}
    with pytest.raises(InvalidArgument, match='invalid argument "lots" for "--cpu-shares" flag'):
        limits.read(dict(o, cpu_shares="lots"))
