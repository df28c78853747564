"""Files into and out of containers: Container.put_archive/get_archive/stat_path (docker's
/containers/{id}/archive) and `corral cp`, on running and stopped containers, with hostile archives
and hostile containers that must never make corral read or write outside the container's root."""
from __future__ import annotations

import io
import os
import re
import socket
import sys
import tarfile
import time

import pytest

from conftest import SRC

sys.path.insert(0, SRC)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


@pytest.fixture
def host(busybox, monkeypatch):
    from corral.api import Host

    monkeypatch.setenv("CORRAL_ROOT", busybox.root)
    return Host(busybox.root)


class Outside:
    """A directory on the host that containers try to reach; snapshot() is everything in it."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.mkdir(path)
        with open(os.path.join(path, "secret"), "wb") as f:
            f.write(b"host secret\n")

    def __str__(self) -> str:
        return self.path

    def snapshot(self) -> dict:
        found = {}
        for root, dirs, files in os.walk(self.path):
            for name in dirs + files:
                p = os.path.join(root, name)
                st = os.lstat(p)
                found[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
        return found


@pytest.fixture
def outside(tmp_path) -> Outside:
    return Outside(str(tmp_path / "outside"))


def container(host, state: str, name: str = "box"):
    c = host.create_container("busybox", ["sleep", "300"], name=name)
    if state in ("running", "stopped", "paused"):
        c.start()
    if state == "stopped":
        c.stop(timeout=0)
    if state == "paused":
        c.pause()
    return c


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644,
           uid: int = 0, gid: int = 0, size: int | None = None, major: int = 0, minor: int = 0) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime, info.uid, info.gid = kind, link, mode, 1_600_000_000, uid, gid
    info.size = len(data) if size is None else size
    info.devmajor, info.devminor = major, minor
    return info, data


def tar_bytes(*members: tuple) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            if info.isreg() and info.size != len(data):  # a header that lies about its size
                buf.write(info.tobuf(tarfile.PAX_FORMAT) + data)
                continue
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def read_tar(stream) -> dict:
    data = b"".join(stream)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            content = tf.extractfile(m).read() if m.isreg() else None
            out[m.name] = (m.type, m.mode, m.uid, m.gid, m.linkname, content)
    return out


def sh(c, script: str) -> str:
    r = c.exec(["sh", "-c", script])
    assert r.exit_code == 0, r.stderr
    return r.stdout.decode()


# ---------------------------------------------------------------- round trips

TREE = (
    member("d/", kind=tarfile.DIRTYPE, mode=0o750, uid=1234, gid=5678),
    member("d/file", b"hello\n", mode=0o640, uid=1234, gid=5678),
    member("d/setuid", b"#!/bin/sh\n", mode=0o4755),
    member("d/link", kind=tarfile.SYMTYPE, link="file"),
    member("d/hard", kind=tarfile.LNKTYPE, link="d/file"),
    member("d/.wh.kept", b"an ordinary file\n"),
)


@pytest.mark.parametrize("state", ["running", "stopped", "created", "paused"])
def test_round_trip_keeps_content_modes_owners_and_links(host, state):
    c = container(host, state)
    c.put_archive("/tmp", tar_bytes(*TREE))
    stream, st = c.get_archive("/tmp/d")
    got = read_tar(stream)
    assert got["d"][:4] == (tarfile.DIRTYPE, 0o750, 1234, 5678)
    assert got["d/file"] == (tarfile.REGTYPE, 0o640, 1234, 5678, "", b"hello\n")
    assert got["d/setuid"][1] == 0o4755  # docker keeps set-id bits inside the container
    assert got["d/link"][0] == tarfile.SYMTYPE and got["d/link"][4] == "file"
    assert got["d/hard"][0] == tarfile.LNKTYPE and got["d/hard"][4] == "d/file"
    assert got["d/.wh.kept"][5] == b"an ordinary file\n"  # no whiteout meaning outside image layers
    assert st["name"] == "d" and st["mode"] == (1 << 31) | 0o750 and RFC3339.match(st["mtime"])
    assert st["linkTarget"] == ""
    link = c.stat_path("/tmp/d/link")
    assert link["mode"] & (1 << 27) and link["linkTarget"] == "/tmp/d/file" and link["name"] == "link"
    stream, st = c.get_archive("/tmp/d/.")  # the contents, as docker names them for "dir/."
    assert sorted(read_tar(stream)) == [".", "./.wh.kept", "./file", "./hard", "./link", "./setuid"]
    if state == "paused":
        c.unpause()
    if state in ("running", "paused"):
        assert sh(c, "stat -c '%a %u %g' /tmp/d/file; cat /tmp/d/link") == "640 1234 5678\nhello\n"
    c.remove(force=True)


def test_compressed_archives_and_file_objects(host):
    import bz2
    import gzip
    import lzma

    c = container(host, "created")
    plain = tar_bytes(member("f", b"x" * 1000))
    for n, packed in enumerate((gzip.compress(plain), bz2.compress(plain), lzma.compress(plain))):
        c.put_archive("/", io.BytesIO(packed))
        assert c.stat_path("/f")["size"] == 1000, n
    stream, _ = c.get_archive("/f")
    assert read_tar(stream)["f"][5] == b"x" * 1000
    c.remove()


def test_missing_paths_and_wrong_destinations(host):
    from corral.errors import InvalidArgument, NotFound

    c = container(host, "running", name="nf")
    for call in (lambda: c.get_archive("/nope"), lambda: c.stat_path("/nope"),
                 lambda: c.put_archive("/nope", tar_bytes(member("f")))):
        with pytest.raises(NotFound, match="^Could not find the file /nope in container nf$"):
            call()
    with pytest.raises(InvalidArgument, match="^extraction point is not a directory$"):
        c.put_archive("/etc/passwd", tar_bytes(member("f")))
    with pytest.raises(InvalidArgument, match="data must be bytes"):
        c.put_archive("/tmp", "not bytes")
    c.remove(force=True)


def test_abandoned_stream_ends_its_helper(host):
    c = container(host, "running")
    stream, _ = c.get_archive("/bin")
    assert next(stream)
    pid = stream._child.pid
    stream.close()
    assert not os.path.exists(f"/proc/{pid}")
    c.remove(force=True)


# ---------------------------------------------------------------- hostile archives


def hostile(outside) -> dict:
    out = str(outside)
    return {
        "absolute": (member(f"{out}/abs", b"x"),),
        "dotdot": (member("../../../../../../../../" + out.lstrip("/") + "/dotdot", b"x"),),
        "link then file": (member("l", kind=tarfile.SYMTYPE, link=out), member("l/through", b"x")),
        "relative link then file": (member("r", kind=tarfile.SYMTYPE, link="../../../../../../../" + out),
                                    member("r/through", b"x")),
        "hard link out": (member("h", kind=tarfile.LNKTYPE, link=f"{out}/secret"),),
        "huge": (member("big", b"", size=1 << 42),),
    }


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_hostile_archives_write_nothing_outside(host, outside, state):
    from corral.errors import InvalidArgument

    c = container(host, state)
    before = outside.snapshot()
    for case, members in hostile(outside).items():
        with pytest.raises(InvalidArgument):
            c.put_archive("/tmp", tar_bytes(*members))
        assert outside.snapshot() == before, case
    # device nodes are left out, not refused; the rest of the archive lands
    c.put_archive("/tmp", tar_bytes(member("null2", kind=tarfile.CHRTYPE, major=1, minor=3),
                                    member("sda", kind=tarfile.BLKTYPE, major=8, minor=0), member("after", b"ok")))
    from corral.errors import NotFound

    for name in ("null2", "sda"):
        with pytest.raises(NotFound):
            c.stat_path(f"/tmp/{name}")
    assert c.stat_path("/tmp/after")["size"] == 2
    assert outside.snapshot() == before
    c.remove(force=True)


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_links_in_the_container_resolve_inside_it(host, outside, state):
    """The container's own links (to the host's paths, as a naive reader would follow them) lead
    into the container's root, both for writing and for reading."""
    from corral.errors import NotFound

    c = container(host, "running")
    out = str(outside)
    sh(c, f"mkdir -p {out}-inside /tmp/in; ln -s {out} /tmp/to-host; ln -s / /tmp/to-root; "
          f"ln -s ../../../../../../{out} /tmp/rel-host; mkdir -p {out}")
    if state == "stopped":
        c.stop(timeout=0)
    before = outside.snapshot()
    c.put_archive("/tmp/to-host", tar_bytes(member("dropped", b"x")))  # lands in the container's {out}
    c.put_archive("/tmp/rel-host", tar_bytes(member("dropped2", b"x")))
    c.put_archive("/tmp/to-root", tar_bytes(member("at-root", b"x")))
    assert outside.snapshot() == before
    assert not os.path.exists("/at-root")
    assert c.stat_path(f"{out}/dropped")["size"] == 1 and c.stat_path("/at-root")["size"] == 1
    with pytest.raises(NotFound):
        c.get_archive("/tmp/to-host/secret")  # the host's file is not in the container
    with pytest.raises(NotFound):
        c.get_archive("/tmp/rel-host/secret")
    assert c.stat_path("/tmp/to-host")["linkTarget"] == out
    c.remove(force=True)


def test_kernel_filesystems_are_not_reachable(host):
    """A tar aimed at /proc/sys or /sys of a running container lands in its root filesystem's empty
    directories (docker's archive view has no /proc), never in the kernel's settings."""
    c = container(host, "running")
    name = socket.gethostname()
    c.put_archive("/proc", tar_bytes(member("sys/kernel/hostname", b"pwned\n")))
    c.put_archive("/", tar_bytes(member("proc/sys/kernel/domainname", b"pwned\n")))
    assert socket.gethostname() == name
    with open("/proc/sys/kernel/domainname") as f:
        assert "pwned" not in f.read()
    assert "pwned" not in sh(c, "cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname")
    from corral.errors import NotFound

    with pytest.raises(NotFound):
        c.get_archive("/proc/1/environ")  # the container's procfs is not in the archive view
    c.remove(force=True)


def test_container_swapping_a_directory_for_a_link_during_copies(host, outside):
    """The race of issue 15: while copies go into /d, the container keeps replacing /d with a link
    to the host directory's path. Whatever the copies meet, nothing appears on the host."""
    c = container(host, "running")
    out = str(outside)
    c.exec(["sh", "-c", f"while true; do rm -rf /d; ln -s {out} /d; rm -f /d; mkdir /d; done"], detach=True)
    before = outside.snapshot()
    written = 0
    start = time.monotonic()
    while time.monotonic() < start + 4 or (written == 0 and time.monotonic() < start + 20):  # one copy at least
        try:
            c.put_archive("/d", tar_bytes(member("sub/", kind=tarfile.DIRTYPE), member("sub/f", b"x")))
            written += 1
        except Exception:  # noqa: BLE001 - the race may make any one copy fail; the host is what matters
            pass
        try:
            b"".join(c.get_archive("/d/secret")[0])
        except Exception:  # noqa: BLE001
            pass
    assert outside.snapshot() == before
    assert written > 0
    c.remove(force=True)


# ---------------------------------------------------------------- corral cp


def test_cp_rules_into_a_container(busybox, tmp_path):
    cli = busybox
    cli.out("create", "--name", "ct", "busybox", "sleep", "300")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_bytes(b"A")
    (src / "sub" / "b").write_bytes(b"B")
    f = tmp_path / "file.txt"
    f.write_bytes(b"F")
    cli.out("cp", str(f), "ct:/tmp/new.txt")  # file to a missing path: created with that name
    cli.out("cp", str(f), "ct:/tmp")  # file to an existing directory: goes inside
    cli.out("cp", str(src), "ct:/tmp/copy")  # directory to a missing path: takes that name
    cli.out("cp", str(src), "ct:/tmp/copy")  # directory to an existing directory: goes inside
    cli.out("cp", f"{src}/.", "ct:/tmp/contents")  # "dir/." copies what it holds
    r = cli("cp", str(f), "ct:/tmp/missing/")
    assert r.returncode == 1 and b"no such directory" in r.stderr
    r = cli("cp", str(src), "ct:/tmp/new.txt")
    assert r.returncode == 1 and b"cannot copy directory" in r.stderr
    r = cli("cp", str(f), "ct:/nowhere/x")
    assert r.returncode == 1 and b"Could not find the file /nowhere in container ct" in r.stderr
    r = cli("cp", str(tmp_path / "absent"), "ct:/tmp")
    assert r.returncode == 1 and b"no such file or directory" in r.stderr
    r = cli("cp", "ct:/tmp", "ct:/tmp")
    assert r.returncode == 1 and b"copying between containers is not supported" in r.stderr
    tar = tar_bytes(member("fromstdin", b"S"))
    cli.out("cp", "-", "ct:/tmp", input=tar)
    r = cli("cp", "-", "ct:/tmp/new.txt", input=tar)
    assert r.returncode == 1 and b"must be a directory" in r.stderr
    listing = cli("cp", "ct:/tmp", "-", check=True).stdout
    names = set(tarfile.open(fileobj=io.BytesIO(listing)).getnames())
    assert {"tmp/new.txt", "tmp/file.txt", "tmp/copy/a", "tmp/copy/sub/b", "tmp/copy/src/a", "tmp/contents/a",
            "tmp/contents/sub/b", "tmp/fromstdin"} <= names
    assert "tmp/copy/copy" not in names and "tmp/contents/src" not in names


def test_cp_rules_out_of_a_container(busybox, tmp_path):
    cli = busybox
    cli.out("run", "-d", "--name", "ct", "busybox", "sh", "-c",
            "mkdir -p /data/sub && echo A > /data/a && echo B > /data/sub/b && chown 1234:5678 /data/a && "
            "chmod 4755 /data/a && ln -s /data/a /data/link && exec sleep 300")
    deadline = time.monotonic() + 10
    while cli("exec", "ct", "test", "-L", "/data/link").returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    dest = tmp_path / "dest"
    dest.mkdir()
    cli.out("cp", "ct:/data", str(dest / "copy"))  # missing: takes the name
    cli.out("cp", "ct:/data", str(dest))  # existing directory: goes inside
    cli.out("cp", "ct:/data/.", str(dest / "contents"))
    cli.out("cp", "ct:/data/link", str(dest / "asis"))  # a link stays a link
    cli.out("cp", "-L", "ct:/data/link", str(dest / "followed"))
    assert (dest / "copy" / "sub" / "b").read_bytes() == b"B\n"
    assert (dest / "data" / "a").read_bytes() == b"A\n"
    assert (dest / "contents" / "sub" / "b").read_bytes() == b"B\n"
    assert os.readlink(dest / "asis") == "/data/a"
    assert (dest / "followed").read_bytes() == b"A\n" and not os.path.islink(dest / "followed")
    st = os.stat(dest / "copy" / "a")  # the caller owns what it copied out; set-id bits do not cross
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o755)
    cli.out("cp", "-a", "ct:/data/a", str(dest / "kept"))
    st = os.stat(dest / "kept")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 5678, 0o4755)
    r = cli("cp", "ct:/data", str(dest / "copy" / "a"))
    assert r.returncode == 1 and b"cannot copy directory" in r.stderr
    r = cli("cp", "ct:/data/a", str(dest / "nodir") + "/")
    assert r.returncode == 1 and b"no such directory" in r.stderr
    r = cli("cp", "ct:/nope", str(dest))
    assert r.returncode == 1 and r.stderr == b"Error: Could not find the file /nope in container ct\n"
    out = cli("cp", "ct:/data/sub/b", "-").stdout
    with tarfile.open(fileobj=io.BytesIO(out)) as tf:
        assert tf.getnames() == ["b"] and tf.extractfile("b").read() == b"B\n"
    cli.out("rm", "-f", "ct")


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_bind_mounts_are_part_of_the_view(host, tmp_path, state):
    """As docker: a copy into a bind-mounted directory goes to its source, read-only ones refuse."""
    from corral.errors import CorralError

    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    c = host.create_container("busybox", ["sleep", "300"], name="binds", binds=[f"{rw}:/data", f"{ro}:/ro:ro"])
    c.start()
    if state == "stopped":
        c.stop(timeout=0)
    c.put_archive("/data", tar_bytes(member("in-volume", b"v")))
    assert (rw / "in-volume").read_bytes() == b"v"
    (rw / "from-host").write_bytes(b"h")
    assert read_tar(c.get_archive("/data/from-host")[0])["from-host"][5] == b"h"
    with pytest.raises(CorralError, match="Read-only file system"):
        c.put_archive("/ro", tar_bytes(member("nope", b"x")))
    assert os.listdir(ro) == []
    c.remove(force=True)


@pytest.mark.unit
def test_docker_path_rules():
    from corral.image import tree

    assert [tree.clean(p) for p in ("etc", "/etc/", "etc/.", "/", "//x/../y", "a/./")] == \
        ["/etc", "/etc/", "/etc/.", "/", "/y", "/a/."]
    assert tree.clean("x/.", "/home") == "/home/x/."
    assert [tree.go_base(p) for p in ("/etc/", "/etc/.", "/", "a")] == ["etc", ".", "/", "a"]
    assert tree.split_entry("/a/b/.") == ("/a/b", ".") and tree.split_entry("/a/b/") == ("/a", "b")
    assert tree.ends_as_dir("x/") and tree.ends_as_dir("x/.") and not tree.ends_as_dir("x")
    assert tree.go_mode(0o040755) == (1 << 31) | 0o755
    assert tree.go_mode(0o120777) == (1 << 27) | 0o777
    assert tree.go_mode(0o104755) == (1 << 23) | 0o755
    assert tree.go_mode(0o020666) == (1 << 26) | (1 << 21) | 0o666
    assert tree.rfc3339_ns(1_600_000_000_500_000_000) == "2020-09-13T12:26:40.5Z"
    assert tree.rfc3339_ns(1_600_000_000_000_000_000) == "2020-09-13T12:26:40Z"
    assert [tree.rebase(n, "d", "e") for n in ("d", "d/", "d/x", "dx")] == ["e", "e/", "e/x", "dx"]
    assert [tree.rebase(n, ".", "e") for n in (".", "./", "./x")] == ["e", "e", "e/x"]
