"""--read-only, --tmpfs and --shm-size on real containers, from the CLI and docker-py's keywords: what the
container can write, the mounts it sees (/proc/mounts), exec seeing the same, inspect's fields, diff and
commit leaving tmpfs content out, and bad input refused before anything is made. The bundle side is
tests/test_rootfs_flags_spec.py."""
from __future__ import annotations

import json

import pytest

import corral


def mounts_at(text: str, point: str) -> list[str]:
    """The options of the mounts at `point` in a /proc/mounts text."""
    return [f[3] for f in (line.split() for line in text.splitlines()) if len(f) == 6 and f[1] == point]


def test_read_only_root_with_writable_tmpfs_and_shm(busybox):
    script = ("touch /x 2>&1; echo root=$?; echo a > /run/a && echo run=ok; echo b > /dev/shm/b && echo shm=ok; "
              "echo c > /etc/hosts 2>&1; echo hosts=$?; touch /dev/d && echo dev=ok; "
              "dd if=/dev/zero of=/dev/shm/big bs=1M count=9 2>/dev/null; echo dd=$?; cat /proc/mounts")
    out = busybox.out("run", "--rm", "--read-only", "--tmpfs", "/run:size=1m,mode=1770,uid=1000",
                      "--shm-size", "8m", "busybox", "sh", "-c", script)
    assert "Read-only file system" in out and "root=1" in out
    assert "run=ok" in out and "shm=ok" in out and "dev=ok" in out and "hosts=1" in out  # docker's /etc too
    assert "dd=1" in out  # 9 MiB do not fit an 8m /dev/shm
    assert mounts_at(out, "/")[0].startswith("ro,")
    [run] = mounts_at(out, "/run")
    assert run.startswith("rw,nosuid,nodev,noexec,") and "size=1024k" in run
    assert "mode=1770" in run and "uid=1000" in run
    [shm] = mounts_at(out, "/dev/shm")
    assert shm.startswith("rw,") and "size=8192k" in shm
    assert mounts_at(out, "/etc/hosts")[0].startswith("ro,")


def test_tmpfs_exec_option_and_dockers_defaults(busybox):
    out = busybox.out("run", "--rm", "--tmpfs", "/run", "--tmpfs", "/opt/x:exec,size=10%", "busybox", "sh", "-c",
                      "cp /bin/busybox /opt/x/ && /opt/x/busybox true && echo ran; cp /bin/busybox /run/; "
                      "/run/busybox true 2>/dev/null || echo noexec; touch /y && echo rootrw; "
                      "df /dev/shm; cat /proc/mounts")
    assert "ran" in out and "rootrw" in out and "noexec" in out  # docker's default noexec, lifted by exec
    [run] = mounts_at(out, "/run")
    assert run.startswith("rw,nosuid,nodev,noexec,")
    [opt] = mounts_at(out, "/opt/x")
    assert "noexec" not in opt and "nosuid" in opt
    assert " 65536 " in out  # df: docker's 64m /dev/shm


def test_exec_sees_the_same_and_diff_commit_leave_tmpfs_out(busybox):
    busybox.out("run", "-d", "--name", "ro", "--read-only", "--tmpfs", "/run:size=2m", "--shm-size", "16m",
                "busybox", "sh", "-c", "echo kept > /run/state; sleep 30")
    assert busybox.out("exec", "ro", "cat", "/run/state") == "kept\n"
    r = busybox("exec", "ro", "touch", "/x")
    assert r.returncode == 1 and b"Read-only file system" in r.stderr
    assert busybox.out("exec", "ro", "sh", "-c", "df /dev/shm | tail -1").split()[1] == "16384"
    info = json.loads(busybox.out("inspect", "ro"))[0]["HostConfig"]
    assert info["ReadonlyRootfs"] is True and info["Tmpfs"] == {"/run": "size=2m"} and info["ShmSize"] == 16 << 20
    assert busybox.out("diff", "ro") == ""
    busybox.out("commit", "ro", "ro:img")
    assert busybox("run", "--rm", "ro:img", "test", "-e", "/run/state").returncode == 1
    busybox.out("rm", "-f", "ro")
    busybox.out("rmi", "ro:img")
    plain = json.loads(busybox.out("inspect", busybox.out("create", "busybox").strip()))[0]["HostConfig"]
    assert plain["ReadonlyRootfs"] is False and "Tmpfs" not in plain and plain["ShmSize"] == 64 << 20


@pytest.mark.parametrize("flags, message", [
    (["--tmpfs", "run"], b"invalid mount path: 'run' mount path must be absolute"),
    (["--tmpfs", "/"], b"invalid specification: destination can't be '/'"),
    (["--tmpfs", "/run:size=abc"], b"invalid tmpfs option size='abc'"),
    (["--tmpfs", "/run:bogus"], b'invalid tmpfs option ["bogus"]'),
    (["--shm-size", "-1"], b"""invalid argument "-1" for "--shm-size" flag: invalid size: '-1'"""),
    (["--shm-size", "1m", "--ipc", "host"], b"--shm-size cannot be applied with --ipc host"),
])
def test_bad_input_is_refused_with_exit_125_and_nothing_made(busybox, flags, message):
    r = busybox("run", "--rm", *flags, "busybox", "true")
    assert r.returncode == 125 and message in r.stderr
    assert busybox.out("ps", "-aq") == ""


def test_docker_py_keywords(busybox):
    client = corral.Client(busybox.root)
    try:
        out = client.containers.run("busybox", ["sh", "-c", "touch /x; touch /tmp/t && grep -E ' /(tmp|dev/shm) ' "
                                                "/proc/mounts"], read_only=True, tmpfs={"/tmp": "size=3m"},
                                    shm_size="4m", remove=True, stderr=True)
        assert b"Read-only file system" in out and b"/tmp tmpfs rw,nosuid,nodev,noexec" in out
        assert b"size=3072k" in out and b"size=4096k" in out
        c = client.containers.create("busybox", "true", read_only=True, tmpfs=["/run:mode=700"], shm_size=1 << 20)
        host_config = c.attrs["HostConfig"]
        assert host_config["ReadonlyRootfs"] is True and host_config["Tmpfs"] == {"/run": "mode=700"}
        assert host_config["ShmSize"] == 1 << 20
        c.remove()
        with pytest.raises(corral.errors.InvalidArgument, match="SHM size can not be less than 0"):
            client.containers.run("busybox", "true", shm_size=-5)
    finally:
        client.close()
