"""What a process inside a container can see and do (the issue's isolation list), and resource limits."""
from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import time

from conftest import CORRAL

from corral.runtime import cgroups

DOCKER_DEFAULT_CAPS = 0xA80425FB  # CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
#                                   NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP


def sh(cli, script: str, *flags: str):
    return cli("run", "--rm", *flags, "busybox", "sh", "-c", script)


def test_pid1_is_the_command_and_host_processes_are_invisible(busybox):
    r = sh(busybox, "echo $$; ps -o pid,comm | wc -l; cat /proc/1/cmdline | tr '\\0' ' '")
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "1"
    assert int(lines[1]) <= 4  # header, sh, ps, wc
    assert lines[2].startswith("sh -c")


def test_host_mounts_and_network_are_invisible(busybox):
    r = sh(busybox, "cat /proc/self/mounts; echo ---; ls /sys/class/net")
    mounts, nets = r.stdout.decode().split("---\n")
    points = [line.split()[1] for line in mounts.splitlines()]
    assert not [p for p in points if p.startswith(("/work", "/tmp", "/var", "/root"))]
    kinds = {line.split()[2] for line in mounts.splitlines() if line.split()[1].startswith("/sys/fs/cgroup")}
    assert kinds and kinds <= {"tmpfs", "cgroup", "cgroup2"}, "only its own cgroups there (test_cgroup_view.py)"
    assert mounts.splitlines()[0].split()[1] == "/" and mounts.splitlines()[0].split()[2] == "overlay"
    assert nets.split() == ["lo"]
    host_ifaces = set(os.listdir("/sys/class/net")) - {"lo"}
    assert not host_ifaces & set(nets.split())


def test_privileged_operations_fail(busybox):
    host_name = socket.gethostname()
    r = sh(busybox, "mount -t tmpfs none /mnt && echo MOUNTED; "
                    "echo b > /proc/sysrq-trigger && echo SYSRQ; "
                    "hostname hacked && echo RENAMED; "
                    "echo 1 > /proc/sys/kernel/panic && echo SYSCTL; "
                    "insmod /nonexistent.ko 2>&1; "
                    "grep -E 'CapEff|NoNewPrivs' /proc/self/status")
    out = r.stdout.decode()
    for marker in ("MOUNTED", "SYSRQ", "RENAMED", "SYSCTL"):
        assert marker not in out
    cap_eff = int(next(line for line in out.splitlines() if line.startswith("CapEff")).split()[1], 16)
    assert cap_eff == DOCKER_DEFAULT_CAPS
    assert not cap_eff & (1 << 16)  # CAP_SYS_MODULE: no module can be loaded
    assert "NoNewPrivs:\t1" in out
    assert socket.gethostname() == host_name


def test_masked_proc_paths(busybox):
    r = sh(busybox, "for p in /proc/keys /proc/timer_list /proc/kcore /proc/sched_debug; do "
                    "[ -e $p ] && echo \"$p:$(wc -c < $p)\"; done; ls /proc/acpi | wc -l; true")
    for line in r.stdout.decode().splitlines()[:-1]:
        assert line.endswith(":0"), line
    assert r.stdout.decode().splitlines()[-1] == "0"


def test_write_is_invisible_to_siblings_and_image(busybox):
    busybox.out("run", "-d", "--name", "ca", "busybox", "sh", "-c", "echo secret > /bin/note; sleep 60")
    busybox.out("run", "-d", "--name", "cb", "busybox", "sleep", "60")
    assert busybox("exec", "ca", "cat", "/bin/note").stdout == b"secret\n"
    assert busybox("exec", "cb", "cat", "/bin/note").returncode == 1
    layer_dirs = glob.glob(os.path.join(busybox.root, "layers", "*", "diff"))
    assert layer_dirs and not any(os.path.exists(os.path.join(d, "bin", "note")) for d in layer_dirs)
    busybox.out("rm", "-f", "ca", "cb")


def test_user_env_workdir_hostname(busybox):
    r = sh(busybox, "id; echo $FOO; pwd; hostname; cat /etc/hostname",
           "-u", "nobody", "-e", "FOO=bar", "-w", "/tmp/work", "--hostname", "box1")
    assert r.stdout.decode().splitlines() == [
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)", "bar", "/tmp/work", "box1", "box1"]
    r = sh(busybox, "id -u; id -g; grep CapEff /proc/self/status", "-u", "1234:5678")
    assert r.stdout.decode().split()[:2] == ["1234", "5678"]
    assert r.stdout.decode().split()[-1] == "0000000000000000"
    r = busybox("run", "--rm", "-u", "nosuchuser", "busybox", "true")
    assert r.returncode == 125 and b"unable to find user nosuchuser" in r.stderr


def test_entrypoint_override(busybox):
    r = busybox("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert r.stdout == b"via entrypoint\n"


def test_rlimits_never_raised(busybox):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    r = sh(busybox, "ulimit -Hn; ulimit -Sn")
    assert [int(x) for x in r.stdout.split()] == [hard, soft]


def test_cgroup_limits_are_written_and_enforced(busybox):
    cid = busybox.out("run", "-d", "-m", "32m", "--cpus", "0.5", "--pids-limit", "20", "busybox",
                      "sleep", "60").strip()
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    if v2:
        base = f"/sys/fs/cgroup/corral/{cid}"
        assert open(f"{base}/memory.max").read().strip() == str(32 << 20)
        assert open(f"{base}/cpu.max").read().split() == ["50000", "100000"]
        assert open(f"{base}/pids.max").read().strip() == "20"
    else:
        assert int(open(f"/sys/fs/cgroup/memory/corral/{cid}/memory.limit_in_bytes").read()) == 32 << 20
        assert open(f"/sys/fs/cgroup/cpu/corral/{cid}/cpu.cfs_quota_us").read().strip() == "50000"
        assert open(f"/sys/fs/cgroup/pids/corral/{cid}/pids.max").read().strip() == "20"
        devices = open(f"/sys/fs/cgroup/devices/corral/{cid}/devices.list").read()
        assert "c 1:3 rwm" in devices and "a *:* rwm" not in devices
    pid = json.loads(busybox.out("inspect", cid))[0]["State"]["Pid"]
    execd = subprocess.Popen([*CORRAL, "exec", cid, "sleep", "30"], env=busybox.env)
    try:
        with open(f"/sys/fs/cgroup/{'' if v2 else 'pids/'}corral/{cid}/cgroup.procs") as f:
            assert _until(lambda: len(open(f.name).read().split()) == 2)
        for member in map(int, open(f.name).read().split()):
            assert _cgroups_of(member) == _cgroups_of(pid) != {}
            assert set(_cgroups_of(member).values()) == {f"/corral/{cid}"}  # in every hierarchy, exec'd too
    finally:
        execd.kill()
        execd.wait()
    busybox.out("rm", "-f", cid)
    r = sh(busybox, "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait", "--pids-limit", "4")
    assert b"can't fork" in r.stderr or b"Resource temporarily unavailable" in r.stderr
    r = sh(busybox, "dd if=/dev/zero of=/dev/null bs=64M count=1", "-m", "16m")
    assert r.returncode == 137  # OOM-killed


def _cgroups_of(pid: int) -> dict[str, str]:
    """Hierarchy → cgroup path of a process, for the controllers corral manages."""
    found = {}
    for line in open(f"/proc/{pid}/cgroup").read().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "" and os.path.exists("/sys/fs/cgroup/cgroup.controllers") or \
                set(controllers.split(",")) & set(cgroups.V1_CONTROLLERS):
            found[controllers] = path
    return found


def _until(check, timeout: float = 10.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_memory_below_the_floor_is_refused(busybox):
    r = busybox("run", "--rm", "-m", "1m", "busybox", "true")
    assert r.returncode == 125 and r.stderr == b"Error: Minimum memory limit allowed is 6MB\n"
    assert busybox.out("ps", "-aq") == ""


def test_devices(busybox):
    r = sh(busybox, "ls /dev | tr '\\n' ' '; echo; head -c 4 /dev/urandom | wc -c; "
                    "mknod /dev/sda b 8 0 && head -c 1 /dev/sda && echo READ-HOST-DISK; true")
    out = r.stdout.decode()
    for dev in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx"):
        assert dev in out.split("\n")[0].split()
    assert out.split("\n")[1] == "4"
    assert "READ-HOST-DISK" not in out


def test_mount_points_are_resolved_inside_the_image(busybox, tmp_path):
    """What corral mounts into a container (/etc/hostname, /etc/resolv.conf) lands where the image's own
    links lead inside it: an image linking those paths to host paths must not make corral create, or
    mount over, anything on the host."""
    host = tmp_path / "host"
    host.mkdir()
    import io
    import tarfile

    image = tmp_path / "links.tar"
    with tarfile.open(image, "w") as tar:  # a build cannot make these: they are mount points during RUN
        tar.add("/bin/busybox", "bin/busybox")
        for name, target in (("bin/sh", "busybox"), ("bin/cat", "busybox"), ("bin/ls", "busybox"),
                             ("etc/hostname", f"{host}/made-by-corral"), ("etc/resolv.conf", f"{host}/resolv"),
                             ("data", str(host))):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        info = tarfile.TarInfo("etc/hosts")
        tar.addfile(info, io.BytesIO(b""))
    busybox.out("import", str(image), "links:1")
    out = busybox.out("run", "--rm", "--hostname", "hn", "links:1", "sh", "-c", "cat /etc/hostname; ls /data")
    assert out == "hn\nmade-by-corral\nresolv\n"  # /data links to {host} too: inside, it holds what corral made
    assert os.listdir(host) == []
