"""OCI image layouts as repositories (`oci:PATH[:REFERENCE]`): push, pull, save and load through a directory;
two processes pushing into one layout at once both land; skopeo and podman read what corral writes and corral
reads what skopeo writes; hostile layouts are refused in one line, leaving the store clean."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import test_archive
from tests.conftest import SRC
from tests.test_registry_pull import assert_clean, inspect, skopeo
from tests.test_registry_push import with_layer

podman = test_archive.podman  # the fixture: podman on a private store
REF_NAME = "org.opencontainers.image.ref.name"


def index_of(layout) -> dict:
    with open(os.path.join(layout, "index.json")) as f:
        return json.load(f)


def names_in(layout) -> list[str]:
    return sorted(d.get("annotations", {}).get(REF_NAME, "") for d in index_of(layout)["manifests"])


def test_push_then_pull_and_skopeo_reads_it(busybox, other, tmp_path, peer_host):
    layout = str(tmp_path / "share")
    image_id = with_layer(busybox, "two:1", "echo two > /two")
    out = busybox.out("push", "two:1", f"oci:{layout}")  # podman's form: the entry takes the image's name
    digest = out.splitlines()[-1].split("digest: ")[1].split()[0]
    assert out.startswith(f"The push refers to oci:{layout}\n") and out.count(": Pushed\n") == 2
    busybox.out("push", f"oci:{layout}:busybox:latest")  # the reference names the local image too
    assert names_in(layout) == ["busybox:latest", "two:1"]
    with open(os.path.join(layout, "oci-layout")) as f:
        assert json.load(f) == {"imageLayoutVersion": "1.0.0"}
    assert os.listdir(os.path.join(layout, ".corral", "tmp")) == []  # nothing half-written left
    again = busybox.out("push", "two:1", f"oci:{layout}")
    assert again.count("Layer already exists") == 2 and "Pushed" not in again

    remote = json.loads(skopeo("inspect", f"oci:{layout}:two:1"))
    assert remote["Digest"] == digest and len(remote["Layers"]) == 2
    skopeo("copy", f"oci:{layout}:two:1", f"oci:{tmp_path / 'copy'}:copied")

    out = other.out("pull", f"oci:{tmp_path / 'copy'}:copied")
    assert out.splitlines()[-1] == "copied:latest"  # podman's naming: the reference is the name
    assert inspect(other, "copied")["Id"] == image_id
    assert inspect(other, "copied")["RootFS"] == inspect(busybox, "two:1")["RootFS"]
    assert other.out("run", "--rm", "copied", "cat", "/two") == "two\n"
    other.out("pull", f"oci:{layout}:two:1")
    assert inspect(other, "two:1")["Id"] == image_id
    assert_clean(other)
    assert_clean(busybox)


def test_corral_reads_what_skopeo_wrote(busybox, other, tmp_path, peer_host):
    layout = str(tmp_path / "share")
    with_layer(busybox, "two:1", "echo two > /two")
    busybox.out("save", "-o", str(tmp_path / "two.tar"), "two:1")
    skopeo("copy", "--dest-compress-format", "zstd", "--dest-compress", f"docker-archive:{tmp_path / 'two.tar'}",
           f"oci:{layout}:1.0")
    skopeo("copy", f"docker-archive:{tmp_path / 'two.tar'}", f"oci:{layout}:app:2")

    r = other("pull", f"oci:{layout}")  # two images: which one is for the caller to say
    assert r.returncode != 0 and b"holds 2 images (1.0, app:2): name one as oci:" in r.stderr
    assert other.out("pull", "-q", f"oci:{layout}:1.0") == "1.0:latest\n"
    assert other.out("run", "--rm", "1.0", "cat", "/two") == "two\n"  # the zstd layers
    loaded = other.out("load", "-i", f"oci:{layout}")
    assert sorted(loaded.splitlines()) == ["Loaded image: 1.0:latest", "Loaded image: app:2"]
    config = json.loads(skopeo("inspect", "--raw", f"oci:{layout}:app:2"))["config"]["digest"]
    assert inspect(other, "app:2")["Id"] == inspect(other, "1.0")["Id"] == config  # skopeo made an OCI config
    r = other("pull", f"oci:{layout}:nosuch")
    assert r.returncode != 0 and r.stderr.decode().count("\n") == 1
    assert "has no image named 'nosuch' (it has 1.0, app:2)" in r.stderr.decode()
    assert_clean(other)


def test_podman_pulls_what_corral_pushed(busybox, podman, tmp_path):
    layout = str(tmp_path / "share")
    image_id = with_layer(busybox, "two:1", "echo two > /two")
    busybox.out("push", "oci:" + layout + ":two:1")
    pulled = podman("pull", f"oci:{layout}:two:1").stdout.strip().splitlines()[-1]
    assert "sha256:" + pulled.removeprefix("sha256:") == image_id  # the same image ID in both engines
    assert podman("run", "--rm", "--network", "none", pulled, "cat", "/two").stdout == "two\n"


PUSHER = """
import sys
import corral
client = corral.from_env(environment={"CORRAL_ROOT": sys.argv[1]})
for i in range(int(sys.argv[3])):
    client.images.push(f"oci:{sys.argv[2]}:{sys.argv[4]}", tag=str(i))
"""


def test_two_processes_push_into_one_layout_at_once(busybox, other, tmp_path, peer_host):
    """Two stores (two hosts, for the layout) push names of the same image into one layout as fast as they
    can: the same blobs written by both, index.json changed a dozen times by each. Every name survives."""
    layout = str(tmp_path / "share")
    busybox.out("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    other.out("load", "-i", str(tmp_path / "bb.tar"))
    rounds = 12
    for cli, name in ((busybox, "left"), (other, "right")):
        cli.out("tag", "busybox", f"{name}:0")
        for i in range(1, rounds):
            cli.out("tag", "busybox", f"{name}:{i}")
    env = dict(os.environ, PYTHONPATH=SRC)
    procs = [subprocess.Popen([sys.executable, "-c", PUSHER, cli.root, layout, str(rounds), name], env=env,
                              stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for cli, name in ((busybox, "left"), (other, "right"))]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    expected = sorted(f"{side}:{i}" for side in ("left", "right") for i in range(rounds))
    assert names_in(layout) == expected
    assert len({d["digest"] for d in index_of(layout)["manifests"]}) == 1  # one image, one manifest
    assert os.listdir(os.path.join(layout, ".corral", "tmp")) == []
    for name in ("left:11", "right:0"):
        assert json.loads(skopeo("inspect", f"oci:{layout}:{name}"))["Digest"] == index_of(layout)["manifests"][0][
            "digest"]


def test_save_and_load_through_a_layout(busybox, other, tmp_path):
    import corral

    layout = str(tmp_path / "share")
    image_id = with_layer(busybox, "two:1", "echo two > /two")
    busybox.out("save", "-o", f"oci:{layout}", "busybox", "two:1")
    assert names_in(layout) == ["busybox:latest", "two:1"]
    r = busybox("save", "-o", f"oci:{layout}:x", "busybox", "two:1")
    assert r.returncode != 0 and b"names one entry, but 2 images are saved" in r.stderr
    r = busybox("save", "--format", "docker-archive", "-o", f"oci:{layout}", "busybox")
    assert r.returncode != 0 and b"--format docker-archive does not apply to an OCI layout" in r.stderr
    assert sorted(other.out("load", "-i", f"oci:{layout}").splitlines()) == [
        "Loaded image: busybox:latest", "Loaded image: two:1"]
    client = corral.from_env(environment={"CORRAL_ROOT": other.root})
    assert client.images.pull(f"oci:{layout}:two:1").id == image_id
    client.images.get("two:1").tag("three", "3")
    client.images.push(f"oci:{tmp_path / 'more'}:three", tag="3")
    assert names_in(str(tmp_path / "more")) == ["three:3"]
    assert_clean(other)


def _damage(layout: str, how: str) -> str:
    """Break the pushed layout one way; returns what the error must say."""
    index = index_of(layout)
    manifest_digest = index["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs", "sha256", manifest_digest[7:])) as f:
        layer = json.load(f)["layers"][-1]["digest"]
    blob = os.path.join(layout, "blobs", "sha256", layer[7:])
    if how == "wrong content":
        with open(blob, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 1]))
        return f"blob {layer} "
    if how == "missing blob":
        os.unlink(blob)
        return f"blob {layer} is missing"
    if how == "path in index.json":
        index["manifests"][0]["digest"] = "sha256:../../../../../../etc/passwd"
        with open(os.path.join(layout, "index.json"), "w") as f:
            json.dump(index, f)
        return "only sha256 digests (64 hex digits) are supported"
    if how == "not a layout":
        os.unlink(os.path.join(layout, "oci-layout"))
        return "is not an OCI image layout: it has no oci-layout file"
    if how == "index not JSON":
        with open(os.path.join(layout, "index.json"), "w") as f:
            f.write("{")
        return "index.json is not valid JSON"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["wrong content", "missing blob", "path in index.json", "not a layout",
                                 "index not JSON"])
def test_a_hostile_layout_is_refused_in_one_line(busybox, other, tmp_path, how):
    layout = str(tmp_path / "share")
    with_layer(busybox, "two:1", "head -c 300000 /dev/urandom > /noise")
    busybox.out("push", f"oci:{layout}:two:1")
    said = _damage(layout, how)
    for args in (("pull", f"oci:{layout}:two:1"), ("load", "-i", f"oci:{layout}")):
        r = other(*args)
        err = r.stderr.decode()
        assert r.returncode != 0 and said in err and err.count("\n") == 1 and "Traceback" not in err, err
    if how == "wrong content":
        assert "content has digest sha256:" in err and ": refused" in err
    assert other.out("images", "-q") == ""
    assert_clean(other)


@pytest.mark.unit
def test_layout_references_split_as_skopeo_does():
    from corral.errors import InvalidArgument
    from corral.registry.layout import local_name, split

    assert split("oci:/srv/share:app:1") == ("/srv/share", "app:1")
    assert split("oci:/srv/share") == ("/srv/share", "")
    assert split("oci:rel/dir:1.0")[1] == "1.0" and split("oci:rel/dir:1.0")[0].endswith("/rel/dir")
    assert split("oci:/s:localhost:5000/x:1") == ("/s", "localhost:5000/x:1")
    for bad in ("oci:", "oci::tag", "oci:/s:a b"):
        with pytest.raises(InvalidArgument):
            split(bad)
    assert local_name("app:1") == "app:1" and local_name("app") == "app:latest" and local_name("1.0") == "1.0:latest"
    assert local_name("") == "" and local_name("Not/Valid") == ""
