"""commit, diff, history and the repository verbs (tag, rmi, images, image prune, system df)."""
from __future__ import annotations

import json
import os
import time

import pytest

CHANGES = (
    "mkdir -p /app/sub && echo hi > /app/a && ln /app/a /app/b && ln -s a /app/link && chmod 4750 /app/a "
    "&& chown 7:8 /app/sub && echo more >> /etc/passwd && chmod 700 /etc/group && rm /bin/vi "
    "&& rm -rf /usr && mkdir -p /usr/bin && echo new > /usr/bin/tool && mkfifo /app/fifo && touch -d @1000000 /app/b"
)
# a listing of everything a container sees, metadata included (not the kernel's or corral's mounts)
TREE = ("find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /etc/hosts -o -path /etc/hostname "
        "-o -path /etc/resolv.conf \\) -prune -o ! -path / -print | sort | while read f; do "
        "stat -c '%n %F %a %u %g %s %Y %h %N' \"$f\"; done")


def _without_etc_mtime(tree: str) -> list[str]:
    """The listing, but /etc's own mtime: each container's start re-creates its mount points
    (/etc/hosts…) when the image lacks them, and that touches /etc."""
    lines = tree.splitlines()
    return [" ".join(line.split()[:6] + line.split()[7:]) if line.startswith("/etc directory ") else line
            for line in lines]


def _inspect(cli, ref: str) -> dict:
    return json.loads(cli.out("inspect", ref))[0]


def test_commit_round_trip_keeps_every_change_and_only_the_changes(busybox):
    busybox.out("run", "-d", "--name", "src", "busybox", "sh", "-c", CHANGES + " && sleep 300")
    upper = os.path.join(busybox.root, "containers", _inspect(busybox, "src")["Id"], "upper")
    deadline = time.monotonic() + 20
    while not os.path.exists(os.path.join(upper, "app", "fifo")):  # the script's last change but one
        assert time.monotonic() < deadline, "the container never made its changes"
        time.sleep(0.05)
    time.sleep(0.2)
    os.setxattr(os.path.join(upper, "app", "a"), "user.origin", b"\xffbinary\x00value")
    before = busybox.out("exec", "src", "sh", "-c", TREE)
    diff = busybox.out("diff", "src").splitlines()
    assert {"A /app/a", "A /app/b", "C /etc/passwd", "C /etc/group", "D /bin/vi", "C /usr", "A /usr/bin/tool"} \
        <= set(diff)
    assert any(line.startswith("D /usr/") for line in diff)  # the old /usr contents, hidden by the opaque dir
    assert not any(p in line for line in diff for p in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"))

    image_id = busybox.out("commit", "-a", "Ann", "-m", "first", "src", "app:1").strip()
    assert b'"Status": "running"' in busybox("inspect", "src").stdout and not _inspect(busybox, "src")["State"]["Paused"]
    busybox.out("run", "-d", "--name", "copy", "app:1", "sleep", "300")
    after = busybox.out("exec", "copy", "sh", "-c", TREE)
    assert _without_etc_mtime(after) == _without_etc_mtime(before)
    copy_upper = os.path.join(busybox.root, "containers", _inspect(busybox, "copy")["Id"], "upper")
    lower = _inspect(busybox, "copy")["GraphDriver"]["Data"]["LowerDir"].split(":")[0]
    assert os.getxattr(os.path.join(lower, "app", "a"), "user.origin") == b"\xffbinary\x00value"
    assert not os.path.exists(os.path.join(copy_upper, "app"))

    image = _inspect(busybox, "app:1")
    assert image["Id"] == image_id
    base = _inspect(busybox, "busybox")
    assert image["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]  # the base's layers, plus one
    config = json.loads(open(os.path.join(busybox.root, "blobs", "sha256", image_id[7:]), "rb").read())
    assert config["author"] == "Ann" and config["history"][-1]["comment"] == "first"
    assert config["history"][-1]["created_by"].startswith("sh -c mkdir")
    top = busybox.out("history", "--no-trunc", "app:1").splitlines()[1]
    assert top.startswith(image_id) and "first" in top


def test_committed_layer_holds_only_the_differences(busybox):
    busybox.out("run", "--name", "writer", "busybox", "sh", "-c", "head -c 300000 /dev/urandom > /data")
    image_id = busybox.out("commit", "writer", "w:1").strip()
    steps = json.loads(subprocess_out(busybox, image_id))
    assert 300000 <= steps[0] < 300000 + 8192, steps  # the layer's tar: the file, its header, the tar's end
    layer_dirs = os.listdir(os.path.join(busybox.root, "layers"))
    assert len(layer_dirs) == 2  # the base layer is shared, not copied


def subprocess_out(cli, image_id: str) -> str:
    """Sizes of the image's layers, newest first, through the Python API."""
    import subprocess
    import sys

    code = ("import json; from corral.api import Host; "
            f"print(json.dumps([s['Size'] for s in Host().image({image_id!r}).history() if s['Size']]))")
    return subprocess.run([sys.executable, "-c", code], env=cli.env, capture_output=True, check=True).stdout.decode()


def test_commit_changes_pause_and_errors(busybox):
    busybox.out("run", "-d", "--name", "svc", "-e", "MODE=prod", "busybox", "sleep", "300")
    busybox.out("commit", "--pause=false", "-c", "ENV A=1 B=two", "-c", "CMD echo $A-$B-$MODE", "-c", "EXPOSE 80",
                "-c", 'LABEL team="web ops"', "-c", "WORKDIR /tmp", "svc", "svc:2")
    assert busybox.out("run", "--rm", "svc:2") == "1-two-prod\n"
    cfg = _inspect(busybox, "svc:2")["Config"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}} and cfg["Labels"] == {"team": "web ops"}
    assert cfg["WorkingDir"] == "/tmp"
    r = busybox("commit", "-c", "RUN make", "svc", "bad:1")
    assert r.returncode == 1 and b"not a valid change" in r.stderr
    r = busybox("commit", "-c", "CMD [1, 2]", "svc", "bad:1")
    assert r.returncode == 1 and b"must hold strings" in r.stderr
    r = busybox("commit", "svc", "Bad Name")
    assert r.returncode == 1
    assert "bad" not in busybox.out("images")
    assert busybox("system", "check").returncode == 0
    busybox.out("pause", "svc")
    busybox.out("commit", "svc", "svc:3")  # already paused: stays paused, as the user left it
    assert _inspect(busybox, "svc")["State"]["Paused"]
    busybox.out("unpause", "svc")


def test_rmi_untags_refuses_and_frees_layers(busybox):
    busybox.out("tag", "busybox", "mine:1")
    busybox.out("tag", "busybox:latest", "mine:2")
    assert busybox.out("rmi", "mine:1") == "Untagged: mine:1\n"
    busybox.out("create", "--name", "user", "busybox", "true")
    assert busybox.out("rmi", "mine:2") == "Untagged: mine:2\n"  # other names are left: only untagged
    r = busybox("rmi", "busybox")
    assert r.returncode == 1 and b"(must force)" in r.stderr and b"is using its referenced image" in r.stderr
    busybox.out("run", "--name", "maker", "busybox", "sh", "-c", "echo x > /x")
    busybox.out("commit", "maker", "child:1")
    busybox.out("rm", "maker", "user")
    out = busybox.out("rmi", "busybox")
    assert "Untagged: busybox:latest" in out and "Deleted: sha256:" in out
    assert len(os.listdir(os.path.join(busybox.root, "layers"))) == 2  # child:1 still needs the base layer
    assert busybox.out("run", "--rm", "child:1", "cat", "/x") == "x\n"
    busybox.out("rmi", "child:1")
    assert os.listdir(os.path.join(busybox.root, "layers")) == []
    assert os.listdir(os.path.join(busybox.root, "blobs", "sha256")) == []
    assert busybox("system", "check").returncode == 0
    r = busybox("rmi", "nope")
    assert r.returncode == 1 and b"No such image: nope" in r.stderr


def test_rmi_of_a_running_containers_image_cannot_be_forced(busybox):
    busybox.out("run", "-d", "--name", "runner", "busybox", "sleep", "300")
    r = busybox("rmi", "-f", "busybox")
    assert r.returncode == 1 and b"running container" in r.stderr
    busybox.out("rm", "-f", "runner")
    busybox.out("create", "--name", "stopped", "busybox", "true")
    out = busybox.out("rmi", "-f", "busybox")
    assert out == "Untagged: busybox:latest\n"  # the image stays, nameless, for its container
    assert busybox.out("images", "-q", "--filter", "dangling=true") != ""
    assert busybox.out("run", "--rm", busybox.out("images", "-q").strip(), "echo", "ok") == "ok\n"


def test_images_flags_prune_and_df(busybox):
    busybox.out("run", "--name", "maker2", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /z")
    busybox.out("commit", "-c", "LABEL tier=db", "maker2", "db:1")
    busybox.out("rm", "maker2")
    table = busybox.out("images", "--digests").splitlines()
    assert table[0].split()[:3] == ["REPOSITORY", "TAG", "DIGEST"] and "sha256:" in table[1]
    assert len(busybox.out("images", "-q", "--filter", "label=tier=db").split()) == 1
    assert len(busybox.out("images", "-q", "--filter", "reference=busy*").split()) == 1
    assert len(busybox.out("images", "-q", "--filter", "since=busybox").split()) == 1
    r = busybox("images", "--filter", "color=red")
    assert r.returncode == 1 and b"invalid filter" in r.stderr
    df = busybox.out("system", "df").splitlines()
    assert df[1].split()[:3] == ["Images", "2", "0"]
    assert busybox.out("image", "prune", "-f") == "Total reclaimed space: 0B\n"  # nothing dangling
    out = busybox.out("image", "prune", "-a", "-f")
    assert out.count("deleted: sha256:") >= 2 and "Total reclaimed space:" in out
    assert busybox.out("images", "-q") == ""
    assert busybox("system", "check").returncode == 0


@pytest.mark.parametrize("ref_kind", ["id", "prefix", "digest"])
def test_images_by_id_prefix_and_digest(busybox, ref_kind):
    info = _inspect(busybox, "busybox")
    ref = {"id": info["Id"], "prefix": info["Id"][7:15], "digest": info["RepoDigests"][0]}[ref_kind]
    busybox.out("tag", ref, "alias:1")
    assert _inspect(busybox, "alias:1")["Id"] == info["Id"]
