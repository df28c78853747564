"""An interrupted pull resumes (issue 17): `corral pull` killed (kill -9, at the pull.partial failpoint) halfway
through a 40 MB layer leaves its bytes so far in tmp/; the next pull downloads neither the layers it finished
nor those bytes again, only the rest (an HTTP Range request, seen by a counting proxy in front of the test
registry), and the image is the one pushed. A registry that ignores Range gets the whole blob asked again.
`system check` names what the killed pull left, and is clean after the next pull or the repair. A registry
killed mid-pull fails it in one line; once it is back the next pull resumes the same way."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.conftest import CORRAL
from tests.registryd import CountingProxy, Registry
from tests.test_registry_pull import assert_clean, inspect
from tests.test_registry_push import with_layer

BIG = 40_000_000


@pytest.fixture
def big(busybox, tmp_path, peer_host):
    """A registry holding big:1 (busybox, a layer of 40 MB of random bytes, a small layer); yields (registry,
    image ID, digest of the big blob, its size)."""
    reg = Registry(str(tmp_path / "registry")).start()
    try:
        ref = f"{reg.host}/big:1"
        with_layer(busybox, ref, f"head -c {BIG} /dev/urandom > /big")
        busybox.out("run", "--name", "top", ref, "sh", "-c", "echo top > /top")  # a small layer above it
        busybox.out("commit", "top", ref)
        busybox.out("rm", "top")
        image_id = inspect(busybox, ref)["Id"]
        busybox.out("push", ref)
        _, raw, _ = reg.get("/v2/big/manifests/1", "application/vnd.oci.image.manifest.v1+json")
        layer = json.loads(raw)["layers"][1]
        yield reg, image_id, layer["digest"], layer["size"]
    finally:
        reg.stop()


def killed_pull(cli, name: str) -> subprocess.CompletedProcess:
    env = dict(cli.env, CORRAL_FAILPOINT="pull.partial")
    return subprocess.run(CORRAL + ["pull", name], env=env, capture_output=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def partials(cli) -> dict[str, int]:
    """The partial downloads in the store's tmp/, by name, with their sizes."""
    tmp = os.path.join(cli.root, "tmp")
    found = {}
    for name in os.listdir(tmp) if os.path.isdir(tmp) else []:  # (a store is made by its first command)
        if name.startswith("pull-"):
            try:
                found[name] = os.path.getsize(os.path.join(tmp, name))
            except FileNotFoundError:
                pass  # claimed or removed meanwhile
    return found


def test_a_killed_pull_resumes_with_a_range_request(busybox, other, big):
    reg, image_id, digest, size = big
    proxy = CountingProxy(reg.host, rate=20e6)  # the big blob takes a second to reach half
    try:
        name = f"{proxy.host}/big:1"
        assert killed_pull(other, name).returncode == -9
        kept = partials(other)
        assert len(kept) == 1 and list(kept)[0].split(".")[1] == digest[7:]
        have = list(kept.values())[0]
        assert size // 2 <= have < size
        assert "left by a writer that is gone" in other("system", "check").stdout.decode()
        first = {d for d, _, _, _ in proxy.blob_gets()}
        assert len(first) == 4  # config, busybox's layer, the big one, the small one above it

        proxy.settle()
        proxy.requests.clear()
        out = other.out("pull", name)
        fetched = [(d, asked, status, sent) for d, asked, status, sent in proxy.blob_gets() if d != image_id]
        assert fetched == [(digest, f"bytes={have}-", 206, size - have)]  # only the rest of the big layer: the
        assert out.count("Already exists") == 2  # small one above it was unpacked before the kill, not recorded
        assert inspect(other, name)["Id"] == image_id
        assert other.out("run", "--rm", name, "md5sum", "/big") == busybox.out("run", "--rm", f"{reg.host}/big:1",
                                                                               "md5sum", "/big")
        assert partials(other) == {}  # resumed from, then deleted
        repaired = other.out("system", "check", "--repair")  # the killed pull's unpacking in tmp/ remains
        assert all("left by a writer that is gone" in line for line in repaired.splitlines()[:-1]), repaired
        assert_clean(other)
    finally:
        proxy.stop()


def test_a_registry_that_ignores_range_sends_the_whole_blob(other, big):
    reg, image_id, digest, size = big
    proxy = CountingProxy(reg.host, ignore_range=True, rate=20e6)
    try:
        name = f"{proxy.host}/big:1"
        assert killed_pull(other, name).returncode == -9
        have = list(partials(other).values())[0]
        proxy.settle()
        proxy.requests.clear()
        other.out("pull", name)
        assert [g for g in proxy.blob_gets() if g[0] == digest] == [(digest, f"bytes={have}-", 200, size)]
        assert inspect(other, name)["Id"] == image_id
        assert other.out("run", "--rm", name, "sh", "-c", "wc -c < /big").strip() == str(BIG)
        assert partials(other) == {}

        other.out("rmi", name)  # killed again, and this time the repair removes what it left
        assert killed_pull(other, name).returncode == -9 and len(partials(other)) == 1
        assert "left by a writer that is gone" in other("system", "check").stdout.decode()
        assert "left by a writer that is gone" in other.out("system", "check", "--repair")
        assert partials(other) == {}
        assert_clean(other)
    finally:
        proxy.stop()


def test_a_registry_killed_mid_pull_is_resumed_once_it_is_back(other, big):
    """The issue's fault: the registry dies halfway through the big layer. The pull fails in one line naming
    the blob, keeps what it had, and the pull after the registry's restart asks only for the rest; nothing
    is left for `system check` to find, without a repair."""
    reg, image_id, digest, size = big
    proxy = CountingProxy(reg.host, rate=20e6)
    try:
        name = f"{proxy.host}/big:1"
        p = subprocess.Popen(CORRAL + ["pull", name], env=other.env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while max(partials(other).values() or [0]) < size // 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        reg.stop()
        _, err = p.communicate(timeout=60)
        assert p.returncode == 1 and err.decode().count("\n") == 1, err
        assert f"download of blob {digest} failed after" in err.decode()
        have = list(partials(other).values())[0]
        assert size // 3 <= have < size
        assert "left by a writer that is gone" in other("system", "check").stdout.decode()

        reg.start()
        proxy.settle()
        proxy.requests.clear()
        other.out("pull", name)
        assert [g for g in proxy.blob_gets() if g[0] == digest] == [(digest, f"bytes={have}-", 206, size - have)]
        assert inspect(other, name)["Id"] == image_id
        assert partials(other) == {}
        assert_clean(other)
    finally:
        proxy.stop()
