"""`corral push` to Debian's docker-registry: pulled back into an empty store with the same digests and run,
skipped and mounted layers, chunked uploads, and the peers (skopeo, podman) reading what corral pushed."""
from __future__ import annotations

import json
import time

import pytest

from tests import test_archive
from tests.registryd import Registry
from tests.test_registry_pull import assert_clean, inspect, skopeo


podman = test_archive.podman  # the fixture: podman on a private store


@pytest.fixture
def registry(tmp_path, peer_host):
    reg = Registry(str(tmp_path / "registry")).start()
    yield reg
    reg.stop()


def with_layer(busybox, name: str, command: str) -> str:
    busybox.out("run", "--name", "mk", "busybox", "sh", "-c", command)
    busybox.out("commit", "mk", name)
    busybox.out("rm", "mk")
    return inspect(busybox, name)["Id"]


def test_push_then_pull_into_an_empty_store(busybox, other, registry):
    ref = f"{registry.host}/team/app:1"
    image_id = with_layer(busybox, ref, "echo pushed > /msg")
    out = busybox.out("push", ref)
    assert out.startswith(f"The push refers to repository [{registry.host}/team/app]\n")
    assert out.count(": Pushed\n") == 2
    digest = out.splitlines()[-1].split("digest: ")[1].split()[0]
    manifest = registry.get("/v2/team/app/manifests/1", "application/vnd.oci.image.manifest.v1+json")[1]
    assert out.splitlines()[-1] == f"1: digest: {digest} size: {len(manifest)}"
    assert f"{registry.host}/team/app@{digest}" in inspect(busybox, ref)["RepoDigests"]

    other.out("pull", ref)
    info = inspect(other, ref)
    assert info["Id"] == image_id and info["RepoDigests"] == [f"{registry.host}/team/app@{digest}"]
    assert info["RootFS"] == inspect(busybox, ref)["RootFS"]
    assert other.out("run", "--rm", ref, "cat", "/msg") == "pushed\n"
    until = str(int(time.time()) + 1)  # docker's bounds are whole seconds: the second begun waits
    for store, action in ((busybox, "push"), (other, "pull")):
        seen = store.out("events", "--since", "5m", "--until", until, "--filter", "type=image",
                         "--format", "{{.Action}} {{.Actor.ID}}").splitlines()
        assert f"{action} {ref}" in seen
    assert_clean(other)
    assert_clean(busybox)


def test_layers_the_registry_has_are_not_sent_again(busybox, registry):
    ref = f"{registry.host}/a:1"
    with_layer(busybox, ref, "echo a > /a")
    busybox.out("push", ref)
    again = busybox.out("push", ref)
    assert again.count("Layer already exists") == 2 and "Pushed" not in again
    busybox.out("tag", ref, f"{registry.host}/b:1")
    mounted = busybox.out("push", f"{registry.host}/b:1")
    assert mounted.count("Mounted from a") == 2 and "Pushed" not in mounted
    status, _, _ = registry.get("/v2/b/manifests/1", "application/vnd.oci.image.manifest.v1+json")
    assert status == 200


def test_a_large_layer_goes_up_in_chunks(busybox, other, registry):
    ref = f"{registry.host}/big:1"
    image_id = with_layer(busybox, ref, "head -c 20000000 /dev/urandom > /big")  # above the 16 MiB of one PUT
    busybox.out("push", ref)
    other.out("pull", "-q", ref)
    assert inspect(other, ref)["Id"] == image_id
    assert other.out("run", "--rm", ref, "sh", "-c", "wc -c < /big").strip() == "20000000"
    assert other.out("run", "--rm", ref, "md5sum", "/big") == busybox.out("run", "--rm", ref, "md5sum", "/big")
    assert_clean(other)


def test_all_tags_and_refusals(busybox, registry, tmp_path):
    for tag in ("x", "y"):
        busybox.out("tag", "busybox", f"{registry.host}/bb:{tag}")
    out = busybox.out("push", "-a", f"{registry.host}/bb")
    assert "x: digest: " in out and "y: digest: " in out
    assert json.loads(registry.get("/v2/bb/tags/list")[1])["tags"] == ["x", "y"]
    assert busybox.out("push", "-q", f"{registry.host}/bb:x").startswith("x: digest: sha256:")
    r = busybox("push", f"{registry.host}/nothing:1")
    assert r.returncode == 1 and f"An image does not exist locally with the tag: {registry.host}/nothing:1".encode() \
        in r.stderr
    busybox.env["CORRAL_REGISTRIES_CONF"] = str(tmp_path / "none.conf")
    r = busybox("push", "busybox")
    assert r.returncode == 1 and str(tmp_path / "none.conf").encode() in r.stderr


def test_skopeo_and_podman_take_what_corral_pushed(busybox, registry, podman, tmp_path):
    ref = f"{registry.host}/peer:1"
    image_id = with_layer(busybox, ref, "echo peer > /msg")
    busybox.out("push", ref)
    config = json.loads(skopeo("inspect", "--tls-verify=false", "--config", f"docker://{ref}"))
    assert config["rootfs"]["diff_ids"] == inspect(busybox, ref)["RootFS"]["Layers"]
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'layout'}:1")  # every blob verified
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "v2s2", f"docker://{ref}",
           f"docker://{registry.host}/peer-v2s2:1")

    podman("pull", "--tls-verify=false", ref)
    assert podman("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip() == image_id[7:]
    assert podman("run", "--rm", "--network", "none", ref, "cat", "/msg").stdout == "peer\n"


def test_run_pulls_a_missing_image(busybox, other, registry):
    ref = f"{registry.host}/runme:1"
    with_layer(busybox, ref, "echo ran > /msg")
    busybox.out("push", ref)
    r = other("run", "--rm", "--pull", "never", ref, "true")
    assert r.returncode == 125 and f"No such image: {ref}".encode() in r.stderr
    r = other("run", "--rm", ref, "cat", "/msg")
    assert r.returncode == 0 and r.stdout == b"ran\n"
    assert f"Unable to find image '{ref}' locally".encode() in r.stderr and b"Pull complete" in r.stderr
    r = other("create", "--pull", "always", ref)
    assert r.returncode == 0 and b"Image is up to date" in r.stderr
    other.out("rm", r.stdout.decode().strip())
    r = other("run", "--pull", "sometimes", ref)
    assert r.returncode == 125 and b'invalid pull option: "sometimes"' in r.stderr
    r = other("run", "--rm", "nosuch")
    assert r.returncode == 125 and b"No such image: nosuch (not pulled" in r.stderr


def test_build_pulls_its_base(busybox, other, registry, tmp_path):
    ref = f"{registry.host}/base:1"
    with_layer(busybox, ref, "echo base > /base")
    busybox.out("push", ref)
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(f"FROM {ref}\nRUN cat /base > /copy\n")
    other.out("build", "-q", "-t", "built:1", str(tmp_path / "ctx"))
    assert other.out("run", "--rm", "built:1", "cat", "/copy") == "base\n"
    other.out("build", "-q", "--pull", "-t", "built:2", str(tmp_path / "ctx"))


def test_python_api_pull_and_push(busybox, other, registry):
    import corral

    ref = f"{registry.host}/api"
    with_layer(busybox, f"{ref}:1", "echo api > /msg")
    with corral.Client(busybox.root) as pusher:
        messages = list(pusher.images.push(ref, tag="1", stream=True, decode=True))
        assert messages[0] == {"status": f"The push refers to repository [{ref}]"}
        assert any(m.get("status") == "Pushed" for m in messages) and "digest: sha256:" in messages[-2]["status"]
        assert messages[-1]["aux"]["Tag"] == "1" and messages[-1]["aux"]["Digest"] in messages[-2]["status"]
        assert pusher.images.get_registry_data(f"{ref}:1").id == messages[-1]["aux"]["Digest"]  # in-process too
        text = pusher.images.get(f"{ref}:1").push()
        assert "Layer already exists" in text
        failed = list(pusher.images.push(f"{registry.host}/none", tag="x", stream=True))
        assert b"An image does not exist locally" in failed[-1] and b'"error"' in failed[-1]
    with corral.Client(other.root) as puller:
        image = puller.images.pull(ref, tag="1")
        assert image.tags == [f"{ref}:1"] and image.id == inspect(busybox, f"{ref}:1")["Id"]
        assert [i.tags for i in puller.images.pull(ref, all_tags=True)] == [[f"{ref}:1"]]


def test_push_format_v2s2_as_docker_pushes(busybox, other, registry, tmp_path):
    ref = f"{registry.host}/v2s2/app:1"
    image_id = with_layer(busybox, ref, "echo v2s2 > /f")
    out = busybox.out("push", "--format", "v2s2", ref)
    digest = out.splitlines()[-1].split("digest: ")[1].split()[0]
    raw = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}"))
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert raw["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json" and raw["config"][
        "digest"] == image_id
    assert {d["mediaType"] for d in raw["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    assert json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}"))["Digest"] == digest
    other.out("pull", ref)
    assert inspect(other, ref)["Id"] == image_id and other.out("run", "--rm", ref, "cat", "/f") == "v2s2\n"
    oci_out = busybox.out("push", ref)  # the default is OCI's: another manifest, the same blobs
    assert oci_out.count("Layer already exists") == 2 and digest not in oci_out
    for bad, said in ((("--format", "v2s1", ref), "unknown manifest format 'v2s1': use oci or v2s2"),
                      (("--format", "v2s2", ref, f"oci:{tmp_path / 'l'}"), "does not apply to an OCI layout")):
        r = busybox("push", *bad)
        assert r.returncode != 0 and said in r.stderr.decode() and r.stderr.decode().count("\n") == 1
