"""The resource limits' pure logic: the flags read as docker's CLI reads them, docker's checks in its
words, a path turned into its whole disk (against a directory laid out as sysfs), the OCI values and
the v1 and v2 files they become (against directories laid out as cgroupfs), the OOM counters, the
docker-py keywords, and the store's new column."""
from __future__ import annotations

import os

import pytest

from corral.api.models.create import create_options
from corral.cli import limits
from corral.errors import InvalidArgument, UnexpectedArgument
from corral.runtime import blockdev, cgroups, resources, spec
from corral.runtime.options import ContainerOptions, parse_throttle, parse_weight_device
from corral.store.rootfs import Mount
import test_resources_unit

pytestmark = pytest.mark.unit

CID = "0123456789ab" * 5 + "cdef"
RATE_WORDS = "The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is " \
             "optional and can be kb, mb, or gb"


# ------------------------------------------------------------------------------- the flags

def test_throttles_and_device_weights_read_as_the_docker_cli_reads_them():
    assert parse_throttle("/var/lib/corral:10mb") == {"Path": "/var/lib/corral", "Rate": 10 << 20}
    assert parse_throttle("/dev/vda:1.5k") == {"Path": "/dev/vda", "Rate": 1536}
    assert parse_throttle("/dev/vda:300", iops=True) == {"Path": "/dev/vda", "Rate": 300}
    assert parse_throttle("/srv/a:b:1m") == {"Path": "/srv/a:b", "Rate": 1 << 20}, "a path may hold a colon"
    assert parse_weight_device("/dev/vda:200") == {"Path": "/dev/vda", "Weight": 200}
    assert parse_weight_device("/dev/vda:0") == {"Path": "/dev/vda", "Weight": 0}
    for text, iops, message in (("/dev/vda", False, "bad format: /dev/vda"), (":1m", False, "bad format: :1m"),
                                ("/dev/vda:fast", False, f"invalid rate for device: /dev/vda:fast. {RATE_WORDS}"),
                                ("/dev/vda:-1m", False, "invalid rate for device: /dev/vda:-1m"),
                                ("/dev/vda:1m", True, "invalid rate for device: /dev/vda:1m. The correct format is "
                                                      "<device-path>:<number>. Number must be a positive integer")):
        with pytest.raises(InvalidArgument) as e:
            parse_throttle(text, iops=iops)
        assert str(e.value).startswith(message), str(e.value)
    for text in ("/dev/vda:5", "/dev/vda:1001", "/dev/vda:x"):
        with pytest.raises(InvalidArgument, match=f"^invalid weight for device: {text}$"):
            parse_weight_device(text)


def run_flags(**given: object) -> dict:
    """A parsed run/create command line with nothing set but `given`."""
    o = {key: [] if key in limits.THROTTLES or key == "blkio_weight_device" else None for key in limits.FLAGS}
    o["oom_kill_disable"] = False
    return dict(o, **given)


def test_the_limit_flags_become_engine_options():
    assert not limits.given(run_flags())
    o = run_flags(memory_swappiness="-1", oom_kill_disable=True, oom_score_adj="-10", cpu_quota="-1",
                  device_write_bps=["/tmp:1mb", "/var:2m"], device_read_iops=["/tmp:30"],
                  blkio_weight_device=["/tmp:300"], memory_reservation="32m", cpuset_mems="0")
    assert limits.given(o)
    assert limits.read(o) == {
        "oom_kill_disable": True, "oom_score_adj": -10, "cpu_quota": -1, "memory_reservation": 32 << 20,
        "device_write_bps": [{"Path": "/tmp", "Rate": 1 << 20}, {"Path": "/var", "Rate": 2 << 20}],
        "device_read_iops": [{"Path": "/tmp", "Rate": 30}], "blkio_weight_device": [{"Path": "/tmp", "Weight": 300}],
        "cpuset_mems": "0"}, "--memory-swappiness -1 is docker's default: the host's"
    for flag, value, why in (("memory", "lots", "invalid size: 'lots'"), ("cpus", "half", "not a number"),
                             ("oom_score_adj", "1.5", "not an integer"),
                             ("device_read_bps", "/tmp", "bad format: /tmp")):
        with pytest.raises(InvalidArgument) as e:
            limits.read(run_flags(**{flag: [value] if flag == "device_read_bps" else value}))
        assert str(e.value) == f'invalid argument "{value}" for "--{flag.replace("_", "-")}" flag: {why}'


@pytest.mark.parametrize(("options", "message"), [
    ({"memory_swappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
    ({"memory_swappiness": -2}, "Invalid value: -2, valid memory swappiness range is 0-100"),
    ({"oom_score_adj": 1001}, r"Invalid value 1001, range for oom score adj is \[-1000, 1000\]"),
    ({"oom_score_adj": -1001}, r"Invalid value -1001, range for oom score adj is \[-1000, 1000\]"),
    ({"device_write_bps": [{"Path": "/", "Rate": -1}]}, "--device-write-bps: invalid entry"),
    ({"device_read_iops": [{"Path": "", "Rate": 1}]}, "--device-read-iops: invalid entry"),
    ({"blkio_weight_device": [{"Path": "/", "Weight": 5}]}, "--blkio-weight-device: invalid entry"),
    ({"device_write_bps": [{"Path": "/no/such/path", "Rate": 1}]}, "--device-write-bps /no/such/path: No such file"),
])
def test_the_new_limits_are_checked_in_dockers_words(options, message):
    with pytest.raises(InvalidArgument, match=message):
        ContainerOptions(cmd=["sh"], **options).check()


# ------------------------------------------------------------------------------- a path's whole disk

@pytest.fixture
def sysfs(tmp_path):
    """/sys/dev/block as a host with a disk (8:0) and its partition (8:1) shows it, and a mountinfo."""
    disk = tmp_path / "devices" / "block" / "sda"
    (disk / "sda1").mkdir(parents=True)
    (disk / "dev").write_text("8:0\n")
    (disk / "sda1" / "dev").write_text("8:1\n")
    (disk / "sda1" / "partition").write_text("1\n")
    links = tmp_path / "dev" / "block"
    links.mkdir(parents=True)
    (links / "8:0").symlink_to(disk)
    (links / "8:1").symlink_to(disk / "sda1")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n40 22 0:41 / /run rw - tmpfs tmpfs rw\n")
    return str(tmp_path), str(mountinfo)


def test_a_partition_is_taken_as_its_whole_disk_and_a_disk_as_itself(sysfs):
    root, mountinfo = sysfs
    assert blockdev.disk_of(8, 1, "--device-write-bps /srv", root, mountinfo) == (8, 0)
    assert blockdev.disk_of(8, 0, "--device-write-bps /dev/sda", root, mountinfo) == (8, 0)


def test_a_path_on_no_block_device_is_refused_naming_its_filesystem(sysfs):
    root, mountinfo = sysfs
    with pytest.raises(InvalidArgument, match=r"^--device-write-bps /run/x: its filesystem \(tmpfs\) is not on a "
                                              "block device, so there is no disk to limit$"):
        blockdev.disk_of(0, 41, "--device-write-bps /run/x", root, mountinfo)
    with pytest.raises(InvalidArgument, match="its device 0:99 is not on a block device"):
        blockdev.disk_of(0, 99, "--device-write-bps /x", root, mountinfo)
    with pytest.raises(InvalidArgument, match="^--device-read-bps /no/such: No such file or directory$"):
        blockdev.whole_disk("/no/such", "--device-read-bps", root, mountinfo)


def test_oci_resources_of_the_new_options(monkeypatch):
    disks = {"/a": (8, 0), "/b": (8, 0), "/c": (253, 1)}
    monkeypatch.setattr(blockdev, "whole_disk", lambda path, flag: disks[path])
    opts = ContainerOptions(cmd=["sh"], memory=64 << 20, memory_swappiness=0, oom_kill_disable=True,
                            blkio_weight=300, blkio_weight_device=[{"Path": "/c", "Weight": 700}],
                            device_write_bps=[{"Path": "/a", "Rate": 1 << 20}, {"Path": "/b", "Rate": 2 << 20}],
                            device_read_iops=[{"Path": "/c", "Rate": 40}], oom_score_adj=300)
    assert resources.limits(opts) == {
        "memory": {"limit": 64 << 20, "swappiness": 0, "disableOOMKiller": True},
        "blockIO": {"weight": 300, "weightDevice": [{"major": 253, "minor": 1, "weight": 700}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2 << 20}],
                    "throttleReadIOPSDevice": [{"major": 253, "minor": 1, "rate": 40}]}}, \
        "two paths on one disk: the last one's rate"
    rootfs = Mount("overlay", "overlay", ("lowerdir=/b/empty", "upperdir=/b/upper", "workdir=/b/work"))
    built = spec.build(CID, opts, {}, rootfs, "/bundle")
    assert built["process"]["oomScoreAdj"] == 300
    assert "oomScoreAdj" not in spec.build(CID, ContainerOptions(cmd=["sh"]), {}, rootfs, "/bundle")["process"]


# ------------------------------------------------------------------------------- the files written

writes = test_resources_unit.writes  # the fixture recording what the managers write


BLOCK_IO = {"weightDevice": [{"major": 8, "minor": 0, "weight": 700}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1 << 20}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2 << 20}, {"major": 253, "minor": 1,
                                                                                  "rate": 0}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 300}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]}


def cgroup1(tmp_path, *names: str) -> cgroups.CgroupV1:
    """A v1 blkio and memory hierarchy whose root and container have the files `names`."""
    for ctrl in ("blkio", "memory"):
        for d in (tmp_path / ctrl, tmp_path / ctrl / "corral" / CID):
            d.mkdir(parents=True, exist_ok=True)
            for name in names:
                if name.startswith(ctrl):
                    (d / name).write_text("")
    return cgroups.CgroupV1(f"/corral/{CID}", {c: str(tmp_path / c) for c in ("blkio", "memory")})


def test_v1_writes_device_weights_throttles_swappiness_and_the_oom_switch(tmp_path, writes):
    names = ["blkio.weight_device", "memory.swappiness", "memory.oom_control"] + \
        [f"blkio.throttle.{n}_device" for n in ("read_bps", "write_bps", "read_iops", "write_iops")]
    cg = cgroup1(tmp_path, *names)
    cg.set({"blockIO": BLOCK_IO, "memory": {"limit": 64 << 20, "swappiness": 0, "disableOOMKiller": True}})
    assert writes == [("memory.limit_in_bytes", str(64 << 20)), ("memory.swappiness", "0"),
                      ("memory.oom_control", "1"), ("blkio.weight_device", "8:0 700"),
                      ("blkio.throttle.read_bps_device", f"8:0 {1 << 20}"),
                      ("blkio.throttle.write_bps_device", f"8:0 {2 << 20}"),
                      ("blkio.throttle.write_bps_device", "253:1 0"),
                      ("blkio.throttle.read_iops_device", "8:0 300"), ("blkio.throttle.write_iops_device", "8:0 100")]
    cgroups.refuse_unsupported({"blockIO": BLOCK_IO, "memory": {"swappiness": 0}}, str(tmp_path))


def test_v1_refuses_what_its_hierarchies_lack(tmp_path):
    cgroup1(tmp_path, "memory.oom_control")
    for asked, flag in (({"blockIO": {"weightDevice": BLOCK_IO["weightDevice"]}}, "--blkio-weight-device"),
                        ({"blockIO": {"throttleWriteIOPSDevice": BLOCK_IO["throttleWriteIOPSDevice"]}},
                         "--device-write-iops"),
                        ({"memory": {"swappiness": 10}}, "--memory-swappiness")):
        with pytest.raises(InvalidArgument, match=f"^{flag} is not supported on this host"):
            cgroups.refuse_unsupported(asked, str(tmp_path))


@pytest.fixture
def cgroup2(tmp_path) -> cgroups.CgroupV2:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    cg = cgroups.CgroupV2(f"/corral/{CID}", str(tmp_path))
    os.makedirs(cg.dir)
    for name in ("io.max", "io.weight", "memory.events"):
        open(os.path.join(cg.dir, name), "w").close()
    return cg


def test_v2_writes_one_io_max_line_per_disk_and_weights_in_its_units(cgroup2, writes):
    cgroup2.set({"blockIO": dict(BLOCK_IO, weight=500)})
    assert writes == [("io.weight", "default 4950"), ("io.weight", "8:0 6970"),
                      ("io.max", f"8:0 rbps={1 << 20} wbps={2 << 20} riops=300 wiops=100"),
                      ("io.max", "253:1 wbps=max")], "a rate of 0 lifts the limit, as it does on v1"
    writes.clear()
    open(os.path.join(cgroup2.dir, "io.bfq.weight"), "w").close()
    cgroup2.set({"blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 700}]}})
    assert writes == [("io.bfq.weight", "default 500"), ("io.bfq.weight", "8:0 700")], "BFQ takes blkio's units"


def test_v2_has_no_swappiness_nor_oom_switch_and_says_so(cgroup2, writes):
    for memory, flag in (({"swappiness": 0}, "--memory-swappiness"), ({"disableOOMKiller": True},
                                                                       "--oom-kill-disable")):
        with pytest.raises(InvalidArgument, match=f"^{flag} is not supported on cgroup v2 hosts"):
            cgroups.refuse_unsupported({"memory": memory}, cgroup2.root)
        with pytest.raises(InvalidArgument, match=flag):
            cgroup2.set({"memory": memory})
    os.remove(os.path.join(cgroup2.dir, "io.max"))
    with pytest.raises(InvalidArgument, match="is not supported on this host: its cgroups have no io.max"):
        cgroup2.set({"blockIO": {"throttleReadBpsDevice": BLOCK_IO["throttleReadBpsDevice"]}})
    assert writes == []


def test_oom_kills_are_read_from_each_versions_counter(cgroup2, tmp_path):
    assert cgroup2.oom_kills() == 0
    with open(os.path.join(cgroup2.dir, "memory.events"), "w") as f:
        f.write("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n")
    assert cgroup2.oom_kills() == 1
    v1 = cgroup1(tmp_path / "v1", "memory.oom_control")
    assert v1.oom_kills() == 0
    with open(os.path.join(v1.dirs["memory"], "memory.oom_control"), "w") as f:
        f.write("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert v1.oom_kills() == 3
    assert cgroups.CgroupV1(f"/corral/{CID}", {}).oom_kills() == 0, "no memory hierarchy: no OOM kill to report"


# ------------------------------------------------------------------------------- docker-py and the store

def test_docker_py_keywords_of_the_limits():
    options = create_options("run", {
        "cpu_shares": 512, "cpu_period": 50000, "cpu_quota": 25000, "cpuset_cpus": "0", "cpuset_mems": "0",
        "memswap_limit": "128m", "mem_reservation": 32 << 20, "mem_swappiness": 0, "oom_kill_disable": True,
        "oom_score_adj": 100, "blkio_weight": 300, "blkio_weight_device": [{"Path": "/dev/vda", "Weight": 200}],
        "device_read_bps": [{"Path": "/dev/vda", "Rate": 1024}], "device_write_iops": [{"Path": "/", "Rate": 5}]})
    assert options == {
        "cpu_shares": 512, "cpu_period": 50000, "cpu_quota": 25000, "cpuset_cpus": "0", "cpuset_mems": "0",
        "memory_swap": 128 << 20, "memory_reservation": 32 << 20, "memory_swappiness": 0, "oom_kill_disable": True,
        "oom_score_adj": 100, "blkio_weight": 300, "blkio_weight_device": [{"Path": "/dev/vda", "Weight": 200}],
        "device_read_bps": [{"Path": "/dev/vda", "Rate": 1024}], "device_write_iops": [{"Path": "/", "Rate": 5}]}
    with pytest.raises(InvalidArgument, match="every item of device_write_bps is a dict with the keys Path and Rate"):
        create_options("run", {"device_write_bps": [{"path": "/", "rate": 1}]})
    with pytest.raises(UnexpectedArgument, match="cpu_shares must be"):
        create_options("run", {"cpu_shares": "512"})


def test_an_older_store_gains_the_oom_killed_column(tmp_path):
    from corral.store import db

    conn = db.connect(str(tmp_path / "corral.db"))
    conn.executescript(db.SCHEMA.replace(", oom_killed INTEGER NOT NULL DEFAULT 0", ""))
    conn.execute("PRAGMA user_version=4")
    conn.execute("INSERT INTO images VALUES('i', 'd', 'c', NULL, 0)")
    conn.execute("INSERT INTO containers(id, name, image_id, image_ref, created, options, state) "
                 "VALUES('c1', 'n', 'i', 'busybox', 'now', '{}', 'exited')")
    db.ensure_schema(conn)
    assert conn.execute("SELECT oom_killed FROM containers").fetchall() == [(0,)]
    db.ensure_schema(conn)  # again: nothing to add
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
