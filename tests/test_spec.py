"""Building a container's OCI config.json, and the capability sets in it: pure logic, no container.

The values follow Docker (moby's oci/defaults.go and daemon/oci_linux.go):
what `docker create` puts in a bundle for the same options.
"""
from __future__ import annotations

import json
import os

import pytest

from corral.errors import InvalidArgument
from corral.runtime import caps, spec
from corral.runtime.options import MIN_MEMORY, ContainerOptions, parse_bytes
from corral.store.rootfs import ROOTFS_ANNOTATION, Mount, rootfs_of

pytestmark = pytest.mark.unit

CID = "f00d" * 16
DEFAULT_CAPS = ["CAP_" + n for n in caps.DOCKER_DEFAULT]


@pytest.fixture
def layers(tmp_path) -> list[str]:
    """Two image layers, top first; the lower one holds /etc/passwd and /etc/group."""
    top, base = tmp_path / "top", tmp_path / "base"
    (base / "etc").mkdir(parents=True)
    top.mkdir()
    (base / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n")
    (base / "etc" / "group").write_text("root:x:0:\nweb:x:33:\nlog:x:4:web\nstaff:x:50:web,other\n")
    return [str(top), str(base)]


def build(layers: list[str], image: dict | None = None, **options: object) -> dict:
    options.setdefault("cmd", ["sh"])
    opts = ContainerOptions(**options)
    opts.check()
    rootfs = Mount("overlay", "overlay", (f"lowerdir={':'.join(layers)}", "upperdir=/b/upper", "workdir=/b/work"))
    return spec.build(CID, opts, {"config": image or {}}, rootfs, "/b")


# ------------------------------------------------------------------------------------- the bundle


def test_defaults_are_dockers(layers):
    cfg = build(layers)
    process, linux = cfg["process"], cfg["linux"]
    assert cfg["ociVersion"] == "1.0.2" and cfg["root"] == {"path": "rootfs", "readonly": False}
    assert cfg["hostname"] == CID[:12]
    assert process["user"] == {"uid": 0, "gid": 0, "additionalGids": [0]}
    assert process["args"] == ["sh"] and process["cwd"] == "/" and process["terminal"] is False
    assert process["env"] == [f"HOSTNAME={CID[:12]}", "HOME=/root", spec.DEFAULT_PATH]
    assert process["noNewPrivileges"] is True
    assert process["capabilities"] == {"bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS,
                                       "permitted": DEFAULT_CAPS, "inheritable": [], "ambient": []}
    assert [ns["type"] for ns in linux["namespaces"]] == ["pid", "ipc", "uts", "mount", "cgroup", "network"]
    assert linux["cgroupsPath"] == f"/corral/{CID}"
    assert linux["maskedPaths"] == spec.MASKED_PATHS and linux["readonlyPaths"] == spec.READONLY_PATHS
    assert [m["destination"] for m in cfg["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm", "/etc/resolv.conf",
        "/etc/hostname", "/etc/hosts"]
    assert cfg["mounts"][4] == {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                                "options": ["nosuid", "noexec", "nodev", "ro"]}  # docker's, for runc and crun
    assert sorted(cfg["annotations"]) == sorted([ROOTFS_ANNOTATION, spec.STDIN_ANNOTATION])
    assert cfg["annotations"][spec.STDIN_ANNOTATION] == "null"
    assert json.loads(cfg["annotations"][ROOTFS_ANNOTATION]) == {"type": "overlay", "source": "overlay", "options": [
        f"lowerdir={':'.join(layers)}", "upperdir=/b/upper", "workdir=/b/work"]}


def test_devices_deny_all_then_allow_the_minimal_set(layers):
    devices = build(layers)["linux"]["resources"]["devices"]
    assert devices[0] == {"allow": False, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 136, "minor": None, "access": "rwm"} in devices  # /dev/pts/*
    assert len(devices) == 1 + len(spec.ALLOWED_DEVICES)


def test_privileged_keeps_sys_writable_unmasked_and_every_device(layers):
    cfg = build(layers, privileged=True)
    assert cfg["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "maskedPaths" not in cfg["linux"] and "readonlyPaths" not in cfg["linux"]
    (sysfs,) = [m for m in cfg["mounts"] if m["destination"] == "/sys"]
    assert "ro" not in sysfs["options"]
    (cgroup,) = [m for m in cfg["mounts"] if m["type"] == "cgroup"]
    assert "ro" not in cgroup["options"], "docker's --privileged has its cgroups writable"
    assert cfg["process"]["noNewPrivileges"] is False
    assert cfg["process"]["capabilities"]["bounding"] == caps.oci_names(caps.all_names())


def test_resource_limits(layers):
    res = build(layers, memory=64 << 20, cpus=1.5, pids_limit=100)["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20}
    assert res["cpu"] == {"quota": 150000, "period": 100000}
    assert res["pids"] == {"limit": 100}
    assert set(build(layers)["linux"]["resources"]) == {"devices"}


def test_host_network_has_no_network_namespace(layers):
    types = [ns["type"] for ns in build(layers, network="host")["linux"]["namespaces"]]
    assert "network" not in types and "pid" in types


def test_a_tty_gets_term_and_interactive_keeps_stdin(layers):
    cfg = build(layers, tty=True, interactive=True)
    assert cfg["process"]["terminal"] is True and "TERM=xterm" in cfg["process"]["env"]
    assert cfg["annotations"][spec.STDIN_ANNOTATION] == "open"


def test_image_config_and_options_in_dockers_order(layers):
    image = {"Entrypoint": ["/entry"], "Cmd": ["default"], "Env": ["PATH=/opt/bin", "A=image", "B=image"],
             "WorkingDir": "/srv", "User": "web"}
    cfg = build(layers, image, cmd=None, env=["A=user", "C"], hostname="box")
    process = cfg["process"]
    assert process["args"] == ["/entry", "default"]
    assert process["env"] == ["PATH=/opt/bin", "A=user", "B=image", "HOSTNAME=box", "HOME=/"]  # bare C: unset
    assert process["cwd"] == "/srv" and cfg["hostname"] == "box"
    assert process["user"] == {"uid": 33, "gid": 33, "additionalGids": [4, 50]}
    assert process["capabilities"]["effective"] == [] and process["capabilities"]["bounding"] == DEFAULT_CAPS


def test_user_and_group_by_name_and_number(layers):
    assert build(layers, user="web:staff")["process"]["user"] == {"uid": 33, "gid": 50, "additionalGids": [50]}
    assert build(layers, user="1234:5")["process"]["user"] == {"uid": 1234, "gid": 5, "additionalGids": [5]}
    assert build(layers, user="1234")["process"]["user"] == {"uid": 1234, "gid": 1234, "additionalGids": [1234]}
    with pytest.raises(InvalidArgument, match="unable to find user nobody"):
        build(layers, user="nobody")
    with pytest.raises(InvalidArgument, match="unable to find group wheel"):
        build(layers, user="web:wheel")


@pytest.mark.parametrize("entrypoint, cmd, image, expected", [
    (None, ["a"], {"Entrypoint": ["/e"], "Cmd": ["c"]}, ["/e", "a"]),   # args replace CMD only
    ([], ["a"], {"Entrypoint": ["/e"], "Cmd": ["c"]}, ["a"]),           # --entrypoint "" drops it
    (["/x"], None, {"Entrypoint": ["/e"], "Cmd": ["c"]}, ["/x"]),       # a new entrypoint drops the image's CMD
    (None, None, {"Cmd": ["c", "d"]}, ["c", "d"]),
])
def test_process_args(entrypoint, cmd, image, expected):
    assert spec.process_args(ContainerOptions(entrypoint=entrypoint, cmd=cmd), image) == expected


def test_no_command_at_all_is_refused():
    with pytest.raises(InvalidArgument, match="no command specified"):
        spec.process_args(ContainerOptions(), {})


def test_environment_merging():
    merged = spec.merge_env(["A=1", "B=2", "C=0", "PATH=/x"], ["B=3", "A", "D=4", "C"], {"A": "extra", "E": "5"})
    assert merged == ["B=3", "PATH=/x", "D=4", "A=extra", "E=5"]  # a bare name unsets it, as docker's engine
    assert spec.merge_env([], [], {}) == [spec.DEFAULT_PATH]


def test_bind_mounts(tmp_path):
    assert spec.bind_mount(f"{tmp_path}:/data") == {"destination": "/data", "type": "bind", "source": str(tmp_path),
                                                    "options": ["rbind", "rprivate"]}
    assert spec.bind_mount(f"{tmp_path}:/data:ro")["options"] == ["rbind", "rprivate", "ro"]
    for bad in ("relative:/data", f"{tmp_path}:data", f"{tmp_path}:/data:rx", f"{tmp_path}"):
        with pytest.raises(InvalidArgument, match="invalid bind"):
            spec.bind_mount(bad)
    with pytest.raises(InvalidArgument, match="does not exist on the host"):
        spec.bind_mount(f"{tmp_path}/missing:/data")


def test_binds_follow_the_standard_mounts(layers, tmp_path):
    mounts = build(layers, binds=[f"{tmp_path}:/data:ro"])["mounts"]
    assert mounts[-1]["destination"] == "/data" and mounts[-2]["destination"] == "/etc/hosts"


def test_etc_files_without_a_network():
    files = spec.etc_files("box")
    assert files["hostname"] == "box\n" and "127.0.1.1\tbox\n" in files["hosts"] and files["resolv.conf"] == ""


# ------------------------------------------------------------------------------------- exec's process


def container_process(layers: list[str], **options: object) -> dict:
    return build(layers, **options)["process"]


def test_an_exec_runs_with_the_containers_identity_and_its_overrides(layers):
    proc = spec.exec_process(container_process(layers, tty=True), ["ls", "-l"], None, ["HOME=/tmp", "X=1"], "/w", False)
    assert proc["args"] == ["ls", "-l"] and proc["cwd"] == "/w" and "terminal" not in proc
    assert proc["env"] == [f"HOSTNAME={CID[:12]}", "HOME=/tmp", "TERM=xterm", spec.DEFAULT_PATH, "X=1"]
    assert proc["capabilities"]["effective"] == DEFAULT_CAPS and proc["noNewPrivileges"] is True


def test_an_exec_as_another_user_has_no_effective_capabilities(layers):
    proc = spec.exec_process(container_process(layers), ["id"], (33, 33, [4]), [], None, False)
    assert proc["user"] == {"uid": 33, "gid": 33, "additionalGids": [4]}
    assert proc["capabilities"]["effective"] == [] and proc["capabilities"]["permitted"] == []
    assert proc["capabilities"]["bounding"] == DEFAULT_CAPS


def test_a_privileged_exec_gets_every_capability_without_no_new_privs(layers):
    proc = spec.exec_process(container_process(layers, cap_drop=["ALL"]), ["sh"], None, [], None, True)
    every = caps.oci_names(caps.all_names())
    assert proc["capabilities"]["bounding"] == every and proc["capabilities"]["effective"] == every
    assert proc["noNewPrivileges"] is False


def test_an_exec_as_root_regains_the_bounding_set_when_the_container_runs_as_a_user(layers):
    proc = spec.exec_process(container_process(layers, user="web"), ["sh"], (0, 0, [0]), [], None, False)
    assert proc["capabilities"]["effective"] == proc["capabilities"]["permitted"] == DEFAULT_CAPS


# ------------------------------------------------------------------------------------- capabilities


def opts(**values: object) -> ContainerOptions:
    return ContainerOptions(**values)


def test_cap_add_and_cap_drop_in_any_spelling():
    names = spec.capability_set(opts(cap_add=["net_admin", "CAP_SYS_TIME"], cap_drop=["chown", "MKNOD"]))
    assert names == [n for n in DEFAULT_CAPS if n not in ("CAP_CHOWN", "CAP_MKNOD")] + ["CAP_NET_ADMIN", "CAP_SYS_TIME"]


def test_drop_all_then_add_one():
    assert spec.capability_set(opts(cap_drop=["ALL"], cap_add=["NET_BIND_SERVICE"])) == ["CAP_NET_BIND_SERVICE"]


def test_add_all_is_everything_held_and_adding_a_default_twice_changes_nothing():
    assert spec.capability_set(opts(cap_add=["all"])) == caps.oci_names(caps.all_names())
    assert spec.capability_set(opts(cap_add=["CHOWN"])) == DEFAULT_CAPS


def test_an_unknown_capability_is_an_error():
    with pytest.raises(InvalidArgument, match="unknown capability 'CAP_NOPE'"):
        spec.capability_set(opts(cap_add=["CAP_NOPE"]))


@pytest.mark.parametrize("name, expected", [("net_admin", "CAP_NET_ADMIN"), ("CAP_SYS_ADMIN", "CAP_SYS_ADMIN"),
                                            ("Cap_Kill", "CAP_KILL"), ("all", "ALL"), ("cap_all", "ALL")])
def test_normalize(name, expected):
    assert caps.normalize(name) == expected


def test_masks_are_bits_by_kernel_number_and_ignore_unknown_names():
    assert caps.mask(["CAP_CHOWN"]) == 1
    assert caps.mask(["CAP_KILL", "CAP_SYS_ADMIN", "CAP_NOT_A_CAP"]) == (1 << 5) | (1 << 21)
    assert caps.mask([]) == 0
    assert caps.NAMES.index("SYS_ADMIN") == 21 and caps.NAMES.index("CHECKPOINT_RESTORE") == 40


def test_capabilities_this_kernel_lacks_are_left_out(monkeypatch):
    monkeypatch.setattr(caps, "last_cap", lambda: 37)  # a kernel before PERFMON (38), BPF, CHECKPOINT_RESTORE
    assert caps.mask(["CAP_AUDIT_READ", "CAP_BPF"]) == 1 << 37
    assert "BPF" not in caps.all_names()


def test_dockers_default_set_is_known_names():
    assert set(caps.DOCKER_DEFAULT) <= set(caps.NAMES) and len(caps.DOCKER_DEFAULT) == 14
    assert "SYS_ADMIN" not in caps.DOCKER_DEFAULT and "NET_ADMIN" not in caps.DOCKER_DEFAULT


# ------------------------------------------------------------------------------------- options


@pytest.mark.parametrize("text, expected", [
    ("1048576", 1 << 20), ("512m", 512 << 20), ("1g", 1 << 30), ("1.5G", 3 << 29), ("64k", 64 << 10),
    ("10b", 10), ("2MB", 2 << 20), ("3mib", 3 << 20), ("1t", 1 << 40), (" 7m ", 7 << 20),
])
def test_sizes_as_docker_reads_them(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "m", "lots", "-1m", "1x"])
def test_bad_sizes(text):
    with pytest.raises(InvalidArgument, match="invalid size"):
        parse_bytes(text)


def test_option_checks():
    with pytest.raises(InvalidArgument, match="Minimum memory limit allowed is 6MB"):
        ContainerOptions(memory=MIN_MEMORY - 1).check()
    count = len(os.sched_getaffinity(0))
    for cpus in (0.001, count + 0.5):
        with pytest.raises(InvalidArgument, match=rf"^range of CPUs is from 0.01 to {count}.00, as there are only "
                                                  rf"{count} CPUs available$"):
            ContainerOptions(cpus=cpus).check()
    ContainerOptions(cpus=count).check()
    for limit in (-1, 0):
        opts = ContainerOptions(pids_limit=limit)
        opts.check()
        assert opts.pids_limit is None  # unlimited, as docker's -1 and 0
    with pytest.raises(InvalidArgument, match="invalid environment variable"):
        ContainerOptions(env=["=x"]).check()
    with pytest.raises(InvalidArgument, match="needs to be an absolute path"):
        ContainerOptions(workdir="rel").check()
    with pytest.raises(InvalidArgument, match="container:NAME"):
        ContainerOptions(network="container:").check()
    with pytest.raises(InvalidArgument, match="unknown container option"):
        ContainerOptions(nope=1)


def test_the_network_follows_published_ports():
    """No network unless a port is published: `run` stays fast; -p or -P means the default switch."""
    for values, network in (({}, "none"), ({"ports": ["80"]}, "bridge"), ({"publish_all": True}, "bridge"),
                            ({"network": "lab", "ports": ["80"]}, "lab")):
        o = ContainerOptions(**values)
        o.check()
        assert o.network == network


def test_options_round_trip_through_a_dict():
    o = ContainerOptions(cmd=["a"], env=["X=1"], memory=MIN_MEMORY, pids_limit=0, labels={"k": "v"})
    o.check()
    again = ContainerOptions.from_dict(dict(o.to_dict(), unknown_from_a_newer_version=1))
    assert again.to_dict() == o.to_dict() and again.pids_limit is None and again.env == ["X=1"]


def test_layers_are_passed_top_first(layers):
    assert rootfs_of(build(layers), "/b").lowerdirs() == layers
    assert os.path.basename(layers[0]) == "top"
