"""The store: system check, bad filesystems, concurrency, import, shared layers."""
from __future__ import annotations

import concurrent.futures
import io
import os
import subprocess
import tarfile

import pytest


def test_check_finds_corruption_and_orphans(busybox):
    assert busybox("system", "check").returncode == 0
    blobs = os.path.join(busybox.root, "blobs", "sha256")
    victim = sorted(os.listdir(blobs))[0]
    with open(os.path.join(blobs, victim), "ab") as f:
        f.write(b"x")
    os.makedirs(os.path.join(busybox.root, "layers", "f" * 64))
    r = busybox("system", "check")
    assert r.returncode == 1
    assert f"blob sha256:{victim} does not match its digest".encode() in r.stdout
    assert b"layer directory " + b"f" * 64 + b" is not recorded" in r.stdout


def _mount_tmpfs(path: str, options: str) -> None:
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path], check=True)


def test_read_only_root_is_a_clear_error(cli, tmp_path):
    ro = str(tmp_path / "ro")
    _mount_tmpfs(ro, "size=4m")
    try:
        subprocess.run(["mount", "-o", "remount,ro", ro], check=True)
        cli.env["CORRAL_ROOT"] = ro + "/store"
        r = cli("run", "--rm", "busybox", "true")
        assert r.returncode == 125
        assert r.stderr.decode().count("\n") == 1 and "read-only" in r.stderr.decode()
    finally:
        subprocess.run(["umount", ro], check=True)


def test_full_disk_is_a_clear_error_and_leaves_the_store_clean(cli, tmp_path):
    small = str(tmp_path / "small")
    _mount_tmpfs(small, "size=1500k")
    try:
        cli.env["CORRAL_ROOT"] = small + "/store"
        r = cli("image", "bootstrap", "busybox")
        assert r.returncode == 1
        assert b"disk is full" in r.stderr and r.stderr.count(b"\n") == 1
        assert cli("system", "check").returncode == 0
        assert cli.out("images", "-q") == ""
    finally:
        subprocess.run(["umount", small], check=True)


def test_concurrent_creates_are_safe(busybox):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: busybox("create", "--name", f"c{i}", "busybox", "true"), range(10)))
    assert all(r.returncode == 0 for r in results)
    assert len(busybox.out("ps", "-aq").split()) == 10
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda i: busybox("create", "--name", "same", "busybox", "true"), range(6)))
    assert sorted(r.returncode for r in results) == [0] + [125] * 5
    assert busybox("system", "check").returncode == 0


def _rootfs_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_import_tarball_and_run(busybox, tmp_path):
    with open("/bin/busybox", "rb") as f:
        tarball = _rootfs_tar({"bin/busybox": f.read(), "hello.txt": b"imported\n"})
    path = tmp_path / "rootfs.tar.gz"
    path.write_bytes(tarball)
    image_id = busybox.out("import", str(path), "mini:1").strip()
    assert image_id.startswith("sha256:")
    assert busybox.out("images", "-q", "mini") == image_id[7:19] + "\n"
    assert busybox.out("images", "-q", "nosuch") == ""
    assert busybox.out("images").splitlines()[1].split()[:2] == ["mini", "1"]
    r = busybox("run", "--rm", "mini:1", "/bin/busybox", "cat", "/hello.txt")
    assert r.stdout == b"imported\n"
    assert busybox("import", str(tmp_path / "missing.tar"), "x:1").returncode == 1
    r = busybox("import", str(path), "Bad Name")
    assert r.returncode == 1 and b"invalid reference format" in r.stderr


def test_same_layer_is_stored_and_unpacked_once(busybox, tmp_path):
    tarball = _rootfs_tar({"f": b"same"})
    (tmp_path / "a.tar.gz").write_bytes(tarball)
    busybox.out("import", str(tmp_path / "a.tar.gz"), "one:1")
    busybox.out("import", str(tmp_path / "a.tar.gz"), "two:1")
    layers = os.listdir(os.path.join(busybox.root, "layers"))
    assert len(layers) == 2  # busybox's and the shared one
    assert busybox("system", "check").returncode == 0


def test_hostile_import_is_refused_and_leaves_nothing(busybox, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    (tmp_path / "evil.tar").write_bytes(buf.getvalue())
    r = busybox("import", str(tmp_path / "evil.tar"), "evil:1")
    assert r.returncode == 1 and b"../escape" in r.stderr
    assert not (tmp_path / "escape").exists()
    assert busybox("system", "check").returncode == 0


@pytest.mark.slow
def test_bootstrap_debian(cli):
    r = cli("image", "bootstrap", "debian:bookworm", timeout=900)
    assert r.returncode == 0, r.stderr
    r = cli("run", "--rm", "debian:bookworm", "sh", "-c", "cat /etc/debian_version; apt-get --version | head -1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split("\n")[0].startswith("12")
    assert b"apt" in r.stdout
    assert cli("system", "check", timeout=300).returncode == 0


def test_remove_tree_takes_everything_and_follows_no_link(tmp_path):
    import sys

    from conftest import SRC

    sys.path.insert(0, SRC)
    from corral.store.fsutil import remove_tree

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("k")
    tree = tmp_path / "tree"
    for d in ("empty", "a/b/c", "a/empty", "ro/sub"):
        (tree / d).mkdir(parents=True)
    (tree / "a/b/c/f").write_text("f")
    (tree / "ro/sub/g").write_text("g")
    os.chmod(tree / "ro", 0o555)
    os.symlink(outside, tree / "link")
    os.mkfifo(tree / "a/fifo")
    remove_tree(str(tree))
    assert not tree.exists()
    assert (outside / "keep").read_text() == "k"
    remove_tree(str(tree))  # gone already: nothing to do, no error


def test_read_beneath_never_follows_a_link_and_keeps_the_size(tmp_path):
    """What export and commit read from a running container's sandbox: the container may swap a
    directory for a link to the host between listing a file and reading it."""
    import sys

    from conftest import SRC

    sys.path.insert(0, SRC)
    from corral.store.fsutil import read_beneath

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host secret")
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "a" / "f").write_text("0123456789")
    os.symlink(outside, root / "l")
    os.symlink(outside / "secret", root / "a" / "link-file")
    os.mkfifo(root / "a" / "fifo")

    def read(rel: str, size: int) -> bytes:
        with read_beneath(str(root), rel, size) as f:
            return b"".join(iter(lambda: f.read(4), b""))

    assert read("a/f", 10) == b"0123456789"
    assert read("a/f", 4) == b"0123"  # grown since listed: cut
    assert read("a/f", 12) == b"0123456789\0\0"  # shrunk since listed: padded
    assert read("l/secret", 11) == b"\0" * 11  # a link on the way
    assert read("a/link-file", 11) == b"\0" * 11  # the file itself a link
    assert read("a/fifo", 3) == b"\0" * 3  # no hang
    assert read("../outside/secret", 11) == b"\0" * 11
    assert read("a/gone", 2) == b"\0\0"


def test_check_reports_a_damaged_container_row_instead_of_crashing(busybox):
    import sqlite3

    cid = busybox.out("create", "busybox", "true").strip()
    conn = sqlite3.connect(os.path.join(busybox.root, "corral.db"))
    with conn:
        conn.execute("UPDATE containers SET options='{not json' WHERE id=?", (cid,))
    conn.close()
    r = busybox("system", "check")
    assert b"Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1 and f"container {cid[:12]}: its recorded options are damaged".encode() in r.stdout
    r = busybox("ps", "-a")
    assert r.returncode != 0 and b"its recorded options are damaged" in r.stderr and b"Traceback" not in r.stderr
    conn = sqlite3.connect(os.path.join(busybox.root, "corral.db"))
    with conn:
        conn.execute("UPDATE containers SET options='{}' WHERE id=?", (cid,))
    conn.close()


def test_a_cgroup_a_deleted_store_left_is_reported_and_repaired(busybox):
    """An empty cgroup named as a container no store here owns: new, it may be another store's container
    starting, and is left alone; unchanged for ORPHAN_CGROUP_AGE, it is a gone store's, reported and removed."""
    import time

    from corral.monitor.cleanup import ORPHAN_CGROUP_AGE
    from corral.runtime import cgroups

    busybox.out("run", "--rm", "busybox", "true")  # corral's parent cgroups exist
    name = os.urandom(32).hex()
    made = [p for p in cgroups.manager(f"/corral/{name}").paths() if os.path.isdir(os.path.dirname(p))]
    try:
        for p in made:
            os.mkdir(p)
        assert busybox("system", "check").returncode == 0
        old = time.time() - ORPHAN_CGROUP_AGE - 60
        for p in made:
            os.utime(p, (old, old))
        r = busybox("system", "check")
        assert r.returncode == 1 and f"cgroup corral/{name[:12]} is empty and no container" in r.stdout.decode()
        assert f"the cgroup corral/{name[:12]} a store that is gone left, removed" in \
            busybox.out("system", "check", "--repair")
        assert not [p for p in made if os.path.isdir(p)]
        assert busybox("system", "check").returncode == 0
    finally:
        for p in made:
            if os.path.isdir(p):
                os.rmdir(p)
