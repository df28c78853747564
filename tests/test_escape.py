"""The escape suite (issue 20, item 5): what a process inside a default container tries, and must fail at."""
from __future__ import annotations

import subprocess

WATCH = r"""
while [ ! -f /stop ]; do
  for p in /proc/[0-9]*; do
    echo "exe $(readlink $p/exe 2>/dev/null)"
    ls -l $p/fd 2>/dev/null | sed -n 's/.* -> /fd /p'
  done
done > /seen 2>/dev/null
sleep 60
"""


def test_a_process_joining_the_container_shows_nothing_of_the_host_through_proc(busybox):
    """The runc CVE-2019-5736 class: between the fork into the container's PID namespace and the exec of
    the container's binary, a joining process is the host's interpreter holding the monitor's fds. A
    process inside races /proc/N/exe and /proc/N/fd during 500 execs and must see only its own world."""
    cid = busybox.out("run", "-d", "busybox", "sh", "-c", WATCH).strip()
    from conftest import CORRAL

    subprocess.run(["sh", "-c", f'for i in $(seq 500); do "$@" exec {cid} true || exit 1; done', "sh", *CORRAL],
                   env=busybox.env, check=True, timeout=300)
    busybox.out("exec", cid, "touch", "/stop")
    seen = set(busybox.out("exec", cid, "sort", "-u", "/seen").splitlines())
    exes = {line for line in seen if line.startswith("exe ")}
    assert exes <= {"exe /bin/busybox", "exe "}, exes  # "": a process gone, or not dumpable
    fds = {line[3:] for line in seen if line.startswith("fd ")}
    assert fds, "the watcher saw no fd at all: it did not run"
    host = [f for f in fds if not (f.startswith(("pipe:", "socket:", "anon_inode:", "/dev/")) or f == "/seen")]
    assert host == [], host
    busybox.out("rm", "-f", cid)


# Each attempt is a shell line run as root inside a default container; every one must fail. The line for
# a capability docker does not grant probes with an operation that would be harmless if it succeeded.
ATTEMPTS = {
    "mount proc": "mount -t proc proc /mnt",
    "mount tmpfs": "mount -t tmpfs tmpfs /mnt",
    "mount a cgroup hierarchy": "mount -t cgroup -o memory cgroup /mnt",
    "remount /sys read-write": "mount -o remount,rw /sys",
    "sysrq": "echo h > /proc/sysrq-trigger",
    "write /proc/sys": "echo 1 > /proc/sys/kernel/panic",
    "read /proc/kcore": "head -c 16 /proc/kcore | grep -q .",
    "set core_pattern": "echo '|/x' > /proc/sys/kernel/core_pattern",
    "mknod and read a host disk": "mknod /tmp/sda b 8 0 && head -c 512 /tmp/sda | grep -q .",
    "mknod and read a virtio disk": "mknod /tmp/vda b 253 0 && head -c 512 /tmp/vda | grep -q .",
    "read /dev/mem": "mknod /tmp/mem c 1 1 && head -c 16 /tmp/mem | grep -q .",
    "read /dev/kmsg": "mknod /tmp/kmsg c 1 11 && head -c 16 /tmp/kmsg | grep -q .",
    "set the clock (CAP_SYS_TIME)": "adjtimex -o 0",
    "load a module": "insmod /nonexistent.ko",
    "swapoff": "swapoff -a",
    "change the hostname (CAP_SYS_ADMIN)": "hostname changed",
    "network admin": "ip link add esc0 type veth peer name esc1",
    "cgroup release_agent (CVE-2022-0492)": "mkdir -p /tmp/cg && mount -t cgroup -o rdma cgroup /tmp/cg && "
                                            "echo /x > /tmp/cg/release_agent",
    "write /sys": "echo 1 > /sys/kernel/mm/ksm/run",
    "host files through /proc/1/root": "ls /proc/1/root/../../../etc/shadow && ! test -e /etc/shadow",
    "a leaked host fd (CVE-2024-21626 class)": "for f in /proc/self/fd/*; do readlink $f; done | "
                                               "grep -v -e '^/dev/' -e '^pipe:' -e '^socket:' -e '^/proc/' | grep .",
    "cwd outside the root": "readlink /proc/self/cwd | grep -v '^/'",
    "a user namespace (seccomp)": "unshare -U -r true",
}


def attempt_all(cli, *flags: str) -> tuple[list[str], list[str]]:  # noqa: ANN001
    """Every attempt of ATTEMPTS in one container run with `flags`: its lines, and those that escaped."""
    script = "".join(f"if ( {line} ) >/dev/null 2>&1; then echo 'ESCAPED {name}'; else echo 'blocked {name}'; fi\n"
                     for name, line in ATTEMPTS.items())
    out = cli.out("run", "--rm", *flags, "busybox", "sh", "-c", script).splitlines()
    assert len(out) == len(ATTEMPTS)
    return out, [line for line in out if not line.startswith("blocked ")]


def test_a_default_container_blocks_every_escape_attempt(busybox, capsys):
    out, escaped = attempt_all(busybox)
    with capsys.disabled():
        print(f"\nescape suite: {len(out) - len(escaped)}/{len(out)} blocked")
    assert escaped == []


def test_without_net_raw_no_raw_socket_opens(busybox):
    r = busybox("run", "--rm", "--network", "none", "--cap-drop", "NET_RAW", "busybox", "ping", "-c1", "127.0.0.1")
    assert r.returncode != 0 and b"permission denied" in r.stderr.lower()


def test_a_block_device_made_with_cap_mknod_cannot_be_opened(busybox):
    """Issue 20 item 3 on a v1 host: the devices cgroup lets mknod (CAP_MKNOD, docker's default) make the
    node, and refuses to open it with EPERM; --device is how a disk gets in."""
    r = busybox("run", "--rm", "busybox", "sh", "-c",
                "mknod /tmp/sda b 8 0 && echo made && head -c1 /tmp/sda")
    assert r.stdout == b"made\n" and r.returncode != 0
    assert b"Operation not permitted" in r.stderr, r.stderr
