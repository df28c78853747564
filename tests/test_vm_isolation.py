"""Issue 19's isolation checks: inside a VM container the kernel, processes, mounts, network and devices
are the guest's, and what root does to the kernel there stays in the guest.

Three boots. The guest's facts are printed by one script between markers, so each assertion names what it
checks; the host's side is read before and after.
"""
from __future__ import annotations

import os

FACTS = r"""
echo "== kernel"; uname -r
echo "== processes"; for p in /proc/[0-9]*; do cat $p/comm; done
echo "== mounts"; cat /proc/mounts
echo "== links"; ls /sys/class/net
echo "== devices"; ls /dev
echo "== end"
"""


def _sections(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("== "):
            current = line[3:]
            found[current] = []
        elif current:
            found[current].append(line)
    return found


def test_a_vm_container_sees_only_its_own_kernel_processes_mounts_links_and_devices(busybox):
    r = busybox("run", "--rm", "--isolation=vm", "busybox", "sh", "-c", FACTS)
    assert r.returncode == 0, r.stderr
    facts = _sections(r.stdout.decode())
    assert "end" in facts, r.stdout
    assert facts["kernel"] != [os.uname().release], "the guest's kernel, not the host's"
    commands = facts["processes"]
    assert len(commands) <= 4 and not {"python3", "python", "qemu-system-x86", "pytest", "systemd"} & set(commands), \
        f"only the guest's own processes (its init, the shell and the loop's cat): {commands}"
    mounts = "\n".join(facts["mounts"])
    for host_path in (busybox.root, "/work", "/sys/fs/cgroup", "/var/lib"):
        assert host_path not in mounts, f"no host mount is visible in the guest ({host_path}): {mounts}"
    roots = [line.split()[:3] for line in mounts.splitlines() if line.split()[1:2] == ["/"]]
    assert roots == [["corral-root", "/", "9p"]], f"the root is the container's, over 9p: {mounts}"
    assert "lo" in facts["links"] and not [n for n in facts["links"] if n.startswith(("cr", "veth", "eth"))], \
        f"no host link, and no network without --network: {facts['links']}"
    assert not {"mem", "kmem", "port", "kmsg", "vda", "sda", "nvme0n1", "kvm", "fuse"} & set(facts["devices"]), \
        f"no host device node in /dev: {facts['devices']}"


def test_what_root_does_to_the_guests_kernel_stays_in_the_guest(busybox):
    with open("/proc/sys/kernel/pid_max") as f:
        host_pid_max = f.read()
    attempts = (
        "echo 12345 > /proc/sys/kernel/pid_max && echo pid_max=$(cat /proc/sys/kernel/pid_max)",
        "echo junk > /tmp/m.ko; insmod /tmp/m.ko 2>/dev/null || echo module=refused",
        "[ -e /dev/mem ] || mknod /dev/mem c 1 1 2>/dev/null; head -c 1 /dev/mem >/dev/null 2>&1 || echo mem=refused",
        "[ -e /proc/sysrq-trigger ] && echo b > /proc/sysrq-trigger || echo sysrq=absent",
    )
    r = busybox("run", "--rm", "--isolation=vm", "busybox", "sh", "-c", "; ".join(attempts))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == [
        "pid_max=12345", "module=refused", "mem=refused", "sysrq=absent"], r.stdout
    with open("/proc/sys/kernel/pid_max") as f:
        assert f.read() == host_pid_max, "the guest's sysctl write changed the guest's kernel only"
    # and the next VM container boots as usual: nothing of the first guest's changes carried over
    assert busybox.out("run", "--rm", "--isolation=vm", "busybox", "cat", "/proc/sys/kernel/pid_max").strip() != \
        "12345"
