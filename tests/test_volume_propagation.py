"""Bind propagation (issue 15): `-v SRC:DST:rshared` lets a mount made inside the container appear on the host,
`rslave` lets the host's new mounts appear inside only, `private` (the default) lets neither through; a
propagation the source's mount cannot give is docker's error. The runtime copies such a source's mount
(open_tree) before it makes the container's namespace private (runtime/mounts.clone_propagating)."""
from __future__ import annotations

import os
import subprocess

import pytest

from corral.runtime import mounts
from corral.sys import libc
from corral.sys.fake import RecordingSyscall


@pytest.fixture
def shared_dir(tmp_path):
    """A directory that is a shared mount of its own (a bind on itself made shared), as a host with
    systemd has "/"; every mount under it is taken away afterwards, deepest first."""
    d = tmp_path / "shared"
    d.mkdir()
    subprocess.run(["mount", "--bind", str(d), str(d)], check=True)
    subprocess.run(["mount", "--make-shared", str(d)], check=True)
    yield d
    for point in sorted(mounted_under(d), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    subprocess.run(["umount", "-l", str(d)], check=False)


def mounted_under(d) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p.startswith(f"{d}/")]


@pytest.mark.parametrize("mode, outward, inward", [
    ("rshared", True, True),
    ("shared", True, True),
    ("rslave", False, True),
    ("slave", False, True),
    ("private", False, False),
    ("", False, False),  # docker's default, rprivate
])
def test_propagation_between_the_container_and_the_host(busybox, shared_dir, mode, outward, inward):
    spec = f"{shared_dir}:/mnt" + (f":{mode}" if mode else "")
    busybox.out("run", "-d", "--privileged", "--name", "prop", "-v", spec, "busybox", "sleep", "60")
    try:
        busybox.out("exec", "prop", "sh", "-c", "mkdir /mnt/inner && mount -t tmpfs inner /mnt/inner && "
                    "echo made-inside > /mnt/inner/f")
        seen_on_host = os.path.ismount(shared_dir / "inner")
        assert seen_on_host is outward
        if outward:
            assert (shared_dir / "inner" / "f").read_text() == "made-inside\n"
        (shared_dir / "outer").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "outer", str(shared_dir / "outer")], check=True)
        (shared_dir / "outer" / "g").write_text("made-outside\n")
        seen_inside = busybox("exec", "prop", "cat", "/mnt/outer/g")
        assert (seen_inside.returncode == 0) is inward, seen_inside.stderr
        if inward:
            assert seen_inside.stdout == b"made-outside\n"
        [m] = [m for m in busybox.out("inspect", "-f", "{{range .Mounts}}{{.Propagation}} {{end}}",
                                      "prop").split()]
        assert m == (mode or "rprivate")
    finally:
        busybox.out("rm", "-f", "prop")


@pytest.mark.parametrize("mode, message", [
    ("rshared", "but it is not a shared mount"),
    ("rslave", "but it is not a shared or slave mount"),
])
def test_a_propagation_the_source_cannot_give_is_dockers_error(busybox, tmp_path, mode, message):
    point, fields = mounts.mount_of(str(tmp_path))
    if any(field.startswith(("shared:", "master:")) for field in fields):
        pytest.skip(f"{point} is a shared mount on this host")  # detect, don't assume: a systemd host's / is
    r = busybox("run", "--rm", "-v", f"{tmp_path}:/mnt:{mode}", "busybox", "true")
    assert r.returncode == 125 and r.stderr.decode() == f"Error: path {tmp_path} is mounted on {point} {message}\n"
    assert busybox.out("ps", "-aq") == ""  # run --rm left nothing


MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
46 27 254:0 /srv /srv rw,relatime shared:1 - ext4 /dev/vda rw
47 46 0:44 / /srv/a\\040b rw,relatime master:2 - tmpfs t rw
48 27 0:45 / /var rw,relatime - tmpfs t rw
"""


@pytest.mark.unit
def test_mount_of_finds_the_innermost_mount_and_its_peers():
    assert mounts.mount_of("/srv/data", MOUNTINFO) == ("/srv", ["shared:1"])
    assert mounts.mount_of("/srv/a b/c", MOUNTINFO) == ("/srv/a b", ["master:2"])
    assert mounts.mount_of("/srvx", MOUNTINFO) == ("/", [])
    assert mounts.mount_of("/", MOUNTINFO) == ("/", [])


@pytest.mark.unit
def test_only_propagating_binds_are_copied_and_each_checked():
    fake = RecordingSyscall()
    specs = [{"destination": "/a", "type": "bind", "source": "/srv/x", "options": ["rbind", "rshared"]},
             {"destination": "/b", "type": "bind", "source": "/srv/y", "options": ["rbind", "rprivate"]},
             {"destination": "/c", "type": "bind", "source": "/srv/a b", "options": ["bind", "slave"]},
             {"destination": "/d", "type": "tmpfs", "source": "tmpfs", "options": ["shared"]}]
    clones = mounts.clone_propagating(specs, fake, MOUNTINFO)
    assert fake.named("clone_mount") == [("/srv/x", True), ("/srv/a b", False)]
    assert sorted(clones) == [0, 2]
    for mode, message in (("rshared", "not a shared mount"), ("slave", "not a shared or slave mount")):
        with pytest.raises(OSError, match=f"^.*path /var/z is mounted on /var but it is {message}"):
            mounts.clone_propagating([{"destination": "/e", "type": "bind", "source": "/var/z",
                                       "options": ["rbind", mode]}], fake, MOUNTINFO)


@pytest.mark.unit
def test_a_copied_bind_is_attached_then_given_its_propagation(tmp_path):
    fake = RecordingSyscall()
    r, w = os.pipe()
    os.close(w)
    mounts.apply_mount(str(tmp_path), {"destination": "/mnt", "type": "bind", "source": str(tmp_path),
                                       "options": ["rbind", "rshared", "ro"]}, fake, clone=r)
    target = str(tmp_path / "mnt")
    remount = libc.MS_RDONLY | libc.MS_BIND | libc.MS_REC | libc.MS_REMOUNT
    assert fake.calls == [("attach_mount", (r, target)),
                          ("mount", (None, target, None, remount, None)),
                          ("mount", (None, target, None, libc.MS_SHARED | libc.MS_REC, None))]
    with pytest.raises(OSError):
        os.fstat(r)  # the copy's fd is closed once attached
