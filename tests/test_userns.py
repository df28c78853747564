"""--userns (issue 20 item 4). `host`, the default, is the host's user namespace and is shown by inspect.
`auto[:size=N]` (podman's syntax) gives the container a user namespace of its own whose ids 0..N-1 map to a
host range from the subordinate ids of the user `containers`, disjoint from every other container's on the
host and released on rm; the image's layers are idmapped (shared, not copied), the container's writes belong
on the host to the mapped ids, and its root is nobody to the host's files. Bad input is refused in one line."""
from __future__ import annotations

import json
import os
import stat

import pytest

from test_escape import attempt_all

REGISTRY = "/run/corral/userns.json"


def test_userns_host_is_the_hosts_user_namespace_and_inspect_says_so(busybox):
    cid = busybox.out("run", "-d", "--userns=host", "busybox", "sleep", "60").strip()
    try:
        assert busybox.out("inspect", "-f", "{{.HostConfig.UsernsMode}}", cid) == "host\n"
        pid = int(busybox.out("inspect", "-f", "{{.State.Pid}}", cid))
        assert os.readlink(f"/proc/{pid}/ns/user") == os.readlink("/proc/self/ns/user")
        assert busybox.out("exec", cid, "cat", "/proc/self/uid_map").split() == ["0", "0", "4294967295"]
    finally:
        busybox.out("rm", "-f", cid)


def _allocations(root: str) -> dict:
    """This store's entries in the host-wide registry, by container ID."""
    try:
        with open(REGISTRY) as f:
            entries = json.load(f)
    except FileNotFoundError:
        return {}
    prefix = os.path.join(root, "containers") + "/"
    return {k[len(prefix):]: v for k, v in entries.items() if k.startswith(prefix)}


def _base(cli, cid: str) -> int:
    uid_map = json.loads(cli.out("inspect", "-f", "{{json .HostConfig.IDMappings}}", cid))["UidMap"]
    assert len(uid_map) == 1
    inside, base, size = map(int, uid_map[0].split(":"))
    assert inside == 0 and size == 65536
    return base


def test_auto_maps_root_to_a_range_of_its_own_and_the_writes_belong_to_it(busybox):
    cid = busybox.out("run", "-d", "--userns=auto", "busybox", "sleep", "60").strip()
    try:
        base = _base(busybox, cid)
        assert base >= 2147483647  # setup.sh's range for the user containers
        assert busybox.out("inspect", "-f", "{{.HostConfig.UsernsMode}}", cid) == "auto\n"
        gid_map = json.loads(busybox.out("inspect", "-f", "{{json .HostConfig.IDMappings}}", cid))["GidMap"]
        assert gid_map == [f"0:{_allocations(busybox.root)[cid]['gid']}:65536"]
        pid = int(busybox.out("inspect", "-f", "{{.State.Pid}}", cid))
        assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
        assert os.stat(f"/proc/{pid}").st_uid == base  # the init runs as the mapped root
        assert busybox.out("exec", cid, "id", "-u") == "0\n"
        assert busybox.out("exec", cid, "cat", "/proc/self/uid_map").split() == ["0", str(base), "65536"]
        # the image's files, owned by 0 in the layer, are its root's; its own writes are the mapped ids' on the host
        assert busybox.out("exec", cid, "stat", "-c", "%u:%g", "/bin/busybox", "/etc/passwd") == "0:0\n0:0\n"
        busybox.out("exec", cid, "sh", "-c", "echo hi > /made && mkdir /dir")
        upper = os.path.join(busybox.root, "containers", cid, "upper")
        made = os.stat(os.path.join(upper, "made"))
        assert (made.st_uid, made.st_gid) == (base, _allocations(busybox.root)[cid]["gid"])
        assert os.stat(os.path.join(upper, "dir")).st_uid == base
        # --user inside applies within the mapping
        busybox.out("exec", "--user", "1000:1000", cid, "touch", "/tmp/by1000")
        assert os.stat(os.path.join(upper, "tmp", "by1000")).st_uid == base + 1000
        assert busybox.out("exec", "--user", "1000", cid, "id", "-u") == "1000\n"
    finally:
        busybox.out("rm", "-f", cid)
    assert cid not in _allocations(busybox.root)


def test_run_user_inside_maps_to_base_plus_its_id(busybox):
    cid = busybox.out("run", "-d", "--userns=auto", "--user", "1000", "busybox", "sleep", "60").strip()
    try:
        base = _base(busybox, cid)
        pid = int(busybox.out("inspect", "-f", "{{.State.Pid}}", cid))
        status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
        assert status["Uid"].split() == [str(base + 1000)] * 4  # as the host sees the container's user 1000
        assert busybox.out("exec", cid, "id", "-u") == "1000\n"
    finally:
        busybox.out("rm", "-f", cid)


def test_two_containers_get_disjoint_ranges_and_rm_gives_a_range_back(busybox):
    first = busybox.out("run", "-d", "--userns=auto", "busybox", "sleep", "60").strip()
    second = busybox.out("run", "-d", "--userns=auto:size=1000", "busybox", "sleep", "60").strip()
    try:
        a, b = _allocations(busybox.root)[first], _allocations(busybox.root)[second]
        assert b["size"] == 1000
        assert a["uid"] + a["size"] <= b["uid"] or b["uid"] + b["size"] <= a["uid"]
        assert a["gid"] + a["size"] <= b["gid"] or b["gid"] + b["size"] <= a["gid"]
        assert busybox.out("exec", second, "cat", "/proc/self/gid_map").split() == ["0", str(b["gid"]), "1000"]
        busybox.out("rm", "-f", first)
        assert first not in _allocations(busybox.root)
        third = busybox.out("run", "-d", "--userns=auto", "busybox", "sleep", "60").strip()
        assert _base(busybox, third) == a["uid"]  # the first fit is the range the first one gave back
        busybox.out("rm", "-f", third)
    finally:
        busybox("rm", "-f", first, second)
    assert _allocations(busybox.root) == {}


def test_root_inside_is_not_the_hosts_root(busybox, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("host only\n")
    os.chmod(secret, 0o600)
    os.chmod(tmp_path, 0o700)
    r = busybox("run", "--rm", "--userns=auto", "-v", f"{secret}:/secret", "busybox", "sh", "-c",
                "stat -c %u /secret; id -u; cat /secret")
    assert r.returncode == 1
    assert r.stdout.decode() == "65534\n0\n"  # the host's root is nobody here
    assert "Permission denied" in r.stderr.decode()
    # the same bind in a default container: its root is the host's
    assert busybox.out("run", "--rm", "-v", f"{secret}:/secret", "busybox", "cat", "/secret") == "host only\n"
    assert secret.read_text() == "host only\n"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600


def test_the_escape_suite_is_blocked_in_a_user_namespaced_container(busybox, capsys):
    out, escaped = attempt_all(busybox, "--userns=auto")
    with capsys.disabled():
        print(f"\nescape suite with --userns=auto: {len(out) - len(escaped)}/{len(out)} blocked")
    assert escaped == []


def test_a_published_port_below_1024_and_the_network_work_in_it(busybox):
    """The network namespace is the host's to own (as with docker's userns-remap): its root has no
    CAP_NET_BIND_SERVICE there, so port 80 is opened to every user of it, as docker does for all containers."""
    cid = busybox.out("run", "-d", "--userns=auto", "-p", "127.0.0.1::80", "busybox", "sh", "-c",
                      "echo served > /tmp/i; httpd -f -p 80 -h /tmp").strip()
    try:
        port = busybox.out("port", cid, "80").strip().rsplit(":", 1)[1]
        import time
        import urllib.request

        deadline = time.monotonic() + 10
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/i", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert body == b"served\n"
        assert busybox.out("exec", cid, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start",
                           "/proc/sys/net/ipv4/ping_group_range").split() == ["0", "0", "65535"]
        # its /sys is the host's, read-only (a sysfs of its own needs a network namespace it owns)
        r = busybox("exec", cid, "touch", "/sys/x")
        assert r.returncode == 1 and "Read-only file system" in r.stderr.decode()
    finally:
        busybox.out("rm", "-f", cid)


def test_where_the_layers_cannot_be_idmapped_the_container_gets_shifted_copies(tmp_path):
    """A store on ramfs, which allows no idmapped mount (nor does overlayfs, the other common case): the
    container's layers are copies in its bundle with its mapping's ids, made once at create and gone with it."""
    import subprocess

    from conftest import Cli, tear_down

    ram = tmp_path / "ram"
    ram.mkdir()
    subprocess.run(["mount", "-t", "ramfs", "ramfs", str(ram)], check=True)
    cli = Cli(str(ram / "store"))
    try:
        cli.out("image", "bootstrap", "busybox")
        cid = cli.out("create", "--userns=auto", "busybox", "sh", "-c",
                      "id -u; stat -c %u:%g /bin/busybox /etc/passwd; echo hi > /made").strip()
        base, gid = _base(cli, cid), _allocations(cli.root)[cid]["gid"]
        copy = os.path.join(cli.root, "containers", cid, "shifted", "0")
        assert (os.stat(os.path.join(copy, "bin", "busybox")).st_uid, os.stat(copy).st_gid) == (base, gid)
        assert cli.out("start", "-a", cid) == "0\n0:0\n0:0\n"
        made = os.stat(os.path.join(cli.root, "containers", cid, "upper", "made"))
        assert (made.st_uid, made.st_gid) == (base, gid)
        assert cli.out("start", "-a", cid) == "0\n0:0\n0:0\n"  # again, over the same copies
        cli.out("rm", cid)
        assert not os.path.exists(copy) and _allocations(cli.root) == {}
    finally:
        left = tear_down(cli.root)
        subprocess.run(["umount", str(ram)], check=True)
    assert not left, f"the test left residue: {left}"


@pytest.mark.parametrize(("mode", "line"), [
    ("auto:size=0", "Error: --userns=auto:size=0: size must be a whole number of ids of at least 1"),
    ("auto:size=x", "Error: --userns=auto:size=x: size must be a whole number of ids of at least 1"),
    ("auto:uidmapping=0:1:2", "Error: --userns=auto:uidmapping=0:1:2: unknown option 'uidmapping' (auto takes size=N)"),
    ("keep-id", "Error: --userns=keep-id is not supported: it maps the caller's own uid, which only means something "
                "to a rootless engine; corral runs as root: use --userns=auto"),
    ("private", "Error: --userns=private is not supported: give host (the default) or auto[:size=N]"),
])
def test_bad_modes_are_refused_in_one_line_and_nothing_is_made(busybox, mode, line):
    r = busybox("run", f"--userns={mode}", "busybox", "true")
    assert (r.returncode, r.stderr.decode().splitlines()) == (125, [line])
    assert busybox.out("ps", "-aq") == ""


def test_a_size_beyond_the_ranges_and_shared_namespaces_are_refused_in_one_line(busybox):
    r = busybox("run", "--userns=auto:size=4294967296", "busybox", "true")
    lines = r.stderr.decode().splitlines()
    assert r.returncode == 125 and len(lines) == 1
    assert lines[0].startswith("Error: --userns=auto:size=4294967296: no free range of 4294967296 ids in the "
                               "subordinate ids of 'containers' (its largest range has 2147483648, ")
    r = busybox("run", "--userns=auto", "--pid=host", "busybox", "true")
    assert (r.returncode, r.stderr.decode()) == (125, "Error: --userns=auto cannot go with --pid host: a "
                                                 "user-namespaced container has namespaces of its own (drop one of "
                                                 "the two)\n")
    assert busybox.out("ps", "-aq") == ""
    assert _allocations(busybox.root) == {}


@pytest.mark.unit
def test_modes_parse_and_ranges_fit_first_without_overlap():
    from corral.errors import InvalidArgument
    from corral.runtime.userns import _first_fit, map_text, parse_mode

    assert parse_mode("host") is None and parse_mode("") is None
    assert parse_mode("auto") == 65536 and parse_mode("auto:size=10") == 10
    for bad in ("auto:size=0", "auto:size=-1", "auto:foo=1", "keep-id", "ns:/proc/1/ns/user"):
        with pytest.raises(InvalidArgument):
            parse_mode(bad)
    ranges = [(100, 50), (1000, 1000)]
    assert _first_fit(ranges, [], 10) == 100
    assert _first_fit(ranges, [(100, 10)], 10) == 110
    assert _first_fit(ranges, [(100, 10), (120, 5)], 10) == 110
    assert _first_fit(ranges, [(100, 10), (115, 5)], 10) == 120
    assert _first_fit(ranges, [(110, 10)], 10) == 100
    assert _first_fit(ranges, [(100, 45)], 10) == 1000  # 5 left in the first range
    assert _first_fit(ranges, [], 1001) is None
    assert map_text([{"containerID": 0, "hostID": 5000, "size": 10}]) == b"0 5000 10\n"


@pytest.mark.unit
def test_docker_py_and_the_engine_api_take_the_modes():
    from corral.api.bodies import create_arguments
    from corral.api.models.create import create_options
    from corral.errors import InvalidArgument
    from corral.runtime.options import ContainerOptions

    assert create_arguments({"Image": "busybox", "HostConfig": {"UsernsMode": "host"}})[2]["userns"] == "host"
    assert create_options("run", {"userns_mode": "auto"})["userns"] == "auto"
    ContainerOptions(**create_arguments({"Image": "busybox", "HostConfig": {"UsernsMode": "auto"}})[2]).check()
    for options in (create_arguments({"Image": "busybox", "HostConfig": {"UsernsMode": "keep-id"}})[2],
                    create_options("run", {"userns_mode": "keep-id"})):
        with pytest.raises(InvalidArgument, match="--userns=keep-id is not supported"):
            ContainerOptions(**options).check()


@pytest.mark.unit
def test_the_spec_says_it_as_oci_does():
    from corral.runtime.userns import mappings

    spec = {"linux": {"namespaces": [{"type": "user"}, {"type": "pid"}],
                      "uidMappings": [{"containerID": 0, "hostID": 7, "size": 1}], "gidMappings": []}}
    assert mappings(spec) == ([{"containerID": 0, "hostID": 7, "size": 1}], [])
    assert mappings({"linux": {"namespaces": [{"type": "pid"}]}}) is None


@pytest.mark.unit
def test_where_no_device_node_may_be_made_the_hosts_is_bound_and_sysfs_falls_back_to_a_read_only_bind(tmp_path):
    """In a user namespace mknod and a sysfs mount (of a network namespace the container does not own) are
    refused: the init binds the host's node, and the host's /sys read-only, as crun does."""
    from corral.runtime import mounts
    from corral.sys import libc
    from corral.sys.fake import RecordingSyscall

    fake = RecordingSyscall()
    fake.fail("mknod", PermissionError(1, "Operation not permitted"))
    fake.fail("mount", PermissionError(1, "Operation not permitted"), when=lambda args: args[2] == "sysfs")
    (tmp_path / "dev").mkdir()
    mounts.populate_dev(str(tmp_path), fake)
    binds = [(a[0], a[1]) for a in fake.named("mount")]
    assert binds == [(f"/dev/{name}", str(tmp_path / "dev" / name)) for name, _, _ in mounts.DEVICES]
    assert all((tmp_path / "dev" / name).is_file() for name, _, _ in mounts.DEVICES)  # the bind targets
    fake.calls.clear()
    mounts.apply_mount(str(tmp_path), {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                                       "options": ["nosuid", "noexec", "nodev", "ro"]}, fake)
    ro = libc.MS_NOSUID | libc.MS_NOEXEC | libc.MS_NODEV | libc.MS_RDONLY
    assert fake.named("mount")[1:] == [("/sys", str(tmp_path / "sys"), None, libc.MS_BIND | libc.MS_REC, None),
                                       (None, str(tmp_path / "sys"), None, ro | libc.MS_REMOUNT | libc.MS_BIND, None)]


@pytest.mark.unit
def test_the_init_takes_the_hand_over_in_the_order_of_the_spec_binds():
    import _socket
    import array

    from corral.runtime import userns_setup

    spec = {"mounts": [{"destination": "/proc", "type": "proc"}, {"destination": "/a", "type": "bind", "source": "/"},
                       {"destination": "/b", "type": "none", "source": "/", "options": ["rbind"]}]}
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    fds = [os.open("/", os.O_RDONLY) for _ in range(4)]
    try:
        ours.sendmsg([b"1"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds).tobytes())])
        handed = userns_setup.receive(theirs.detach(), spec)
        got = [handed.rootfs, handed.bundle, handed.binds[1], handed.binds[2]]
        assert sorted(handed.binds) == [1, 2]
        assert [os.stat(fd).st_ino for fd in got] == [os.stat("/").st_ino] * 4
        for fd in got:
            os.close(fd)
        ours2, theirs2 = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        ours2.close()  # the supervisor gave up
        with pytest.raises(OSError, match="could not map the container's user namespace"):
            userns_setup.receive(theirs2.detach(), spec)
    finally:
        ours.close()
        for fd in fds:
            os.close(fd)
