"""--isolation=vm: the same image and verbs, the command in a micro-VM (QEMU microvm, the guest kernel
and init setup.sh builds). Real boots, few of them: each root test boots one or two VMs.

The unit tests check the pure logic (the message the guest init reads, the options refused, the
mounts the host makes); the root tests run real VMs and check what only a guest can show (its own
kernel) and what the host must never keep (QEMU, mounts, cgroups: the residue fixture).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from conftest import CORRAL

import corral
from corral.errors import InvalidArgument
from corral.runtime.options import ContainerOptions
from corral.runtime.vm import accel, assets, build, describe, qemu
from corral.runtime.vm.start import VM_OVERHEAD, host_mounts, vm_resources


# ---------------------------------------------------------------- unit: the host's side of the protocol

@pytest.mark.unit
def test_process_message_carries_what_the_init_applies():
    spec = {"process": {"args": ["sh", "-c", "echo hi"], "env": ["A=1"], "cwd": "/tmp",
                        "user": {"uid": 1000, "gid": 100, "additionalGids": [10]},
                        "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"]},
                        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}], "noNewPrivileges": True},
            "root": {"readonly": True}, "hostname": "box"}
    [payload], rest = describe.parse_messages(describe.process_message(spec) + b"\x05\x00")
    assert rest == b"\x05\x00"
    assert payload[:1] == b"P"
    entries = payload[1:].split(b"\0")[:-1]
    assert entries == [b"ash", b"a-c", b"aecho hi", b"eA=1", b"c/tmp", b"u1000", b"g100", b"G10", b"B", b"C0", b"C5",
                       b"L7 10 20", b"N", b"hbox"]


@pytest.mark.unit
def test_process_message_refuses_a_nul_and_signals_are_framed():
    with pytest.raises(InvalidArgument, match="NUL"):
        describe.process_message({"process": {"args": ["echo", "a\0b"]}})
    assert describe.parse_messages(describe.signal_message(15) * 2) == ([b"S15", b"S15"], b"")


@pytest.mark.unit
def test_exec_messages_carry_their_id():
    [request, kill], _ = describe.parse_messages(
        describe.exec_message("0a1b2c3d", {"args": ["id"], "user": {"uid": 5, "gid": 6}})
        + describe.exec_signal_message("0a1b2c3d", 2))
    assert request == b"x0a1b2c3d\0aid\0c/\0u5\0g6\0"
    assert kill == b"k0a1b2c3d2"


@pytest.mark.unit
def test_the_host_finds_the_command_as_the_guests_execvp_would(tmp_path):
    root = tmp_path
    for d in ("bin", "usr/bin", "usr/local/bin", "opt"):
        (root / d).mkdir(parents=True)
    (root / "bin/busybox").write_bytes(b"\x7fELF")
    (root / "bin/busybox").chmod(0o755)
    (root / "bin/true").symlink_to("/bin/busybox")  # absolute: resolved in the container's root, not the host's
    (root / "usr/local/bin/mine").write_text("#!/bin/sh\n")
    (root / "usr/local/bin/mine").chmod(0o700)  # root's alone
    (root / "usr/bin/mine").write_text("#!/bin/sh\n")
    (root / "usr/bin/mine").chmod(0o755)
    (root / "usr/bin/data").write_text("not a program")
    (root / "bin/out").symlink_to("../../../../../../bin/sh")  # '..' stops at the container's root: no /bin/sh there
    path = "PATH=/usr/local/bin:/usr/bin:/bin"

    def found(name: str, env: str = path, uid: int = 0) -> str | None:
        return describe.found_executable(str(root), {"args": [name], "env": ["A=1", env], "user": {"uid": uid}})

    assert found("true") == "/bin/true"
    assert found("mine") == "/usr/local/bin/mine"
    assert found("mine", uid=1000) == "/usr/bin/mine", "a file the user may not execute is passed over, as execvp does"
    assert found("data") is None and found("nosuch") is None and found("out") is None
    assert found("/bin/true") is None and found("true", "PATH=bin:/bin") is None and found("true", "B=1") is None
    request = describe.exec_message("0a1b2c3d", {"args": ["true"]}, exe="/bin/true")
    assert describe.parse_messages(request)[0] == [b"x0a1b2c3d\0atrue\0p/bin/true\0c/\0u0\0g0\0"]


@pytest.mark.unit
def test_the_engine_api_body_carries_isolation():
    from corral.api import bodies

    assert bodies.create_arguments({"Image": "busybox", "HostConfig": {"Isolation": "vm"}})[2] == {"isolation": "vm"}
    assert bodies.create_arguments({"Image": "busybox", "HostConfig": {"Isolation": ""}})[2] == {}


@pytest.mark.unit
def test_isolation_values_in_dockers_words():
    for value in ("", "default", "process"):
        opts = ContainerOptions(isolation=value, network="none")
        opts.check()
        assert opts.isolation is None
    with pytest.raises(InvalidArgument, match="Invalid isolation: 'hyperv' - corral supports 'default', 'process' "
                                              "or 'vm'"):
        ContainerOptions(isolation="hyperv").check()


@pytest.mark.unit
@pytest.mark.parametrize("given,named", [
    ({"devices": ["/dev/null"]}, "--device"), ({"network": "host"}, "--network host"),
    ({"network": "container:x"}, "--network container:x"),
    ({"memory": 32 << 20}, "--memory below 64m"), ({"pids_limit": 10}, "--pids-limit"), ({"pid": "host"}, "--pid host"),
    ({"security_opt": ["seccomp=unconfined"]}, "--security-opt seccomp"),
])
def test_vm_refuses_what_it_cannot_apply(given, named):
    with pytest.raises(InvalidArgument, match=f"--isolation=vm does not support {named}"):
        ContainerOptions(isolation="vm", **given).check()
    ContainerOptions(isolation="vm", cpus=1.0, memory=64 << 20, read_only=True, user="1000",
                     ulimits=["nofile=10:20"]).check()


@pytest.mark.unit
def test_memory_is_the_guests_ram_and_qemu_gets_its_overhead_on_top():
    assert vm_resources({"cpu": {"shares": 5}}) == ({"cpu": {"shares": 5}}, 128 << 20)
    limits, ram = vm_resources({"memory": {"limit": 100 << 20, "swap": 200 << 20}})
    assert ram == 100 << 20
    assert limits == {"memory": {"limit": (100 << 20) + VM_OVERHEAD, "swap": (200 << 20) + VM_OVERHEAD}}


@pytest.mark.unit
def test_only_binds_are_mounted_by_the_host():
    mounts = [{"destination": "/proc", "type": "proc"}, {"destination": "/dev/shm", "type": "tmpfs"},
              {"destination": "/etc/hosts", "type": "bind", "source": "/b/hosts"},
              {"destination": "/data", "type": "bind", "source": "/srv"},
              {"destination": "/dev/shm", "type": "bind", "source": "/b/shm"}]
    assert [m["destination"] for m in host_mounts(mounts)] == ["/etc/hosts", "/data"]


@pytest.mark.unit
def test_qemu_runs_sandboxed_with_nothing_but_its_devices():
    argv = qemu.command("/k", "/i", "tcg", "/root", tuple(range(3, 3 + len(qemu.PORTS))), "/c.log")
    assert argv[argv.index("-sandbox") + 1].startswith("on,")
    assert "-nodefaults" in argv and "-no-user-config" in argv
    devices = [argv[i + 1].split(",")[0] for i, a in enumerate(argv) if a == "-device"]
    assert devices == ["virtio-serial-device"] + ["virtserialport"] * 8 + ["virtio-9p-device"]
    assert [a.split(",")[2] for a in argv if a.startswith("virtserialport,")] == [f"nr={n}" for n in range(1, 9)]
    with pytest.raises(ValueError):  # a port without its socket
        qemu.command("/k", "/i", "tcg", "/root", (3, 4, 5, 6, 7), "/c.log")


# ---------------------------------------------------------------- the guest kernel and init setup.sh built

def test_guest_kernel_has_every_option_of_the_fragment():
    kernel = assets.guest_kernel()
    config = os.path.join(os.path.dirname(kernel), "config")
    assert build.missing_options(assets.KERNEL_FRAGMENT, config) == []
    with open(config) as f:
        text = f.read()
    assert "# CONFIG_MODULES is not set" in text
    assert os.path.exists(assets.guest_initrd())


def test_probe_boots_the_guest_under_tcg():
    ok, why = accel.boots("tcg", 60)
    assert ok, why
    assert accel.cached() in ("kvm", "tcg")  # setup.sh probed once


# ---------------------------------------------------------------- real VM containers

def test_run_in_a_vm_applies_the_process_and_propagates_the_exit(busybox):
    r = busybox("run", "--rm", "--isolation=vm", "-e", "FOO=bar", "-w", "/tmp/work", "-u", "1000:1000",
                "-h", "vmhost", "busybox", "sh", "-c",
                "echo $FOO; pwd; id -u; id -g; hostname; uname -r; cat /etc/hostname; echo oops >&2; exit 3")
    assert r.returncode == 3, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[:5] == ["bar", "/tmp/work", "1000", "1000", "vmhost"]
    assert lines[5] != os.uname().release  # the guest's own kernel
    assert lines[6] == "vmhost"  # /etc/hostname: the host's bind, seen through 9p
    assert r.stderr.decode() == "oops\n"
    assert busybox.out("ps", "-aq") == ""


def test_binds_and_a_read_only_root_reach_the_guest(busybox, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in").write_text("from the host\n")
    r = busybox("run", "--rm", "--isolation=vm", "--read-only", "-v", f"{data}:/data", "busybox", "sh", "-c",
                "cat /data/in; echo from the guest > /data/out; touch /x || echo read-only")
    assert (r.returncode, r.stdout) == (0, b"from the host\nread-only\n"), r.stderr
    assert b"Read-only file system" in r.stderr
    assert (data / "out").read_text() == "from the guest\n"


def test_run_echo_hi_and_a_missing_command(busybox):
    r = busybox("run", "--rm", "--isolation=vm", "busybox", "echo", "hi")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hi\n", b"")
    r = busybox("run", "--rm", "--isolation=vm", "busybox", "no-such-command")
    assert r.returncode == 127
    assert b"no-such-command" in r.stderr and b"not found" in r.stderr
    assert busybox.out("ps", "-aq") == ""


def test_detached_vm_logs_stop_and_rm(busybox):
    cid = busybox.out("run", "-d", "--isolation=vm", "busybox", "sh", "-c",
                      "trap 'echo got TERM; exit 7' TERM; echo up; while true; do sleep 0.1; done").strip()
    deadline = time.monotonic() + 30
    while "up" not in busybox.out("logs", cid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert busybox.out("logs", cid) == "up\n"
    assert busybox.out("inspect", "-f", "{{.HostConfig.Isolation}} {{.HostConfig.VmAccelerator}} {{.State.Status}}",
                       cid).split() == ["vm", accel.cached(), "running"]
    pid = int(busybox.out("inspect", "-f", "{{.State.Pid}}", cid))
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0].endswith(b"qemu-system-x86_64")
    r = busybox("exec", "-u", "1000", "-w", "/tmp", "-e", "X=1", cid, "sh", "-c",
                "id -u; pwd; echo $X; echo err >&2; uname -r; exit 5")
    assert r.returncode == 5
    assert r.stdout.decode().splitlines()[:3] == ["1000", "/tmp", "1"]
    assert r.stdout.decode().splitlines()[3] != os.uname().release and r.stderr == b"err\n"
    assert busybox.out("exec", cid, "ps", "-o", "pid,comm").split()[2:4] == ["1", "sh"]  # the container's PID space
    r = busybox("exec", cid, "no-such-command")
    assert r.returncode == 127 and b"executable file not found" in r.stderr
    busybox.out("stop", "-t", "20", cid)  # SIGTERM goes to the command inside the guest
    assert busybox.out("inspect", "-f", "{{.State.ExitCode}}", cid).strip() == "7"
    assert busybox.out("logs", cid) == "up\ngot TERM\n"  # no exec's output in the container's log
    assert not os.path.exists(f"/proc/{pid}")
    busybox.out("rm", cid)


def test_stop_kills_a_vm_whose_command_ignores_term(busybox):
    cid = busybox.out("run", "-d", "--isolation=vm", "busybox", "sleep", "60").strip()
    # sleep is PID 1 of its PID namespace in the guest: SIGTERM without a handler is ignored, as in docker
    busybox.out("stop", "-t", "1", cid)
    assert busybox.out("inspect", "-f", "{{.State.ExitCode}}", cid).strip() == "137"
    busybox.out("rm", cid)


def test_a_vm_dies_with_the_store_monitor(busybox):
    cid = busybox.out("run", "-d", "--isolation=vm", "-m", "80m", "busybox", "sleep", "60").strip()
    # --memory is the guest's RAM; QEMU's cgroup holds that and QEMU's own 128 MiB
    total = busybox.out("exec", cid, "sed", "-n", "s/^MemTotal: *\\([0-9]*\\) kB/\\1/p", "/proc/meminfo")
    assert 40 * 1024 < int(total) < 80 * 1024
    assert busybox.out("stats", "--no-stream", "--format", "{{.MemUsage}}", cid).split(" / ")[1].strip() == "208MiB"
    r = busybox("update", "-m", "100m", cid)
    assert r.returncode != 0 and b"fixed when it is created" in r.stderr
    pid = int(busybox.out("inspect", "-f", "{{.State.Pid}}", cid))
    with open(f"/proc/{pid}/status") as f:
        monitor = int(next(line.split()[1] for line in f if line.startswith("PPid:")))
    with open(f"/proc/{pid}/cgroup") as f:
        assert cid in f.read()  # QEMU runs in the container's cgroup
    os.kill(monitor, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")  # PDEATHSIG, as a process container's init
    assert busybox.out("ps", "-a", "--format", "{{.State}}").strip() == "exited"
    busybox.out("rm", cid)


def test_a_guest_flooding_its_output_is_removed_cleanly(busybox):
    cid = busybox.out("run", "-d", "--isolation=vm", "busybox", "yes").strip()
    deadline = time.monotonic() + 30
    while os.path.getsize(os.path.join(busybox.root, "containers", cid, "log")) < 100_000 and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.path.getsize(os.path.join(busybox.root, "containers", cid, "log")) >= 100_000
    r = busybox("rm", "-f", cid, timeout=20)  # QEMU, its sockets and its mounts go (the residue fixture checks)
    assert r.returncode == 0, r.stderr


def test_all_output_arrives_though_qemu_is_ended_at_the_commands_exit(busybox):
    """The monitor ends QEMU when the guest reports the exit ('X'): what the command wrote came before it."""
    r = busybox("run", "--rm", "--isolation=vm", "busybox", "sh", "-c", "seq 1 200000; echo end >&2; exit 7")
    assert (r.returncode, r.stderr) == (7, b"end\n")
    assert r.stdout.splitlines()[-1] == b"200000" and len(r.stdout.splitlines()) == 200000
    master, slave = os.openpty()  # -t: the guest's terminal, relayed by its init
    try:
        proc = subprocess.Popen([*CORRAL, "run", "--rm", "-t", "--isolation=vm", "busybox", "sh", "-c",
                                 "seq 1 50000; exit 6"], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                                env=busybox.env)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed its end
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(60) == 6
    finally:
        os.close(master)
    assert out.split()[-1] == b"50000" and len(out.split()) == 50000, out[-200:]


def test_execs_run_at_once_each_on_its_port_with_its_own_output(busybox):
    cid = busybox.out("run", "-d", "--isolation=vm", "busybox", "sleep", "300").strip()
    execs = [subprocess.Popen([*CORRAL, "exec", cid, "sh", "-c", f"seq 1 20000 | sed s/^/{tag}/; exit {code}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=busybox.env)
             for tag, code in (("a", 3), ("b", 4), ("c", 5))]
    results = [(p.communicate(timeout=120), p.returncode) for p in execs]
    for ((out, err), code), (tag, want) in zip(results, (("a", 3), ("b", 4), ("c", 5))):
        assert code == want, err
        assert out.decode().splitlines() == [f"{tag}{i}" for i in range(1, 20001)]
    busybox.out("rm", "-f", cid)


def test_python_api_runs_in_a_vm(busybox):
    client = corral.Client(busybox.root)
    try:
        assert client.containers.run("busybox", "cat /proc/version", isolation="vm", remove=True) \
            != open("/proc/version", "rb").read()
        with pytest.raises(InvalidArgument, match="Invalid isolation"):
            client.containers.create("busybox", "true", isolation="hyperv")
    finally:
        client.close()


def test_a_host_without_the_guest_says_what_to_do(busybox):
    env = dict(busybox.env, CORRAL_VM_CACHE=os.path.join(busybox.root, "no-vm-cache"))
    r = subprocess.run(CORRAL + ["run", "--rm", "--isolation=vm", "busybox", "true"], env=env, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 125
    assert r.stderr.decode().endswith("no guest kernel for --isolation=vm in "
                                      f"{busybox.root}/no-vm-cache: run setup.sh (it builds one)\n")
    assert busybox.out("ps", "-aq") == ""


def test_cli_refusals_are_one_line(busybox):
    r = busybox("run", "--rm", "--isolation=vm", "--device", "/dev/null", "busybox", "true")
    assert r.returncode == 125
    assert r.stderr.decode().count("\n") == 1 and "--isolation=vm does not support --device yet" in r.stderr.decode()
    r = busybox("create", "--isolation=hyperv", "busybox")
    assert r.returncode == 125 and b"Invalid isolation: 'hyperv'" in r.stderr
    assert busybox.out("ps", "-aq") == ""
