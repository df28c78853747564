"""Root filesystems as mount descriptions (store/rootfs.py): deep images, short links, their lifecycle.

overlayfs takes its options in one page of mount(2) data; with a layer named by its full path an image
of about 52 layers could not run (a 70-step Dockerfile failed at step 52). The store names layers
through short links and the runtime mounts relative to them, so 125 layers build and run whatever the
store's path, and past what fits the error says so.
"""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from conftest import Cli, tear_down
from corral.store import rootfs
from corral.store.root import Store


@pytest.fixture
def long_store(tmp_path):
    """A store whose root is exactly 100 characters long, holding busybox."""
    base = str(tmp_path)
    root = os.path.join(base, "s" * (100 - len(base) - 1))
    assert len(root) == 100
    cli = Cli(root)
    cli.out("image", "bootstrap", "busybox")
    yield cli
    left = tear_down(root)
    assert not left, f"the test left residue: {left}"


def test_an_image_of_125_layers_builds_and_runs_on_a_100_character_store_path(long_store, tmp_path):
    steps = 125  # on top of busybox's one layer
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\n" + "".join(f"RUN echo {i} > /l{i}\n" for i in range(steps)))
    long_store.out("build", "--network", "none", "-q", "-t", "deep:1", str(ctx), timeout=600)
    layers = json.loads(long_store.out("image", "inspect", "deep:1"))[0]["RootFS"]["Layers"]
    assert len(layers) == steps + 1
    out = long_store.out("run", "--rm", "deep:1", "sh", "-c", f"cat /l0 /l{steps // 2} /l{steps - 1}")
    assert out.split() == ["0", str(steps // 2), str(steps - 1)]
    assert len(os.listdir(os.path.join(long_store.root, rootfs.LINKS))) == steps + 1
    long_store.out("system", "check")


def _links(root: str, count: int) -> rootfs.Mount:
    store = Store(root)
    chains = ["sha256:" + hashlib.sha256(str(i).encode()).hexdigest() for i in range(count)]
    lower = [os.path.join(store.root, rootfs.LINKS, rootfs.link_name(c)) for c in chains]
    bundle = store.container_dir("c" * 64)
    return rootfs.Mount("overlay", "overlay", (f"lowerdir={':'.join(lower)}", f"upperdir={bundle}/upper",
                                               f"workdir={bundle}/work"))


@pytest.mark.unit
def test_a_short_description_is_mounted_with_absolute_paths():
    m = _links("/var/lib/corral", 3)
    assert rootfs.overlay_data(m) == (",".join(m.options), None)


@pytest.mark.unit
@pytest.mark.parametrize("layers", [125, 140])
def test_a_long_description_is_mounted_relative_to_the_links(layers):
    root = "/" + "r" * 250  # the store's own path no longer counts
    data, base = rootfs.overlay_data(_links(root, layers))
    assert base == os.path.join(root, rootfs.LINKS)
    assert len(data) < rootfs.PAGE
    lower = data.split(",")[0].removeprefix("lowerdir=").split(":")
    assert len(lower) == layers and all(len(name) == rootfs.LINK_LENGTH for name in lower)
    assert f"upperdir=../containers/{'c' * 64}/upper" in data.split(",")


@pytest.mark.unit
def test_past_the_limit_the_error_says_so():
    with pytest.raises(rootfs.TooManyLayers, match=r"the image has 160 layers; overlayfs can stack at most 14\d here"):
        rootfs.overlay_data(_links("/var/lib/corral", 160))


@pytest.mark.unit
def test_link_names_are_the_chain_ids_first_130_bits_in_base32():
    import base64

    chain = "sha256:" + "9f" * 32
    assert rootfs.link_name(chain) == base64.b32encode(bytes.fromhex("9f" * 32)).decode()[:26]


def test_a_dangling_link_is_reported_by_check_and_removed_by_prune(busybox):
    busybox.out("run", "--rm", "busybox", "true")  # makes busybox's link
    links = os.path.join(busybox.root, rootfs.LINKS)
    kept = sorted(os.listdir(links))
    assert len(kept) == 1
    os.symlink("../layers/" + "ab" * 32 + "/diff", os.path.join(links, rootfs.link_name("ab" * 32)))
    os.symlink("/etc", os.path.join(links, "NOTOURS"))
    r = busybox("system", "check")
    assert r.returncode != 0
    said = r.stdout.decode() + r.stderr.decode()
    assert f"link {rootfs.LINKS}/{rootfs.link_name('ab' * 32)} leads to no layer" in said
    busybox.out("image", "prune", "-f")
    assert sorted(os.listdir(links)) == kept
    assert os.path.isdir("/etc")
    busybox.out("system", "check")


def test_a_lost_link_is_made_again(busybox):
    busybox.out("run", "--rm", "busybox", "true")
    links = os.path.join(busybox.root, rootfs.LINKS)
    for name in os.listdir(links):
        os.unlink(os.path.join(links, name))
    assert busybox.out("run", "--rm", "busybox", "echo", "back") == "back\n"


def test_a_container_made_before_mount_descriptions_still_starts_and_diffs(busybox):
    """Its config.json names the layers in org.corral.lowerdirs and nothing else."""
    cid = busybox.out("create", "--name", "old", "busybox", "sh", "-c", "echo x > /made").strip()
    path = os.path.join(busybox.root, "containers", cid, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    lower = rootfs.rootfs_of(cfg, os.path.dirname(path)).lowerdirs()
    del cfg["annotations"][rootfs.ROOTFS_ANNOTATION]
    cfg["annotations"][rootfs.LEGACY_ANNOTATION] = ":".join(os.path.realpath(d) for d in lower)
    with open(path, "w") as f:
        json.dump(cfg, f)
    busybox.out("start", "-a", "old")
    assert busybox.out("diff", "old") == "A /made\n"
    graph = json.loads(busybox.out("inspect", "old"))[0]["GraphDriver"]["Data"]
    assert graph["LowerDir"] == ":".join(os.path.realpath(d) for d in lower)
    assert graph["UpperDir"] == os.path.join(os.path.dirname(path), "upper")


def test_inspect_shows_the_layers_and_survives_a_lost_config(busybox):
    cid = busybox.out("create", "busybox", "true").strip()
    layer = json.loads(busybox.out("image", "inspect", "busybox"))[0]["RootFS"]["Layers"][0]
    graph = json.loads(busybox.out("inspect", cid))[0]["GraphDriver"]
    assert graph["Data"]["LowerDir"] == os.path.join(busybox.root, "layers", layer.split(":")[1], "diff")
    os.unlink(os.path.join(busybox.root, "containers", cid, "config.json"))
    r = busybox("inspect", cid)
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    assert json.loads(r.stdout)[0]["Id"] == cid
    busybox.out("rm", cid)


@pytest.mark.unit
def test_a_link_is_made_outside_links_first(tmp_path, monkeypatch):
    """A sweep running beside a create must never see a half-made link in links/ (it would take it)."""
    store = Store(str(tmp_path / "store"))
    chain = "sha256:" + "7" * 64
    seen = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append((os.path.dirname(src), sorted(os.listdir(os.path.dirname(dst)))))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    path = rootfs.ensure_link(store, chain)
    monkeypatch.undo()
    assert seen == [(store.tmp, [])]
    assert os.readlink(path) == f"../layers/{'7' * 64}/diff" and os.listdir(store.tmp) == []
