"""--read-only, --tmpfs and --shm-size as they reach the bundle, without a container: docker's --tmpfs option
merging (moby's MergeTmpfsOptions: defaults noexec,nosuid,nodev,rprivate, the last of a kind wins), its
messages for bad input, the read-only root and /etc files, /dev/shm's size, the docker-py keywords, and the
remount the init makes. What each does to a real container is tests/test_rootfs_flags.py."""
from __future__ import annotations

import pytest

from corral.api.models.create import create_options
from corral.errors import InvalidArgument
from corral.runtime import init, spec
from corral.runtime.options import ContainerOptions
from corral.store.rootfs import Mount
from corral.sys import libc
from corral.sys.fake import RecordingSyscall

pytestmark = pytest.mark.unit

CID = "cafe" * 16


def build(tmp_path, **values: object) -> dict:
    values.setdefault("cmd", ["sh"])
    opts = ContainerOptions(**values)
    opts.check()
    (tmp_path / "etc").mkdir(exist_ok=True)
    rootfs = Mount("overlay", "overlay", (f"lowerdir={tmp_path}", "upperdir=/b/upper", "workdir=/b/work"))
    return spec.build(CID, opts, {"config": {}}, rootfs, "/b")


def mount_at(cfg: dict, destination: str) -> dict:
    [found] = [m for m in cfg["mounts"] if m["destination"] == destination]
    return found


@pytest.mark.parametrize("options, expected", [
    ("", ["noexec", "nosuid", "nodev", "rprivate"]),
    ("size=64m", ["noexec", "nosuid", "nodev", "rprivate", "size=64m"]),
    ("rw,size=64m,mode=1777,uid=1000", ["noexec", "nosuid", "nodev", "rprivate", "rw", "size=64m", "mode=1777",
                                         "uid=1000"]),
    ("exec", ["nosuid", "nodev", "rprivate", "exec"]),  # exec overrides the default noexec
    ("size=1m,size=2g", ["noexec", "nosuid", "nodev", "rprivate", "size=2g"]),
    ("ro,rw", ["noexec", "nosuid", "nodev", "rprivate", "rw"]),
    ("rshared,suid", ["noexec", "nodev", "rshared", "suid"]),
    ("defaults,size=10%,nr_inodes=4k,gid=5", ["noexec", "nosuid", "nodev", "rprivate", "size=10%", "nr_inodes=4k",
                                              "gid=5"]),
])
def test_tmpfs_options_merge_as_dockers(options, expected):
    assert spec.tmpfs_mount("/run", options) == {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                                                 "options": expected}


@pytest.mark.parametrize("target, options, message", [
    ("run", "", "invalid mount path: 'run' mount path must be absolute"),
    ("/run", "foo", 'invalid tmpfs option \\["foo"\\]'),
    ("/run", "foo=1", 'invalid tmpfs option \\["foo" "1"\\]'),
    ("/run", "size=64m,", 'invalid tmpfs option \\[""\\]'),
    ("/run", "size=abc", "invalid tmpfs option size='abc'"),
    ("/run", "size=64mb", "invalid tmpfs option size='64mb'"),
    ("/run", "size=", "invalid tmpfs option size=''"),
    ("/run", "mode=999", "invalid tmpfs option mode='999': give an octal mode"),
    ("/run", "uid=root", "invalid tmpfs option uid='root'"),
    ("/run", "nr_inodes=5%", "invalid tmpfs option nr_inodes='5%'"),
    ("/run", "bind", 'invalid tmpfs option \\["bind"\\]'),
])
def test_bad_tmpfs_options_are_refused_with_dockers_words(target, options, message):
    with pytest.raises(InvalidArgument, match=message):
        spec.tmpfs_mount(target, options)


@pytest.mark.parametrize("values, message", [
    ({"tmpfs": {"run": ""}}, "invalid mount path: 'run' mount path must be absolute"),
    ({"tmpfs": {"/": ""}}, "invalid specification: destination can't be '/'"),
    ({"tmpfs": {"/x/..": ""}}, "invalid specification: destination can't be '/'"),
    ({"shm_size": -1}, "SHM size can not be less than 0"),
    ({"shm_size": 1 << 20, "ipc": "host"}, "--shm-size cannot be applied with --ipc host: /dev/shm is the host's"),
    ({"shm_size": 1 << 20, "ipc": "none"}, "--shm-size cannot be applied with --ipc none"),
    ({"shm_size": 1 << 20, "ipc": "shareable"}, "--shm-size cannot be applied with --ipc shareable"),
    ({"shm_size": 1 << 20, "ipc": "container:db"}, "/dev/shm is the other container's"),
])
def test_bad_targets_and_shm_sizes_are_refused(values, message):
    with pytest.raises(InvalidArgument, match=message):
        ContainerOptions(cmd=["sh"], **values).check()


def test_read_only_sets_the_root_and_the_etc_files_read_only(tmp_path):
    cfg = build(tmp_path, read_only=True)
    assert cfg["root"] == {"path": "rootfs", "readonly": True}
    for name in ("hosts", "hostname", "resolv.conf"):
        assert mount_at(cfg, f"/etc/{name}")["options"] == ["rbind", "rprivate", "ro"]
    assert "ro" not in mount_at(cfg, "/dev/shm")["options"] and "ro" not in mount_at(cfg, "/dev")["options"]
    plain = build(tmp_path)
    assert plain["root"]["readonly"] is False and mount_at(plain, "/etc/hosts")["options"] == ["rbind", "rprivate"]


def test_shm_size_sizes_dev_shm_and_zero_is_dockers_default(tmp_path):
    assert "size=8388608" in mount_at(build(tmp_path, shm_size=8 << 20), "/dev/shm")["options"]
    assert "size=67108864" in mount_at(build(tmp_path, shm_size=0), "/dev/shm")["options"]
    assert "size=67108864" in mount_at(build(tmp_path), "/dev/shm")["options"]


def test_a_tmpfs_at_dev_shm_replaces_the_default_one(tmp_path):
    cfg = build(tmp_path, tmpfs={"/dev/shm": "size=1m"}, shm_size=4 << 20, ipc="host")
    assert mount_at(cfg, "/dev/shm") == spec.tmpfs_mount("/dev/shm", "size=1m")


def test_user_mounts_are_made_parents_first(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    cfg = build(tmp_path, tmpfs={"/data/tmp": "", "/run": ""}, binds=[f"{src}:/data"])
    order = [m["destination"] for m in cfg["mounts"]]
    assert order.index("/data") < order.index("/data/tmp") and order.index("/run") < order.index("/data/tmp")


def test_docker_py_keywords_become_the_options():
    assert create_options("run", {"read_only": True, "tmpfs": {"/run": "size=1m", "/tmp": None},
                                  "shm_size": "128m"}) == {
        "read_only": True, "tmpfs": {"/run": "size=1m", "/tmp": ""}, "shm_size": 128 << 20}
    assert create_options("run", {"tmpfs": ["/run:size=1m,mode=700", "/tmp"], "shm_size": 1024}) == {
        "tmpfs": {"/run": "size=1m,mode=700", "/tmp": ""}, "shm_size": 1024}
    with pytest.raises(InvalidArgument, match="tmpfs must be dict or list or tuple, not str"):
        create_options("run", {"tmpfs": "/run"})


def test_the_init_remounts_the_root_read_only_after_the_masks(tmp_path):
    fake = RecordingSyscall()
    cwd = tmp_path / "work" / "dir"
    init.switch_root({"root": {"readonly": True}, "process": {"cwd": str(cwd)}, "linux": {}}, "/r",
                     libc.CLONE_NEWNS, fake)
    assert fake.calls[-1] == ("mount", (None, "/", None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY, None))
    assert cwd.is_dir()  # made while the root could still be written
    fake = RecordingSyscall()
    init.switch_root({"root": {"readonly": False}, "linux": {}}, "/r", libc.CLONE_NEWNS, fake)
    assert "mount" not in fake.names()
