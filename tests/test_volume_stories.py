"""Volumes and cp as users meet them (issue 15): a database-like server whose state outlives its container and
its image's upgrade; a tree with modes, owners, links and a 100 MiB file copied into a container and back;
a copy into a store whose disk fills up."""
from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import tarfile
import time

import pytest

from conftest import CORRAL, Cli, tear_down

SERVER = """\
#!/bin/sh
# a database-like server: on start it reads its state, then writes rows; on SIGTERM it records a clean stop
DB=/var/lib/db
rows=$(cat $DB/rows 2>/dev/null | wc -l)
echo "{version} start rows=$rows" >> $DB/journal
trap 'echo "{version} clean shutdown" >> $DB/journal; exit 0' TERM
i=0
while [ $i -lt 3 ]; do i=$((i+1)); echo "row by {version} #$i" >> $DB/rows; done
sync
touch /tmp/ready
while true; do sleep 1 & wait; done
"""


def build_server(cli: Cli, context, version: str) -> str:
    (context / "server.sh").write_text(SERVER.format(version=version))
    (context / "server.sh").chmod(0o755)
    (context / "Dockerfile").write_text("FROM busybox\nCOPY server.sh /usr/local/bin/server\nVOLUME /var/lib/db\n"
                                        'CMD ["/usr/local/bin/server"]\n')
    cli.out("build", "-q", "-t", f"db:{version}", str(context))
    return cli.out("image", "inspect", "-f", "{{.Id}}", f"db:{version}").strip()


def wait_ready(cli: Cli, name: str) -> None:
    deadline = time.monotonic() + 10
    while cli("exec", name, "test", "-e", "/tmp/ready").returncode != 0:
        assert time.monotonic() < deadline, cli.out("logs", name)
        time.sleep(0.05)


def test_a_database_keeps_its_state_in_a_volume_across_an_upgrade_of_its_image(busybox, tmp_path):
    v1 = build_server(busybox, tmp_path, "v1")
    busybox.out("run", "-d", "--name", "db", "-v", "dbdata:/var/lib/db", "db:v1")
    wait_ready(busybox, "db")
    busybox.out("stop", "db")
    busybox.out("rm", "-v", "db")  # -v takes anonymous volumes only: the named one stays
    assert busybox.out("volume", "ls", "-q").split() == ["dbdata"]
    v2 = build_server(busybox, tmp_path, "v2")
    assert v2 != v1  # a newer image, from the edited context
    busybox.out("run", "-d", "--name", "db", "-v", "dbdata:/var/lib/db", "db:v2")
    wait_ready(busybox, "db")
    assert busybox.out("exec", "db", "cat", "/var/lib/db/journal") == \
        "v1 start rows=0\nv1 clean shutdown\nv2 start rows=3\n"
    assert busybox.out("exec", "db", "cat", "/var/lib/db/rows").splitlines() == \
        [f"row by v{v} #{i}" for v in (1, 2) for i in (1, 2, 3)]
    busybox.out("rm", "-f", "-v", "db")
    busybox.out("volume", "rm", "dbdata")


# ---------------------------------------------------------------- cp round trip

BIG = 100 << 20


def make_tree(top) -> None:
    """Directories and files with their own modes and owners, a set-id file, links of both kinds, an empty
    file and a 100 MiB file of varied bytes."""
    (top / "etc" / "private").mkdir(parents=True)
    (top / "bin").mkdir()
    files = {"etc/conf": (b"key=value\n", 0o640, 1234, 5678), "etc/private/key": (b"secret\n", 0o600, 42, 42),
             "bin/tool": (b"#!/bin/sh\necho tool\n", 0o4755, 0, 0), "empty": (b"", 0o444, 7, 8)}
    for rel, (data, mode, uid, gid) in files.items():
        (top / rel).write_bytes(data)
        os.chown(top / rel, uid, gid)
        os.chmod(top / rel, mode)
    with open(top / "big", "wb") as f:
        block = hashlib.sha256(b"corral").digest() * (1 << 15)  # 1 MiB that is not all one byte
        for i in range(BIG // len(block)):
            f.write(block[i % 251:] + block[:i % 251])
    os.symlink("etc/conf", top / "conf-link")
    os.symlink("/etc/private", top / "abs-link")
    os.link(top / "etc" / "conf", top / "hard")
    os.chown(top / "etc" / "private", 42, 42)
    os.chmod(top / "etc" / "private", 0o700)
    os.chmod(top / "bin", 0o711)


def snapshot(top) -> dict:
    """Every entry under top: type, mode, owner, link target, content digest, and which names share an inode."""
    found, inodes = {}, {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, top)
            kind = stat.S_IFMT(st.st_mode)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
            found[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                          os.readlink(p) if stat.S_ISLNK(st.st_mode) else None, digest)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                inodes.setdefault(st.st_ino, []).append(rel)
    return {"entries": found, "hard links": sorted(sorted(v) for v in inodes.values())}


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_cp_round_trip_of_a_tree_with_modes_owners_links_and_a_100_mib_file(busybox, tmp_path, state):
    src, back = tmp_path / "src", tmp_path / "back"
    src.mkdir()
    make_tree(src)
    busybox.out("run", "-d", "--name", "trip", "busybox", "sleep", "300")
    if state == "stopped":
        busybox.out("stop", "-t", "0", "trip")
    busybox.out("cp", "-a", f"{src}/.", "trip:/data")
    busybox.out("cp", "-a", "trip:/data", str(back))
    assert snapshot(back) == snapshot(src)
    assert snapshot(src)["hard links"] == [["etc/conf", "hard"]]
    if state == "stopped":
        busybox.out("start", "trip")
    inside = busybox.out("exec", "trip", "sh", "-c", "stat -c '%a %u:%g' /data/etc/conf /data/bin/tool; "
                         "readlink /data/conf-link; sha256sum /data/big; stat -c %s /data/big")
    with open(src / "big", "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    assert inside == f"640 1234:5678\n4755 0:0\netc/conf\n{digest}  /data/big\n{BIG}\n"
    busybox.out("rm", "-f", "trip")


# ---------------------------------------------------------------- cp to a full disk


@pytest.fixture
def small_store(tmp_path):
    """A store on a 48 MiB tmpfs, so a copy fills its disk fast; torn down and checked as every store."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "corral-test-small", str(disk)], check=True)
    root = str(disk / "store")
    try:
        cli = Cli(root)
        cli.out("image", "bootstrap", "busybox")
        yield cli
        left = tear_down(root)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert not left, f"the test left residue: {left}"


class Zeros(io.RawIOBase):
    """n zero bytes, made as they are read (a stream larger than the disk, never held in memory)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001
        k = min(len(b), self.n)
        b[:k] = bytes(k)
        self.n -= k
        return k


def test_cp_of_a_stream_larger_than_the_disk_fails_in_one_line_and_leaves_no_half_file(small_store, tmp_path):
    cli = small_store
    cli.out("create", "--name", "full", "busybox", "true")
    stream = tmp_path / "stream.tar"  # written to the big disk, read by cp from stdin
    with tarfile.open(stream, "w") as tf:
        first = tarfile.TarInfo("first")
        first.size = 6
        tf.addfile(first, io.BytesIO(b"first\n"))
        big = tarfile.TarInfo("big")
        big.size = 200 << 20
        tf.addfile(big, io.BufferedReader(Zeros(big.size)))
    with open(stream, "rb") as f:
        r = subprocess.run(CORRAL + ["cp", "-", "full:/tmp"], stdin=f, capture_output=True, env=cli.env,
                           timeout=120)
    assert r.returncode == 1
    assert r.stderr.decode() == "Error: No space left on device: /tmp/big\n"
    listing = subprocess.run(CORRAL + ["cp", "full:/tmp", "-"], capture_output=True, env=cli.env, check=True)
    with tarfile.open(fileobj=io.BytesIO(listing.stdout)) as tf:
        assert sorted(tf.getnames()) == ["tmp", "tmp/first"]  # what came before stays, as docker's; no half file
    assert cli.out("system", "check").startswith(f"store at {cli.root} is consistent")
    assert os.statvfs(cli.root).f_bavail * os.statvfs(cli.root).f_frsize > 40 << 20  # the space came back
    cli.out("rm", "full")
