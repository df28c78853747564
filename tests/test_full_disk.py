"""A full disk is an ordinary error (issue 20, item 9): one clear line, nothing left behind, and the
commands that only read keep working. Each test runs on its own small tmpfs store."""
from __future__ import annotations

import os
import subprocess
import time

import pytest


@pytest.fixture
def small_store(cli, tmp_path):
    """A store on a 24 MiB tmpfs holding busybox; unmounted after the test even when it fails."""
    mnt = str(tmp_path / "small")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt], check=True)
    cli.env["CORRAL_ROOT"] = mnt + "/store"
    try:
        cli("image", "bootstrap", "busybox", check=True)
        yield cli
    finally:
        if cli("ps", "-aq").stdout.strip():
            cli("rm", "-f", *cli.out("ps", "-aq").split())
        cli("network", "prune", "-f")  # the default bridge a step or `run` made, with its firewall elements
        _wait_for_no_monitor(mnt + "/store")
        subprocess.run(["umount", "-l", mnt], check=True)


def _wait_for_no_monitor(root: str, timeout: float = 15) -> None:
    from conftest import _store_processes

    deadline = time.monotonic() + timeout
    while _store_processes(root) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in _store_processes(root):
        os.kill(pid, 9)


def _free(cli) -> int:
    st = os.statvfs(cli.env["CORRAL_ROOT"])
    return st.f_bavail * st.f_frsize


def test_a_build_step_that_fills_the_disk_fails_in_words_and_leaves_no_container(small_store, tmp_path):
    cli = small_store
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN dd if=/dev/zero of=/big bs=1M count=100\n")
    free = _free(cli)
    r = cli("build", "-t", "big", str(ctx))
    assert r.returncode == 1
    assert b"No space left on device" in r.stdout  # the step's own output, kept to the end
    assert r.stderr.decode().splitlines() == [
        "Error: The command '/bin/sh -c dd if=/dev/zero of=/big bs=1M count=100' returned a non-zero code: 1"]
    assert cli.out("ps", "-aq") == ""  # the step's container went, and with it the space it filled
    assert _free(cli) >= free - (1 << 20)
    assert cli("system", "check").returncode == 0


def test_a_container_filling_the_disk_leaves_the_monitor_serving_and_the_store_readable(small_store):
    cli = small_store
    cid = cli.out("run", "-d", "busybox", "sh", "-c",
                  "dd if=/dev/zero of=/fill bs=1M count=100 2>/dev/null; "
                  "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done; sleep 60").strip()
    deadline = time.monotonic() + 20
    while _free(cli) > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _free(cli) == 0
    other = cli("exec", cid, "echo", "still served")  # the monitor lived through its log's ENOSPC
    assert other.returncode == 0 and other.stdout == b"still served\n"
    ps = cli("ps", "-a", "--format", "{{.ID}} {{.Status}}")
    assert ps.returncode == 0 and ps.stdout.decode().startswith(cid[:12] + " Up ")
    logs = cli("logs", cid)  # whatever was kept is whole lines, never a torn record
    assert logs.returncode == 0
    assert all(line.startswith(b"line ") for line in logs.stdout.splitlines())
    assert cli("rm", "-f", cid).returncode == 0
    assert _free(cli) > 20 << 20
    assert cli("system", "check").returncode == 0


def test_a_container_whose_exit_could_not_be_recorded_reads_as_exited(small_store):
    cli = small_store
    cid = cli.out("run", "-d", "busybox", "sh", "-c", "dd if=/dev/zero of=/fill bs=1M count=100; exit 3").strip()
    deadline = time.monotonic() + 20
    while cli.out("ps", "-q") and time.monotonic() < deadline:
        time.sleep(0.1)
    _wait_for_no_monitor(cli.env["CORRAL_ROOT"])  # a monitor gone before it could write the exit down
    assert _free(cli) == 0
    ps = cli("ps", "-a", "--format", "{{.ID}} {{.Status}}")
    assert ps.returncode == 0 and ps.stdout.decode().startswith(cid[:12] + " Exited (")
    assert cli("inspect", "-f", "{{.State.Status}}", cid).stdout == b"exited\n"
    assert cli("rm", cid).returncode == 0  # no --force needed: it is not running
    assert cli("system", "check").returncode == 0


def test_a_commit_that_does_not_fit_is_one_line_and_leaves_the_store_as_it_was(small_store):
    cli = small_store
    cid = cli.out("run", "-d", "busybox", "sh", "-c",
                  "dd if=/dev/urandom of=/data bs=1M count=12 2>/dev/null; sleep 60").strip()
    deadline = time.monotonic() + 20
    while cli("exec", cid, "test", "-f", "/data").returncode and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    images = cli.out("images", "-q")
    r = cli("commit", cid, "big:1")
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        f"Error: cannot write the store at {cli.env['CORRAL_ROOT']}: the disk is full; free some space or set "
        "CORRAL_ROOT to a writable directory"]
    assert cli.out("images", "-q") == images
    assert "Paused" not in cli.out("ps", "--format", "{{.Status}}")
    assert cli("system", "check").returncode == 0
    assert os.listdir(os.path.join(cli.env["CORRAL_ROOT"], "tmp")) == []


# the ways in (pull, load, import) and a volume's copy-up: each refused in one line, the store as it was ----------

FULL = ("Error: cannot write the store at {}: the disk is full; free some space or set CORRAL_ROOT to a writable "
        "directory")


def _big_image(other) -> str:  # noqa: ANN001
    """An image of 8 MiB of noise under a VOLUME, made in a store of normal size."""
    other.out("image", "bootstrap", "busybox")
    other.out("run", "--name", "mk", "busybox", "sh", "-c",
              "mkdir /data && dd if=/dev/urandom of=/data/noise bs=1M count=8 2>/dev/null")
    other.out("commit", "-c", "VOLUME /data", "mk", "big:1")
    other.out("rm", "mk")
    return "big:1"


def _fill(cli, leave: int) -> None:  # noqa: ANN001
    """Fill the store's tmpfs, outside the store, until `leave` bytes are free."""
    with open(os.path.join(os.path.dirname(cli.env["CORRAL_ROOT"]), "filler"), "wb") as f:
        f.write(b"\0" * (_free(cli) - leave))


def _refused_and_unchanged(cli, r, free: int, images: str) -> None:  # noqa: ANN001
    assert r.returncode == 1, r.stderr
    assert r.stderr.decode().splitlines() == [FULL.format(cli.env["CORRAL_ROOT"])]
    assert cli.out("images", "-q") == images
    assert cli("system", "check").returncode == 0, cli("system", "check").stdout
    assert os.listdir(os.path.join(cli.env["CORRAL_ROOT"], "tmp")) == []
    assert _free(cli) >= free - (256 << 10)  # what it wrote before it ran out is gone again


def test_a_pull_that_does_not_fit_is_one_line_and_leaves_the_store_as_it_was(small_store, other, tmp_path, peer_host):
    from tests.registryd import Registry

    reg = Registry(str(tmp_path / "registry")).start()
    try:
        ref = f"{reg.host}/fd/big:1"
        other.out("tag", _big_image(other), ref)
        other.out("push", ref)
        images = small_store.out("images", "-q")
        _fill(small_store, 4 << 20)
        free = _free(small_store)
        _refused_and_unchanged(small_store, small_store("pull", "-q", ref), free, images)
    finally:
        reg.stop()


def test_a_load_that_does_not_fit_is_one_line_and_leaves_the_store_as_it_was(small_store, other, tmp_path):
    archive = str(tmp_path / "big.tar")
    other.out("save", "-o", archive, _big_image(other))
    images = small_store.out("images", "-q")
    _fill(small_store, 4 << 20)
    free = _free(small_store)
    _refused_and_unchanged(small_store, small_store("load", "-i", archive), free, images)


def test_an_import_that_does_not_fit_is_one_line_and_leaves_the_store_as_it_was(small_store, other, tmp_path):
    archive = str(tmp_path / "fs.tar")
    cid = other.out("create", _big_image(other), "true").strip()
    other.out("export", "-o", archive, cid)
    images = small_store.out("images", "-q")
    _fill(small_store, 4 << 20)
    free = _free(small_store)
    _refused_and_unchanged(small_store, small_store("import", archive, "imported:1"), free, images)


@pytest.mark.parametrize("volume", ["anonymous", "named"])
def test_a_volume_copy_up_that_does_not_fit_leaves_no_volume_and_no_container(small_store, other, tmp_path, volume):
    archive = str(tmp_path / "big.tar")
    other.out("save", "-o", archive, _big_image(other))
    cli = small_store
    cli.out("load", "-i", archive)
    _fill(cli, 3 << 20)
    free = _free(cli)
    args = ["-v", "fdvol:/data"] if volume == "named" else []
    r = cli("run", *args, "big:1", "true")
    assert r.returncode == 125, r.stderr  # docker's code for a run that could not start
    assert r.stderr.decode().splitlines() == [FULL.format(cli.env["CORRAL_ROOT"])]
    assert cli.out("ps", "-aq") == "" and cli.out("volume", "ls", "-q") == ""
    assert cli("system", "check").returncode == 0, cli("system", "check").stdout
    assert _free(cli) >= free - (256 << 10)


def test_on_a_full_disk_corral_itself_frees_space(small_store):
    """Removals need a little room for their DB change: the store's reserve (<store>/reserve, 1 MiB) gives
    it, so `volume rm`, `rmi`, `rm` and `network rm` work on a disk with no byte free, and the reserve is
    held back again once there is room."""
    cli = small_store
    cli.out("volume", "create", "fdvol")
    cli.out("run", "--rm", "-v", "fdvol:/v", "busybox", "dd", "if=/dev/urandom", "of=/v/d", "bs=1M", "count=3")
    cli.out("run", "--name", "mk", "busybox", "dd", "if=/dev/urandom", "of=/d", "bs=1M", "count=3")
    cli.out("commit", "mk", "fd:1")
    cli.out("network", "create", "--subnet", "10.245.9.0/24", "fdnet")
    reserve = os.path.join(cli.env["CORRAL_ROOT"], "reserve")
    assert os.path.getsize(reserve) == 1 << 20
    _fill(cli, 0)
    assert _free(cli) == 0
    for args in (("volume", "rm", "fdvol"), ("rm", "mk"), ("rmi", "fd:1"), ("network", "rm", "fdnet")):
        r = cli(*args)
        assert r.returncode == 0, (args, r.stderr)
    assert cli.out("volume", "ls", "-q") == "" and cli.out("ps", "-aq") == ""
    assert "fd" not in cli.out("images", "--format", "{{.Repository}}")
    assert _free(cli) > 6 << 20
    assert cli("system", "check").returncode == 0
    assert os.path.getsize(reserve) == 1 << 20  # taken back by the first command that found room
