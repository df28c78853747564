"""run/create flags of docker's that reach the bundle (--init, --ulimit, --sysctl, --group-add, --ipc, --pid,
--uts, --device, --expose): how each is checked and what config.json says, without a container.
What each does to a real container is tests/test_runflags.py."""
from __future__ import annotations

import os

import pytest

from corral.errors import InvalidArgument
from corral.runtime import init, options, spec
from corral.runtime.options import ContainerOptions
from corral.store.rootfs import Mount
from corral.sys.fake import RecordingSyscall

pytestmark = pytest.mark.unit

CID = "beef" * 16


@pytest.fixture
def layers(tmp_path) -> list[str]:
    base = tmp_path / "base"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (base / "etc" / "group").write_text("root:x:0:\naudio:x:29:\nvideo:x:44:\n")
    return [str(base)]


def build(layers: list[str], **values: object) -> dict:
    values.setdefault("cmd", ["sh"])
    opts = ContainerOptions(**values)
    opts.check()
    rootfs = Mount("overlay", "overlay", (f"lowerdir={':'.join(layers)}", "upperdir=/b/upper", "workdir=/b/work"))
    return spec.build(CID, opts, {"config": {}}, rootfs, "/b")


def namespaces(cfg: dict) -> list[str]:
    return [ns["type"] for ns in cfg["linux"]["namespaces"]]


@pytest.mark.parametrize("text, expected", [
    ("nofile=1024:2048", ("nofile", 1024, 2048)), ("nproc=10", ("nproc", 10, 10)),
    ("core=-1", ("core", -1, -1)), ("core=0:-1", ("core", 0, -1)),
])
def test_ulimits_parse_as_dockers(text, expected):
    assert options.parse_ulimit(text) == expected


@pytest.mark.parametrize("text, message", [
    ("nofile", "invalid ulimit argument: nofile"), ("foo=1", "invalid ulimit type: foo"),
    ("as=1", "invalid ulimit type: as"), ("nofile=2048:1024", "soft limit must be less than or equal to hard "
                                                            "limit: 2048 > 1024"),
    ("nofile=-1:10", "-1 > 10"), ("nofile=x", "invalid ulimit argument"),
])
def test_bad_ulimits_are_refused_with_dockers_words(text, message):
    with pytest.raises(InvalidArgument, match=message):
        ContainerOptions(ulimits=[text]).check()


def test_ulimits_become_oci_rlimits_the_last_of_a_name_winning(layers):
    cfg = build(layers, ulimits=["nofile=10:20", "core=-1", "nofile=30:40"])
    assert cfg["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 30, "hard": 40},
                                         {"type": "RLIMIT_CORE", "soft": options.UNLIMITED,
                                          "hard": options.UNLIMITED}]
    assert "rlimits" not in build(layers)["process"]


def test_rlimits_are_set_before_the_identity_and_unknown_ones_fail():
    sys_ = RecordingSyscall()
    init.apply_rlimits([{"type": "RLIMIT_NOFILE", "soft": 5, "hard": 6}], sys_)
    assert sys_.named("setrlimit") == [(7, 5, 6)]
    sys_.fail("setrlimit", PermissionError(1, "Operation not permitted"))
    with pytest.raises(init.ExecFailure, match="nofile.*CAP_SYS_RESOURCE"):
        init.apply_rlimits([{"type": "RLIMIT_NOFILE", "soft": 5, "hard": 6}], sys_)


@pytest.mark.parametrize("key", ["net.ipv4.ip_forward", "kernel.shmmax", "kernel.shm_rmid_forced", "kernel.sem",
                                 "fs.mqueue.msg_max", "kernel.msgmnb"])
def test_namespaced_sysctls_are_allowed(layers, key):
    assert build(layers, sysctls={key: "1"})["linux"]["sysctl"] == {key: "1"}


@pytest.mark.parametrize("values, message", [
    ({"sysctls": {"vm.swappiness": "1"}}, "sysctl 'vm.swappiness=1' is not allowed"),
    ({"sysctls": {"kernel.hostname": "x"}}, "not allowed"),
    ({"sysctls": {"kernel.shmfoo": "1"}}, "not allowed"),
    ({"sysctls": {"net.core.somaxconn": "1"}, "network": "host"}, "another network namespace"),
    ({"sysctls": {"kernel.shmmax": "1"}, "ipc": "host"}, "another IPC namespace"),
    ({"sysctls": {"kernel.shmmax": "1"}, "ipc": "container:web"}, "another IPC namespace"),
])
def test_sysctls_of_the_host_are_refused(values, message):
    with pytest.raises(InvalidArgument, match=message):
        ContainerOptions(**values).check()


def test_group_add_takes_names_from_the_image_and_numbers(layers):
    cfg = build(layers, group_add=["audio", "1234", "video", "29"])
    assert cfg["process"]["user"]["additionalGids"] == [0, 29, 1234, 44]
    with pytest.raises(InvalidArgument, match="unable to find group nosuch"):
        build(layers, group_add=["nosuch"])


@pytest.mark.parametrize("values, absent", [
    ({}, []), ({"pid": "host"}, ["pid"]), ({"ipc": "host"}, ["ipc"]), ({"uts": "host"}, ["uts"]),
    ({"pid": "container:x", "ipc": "container:y"}, ["pid", "ipc"]), ({"ipc": "shareable"}, []),
    ({"ipc": "none"}, []), ({"network": "host"}, ["network"]), ({"cgroupns": "host"}, ["cgroup"]),
    ({"cgroupns": "private"}, []),
])
def test_shared_namespaces_are_left_out_of_the_bundle(layers, values, absent):
    every = ["pid", "ipc", "uts", "mount", "cgroup", "network"]
    assert namespaces(build(layers, **values)) == [t for t in every if t not in absent]


def test_joined_namespaces_go_in_an_annotation_the_monitor_fills_in(layers):
    opts = ContainerOptions(cmd=["sh"], pid="container:x")
    opts.check()
    rootfs = Mount("overlay", "overlay", (f"lowerdir={layers[0]}", "upperdir=/b/upper", "workdir=/b/work"))
    cfg = spec.build(CID, opts, {"config": {}}, rootfs, "/b", {"pid": "a" * 64}, None)
    assert cfg["annotations"][spec.JOINS_ANNOTATION] == '{"pid":"' + "a" * 64 + '"}'
    assert init.namespace_plan({"namespaces": [{"type": "pid", "path": "/proc/1/ns/pid"}]}) == (0, [])


@pytest.mark.parametrize("values, message", [
    ({"ipc": "bogus"}, "invalid IPC mode: bogus"), ({"pid": "bogus"}, "--pid: invalid PID mode"),
    ({"pid": "container:"}, "invalid PID mode"), ({"uts": "private"}, "--uts: invalid UTS mode"),
    ({"uts": "host", "hostname": "h"}, "conflicting options: hostname and the UTS mode"),
    ({"cgroupns": "shared"}, "--cgroupns: invalid CGROUP mode"),
])
def test_bad_namespace_modes_are_refused(values, message):
    with pytest.raises(InvalidArgument, match=message):
        ContainerOptions(**values).check()


def test_uts_host_sets_no_hostname_and_ipc_none_no_shm(layers):
    cfg = build(layers, uts="host")
    assert "hostname" not in cfg and f"HOSTNAME={os.uname().nodename}" in cfg["process"]["env"]
    assert "/dev/shm" not in [m["destination"] for m in build(layers, ipc="none")["mounts"]]
    rootfs = Mount("overlay", "overlay", (f"lowerdir={layers[0]}",))
    cfg = spec.build(CID, ContainerOptions(cmd=["sh"], ipc="shareable"), {"config": {}}, rootfs, "/b", None, "/b/shm")
    shm = [m for m in cfg["mounts"] if m["destination"] == "/dev/shm"]
    assert shm == [{"destination": "/dev/shm", "type": "bind", "source": "/b/shm",
                    "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev"]}]


def test_init_is_bound_read_only_and_runs_the_command(layers, monkeypatch):
    monkeypatch.setattr(spec, "INIT_BINARIES", ("/bin/true",))
    cfg = build(layers, init=True, cmd=["sleep", "1"])
    assert cfg["process"]["args"] == ["/sbin/docker-init", "--", "sleep", "1"]
    assert {"destination": "/sbin/docker-init", "type": "bind", "source": "/bin/true",
            "options": ["bind", "rprivate", "ro"]} in cfg["mounts"]
    monkeypatch.setattr(spec, "INIT_BINARIES", ("/nonexistent",))
    with pytest.raises(InvalidArgument, match="catatonit"):
        build(layers, init=True)


@pytest.mark.parametrize("text, expected", [
    ("/dev/kmsg", ("/dev/kmsg", "/dev/kmsg", "rwm")), ("/dev/kmsg:r", ("/dev/kmsg", "/dev/kmsg", "r")),
    ("/dev/kmsg:/dev/k", ("/dev/kmsg", "/dev/k", "rwm")), ("/dev/kmsg:/dev/k:rw", ("/dev/kmsg", "/dev/k", "rw")),
])
def test_devices_parse_as_dockers(text, expected):
    assert options.parse_device(text) == expected


@pytest.mark.parametrize("text, message", [("/dev/x:/y:rx", "invalid device mode: rx"),
                                           ("dev/x", "bad format for path: dev/x"), ("/a:/b:r:w", "invalid device")])
def test_bad_devices_are_refused(text, message):
    with pytest.raises(InvalidArgument, match=message):
        ContainerOptions(devices=[text]).check()


def test_a_device_is_a_node_and_a_cgroup_rule(layers):
    cfg = build(layers, devices=["/dev/null:/dev/mynull:rw"])
    assert cfg["linux"]["devices"] == [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                                        "fileMode": 0o666, "uid": 0, "gid": 0}]
    assert cfg["linux"]["resources"]["devices"][-1] == {"allow": True, "type": "c", "major": 1, "minor": 3,
                                                        "access": "rw"}
    with pytest.raises(InvalidArgument, match="not a device node"):
        build(layers, devices=["/etc/passwd"])
    with pytest.raises(InvalidArgument, match="no such file"):
        build(layers, devices=["/dev/nosuchdevice"])


def test_make_devices_replaces_what_is_at_the_path(tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "k").write_text("image's")
    sys_ = RecordingSyscall()
    from corral.runtime import mounts

    mounts.make_devices(str(tmp_path), [{"path": "/dev/k", "type": "c", "major": 1, "minor": 11,
                                         "fileMode": 0o644}], sys_)
    assert sys_.named("mknod") == [(str(tmp_path / "dev" / "k"), 0o020644, os.makedev(1, 11))]
    assert not (tmp_path / "dev" / "k").exists()


@pytest.mark.parametrize("text, keys", [("80", ["80/tcp"]), ("53/udp", ["53/udp"]),
                                        ("7000-7002", ["7000/tcp", "7001/tcp", "7002/tcp"])])
def test_expose_as_dockers_exposed_ports(text, keys):
    assert options.expose_ports(text) == keys


@pytest.mark.parametrize("text", ["abc", "80/xyz", "0", "9-8", "70000"])
def test_bad_expose_is_refused(text):
    with pytest.raises(InvalidArgument, match="invalid range format for --expose"):
        ContainerOptions(expose=[text]).check()
