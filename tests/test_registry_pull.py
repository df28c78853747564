"""`corral pull` against Debian's docker-registry (filled by skopeo) and against a fake registry for the
faults a real one does not make: digests compared, the result run, the store checked after each failure."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from tests.registryd import FakeRegistry, Registry

SKOPEO_DEST = ["--dest-tls-verify=false"]


@pytest.fixture
def registry(tmp_path, peer_host):
    reg = Registry(str(tmp_path / "registry")).start()
    yield reg
    reg.stop()


def skopeo(*args: str) -> str:
    p = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    return p.stdout


def two_layers(busybox, tmp_path) -> str:
    """busybox plus a layer of its own, saved as a docker-archive; returns the archive's path."""
    busybox.out("run", "--name", "box", "busybox", "sh", "-c", "echo two > /two")
    busybox.out("commit", "box", "two:1")
    busybox.out("rm", "box")
    path = str(tmp_path / "two.tar")
    busybox.out("save", "-o", path, "two:1")
    return path


def inspect(cli, ref: str) -> dict:
    return json.loads(cli.out("image", "inspect", ref))[0]


def assert_clean(cli) -> None:
    """`system check` finds nothing wrong in this store (what other stores left on the host is theirs)."""
    r = cli("system", "check")
    problems = [line for line in r.stdout.decode().splitlines()
                if not line.startswith("network: store ") and not line.endswith(" is consistent")]
    assert r.returncode in (0, 1) and not problems, r.stdout.decode() + r.stderr.decode()


@pytest.mark.parametrize("fmt", ["docker-v2s2-gzip", "oci-gzip", "oci-zstd"])
def test_pull_what_skopeo_pushed_and_run_it(busybox, other, registry, tmp_path, fmt):
    archive = two_layers(busybox, tmp_path)
    ref = f"{registry.host}/team/two:1"
    if fmt == "oci-zstd":  # skopeo 1.9 recompresses to gzip on the way to a registry unless told to keep digests
        layout = f"oci:{tmp_path / 'layout'}:1"
        skopeo("copy", "--dest-compress", "--dest-compress-format", "zstd", f"docker-archive:{archive}", layout)
        skopeo("copy", *SKOPEO_DEST, "--preserve-digests", layout, f"docker://{ref}")
    else:
        skopeo("copy", *SKOPEO_DEST, "--format", fmt.split("-")[-2], f"docker-archive:{archive}", f"docker://{ref}")
    manifest = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}"))
    assert all(d["mediaType"].endswith(fmt.split("-")[-1]) for d in manifest["layers"])
    remote = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}"))
    raw_config = skopeo("inspect", "--tls-verify=false", "--raw", "--config", f"docker://{ref}").encode()

    out = other.out("pull", ref)
    assert out.splitlines()[-1] == ref and f"Digest: {remote['Digest']}" in out
    assert "Status: Downloaded newer image for " + ref in out
    info = inspect(other, ref)
    assert info["Id"] == "sha256:" + hashlib.sha256(raw_config).hexdigest()  # the config verbatim: same image ID
    assert info["RepoDigests"] == [f"{registry.host}/team/two@{remote['Digest']}"]
    assert info["RootFS"]["Layers"] == inspect(busybox, "two:1")["RootFS"]["Layers"]
    assert other.out("run", "--rm", ref, "cat", "/two") == "two\n"
    assert other.out("image", "inspect", "-f", "{{.Id}}", f"{registry.host}/team/two@{remote['Digest']}").strip() \
        == info["Id"]  # found again by the digest the registry knows it by
    assert_clean(other)

    again = other.out("pull", ref)  # nothing to download
    assert "Already exists" in again and "Status: Image is up to date for " + ref in again
    # what corral pulled saves as the same layers skopeo sees
    other.out("save", "-o", str(tmp_path / "back.tar"), ref)
    assert json.loads(skopeo("inspect", "--config", f"docker-archive:{tmp_path / 'back.tar'}"))["rootfs"] == \
        json.loads(raw_config)["rootfs"]


def test_layers_present_are_skipped(busybox, other, registry, tmp_path):
    archive = two_layers(busybox, tmp_path)
    skopeo("copy", *SKOPEO_DEST, f"docker-archive:{archive}", f"docker://{registry.host}/two:1")
    busybox.out("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    other.out("load", "-i", str(tmp_path / "bb.tar"))  # the base layer, from elsewhere
    out = other.out("pull", f"{registry.host}/two:1")
    lines = [line for line in out.splitlines() if line[:12].isalnum() and ": " in line]
    assert sum("Already exists" in line for line in lines) == 1
    assert sum("Pull complete" in line for line in lines) == 1
    assert_clean(other)


def test_all_tags_and_quiet(busybox, other, registry, tmp_path):
    busybox.out("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    for tag in ("a", "b"):
        skopeo("copy", *SKOPEO_DEST, f"docker-archive:{tmp_path / 'bb.tar'}", f"docker://{registry.host}/bb:{tag}")
    assert other.out("pull", "-q", "-a", f"{registry.host}/bb") == f"{registry.host}/bb\n"
    assert sorted(other.out("images", "--format", "{{.Tag}}", f"{registry.host}/bb").split()) == ["a", "b"]
    r = other("pull", "-a", f"{registry.host}/bb:a")
    assert r.returncode == 1 and b"tag can't be used with --all-tags/-a" in r.stderr


def test_short_names_use_the_search_list(busybox, other, registry, tmp_path):
    busybox.out("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    skopeo("copy", *SKOPEO_DEST, f"docker-archive:{tmp_path / 'bb.tar'}", f"docker://{registry.host}/busybox:1")
    conf = tmp_path / "registries.conf"
    other.env["CORRAL_REGISTRIES_CONF"] = str(conf)
    r = other("pull", "busybox:1")
    assert r.returncode == 1 and f"none is configured: list them as unqualified-search-registries in {conf}" \
        in r.stderr.decode()
    conf.write_text(f'unqualified-search-registries = ["{registry.host}"]\n')
    assert other.out("pull", "-q", "busybox:1") == "busybox:1\n"
    assert other.out("run", "--rm", "busybox:1", "echo", "ok") == "ok\n"
    r = other("pull", "nosuch")
    assert r.returncode == 1 and b"manifest unknown" in r.stderr


def test_manifest_list_platform_selection(busybox, other, registry, tmp_path):
    import urllib.request

    busybox.out("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    skopeo("copy", *SKOPEO_DEST, "--format", "oci", f"docker-archive:{tmp_path / 'bb.tar'}",
           f"docker://{registry.host}/multi:one")
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/multi:one").encode()
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": len(raw),
            "digest": "sha256:" + hashlib.sha256(raw).hexdigest()}
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        dict(desc, platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
        dict(desc, platform={"os": "linux", "architecture": "amd64"})]}).encode()
    req = urllib.request.Request(f"http://{registry.host}/v2/multi/manifests/all", data=index, method="PUT",
                                 headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert urllib.request.urlopen(req).status == 201

    out = other.out("pull", f"{registry.host}/multi:all")
    assert f"Digest: {desc['digest']}" in out
    assert other.out("pull", "-q", "--platform", "linux/arm64/v8", f"{registry.host}/multi:all")
    r = other("pull", "--platform", "linux/s390x", f"{registry.host}/multi:all")
    assert r.returncode == 1
    assert b"no matching manifest for linux/s390x in the manifest list entries (it has linux/amd64, linux/arm64/v8)" \
        in r.stderr
    r = other("pull", "--platform", "linux/", f"{registry.host}/multi:all")
    assert r.returncode == 1 and b"invalid platform" in r.stderr
    assert_clean(other)


def test_missing_manifest_is_a_clear_404(other, registry):
    r = other("pull", f"{registry.host}/nothing:here")
    assert r.returncode == 1
    assert f"manifest for {registry.host}/nothing:here not found: manifest unknown: manifest unknown".encode() \
        in r.stderr
    assert other.out("images", "-q") == ""
    assert_clean(other)


def test_unreachable_registry(other):
    from tests.registryd import free_port

    r = other("pull", f"127.0.0.1:{free_port()}/x:1", timeout=60)
    assert r.returncode == 1 and b"Connection refused" in r.stderr or b"connection refused" in r.stderr


# ------------------------------------------------------------------ faults a real registry does not make


def fake_image(blob: bytes, served: bytes | None = None) -> dict:
    """Routes of a one-layer image whose layer is `blob`, served as `served` (the same by default)."""
    import gzip

    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": [
        "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()]}}).encode()
    layer_digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                                      "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "size": len(blob), "digest": layer_digest}]}).encode()
    ctype = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    return {"/v2/": (200, {}, b"{}"), "/v2/x/manifests/1": (200, ctype, manifest),
            f"/v2/x/blobs/sha256:{hashlib.sha256(config).hexdigest()}": (200, {}, config),
            f"/v2/x/blobs/{layer_digest}": (200, {}, blob if served is None else served)}, layer_digest


def layer_gz(text: bytes) -> bytes:
    import gzip
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    return gzip.compress(buf.getvalue(), mtime=0)


@pytest.mark.parametrize("served", ["other-tar", "garbage"])
def test_wrong_blob_content_is_refused_by_its_digest(cli, served):
    good = layer_gz(b"good\n")
    wrong = layer_gz(b"evil\n") if served == "other-tar" else b"\x1f\x8b" + b"x" * (len(good) - 2)
    routes, digest = fake_image(good, wrong)
    fake = FakeRegistry(routes)
    try:
        r = cli("pull", f"{fake.host}/x:1")
    finally:
        fake.stop()
    assert r.returncode == 1
    assert f"blob {digest} from {fake.host}: content has digest".encode() in r.stderr, r.stderr
    assert cli.out("images", "-q") == ""
    assert not os.listdir(os.path.join(cli.root, "layers")) if os.path.isdir(os.path.join(cli.root, "layers")) \
        else True
    assert_clean(cli)


def test_fake_registry_serves_a_good_image(cli):
    routes, digest = fake_image(layer_gz(b"good\n"))
    fake = FakeRegistry(routes)
    try:
        assert cli.out("pull", "-q", f"{fake.host}/x:1") == f"{fake.host}/x:1\n"
    finally:
        fake.stop()
    assert_clean(cli)


def test_a_hanging_registry_times_out_clearly(cli):
    routes, _ = fake_image(layer_gz(b"good\n"))
    routes["/v2/x/manifests/1"] = (200, {}, None)
    fake = FakeRegistry(routes)
    cli.env["CORRAL_REGISTRY_TIMEOUT"] = "1"
    try:
        r = cli("pull", f"{fake.host}/x:1", timeout=30)
    finally:
        fake.stop()
    assert r.returncode == 1
    assert f"{fake.host}: no answer within 1s to manifest for {fake.host}/x:1".encode() in r.stderr
    assert_clean(cli)
