"""Images in and out of files: save/load (docker-archive and OCI layout), export, import, interop with
podman and skopeo, and a corpus of hostile archives that must load nothing and leave nothing behind."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

from conftest import CORRAL, SRC, Cli

sys.path.insert(0, SRC)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FORMATS = ["docker-archive", "oci-archive"]


# ---------------------------------------------------------------- helpers


def clean(cli: Cli) -> None:
    """The store is consistent: no partial image, orphan blob or layer, no tmp leftovers."""
    r = cli("system", "check")
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    tmp = os.path.join(cli.root, "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == []


def image_id(cli: Cli, ref: str) -> str:
    return json.loads(cli.out("image", "inspect", ref))[0]["Id"]


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644,
           size: int | None = None) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, mode, 1_600_000_000
    info.size = len(data) if size is None else size
    return info, data


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    with open("/bin/busybox", "rb") as f:
        busybox = f.read()
    entries = [member("bin/", kind=tarfile.DIRTYPE, mode=0o755), member("bin/busybox", busybox, mode=0o755)]
    return tar_bytes(*entries, *(member(n, d) for n, d in files.items()))


def config_for(*layers: bytes, pad: int = 0) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/busybox", "cat", "/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(lay) for lay in layers]},
    }).encode() + b" " * pad


def docker_archive(layers: list[bytes], *, config: bytes | None = None, tags=("evil:1",), extra=(),
                   manifest: object = None, names: list[str] | None = None) -> bytes:
    """A docker-archive built member by member, for the hostile variants to bend."""
    config = config if config is not None else config_for(*layers)
    names = names or [f"{sha(lay)[7:]}/layer.tar" for lay in layers]
    manifest = manifest if manifest is not None else [
        {"Config": sha(config)[7:] + ".json", "RepoTags": list(tags), "Layers": names}]
    return tar_bytes(member(sha(config)[7:] + ".json", config),
                     *(member(n, lay) for n, lay in zip(names, layers)), *extra,
                     member("manifest.json", json.dumps(manifest).encode()))


def oci_archive(layers: list[bytes], *, config: bytes | None = None, manifest: bytes | None = None,
                index: object = None, skip: tuple[str, ...] = (), extra=()) -> bytes:
    """An OCI layout tarball with gzip layers, for the hostile variants to bend."""
    config = config if config is not None else config_for(*layers)
    blobs = [gzip.compress(lay, mtime=0) for lay in layers]
    manifest = manifest if manifest is not None else json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(b), "size": len(b)}
                   for b in blobs]}).encode()
    index = index if index is not None else {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "evil:1"}}]}
    contents = [config, manifest] + blobs
    return tar_bytes(member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                     *(member("blobs/sha256/" + sha(c)[7:], c) for c in contents if sha(c) not in skip), *extra,
                     member("index.json", json.dumps(index).encode()))


HELLO = layer_tar({"hello": b"hello from a loaded layer\n"})


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_load_round_trip_keeps_id_and_tags_and_runs(busybox, other, tmp_path, fmt):
    busybox.out("tag", "busybox", "mybox:2")
    (tmp_path / "hello.tar").write_bytes(layer_tar({"hello": b"hi\n"}))
    busybox.out("import", str(tmp_path / "hello.tar"), "hello:1")
    ids = {ref: image_id(busybox, ref) for ref in ("busybox", "hello:1")}
    path = str(tmp_path / "images.tar")
    busybox.out("save", "--format", fmt, "-o", path, "busybox", "mybox:2", "hello:1")
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]
    with tarfile.open(path) as tf:
        names = tf.getnames()
    if fmt == "docker-archive":
        assert "manifest.json" in names and "index.json" not in names
    else:
        assert {"oci-layout", "index.json"} <= set(names) and "manifest.json" not in names

    out = other.out("load", "-i", path)
    assert sorted(out.splitlines()) == ["Loaded image: busybox:latest", "Loaded image: hello:1",
                                        "Loaded image: mybox:2"]
    assert {ref: image_id(other, ref) for ref in ids} == ids
    assert image_id(other, "mybox:2") == ids["busybox"]
    assert other("run", "--rm", "mybox:2", "cat", "/etc/passwd").stdout.startswith(b"root:x:0:0")
    assert other("run", "--rm", "hello:1", "/bin/busybox", "cat", "/hello").stdout == b"hi\n"
    clean(other)

    # loading it again stores nothing new, and a compressed archive (docker load takes one) works too
    layers = sorted(os.listdir(os.path.join(other.root, "layers")))
    blobs = sorted(os.listdir(os.path.join(other.root, "blobs", "sha256")))
    with open(path, "rb") as f:
        packed = gzip.compress(f.read())
    assert other.out("load", input=packed).count("Loaded image:") == 3
    assert sorted(os.listdir(os.path.join(other.root, "layers"))) == layers
    assert sorted(os.listdir(os.path.join(other.root, "blobs", "sha256"))) == blobs
    clean(other)
    clean(busybox)


def test_save_to_stdout_by_id_and_refusals(busybox, other, tmp_path):
    iid = image_id(busybox, "busybox")
    data = busybox("save", iid[7:19]).stdout  # to a pipe; by ID: no name in the archive, as with docker save
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] is None
    assert other.out("load", input=data) == f"Loaded image ID: {iid}\n"
    r = busybox("save", "nosuch:1", "-o", str(tmp_path / "x.tar"))
    assert r.returncode == 1 and b"No such image: nosuch:1" in r.stderr
    r = busybox("save", "--format", "tarball", "-o", str(tmp_path / "x.tar"), "busybox")
    assert r.returncode == 1 and b"unknown archive format" in r.stderr
    assert not os.path.exists(tmp_path / "x.tar") and not [n for n in os.listdir(tmp_path) if ".tmp-" in n]
    r = other("load", "-i", str(tmp_path / "missing.tar"))
    assert r.returncode == 1 and b"no such file" in r.stderr
    import pty

    controller, terminal = pty.openpty()
    try:  # an archive is never written to a terminal, as docker refuses to
        for args in (["save", "busybox"], ["export", "whatever"]):
            r = subprocess.run(CORRAL + args, stdout=terminal, stderr=subprocess.PIPE, env=busybox.env, timeout=60)
            assert r.returncode == 1 and b"refusing to write an archive to a terminal" in r.stderr
        r = subprocess.run(CORRAL + ["load"], stdin=terminal, capture_output=True, env=busybox.env, timeout=60)
        assert r.returncode == 1 and b"stdin is a terminal" in r.stderr
    finally:
        os.close(controller)
        os.close(terminal)


def test_shared_layer_is_not_stored_or_unpacked_twice(busybox, other, tmp_path):
    """An image on top of busybox, loaded where busybox already is: only the new layer arrives."""
    busybox.out("run", "--name", "box", "busybox", "sh", "-c", "echo app > /app")
    busybox.out("commit", "box", "app:1")
    path = str(tmp_path / "app.tar")
    busybox.out("save", "-o", path, "app:1")
    other.out("image", "bootstrap", "busybox")
    base = os.path.join(other.root, "layers", os.listdir(os.path.join(other.root, "layers"))[0], "diff")
    before = os.stat(base).st_ino
    blobs = set(os.listdir(os.path.join(other.root, "blobs", "sha256")))
    assert other.out("load", "-i", path) == "Loaded image: app:1\n"
    assert os.stat(base).st_ino == before
    assert len(os.listdir(os.path.join(other.root, "layers"))) == 2
    new = set(os.listdir(os.path.join(other.root, "blobs", "sha256"))) - blobs
    assert len(new) == 2  # the config and the manifest: layers are kept unpacked, with their tar-split
    assert other("run", "--rm", "app:1", "cat", "/app").stdout == b"app\n"
    assert image_id(other, "app:1") == image_id(busybox, "app:1")
    clean(other)


def test_system_check_rebuilds_each_layer_from_its_files_and_tar_split(busybox):
    """A layer is kept as its files and a tar-split: `system check` rebuilds the tar and holds it to the diff_id."""
    [chain] = os.listdir(os.path.join(busybox.root, "layers"))
    passwd = os.path.join(busybox.root, "layers", chain, "diff", "etc", "passwd")
    original = open(passwd, "rb").read()
    try:
        with open(passwd, "wb") as f:
            f.write(bytes([original[0] ^ 1]) + original[1:])  # the same size: only the content differs
        r = busybox("system", "check")
        assert r.returncode == 1 and b"its files no longer rebuild its tar" in r.stdout + r.stderr
        os.unlink(passwd)
        r = busybox("system", "check")
        assert r.returncode == 1 and b"cannot rebuild its tar" in r.stdout + r.stderr
    finally:
        with open(passwd, "wb") as f:
            f.write(original)
    assert busybox("system", "check").returncode == 0


def test_python_api_save_load_export(busybox, tmp_path):
    from corral.api import Host

    host = Host(busybox.root)
    img = host.image("busybox")
    buf = io.BytesIO()
    img.save(buf, format="oci-archive")
    second = Host(str(tmp_path / "api-store"))
    loaded = second.load(io.BytesIO(buf.getvalue()))
    assert [(i.id, i.loaded_tags) for i in loaded] == [(img.id, ["busybox:latest"])]
    host.save(["busybox", img.id], str(tmp_path / "both.tar"))  # the same image twice: once in the archive
    with tarfile.open(tmp_path / "both.tar") as tf:
        assert len(json.load(tf.extractfile("manifest.json"))) == 1
    assert [i.id for i in second.load(str(tmp_path / "both.tar"))] == [img.id]
    assert second.check() == []

    c = host.create_container("busybox", ["true"])
    out = io.BytesIO()
    c.export(out)
    c.remove()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert tf.getmember("bin/busybox").isreg()


# ---------------------------------------------------------------- export and import


def _export_members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: m for m in tf.getmembers()}


def test_export_gives_the_merged_tree(busybox, tmp_path):
    script = ("echo new > /new.txt; rm /etc/group; mkdir -p /data/sub; echo x > /data/sub/f; ln /data/sub/f /data/hard;"
              " rm -rf /var/spool; mkdir /var/spool; echo y > /var/spool/z; chmod 4711 /new.txt")
    busybox.out("run", "--name", "box", "busybox", "sh", "-c", script)
    path = tmp_path / "rootfs.tar"
    busybox.out("export", "-o", str(path), "box")
    members = _export_members(path.read_bytes())
    with tarfile.open(path) as tf:
        assert tf.extractfile("new.txt").read() == b"new\n"
        assert tf.extractfile("etc/passwd").read().startswith(b"root:")
    assert members["new.txt"].mode == 0o4711
    assert "etc/group" not in members  # deleted in the container
    assert "var/spool/z" in members and "var/spool/mail" not in members  # a directory replaced: opaque
    links = [m for m in (members["data/hard"], members["data/sub/f"]) if m.islnk()]
    assert len(links) == 1 and links[0].linkname in ("data/hard", "data/sub/f")
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "/bin/busybox"
    for d in ("proc", "sys", "dev"):
        assert members[d].isdir() and not [n for n in members if n.startswith(d + "/")]
    assert not [n for n in members if ".wh." in n or n.startswith("/") or ".." in n.split("/")]
    assert not [m for m in members.values() if m.ischr()]

    # import shares load's path: the export becomes an image that runs and shows the same tree
    busybox.out("import", str(path), "flat:1")
    r = busybox("run", "--rm", "flat:1", "sh", "-c", "cat /new.txt /var/spool/z; ls /etc/group /var/spool/mail")
    assert r.stdout == b"new\ny\n" and r.returncode == 1
    clean(busybox)


def test_export_a_running_container_to_stdout(busybox):
    deep = "mkdir /deep && cd /deep && i=0; while [ $i -lt 1200 ]; do mkdir d && cd d; i=$((i+1)); done; "
    cid = busybox.out("run", "-d", "busybox", "sh", "-c", deep + "echo live > /live; exec sleep 60").strip()
    deadline = time.monotonic() + 10
    while busybox("exec", cid, "test", "-f", "/live").returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r = busybox("export", cid)
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        assert tf.extractfile("live").read() == b"live\n"
        assert tf.getmember("deep" + "/d" * 1200).isdir()  # deeper than Python's recursion limit
    busybox.out("rm", "-f", cid)
    r = busybox("export", "nosuch")
    assert r.returncode == 1 and b"No such container: nosuch" in r.stderr


def test_import_decompresses_like_load_and_reports_corrupt_input(busybox, tmp_path):
    (tmp_path / "root.tar.xz").write_bytes(lzma.compress(layer_tar({"hello": b"xz\n"})))
    busybox.out("import", str(tmp_path / "root.tar.xz"), "xz:1")
    assert busybox("run", "--rm", "xz:1", "/bin/busybox", "cat", "/hello").stdout == b"xz\n"
    corrupt = bytearray(gzip.compress(layer_tar({"hello": b"x" * 100_000})))
    corrupt[len(corrupt) // 2:len(corrupt) // 2 + 64] = b"\xff" * 64
    (tmp_path / "bad.tar.gz").write_bytes(bytes(corrupt))
    r = busybox("import", str(tmp_path / "bad.tar.gz"), "bad:1")
    assert r.returncode == 1 and r.stderr.count(b"\n") == 1
    assert b"archive is truncated or corrupt" in r.stderr  # the tar or its gzip, whichever breaks first
    clean(busybox)


def test_a_directory_nested_deeper_than_the_recursion_limit_is_replaced_cleanly(tmp_path):
    """A layer nesting directories deeper than Python's recursion limit, then a file in place of the top
    one: the extractor removes that tree without recursing (shutil.rmtree died with a traceback). The
    limit is lowered here so the tree can stay small: extraction cost grows with depth cubed."""
    import inspect

    from corral.image.extract import extract_layer

    entries, name = [], "a"
    for _ in range(400):
        entries.append(member(name, kind=tarfile.DIRTYPE, mode=0o755))
        name += "/d"
    data = tar_bytes(*entries, member("a", b"file now\n"))
    dest = tmp_path / "dest"
    dest.mkdir()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 200)
    try:
        extract_layer(io.BytesIO(data), str(dest))
    finally:
        sys.setrecursionlimit(limit)
    assert (dest / "a").read_bytes() == b"file now\n"


def test_layers_in_any_compression_load(busybox, tmp_path):
    """gzip, zstd and uncompressed layer blobs inside an OCI layout."""
    plain = layer_tar({"hello": b"plain\n"})
    config = config_for(plain)
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": sha(plain), "size": len(plain)}]}).encode()
    index = {"schemaVersion": 2, "manifests": [{"digest": sha(manifest), "size": len(manifest),
                                                "annotations": {"io.containerd.image.name": "docker.io/x/plain:1"}}]}
    data = tar_bytes(member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), member("index.json", json.dumps(index).encode()),
                     *(member("blobs/sha256/" + sha(c)[7:], c) for c in (config, manifest, plain)))
    assert busybox.out("load", input=data) == "Loaded image: x/plain:1\n"
    assert image_id(busybox, "x/plain:1") == sha(config)
    assert busybox.out("load", input=oci_archive([HELLO])) == "Loaded image: evil:1\n"
    assert busybox("run", "--rm", "evil:1").stdout == b"hello from a loaded layer\n"
    import zstandard  # a test dependency (pyproject [test]); corral itself only needs it for zstd layers

    blob = zstandard.ZstdCompressor().compress(plain)
    manifest = manifest.replace(sha(plain).encode(), sha(blob).encode()).replace(
        str(len(plain)).encode(), str(len(blob)).encode())
    index["manifests"][0].update(digest=sha(manifest), size=len(manifest))
    data = tar_bytes(member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                     member("index.json", json.dumps(index).encode()),
                     *(member("blobs/sha256/" + sha(c)[7:], c) for c in (config, manifest, blob)))
    assert busybox.out("load", input=data) == "Loaded image: x/plain:1\n"
    clean(busybox)


def test_multi_platform_index_and_docker_25_layout(busybox):
    """An OCI index of platforms loads this machine's image (the others' blobs may be absent); Docker 25's
    archives (manifest.json naming blobs/sha256/..., beside an OCI layout) load as docker-archives."""
    from corral.image.oci import go_arch

    config = config_for(HELLO)
    blob = gzip.compress(HELLO, mtime=0)
    manifest = _oci_manifest_for(config, blob)
    platforms = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"digest": "sha256:" + "a" * 64, "size": 10, "platform": {"os": "linux", "architecture": "s390x"}},
        {"digest": sha(manifest), "size": len(manifest), "platform": {"os": "linux", "architecture": go_arch()}}]})
    platforms = platforms.encode()
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                                                "digest": sha(platforms), "size": len(platforms),
                                                "annotations": {"org.opencontainers.image.ref.name": "multi:1"}}]}
    data = tar_bytes(member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                     member("index.json", json.dumps(index).encode()),
                     *(member("blobs/sha256/" + sha(c)[7:], c) for c in (config, manifest, platforms, blob)))
    assert busybox.out("load", input=data) == "Loaded image: multi:1\n"
    assert image_id(busybox, "multi:1") == sha(config)

    other = layer_tar({"hello": b"docker 25\n"})
    config = config_for(other)
    data = tar_bytes(member("blobs/", kind=tarfile.DIRTYPE, mode=0o755),
                     member("blobs/sha256/", kind=tarfile.DIRTYPE, mode=0o755),
                     member("blobs/sha256/" + sha(config)[7:], config), member("blobs/sha256/" + sha(other)[7:], other),
                     member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), member("index.json", b"{}"),
                     member("manifest.json", json.dumps([{"Config": "blobs/sha256/" + sha(config)[7:],
                                                          "RepoTags": ["docker.io/library/d25:latest"],
                                                          "Layers": ["blobs/sha256/" + sha(other)[7:]]}]).encode()))
    assert busybox.out("load", input=data) == "Loaded image: d25:latest\n"
    assert busybox("run", "--rm", "d25").stdout == b"docker 25\n"
    clean(busybox)


# ---------------------------------------------------------------- interop with podman and skopeo


@pytest.fixture
def podman(tmp_path, peer_host):
    """podman on a private store under tmp_path (vfs: no overlay on overlay), reset afterwards."""
    import tempfile

    short = tempfile.mkdtemp(prefix="corral-podman-")  # podman refuses a runroot path over 50 characters
    root, runroot = tmp_path / "podman-root", os.path.join(short, "run")
    base = ["podman", "--root", str(root), "--runroot", runroot, "--storage-driver", "vfs"]

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(base + list(args), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p

    yield run
    # Not `podman system reset`: whatever --root says, it also deletes every podman network of the host
    # (/etc/containers/networks), which a user's own podman relies on.
    run("rm", "--all", "--force", check=False)
    run("rmi", "--all", "--force", check=False)
    with open("/proc/self/mounts") as f:
        left = [line.split()[1] for line in f if line.split()[1].startswith((str(root) + "/", short + "/"))]
    for mount_point in sorted(left, key=len, reverse=True):  # podman's own leftovers, if any
        subprocess.run(["umount", "-l", mount_point], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(short, ignore_errors=True)


def podman_id(podman, ref: str) -> str:
    return "sha256:" + podman("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip().removeprefix("sha256:")


@pytest.mark.parametrize("fmt", FORMATS)
def test_podman_and_skopeo_take_what_corral_saves(busybox, podman, tmp_path, fmt):
    busybox.out("run", "--name", "box", "busybox", "sh", "-c", "echo two > /two")
    busybox.out("commit", "box", "two:1")  # two layers
    path = str(tmp_path / f"two.{fmt}.tar")
    busybox.out("save", "--format", fmt, "-o", path, "two:1")
    ours = image_id(busybox, "two:1")

    info = json.loads(subprocess.run(["skopeo", "inspect", f"{fmt}:{path}"], capture_output=True, text=True,
                                     check=True).stdout)
    assert info["Os"] == "linux" and len(info["Layers"]) == 2
    config = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"{fmt}:{path}"], capture_output=True,
                                       check=True).stdout)
    assert config["rootfs"]["diff_ids"] == json.loads(busybox.out("image", "inspect", "two:1"))[0]["RootFS"]["Layers"]

    assert "Loaded image" in podman("load", "-i", path).stdout
    assert podman_id(podman, "two:1") == ours  # the same image ID in both engines
    r = podman("run", "--rm", "--network", "none", "two:1", "cat", "/two")
    assert r.stdout == "two\n"


@pytest.mark.parametrize("fmt", FORMATS)
def test_corral_loads_what_podman_saves(other, podman, tmp_path, fmt):
    rootfs = layer_tar({"hello": b"from podman\n"})
    (tmp_path / "rootfs.tar").write_bytes(rootfs)
    podman("import", str(tmp_path / "rootfs.tar"), "frompodman:1")
    path = str(tmp_path / "podman.tar")
    podman("save", "--format", fmt, "-o", path, "frompodman:1")

    out = other.out("load", "-i", path)
    assert out == "Loaded image: localhost/frompodman:1\n"
    assert image_id(other, "localhost/frompodman:1") == podman_id(podman, "frompodman:1")
    r = other("run", "--rm", "localhost/frompodman:1", "/bin/busybox", "cat", "/hello")
    assert r.stdout == b"from podman\n", r.stderr
    clean(other)


# ---------------------------------------------------------------- hostile archives


def _truncated() -> bytes:
    data = docker_archive([HELLO])
    return data[: len(data) // 2]


def _huge_member() -> bytes:
    info = tarfile.TarInfo("huge")
    info.size = 100 << 30
    return info.tobuf(tarfile.PAX_FORMAT) + b"\0" * 4096


def _corrupt_gzip() -> bytes:
    data = bytearray(gzip.compress(docker_archive([HELLO])))
    data[len(data) // 2:len(data) // 2 + 64] = b"\xee" * 64
    return bytes(data)


def _hostile_second_layer() -> bytes:
    """The first layer is fine and gets stored; the second tries to escape: the first must go too."""
    evil = tar_bytes(member("../outside/escaped", b"pwned"))
    return docker_archive([HELLO, evil])


_GOOD_CONFIG = config_for(HELLO)
_OTHER_LAYER = layer_tar({"hello": b"not what the config says\n"})
_MANIFEST = [{"Config": sha(_GOOD_CONFIG)[7:] + ".json", "RepoTags": ["evil:1"],
              "Layers": [sha(HELLO)[7:] + "/layer.tar"]}]


def _with_manifest(**change) -> bytes:
    return docker_archive([HELLO], manifest=[dict(_MANIFEST[0], **change)])


def _oci_manifest_for(config: bytes, blob: bytes) -> bytes:
    return json.dumps({"schemaVersion": 2, "config": {"digest": sha(config), "size": len(config)},
                       "layers": [{"digest": sha(blob), "size": len(blob)}]}).encode()


def _symlink_loop() -> bytes:
    return tar_bytes(member(sha(_GOOD_CONFIG)[7:] + ".json", _GOOD_CONFIG), member("a", kind=tarfile.SYMTYPE, link="b"),
                     member("b", kind=tarfile.SYMTYPE, link="a"),
                     member("manifest.json", json.dumps([dict(_MANIFEST[0], Layers=["a"])]).encode()))


HOSTILE = {
    # paths in the outer tar
    "dotdot-entry": (lambda: docker_archive([HELLO], extra=[member("../outside/pwned", b"x")]),
                     "archive entry '../outside/pwned' has a '..' component"),
    "absolute-entry": (lambda: docker_archive([HELLO], extra=[member("/tmp/pwned", b"x")]),
                       "archive entry '/tmp/pwned' has an absolute path"),
    "symlink-out": (lambda: docker_archive([HELLO], extra=[member("link", kind=tarfile.SYMTYPE, link="../outside/x")]),
                    "archive entry 'link' links to '../outside/x', outside the archive"),
    "symlink-absolute": (lambda: docker_archive([HELLO], extra=[member("l", kind=tarfile.SYMTYPE, link="/etc/shadow")]),
                         "archive entry 'l' links to '/etc/shadow', outside the archive"),
    "hardlink-out": (lambda: docker_archive([HELLO], extra=[member("h", kind=tarfile.LNKTYPE, link="../../etc/passwd")]),
                     "archive entry 'h' links to '../../etc/passwd', outside the archive"),
    "symlink-loop": (_symlink_loop, "manifest.json names 'a', which goes through a loop of links"),
    "symlinked-parent": (lambda: tar_bytes(member("d", kind=tarfile.SYMTYPE, link="."), member("d/manifest.json", b"[]")),
                         "archive entry 'd/manifest.json' is inside 'd', which is not a directory"),
    # what the manifests name
    "manifest-dotdot": (lambda: _with_manifest(Layers=["../outside/layer.tar"]),
                        "manifest.json names '../outside/layer.tar', outside the archive"),
    "manifest-absolute": (lambda: _with_manifest(Config="/etc/passwd"),
                          "manifest.json names '/etc/passwd', outside the archive"),
    "missing-layer": (lambda: _with_manifest(Layers=["nope/layer.tar"]),
                      "manifest.json names 'nope/layer.tar', which is not in the archive"),
    "missing-config": (lambda: _with_manifest(Config="nope.json"),
                       "manifest.json names 'nope.json', which is not in the archive"),
    "oci-missing-blob": (lambda: oci_archive([HELLO], skip=(sha(gzip.compress(HELLO, mtime=0)),)),
                         f"names 'blobs/sha256/{sha(gzip.compress(HELLO, mtime=0))[7:]}', which is not in the archive"),
    "no-manifest": (lambda: tar_bytes(member("hello", b"hi")), "not an image archive"),
    # digests
    "config-digest": (lambda: tar_bytes(member("f" * 64 + ".json", _GOOD_CONFIG),
                                        member(sha(HELLO)[7:] + "/layer.tar", HELLO),
                                        member("manifest.json", json.dumps(
                                            [dict(_MANIFEST[0], Config="f" * 64 + ".json")]).encode())),
                      f"config '{'f' * 64}.json' has digest {sha(_GOOD_CONFIG)}, not the one its name says"),
    "diff-id": (lambda: docker_archive([_OTHER_LAYER], config=_GOOD_CONFIG), f"not the {sha(HELLO)} its image config"),
    "oci-layer-digest": (lambda: oci_archive([HELLO], manifest=_oci_manifest_for(_GOOD_CONFIG, b"0" * 10),
                                             extra=[member("blobs/sha256/" + sha(b"0" * 10)[7:], b"1" * 10)]),
                         f"has digest {sha(b'1' * 10)}, not the {sha(b'0' * 10)}"),
    "oci-diff-id": (lambda: oci_archive([_OTHER_LAYER], config=_GOOD_CONFIG), f"not the {sha(HELLO)} its image config"),
    "oci-size": (lambda: oci_archive([HELLO], index={"schemaVersion": 2, "manifests": [{"digest": sha(b"{}"), "size": 3}]},
                                     extra=[member("blobs/sha256/" + sha(b"{}")[7:], b"{}")]),
                 "is 2 bytes, not the 3"),
    "diff-id-count": (lambda: docker_archive([HELLO], config=config_for(HELLO, HELLO)), "lists 1 layers for config"),
    # the outer tar itself
    "duplicate-entry": (lambda: docker_archive([HELLO], extra=[member("manifest.json", b"[]")]),
                        "archive entry 'manifest.json' appears twice"),
    "device-node": (lambda: docker_archive([HELLO], extra=[member("dev", kind=tarfile.CHRTYPE)]),
                    "archive entry 'dev' is a device node"),
    "fifo": (lambda: docker_archive([HELLO], extra=[member("fifo", kind=tarfile.FIFOTYPE)]),
             "archive entry 'fifo' is a FIFO"),
    "huge-config": (lambda: docker_archive([HELLO], config=config_for(HELLO, pad=5 << 20)),
                    "bytes, more than the 4194304 a config may have"),
    "huge-manifest": (lambda: tar_bytes(member("manifest.json", b"[" + b" " * (5 << 20) + b"]")),
                      "manifest 'manifest.json' is 5242882 bytes, more than the 4194304"),
    "huge-member": (_huge_member, "archive entry 'huge' declares an absurd size"),
    "truncated": (_truncated, "image archive is truncated or corrupt"),
    "corrupt-gzip": (_corrupt_gzip, "image archive is truncated or corrupt"),
    "garbage": (lambda: bytes(range(256)) * 20, "image archive is truncated or corrupt"),
    "empty": (lambda: b"", "image archive is truncated or corrupt"),
    "bad-json": (lambda: tar_bytes(member("manifest.json", b"[{")), "manifest 'manifest.json' is not valid JSON"),
    "bad-tag": (lambda: docker_archive([HELLO], tags=["Evil Tag"]), "invalid reference format"),
    # a hostile layer inside a well-formed archive, after a good first layer was already stored
    "layer-escape": (_hostile_second_layer, "entry '../outside/escaped' has a '..' component"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_loads_nothing_and_leaves_nothing(busybox, tmp_path, case):
    build, expected = HOSTILE[case]
    outside = tmp_path / "outside"  # a sentinel next to the store: nothing may appear in it
    outside.mkdir()
    path = tmp_path / "evil.tar"
    path.write_bytes(build())
    around = sorted(os.listdir(tmp_path))
    ids = busybox.out("images", "-q", "--no-trunc")
    for how in ("file", "pipe"):
        r = busybox("load", "-i", str(path)) if how == "file" else busybox("load", input=path.read_bytes())
        err = r.stderr.decode()
        assert r.returncode == 1, (how, r.stdout, err)
        assert err.count("\n") == 1 and err.startswith("Error: ") and expected in err, (how, err)
        assert r.stdout == b""
        assert os.listdir(outside) == [] and sorted(os.listdir(tmp_path)) == around
        assert busybox.out("images", "-q", "--no-trunc") == ids  # no partial image
        clean(busybox)


def test_links_inside_the_archive_are_followed_within_it(busybox):
    """podman's docker-archives name layers through symlinks (legacy <id>/layer.tar -> ../<diff>.tar)."""
    blob = sha(HELLO)[7:] + ".tar"
    data = tar_bytes(member(sha(_GOOD_CONFIG)[7:] + ".json", _GOOD_CONFIG), member(blob, HELLO),
                     member("legacy/", kind=tarfile.DIRTYPE, mode=0o755),
                     member("legacy/layer.tar", kind=tarfile.SYMTYPE, link="../" + blob),
                     member("hard.tar", kind=tarfile.LNKTYPE, link="legacy/layer.tar"),
                     member("manifest.json", json.dumps([dict(_MANIFEST[0], Layers=["hard.tar"])]).encode()))
    assert busybox.out("load", input=data) == "Loaded image: evil:1\n"
    assert busybox("run", "--rm", "evil:1").stdout == b"hello from a loaded layer\n"
    clean(busybox)
