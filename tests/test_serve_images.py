"""`corral serve` slice 3, driven by the docker CLI (DOCKER_BUILDKIT=0) and docker-py: images (list,
inspect, history, tag, rmi, save/load, commit, prune, search, the legacy builder's stream), networks and
volumes (create, ls, inspect, connect, disconnect, rm, prune), system df; each checked by its effect."""
from __future__ import annotations

import io
import json

import servefix

served = servefix.served


def test_images_tag_history_rmi_save_load(served, tmp_path):
    assert served.out("images", "--format", "{{.Repository}}:{{.Tag}}") == "busybox:latest\n"
    served.out("tag", "busybox", "mybox:1")
    assert sorted(served.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()) == \
        ["busybox:latest", "mybox:1"]
    history = served.out("history", "--format", "{{.CreatedBy}}", "busybox")
    assert history.strip()
    assert served.out("image", "inspect", "-f", "{{.Os}} {{.RepoTags}}", "mybox:1") in (
        "linux [busybox:latest mybox:1]\n", "linux [mybox:1 busybox:latest]\n")
    assert served.out("rmi", "mybox:1") == "Untagged: mybox:1\n"
    missing = served.docker("rmi", "mybox:1")
    assert missing.returncode != 0 and b"No such image: mybox:1" in missing.stderr
    archive = str(tmp_path / "bb.tar")
    served.out("save", "-o", archive, "busybox")
    served.out("rmi", "busybox")
    assert served.out("images", "-q") == ""
    assert served.out("load", "-i", archive) == "Loaded image: busybox:latest\n"
    assert served.cli.out("images", "--format", "{{.Repository}}") == "busybox\n"  # the same store


def test_legacy_build_commit_and_prune(served, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text('FROM busybox\nARG WHO=nobody\nRUN echo "built for $WHO" > /b\n'
                                    'CMD ["cat", "/b"]\n')
    (ctx / "ignored").write_text("x")
    (ctx / ".dockerignore").write_text("ignored\n")
    build = served.docker("build", "-t", "built:1", "--build-arg", "WHO=docker", str(ctx),
                          env={"DOCKER_BUILDKIT": "0"})
    assert build.returncode == 0, build.stderr
    assert b"Successfully tagged built:1" in build.stdout
    assert served.out("run", "--rm", "built:1") == "built for docker\n"
    image_id = served.out("build", "-q", "-t", "built:1", "--build-arg", "WHO=docker", str(ctx),
                          env={"DOCKER_BUILDKIT": "0"})
    assert image_id == served.out("image", "inspect", "-f", "{{.Id}}", "built:1")  # -q: the ID alone
    again = served.docker("build", "-t", "built:1", "--build-arg", "WHO=docker", str(ctx),
                          env={"DOCKER_BUILDKIT": "0"})
    assert b"Using cache" in again.stdout or b"CACHED" in again.stdout.upper()
    refused = served.docker("build", "--cache-from", "busybox", str(ctx), env={"DOCKER_BUILDKIT": "0"})
    assert refused.returncode != 0 and b"build: cachefrom: corral does not support it yet" in refused.stderr
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    failed = served.docker("build", str(ctx), env={"DOCKER_BUILDKIT": "0"})
    assert failed.returncode != 0 and b"exit" in failed.stderr.lower() + failed.stdout.lower()
    quiet = served.docker("build", "-q", str(ctx), env={"DOCKER_BUILDKIT": "0"})  # the steps only on failure
    assert quiet.returncode != 0 and b"Step 2/2 : RUN exit 3" in quiet.stderr and quiet.stdout == b""
    served.out("run", "--name", "tocommit", "busybox", "sh", "-c", "echo kept > /kept")
    image_id = served.out("commit", "-c", "CMD cat /kept", "tocommit", "committed:1").strip()
    assert image_id.startswith("sha256:")
    assert served.out("run", "--rm", "committed:1") == "kept\n"
    served.out("rm", "tocommit")
    assert served.out("search", "anything").startswith("NAME")
    pruned = served.out("image", "prune", "-f")
    assert "Total reclaimed space" in pruned


def test_docker_py_images(served):
    client = served.client()
    image, logs = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN echo py > /p\n"), tag="pybuilt:1")
    assert "pybuilt:1" in image.tags
    assert any("Successfully built" in chunk.get("stream", "") for chunk in logs)
    assert image.tag("pybuilt", "2") is True
    assert client.images.get("pybuilt:2").id == image.id
    assert {t for i in client.images.list() for t in i.tags} >= {"busybox:latest", "pybuilt:1", "pybuilt:2"}
    saved = b"".join(image.save(named=True))
    client.images.remove("pybuilt:1")
    client.images.remove("pybuilt:2")
    loaded = client.images.load(saved)
    assert [i.id for i in loaded] == [image.id]


def test_networks_and_volumes(served):
    net_id = served.out("network", "create", "--subnet", "10.238.7.0/24", "--label", "a=b", "srvnet").strip()
    assert len(net_id) == 64
    listed = served.out("network", "ls", "--format", "{{.Name}}").split()
    assert {"bridge", "host", "none", "srvnet"} <= set(listed)
    assert served.out("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Labels.a}}",
                      "srvnet") == "10.238.7.0/24 b\n"
    served.out("run", "-d", "--name", "member", "--network", "srvnet", "busybox", "sleep", "60")
    assert "inet 10.238.7." in served.out("exec", "member", "ip", "-4", "-o", "addr", "show", "eth0")
    dup = served.docker("network", "create", "srvnet")
    assert dup.returncode != 0
    served.out("network", "create", "--subnet", "10.238.8.0/24", "second")
    served.out("network", "connect", "second", "member")
    assert "10.238.8." in served.out("exec", "member", "ip", "-4", "-o", "addr")
    served.out("network", "disconnect", "second", "member")
    assert "10.238.8." not in served.out("exec", "member", "ip", "-4", "-o", "addr")
    busy = served.docker("network", "rm", "srvnet")
    assert busy.returncode != 0
    served.out("rm", "-f", "member")
    assert served.out("network", "rm", "srvnet", "second") == "srvnet\nsecond\n"
    assert served.out("volume", "create", "vol1") == "vol1\n"
    assert served.out("volume", "ls", "--format", "{{.Name}}") == "vol1\n"
    served.out("run", "--rm", "-v", "vol1:/data", "busybox", "sh", "-c", "echo in-volume > /data/f")
    assert served.out("run", "--rm", "-v", "vol1:/data", "busybox", "cat", "/data/f") == "in-volume\n"
    mountpoint = served.out("volume", "inspect", "-f", "{{.Mountpoint}}", "vol1").strip()
    assert mountpoint.startswith(served.cli.root)
    assert served.out("volume", "rm", "vol1") == "vol1\n"
    assert served.docker("volume", "inspect", "vol1").returncode != 0
    df = served.out("system", "df", "--format", "{{.Type}} {{.TotalCount}}")
    assert "Images 1" in df and "Local Volumes 0" in df
    client = served.client()
    net = client.networks.create("pynet", driver="bridge")
    assert client.networks.get(net.id).name == "pynet"
    net.remove()
    vol = client.volumes.create("pyvol")
    assert [v.name for v in client.volumes.list()] == ["pyvol"]
    vol.remove()
    raw = json.loads(servefix.Served.raw(served, b"POST /v1.50/volumes/prune HTTP/1.1\r\nHost: x\r\n"
                                                 b"Content-Length: 0\r\n\r\n").partition(b"\r\n\r\n")[2])
    assert "SpaceReclaimed" in raw
