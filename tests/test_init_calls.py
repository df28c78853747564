"""The kernel calls a container's init and an exec make, in order, against the recording fake.

What the integration tests can only see from outside (a mount present, a
capability missing), these pin as the sequence the runtime chose: which
namespaces are made and which joined, every mount with its flags and data,
the pivot_root idiom, the masked paths, the order of the identity changes
that keeps the capability sets exact. No root needed: nothing reaches the
kernel, files are made in a temporary directory only.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from typing import Callable, NoReturn

import pytest

from corral.runtime import caps, exec as exec_, init, mounts, spec
from corral.runtime.options import ContainerOptions
from corral.store.rootfs import Mount
from corral.sys import libc
from corral.sys.fake import ExecCalled, RecordingSyscall

pytestmark = pytest.mark.unit

NOSUID, NODEV, NOEXEC, RDONLY = libc.MS_NOSUID, libc.MS_NODEV, libc.MS_NOEXEC, libc.MS_RDONLY
BIND, REC, REMOUNT = libc.MS_BIND, libc.MS_REC, libc.MS_REMOUNT


@pytest.fixture
def fake() -> RecordingSyscall:
    return RecordingSyscall()


@pytest.fixture
def bundle(tmp_path) -> str:
    """A bundle as the store lays it out: rootfs/, upper/, work/ and two image layers beside it."""
    for d in ("bundle/rootfs", "bundle/upper", "bundle/work", "layers/a", "layers/b"):
        (tmp_path / d).mkdir(parents=True)
    return str(tmp_path / "bundle")


def overlay(lower: list[str], bundle: str) -> Mount:
    return Mount("overlay", "overlay", (f"lowerdir={':'.join(lower)}", f"upperdir={bundle}/upper",
                                        f"workdir={bundle}/work"))


def container_spec(bundle: str, **options: object) -> dict:
    layers = [os.path.join(os.path.dirname(bundle), "layers", name) for name in ("a", "b")]
    return spec.build("c0ffee" * 10 + "abcd", ContainerOptions(cmd=["sh"], **options), {}, overlay(layers, bundle),
                      bundle)


# ------------------------------------------------------------------------------------- namespaces


def test_the_init_makes_every_namespace_but_cgroup_at_once_and_brings_up_loopback(fake, bundle):
    flags = init.enter_namespaces(container_spec(bundle)["linux"], fake)
    made = libc.CLONE_NEWIPC | libc.CLONE_NEWUTS | libc.CLONE_NEWNS | libc.CLONE_NEWNET
    assert fake.calls == [("unshare", (made,)), ("loopback_up", ())]
    assert flags == made | libc.CLONE_NEWCGROUP  # the cgroup namespace comes once inside the cgroup


def test_a_wired_network_namespace_is_joined_not_made(fake, tmp_path):
    netns = tmp_path / "netns"
    netns.write_bytes(b"")
    linux = {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network", "path": str(netns)}]}
    flags = init.enter_namespaces(linux, fake)
    assert fake.names() == ["unshare", "setns"]
    assert fake.named("unshare") == [(libc.CLONE_NEWNS,)]
    assert fake.named("setns")[0][1] == libc.CLONE_NEWNET
    assert flags == libc.CLONE_NEWNS


def test_host_network_means_no_network_namespace_and_no_loopback(fake, bundle):
    init.enter_namespaces(container_spec(bundle, network="host")["linux"], fake)
    (flags,) = fake.named("unshare")[0]
    assert not flags & libc.CLONE_NEWNET and "loopback_up" not in fake.names()


# ------------------------------------------------------------------------------------- the root filesystem


def test_the_root_filesystem_is_mounted_as_the_spec_says(fake, bundle):
    cfg = container_spec(bundle)
    rootfs = init.build_rootfs(cfg, bundle, fake)
    layers = os.path.join(os.path.dirname(bundle), "layers")
    r = rootfs.__add__
    etc_binds = []
    for name in ("resolv.conf", "hostname", "hosts"):
        etc_binds += [("mount", (f"{bundle}/{name}", r(f"/etc/{name}"), None, BIND | REC, None)),
                      ("mount", (None, r(f"/etc/{name}"), None, libc.MS_PRIVATE | REC, None))]
    devices = [("mknod", (r(f"/dev/{name}"), stat.S_IFCHR | 0o666, os.makedev(major, minor)))
               for name, major, minor in mounts.DEVICES]
    assert rootfs == os.path.join(bundle, "rootfs")
    assert fake.calls == [
        ("mount", (None, "/", None, REC | libc.MS_PRIVATE, None)),
        ("mount", ("overlay", rootfs, "overlay", 0,
                   f"lowerdir={layers}/a:{layers}/b,upperdir={bundle}/upper,workdir={bundle}/work")),
        ("mount", ("proc", r("/proc"), "proc", NOSUID | NOEXEC | NODEV, None)),
        ("mount", ("tmpfs", r("/dev"), "tmpfs", NOSUID | libc.MS_STRICTATIME, "mode=755,size=65536k")),
        ("mount", ("devpts", r("/dev/pts"), "devpts", NOSUID | NOEXEC,
                   "newinstance,ptmxmode=0666,mode=0620,gid=5")),
        ("mount", ("sysfs", r("/sys"), "sysfs", NOSUID | NOEXEC | NODEV | RDONLY, None)),
        ("mount", ("mqueue", r("/dev/mqueue"), "mqueue", NOSUID | NOEXEC | NODEV, None)),
        ("mount", ("shm", r("/dev/shm"), "tmpfs", NOSUID | NOEXEC | NODEV, "mode=1777,size=67108864")),
        *etc_binds,
        *devices,
    ]
    assert os.path.isfile(r("/etc/hosts")), "a file bind needs a file to mount on"
    assert os.readlink(r("/dev/fd")) == "/proc/self/fd" and os.readlink(r("/dev/ptmx")) == "pts/ptmx"


def test_privileged_leaves_sys_writable(fake, bundle):
    init.build_rootfs(container_spec(bundle, privileged=True), bundle, fake)
    (sysfs,) = [args for args in fake.named("mount") if args[2] == "sysfs"]
    assert sysfs[3] == NOSUID | NOEXEC | NODEV


def test_a_described_root_that_is_not_an_overlay_is_mounted_as_described(fake, tmp_path):
    mounts.mount_rootfs(f"{tmp_path}/rootfs", Mount("tmpfs", "tmpfs", ("ro", "size=1m")), fake)
    assert fake.calls == [("mount", ("tmpfs", f"{tmp_path}/rootfs", "tmpfs", RDONLY, "size=1m"))]


def test_overlay_options_beyond_a_page_are_given_relative_to_the_layers_links(fake, tmp_path):
    base = f"{tmp_path}/{'s' * 150}"  # a long store path: it must not count
    links = [f"{base}/links/{'%026d' % i}" for i in range(130)]
    assert len(":".join(links)) > 4096
    cwd = os.getcwd()
    mounts.mount_rootfs(f"{base}/b/rootfs", overlay(links, f"{base}/b"), fake)
    assert fake.names() == ["chdir", "mount", "chdir"]
    assert fake.calls[0] == ("chdir", (f"{base}/links",)) and fake.calls[2] == ("chdir", (cwd,))
    data = fake.named("mount")[0][4]
    assert data.startswith(f"lowerdir={'%026d' % 0}:") and data.endswith(",upperdir=../b/upper,workdir=../b/work")
    assert len(data) < 4096 and base not in data
    assert os.getcwd() == cwd, "the fake changes no directory"


def test_a_read_only_bind_is_a_bind_then_a_read_only_remount(fake, tmp_path):
    rootfs, source = tmp_path / "rootfs", tmp_path / "data"
    rootfs.mkdir()
    source.mkdir()
    m = spec.bind_mount(f"{source}:/srv/data:ro")
    mounts.apply_mount(str(rootfs), m, fake)
    target = f"{rootfs}/srv/data"
    assert fake.calls == [("mount", (str(source), target, None, BIND | REC, None)),
                          ("mount", (None, target, None, BIND | REC | RDONLY | REMOUNT, None)),
                          ("mount", (None, target, None, libc.MS_PRIVATE | REC, None))]
    assert os.path.isdir(target), "a directory bind needs a directory to mount on"


def test_a_mount_destination_through_an_image_link_stays_inside_the_root(fake, tmp_path):
    """An image's /etc may be a link to the host's /etc: the mount point is resolved inside rootfs."""
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "etc").symlink_to(str(tmp_path / "host-etc"))
    mounts.apply_mount(str(rootfs), {"destination": "/etc/hosts", "type": "bind", "source": "/nonexistent/hosts",
                                     "options": ["rbind"]}, fake)
    ((_, target, *_),) = fake.named("mount")
    assert target == f"{rootfs}{tmp_path}/host-etc/hosts"
    assert not (tmp_path / "host-etc").exists()


def test_existing_device_nodes_are_left_alone(fake, tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "null").write_bytes(b"")
    mounts.populate_dev(str(tmp_path), fake)
    assert [os.path.basename(args[0]) for args in fake.named("mknod")] == ["zero", "full", "random", "urandom", "tty"]


# ------------------------------------------------------------------------------------- pivot, masks, hostname


def test_the_switch_to_the_new_root(fake, tmp_path):
    masked_dir, masked_file = tmp_path / "acpi", tmp_path / "kcore"
    masked_dir.mkdir()
    masked_file.write_bytes(b"")
    gone, ro, ro_gone = str(tmp_path / "gone"), str(tmp_path / "sys"), str(tmp_path / "ro-gone")
    fake.fail("mount", FileNotFoundError(errno.ENOENT, "missing"), when=lambda args: args[1] in (gone, ro_gone))
    cfg = {"hostname": "box", "linux": {"maskedPaths": [str(masked_dir), gone, str(masked_file)],
                                         "readonlyPaths": [ro_gone, ro]}}
    init.switch_root(cfg, "/bundle/rootfs", libc.CLONE_NEWNS | libc.CLONE_NEWCGROUP, fake)
    assert fake.calls == [
        ("unshare", (libc.CLONE_NEWCGROUP,)),
        ("chdir", ("/bundle/rootfs",)), ("pivot_root", (".", ".")), ("umount", (".", libc.MNT_DETACH)),
        ("chdir", ("/",)),
        ("mount", ("tmpfs", str(masked_dir), "tmpfs", RDONLY, "size=0k")),
        ("mount", ("/dev/null", gone, None, BIND, None)),  # missing in this image: skipped
        ("mount", ("/dev/null", str(masked_file), None, BIND, None)),
        ("mount", (None, str(masked_file), None, BIND | REMOUNT | RDONLY, None)),
        ("mount", (ro_gone, ro_gone, None, BIND | REC, None)),
        ("mount", (ro, ro, None, BIND | REC, None)),
        ("mount", (None, ro, None, BIND | REMOUNT | RDONLY | REC, None)),
        ("sethostname", ("box",)),
    ]


def test_without_a_cgroup_namespace_or_hostname_neither_is_touched(fake):
    init.switch_root({"linux": {}}, "/r", libc.CLONE_NEWNS, fake)
    assert fake.names() == ["chdir", "pivot_root", "umount", "chdir"]


# ------------------------------------------------------------------------------------- identity


def test_root_keeps_dockers_default_capabilities_and_nothing_else(fake, bundle):
    process = container_spec(bundle)["process"]
    init.apply_identity(process, fake)
    keep = caps.mask(caps.oci_names(caps.DOCKER_DEFAULT))
    dropped = [args[1] for args in fake.named("prctl") if args[0] == libc.PR_CAPBSET_DROP]
    assert dropped == [i for i in range(caps.last_cap() + 1) if not keep & (1 << i)]
    assert fake.names()[len(dropped):] == ["prctl", "setgroups", "setgid", "setuid", "prctl", "capset"]
    assert fake.calls[len(dropped)] == ("prctl", (libc.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    assert fake.calls[-2:] == [("prctl", (libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)),
                               ("capset", (keep, keep, 0))]
    assert fake.named("setgroups") == [([0],)] and fake.named("setuid") == [(0,)]


def test_a_user_keeps_its_bounding_set_but_no_effective_capability(fake):
    process = {"user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6]},
               "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": [], "permitted": []}}
    init.apply_identity(process, fake)
    tail = [call for call in fake.calls if call[0] != "prctl" or call[1][0] != libc.PR_CAPBSET_DROP]
    assert tail == [("setgroups", ([5, 6],)), ("setgid", (100,)),
                    ("prctl", (8, 1, 0, 0, 0)),  # PR_SET_KEEPCAPS before setuid, so capset decides
                    ("setuid", (1000,)),
                    ("prctl", (libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)),
                    ("capset", (0, 0, 0))]
    dropped = {args[1] for args in fake.named("prctl") if args[0] == libc.PR_CAPBSET_DROP}
    assert 0 not in dropped and 5 not in dropped and 21 in dropped  # CHOWN, KILL kept; SYS_ADMIN dropped


# ------------------------------------------------------------------------------------- the command


@pytest.fixture
def path_dirs(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for d in (first, second):
        d.mkdir()
    (first / "tool").write_bytes(b"not executable")
    (second / "tool").write_bytes(b"#!/bin/sh\n")
    (second / "tool").chmod(0o755)
    (first / "plain").write_bytes(b"")
    return str(first), str(second)


def test_the_command_is_looked_up_in_the_containers_path(fake, path_dirs):
    first, second = path_dirs
    with pytest.raises(ExecCalled):
        init.execute(["tool", "-x"], [f"PATH=/nonexistent:{first}:{second}", "A=1", "EMPTY"], fake)
    assert fake.calls == [("execve", (f"{second}/tool", ["tool", "-x"],
                                      {"PATH": f"/nonexistent:{first}:{second}", "A": "1", "EMPTY": ""}))]


def test_a_path_given_is_executed_as_given(fake):
    with pytest.raises(ExecCalled) as raised:
        init.execute(["/bin/whatever", "arg"], [], fake)
    assert raised.value.path == "/bin/whatever"


@pytest.mark.parametrize("args, error, code, message", [
    (["nothere"], None, 127, 'exec: "nothere": executable file not found in $PATH'),
    (["/no/such"], FileNotFoundError(errno.ENOENT, "x"), 127,
     'exec: "/no/such": stat /no/such: no such file or directory'),
    (["plain"], PermissionError(errno.EACCES, "x"), 126, 'exec: "plain": permission denied'),
    (["/bin/x"], OSError(errno.ENOEXEC, "Exec format error"), 126, 'exec: "/bin/x": exec format error'),
    (["/bin/x"], OSError(errno.E2BIG, "Argument list too long"), 126, 'exec: "/bin/x": Argument list too long'),
], ids=["not-in-path", "missing-file", "not-executable", "bad-format", "other"])
def test_a_failed_exec_is_dockers_exit_code_and_message(fake, path_dirs, args, error, code, message):
    if error is not None:
        fake.fail("execve", error)
    with pytest.raises(init.ExecFailure) as raised:
        init.execute(args, [f"PATH={path_dirs[0]}"], fake)
    assert (raised.value.code, str(raised.value)) == (code, message)


def test_a_file_found_but_not_executable_is_still_tried(fake, path_dirs):
    """So that the kernel's EACCES makes it 126 (cannot execute), not 127 (not found), as in Docker."""
    with pytest.raises(ExecCalled) as raised:
        init.execute(["tool"], [f"PATH={path_dirs[0]}"], fake)
    assert raised.value.path == f"{path_dirs[0]}/tool"


# ------------------------------------------------------------------------------------- exec


def test_an_exec_enters_the_cgroup_then_each_namespace_mount_last(fake, tmp_path):
    entry = [tmp_path / "cpu-tasks", tmp_path / "memory-tasks"]
    for f in entry:
        f.write_text("")
    ns_fds = {"cgroup": 11, "ipc": 12, "uts": 13, "net": 14, "mnt": 15, "pid": 16}
    exec_.join(ns_fds, [str(f) for f in entry], fake)
    assert [f.read_text() for f in entry] == ["0", "0"]
    assert fake.calls == [("setns", (11, libc.CLONE_NEWCGROUP)), ("setns", (12, libc.CLONE_NEWIPC)),
                          ("setns", (13, libc.CLONE_NEWUTS)), ("setns", (14, libc.CLONE_NEWNET)),
                          ("setns", (15, libc.CLONE_NEWNS))]


def test_an_exec_that_cannot_enter_the_cgroup_joins_no_namespace(fake, tmp_path):
    with pytest.raises(FileNotFoundError):
        exec_.join({"cgroup": 1, "ipc": 2, "uts": 3, "net": 4, "mnt": 5}, [str(tmp_path / "gone" / "tasks")], fake)
    assert fake.calls == []


# ------------------------------------------------------------------------------------- a whole init, forked


class ReportingSyscall(RecordingSyscall):
    """In a forked init: at the exec, the calls so far go back over the init's own error pipe (the one
    fd it keeps open to the end), and the child ends there, as a real exec would end this program."""

    def __init__(self, report_fd: int) -> None:
        super().__init__()
        self.report_fd = report_fd

    def execve(self, path: str, args: list[str], env: dict[str, str]) -> NoReturn:
        self.calls.append(("execve", (path, list(args), dict(env))))
        os.write(self.report_fd, json.dumps(self.calls).encode())
        os._exit(0)


def run_forked(child: Callable[[RecordingSyscall, int], None]) -> tuple[int, bytes]:
    """Run child(fake, error_fd) in a fork; returns its exit code and what it wrote on error_fd."""
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(err_r)
            child(ReportingSyscall(err_w), err_w)
        finally:
            os._exit(99)
    os.close(err_w)
    with os.fdopen(err_r, "rb") as f:
        written = f.read()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), written


def collapsed(calls: list) -> list[str]:
    """The names of the calls, runs of the same call as one."""
    names = [name for name, _ in calls]
    return [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]


def test_a_whole_container_init_in_order(bundle, tmp_path):
    cgroup_files = [tmp_path / "cpu-tasks", tmp_path / "pids-tasks"]
    for f in cgroup_files:
        f.write_text("")
    cfg = container_spec(bundle)
    cfg["process"]["args"] = ["/bin/echo", "hi"]
    cg_r, cg_w = os.pipe()
    os.write(cg_w, b"1")
    try:
        code, written = run_forked(lambda fake, error_fd: init.container_init(
            cfg, bundle, (0, 1, 2), error_fd, cg_r, [str(f) for f in cgroup_files], fake))
    finally:
        os.close(cg_r)
        os.close(cg_w)
    assert code == 0, written
    calls = json.loads(written)
    assert collapsed(calls) == [
        "prctl",  # PDEATHSIG
        "unshare", "loopback_up", "mount", "mknod",  # namespaces, the root filesystem, /dev
        "unshare", "mount",  # in the cgroup: its namespace, its view at /sys/fs/cgroup (cgroupfs.py)
        "chdir", "pivot_root", "umount", "chdir",  # the pivot
        "mount", "sethostname",  # masked and read-only paths
        "prctl", "setgroups", "setgid", "setuid", "prctl", "capset",  # the identity
        "prctl", "execve"]  # PDEATHSIG again: a change of user clears it
    assert calls[0] == ["prctl", [libc.PR_SET_PDEATHSIG, 9, 0, 0, 0]] and calls[-2] == calls[0]
    assert calls[-1][1][:2] == ["/bin/echo", ["/bin/echo", "hi"]]
    assert [f.read_text() for f in cgroup_files] == ["0", "0"]


def test_an_init_whose_cgroup_failed_stops_before_the_pivot_and_says_why(bundle):
    cg_r, cg_w = os.pipe()
    os.write(cg_w, b"0")
    try:
        code, written = run_forked(lambda fake, error_fd: init.container_init(
            container_spec(bundle), bundle, (0, 1, 2), error_fd, cg_r, [], fake))
    finally:
        os.close(cg_r)
        os.close(cg_w)
    assert (code, written) == (125, b"125:APIError:the supervisor could not set up the container's cgroup")


def test_a_whole_exec_child_in_order(bundle, tmp_path):
    entry = tmp_path / "tasks"
    entry.write_text("")
    process = spec.exec_process(container_spec(bundle)["process"], ["/bin/ls", "/"], (33, 33, [33]), ["X=1"], "/",
                                False)
    ns_fds = {"cgroup": 11, "ipc": 12, "uts": 13, "net": 14, "mnt": 15}
    code, written = run_forked(lambda fake, fail_w: exec_._child(ns_fds, process, [str(entry)], (0, 1, 2), fail_w,
                                                                 fake))
    assert code == 0, written
    calls = json.loads(written)
    assert collapsed(calls) == ["setns", "prctl", "setgroups", "setgid", "prctl", "setuid", "prctl", "capset",
                                "execve"]
    assert [args[1] for name, args in calls if name == "setns"] == [
        libc.CLONE_NEWCGROUP, libc.CLONE_NEWIPC, libc.CLONE_NEWUTS, libc.CLONE_NEWNET, libc.CLONE_NEWNS]
    assert calls[-2] == ["capset", [0, 0, 0]]  # not root: no effective capability
    assert calls[-1][1][2]["X"] == "1" and entry.read_text() == "0"
