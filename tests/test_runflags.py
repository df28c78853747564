"""docker's run/create flags, each tested by what it does to a real container: --init, --ulimit,
--sysctl, --group-add, --ipc, --pid, --uts, --device, --expose, run -a, and the inspect fields that
record them (HostConfig, Mounts, the /etc paths, SizeRw with -s)."""
from __future__ import annotations

import json
import os
import time


def ns(path: str) -> str:
    return os.readlink(path)


def inspect(cli, name: str, *flags: str) -> dict:
    return json.loads(cli.out("inspect", *flags, name))[0]


def test_init_reaps_zombies_forwards_sigterm_and_passes_the_exit_code(busybox):
    assert busybox("run", "--rm", "--init", "busybox", "sh", "-c", "exit 7").returncode == 7
    orphan = ["sh", "-c", "(sleep 0.1 &); exec sleep 30"]  # the orphan's parent becomes PID 1
    busybox.out("run", "-d", "--init", "--name", "with", "busybox", *orphan)
    busybox.out("run", "-d", "--name", "without", "busybox", *orphan)
    time.sleep(1)
    with_init = busybox.out("exec", "with", "ps", "-o", "pid,stat,comm")
    assert " Z " not in with_init and "docker-init" in with_init
    assert " Z " in busybox.out("exec", "without", "ps", "-o", "pid,stat,comm")  # sleep as PID 1 reaps nothing
    started = time.monotonic()
    busybox.out("stop", "-t", "20", "with")  # catatonit passes SIGTERM to sleep, which dies of it
    assert time.monotonic() - started < 10
    assert inspect(busybox, "with")["State"]["ExitCode"] == 143
    assert inspect(busybox, "with")["Path"] == "sh" and inspect(busybox, "with")["HostConfig"]["Init"] is True
    assert '"sh -c (sleep 0.1 &)' in busybox.out("ps", "-a", "--no-trunc")
    busybox.out("rm", "-f", "with", "without")


def test_ulimit_applies_to_the_command_and_to_exec(busybox):
    out = busybox.out("run", "--rm", "--ulimit", "nofile=1000:2000", "--ulimit", "core=-1", "busybox",
                      "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c")
    assert out == "1000\n2000\nunlimited\n"
    busybox.out("run", "-d", "--name", "ulim", "--ulimit", "nproc=77:88", "busybox", "sleep", "30")
    assert busybox.out("exec", "ulim", "sh", "-c", "ulimit -u; ulimit -Hu") == "77\n88\n"
    assert inspect(busybox, "ulim")["HostConfig"]["Ulimits"] == [{"Name": "nproc", "Soft": 77, "Hard": 88}]
    busybox.out("rm", "-f", "ulim")
    r = busybox("run", "--rm", "--ulimit", "nofile=2048:1024", "busybox", "true")
    assert r.returncode == 125 and b"ulimit soft limit must be less than or equal to hard limit" in r.stderr
    r = busybox("run", "--rm", "--ulimit", f"nofile=10:{1 << 40}", "busybox", "true")
    if r.returncode != 0:  # a host without CAP_SYS_RESOURCE: said, never silently lowered
        assert r.returncode == 125 and b"cannot set --ulimit nofile" in r.stderr


def test_sysctl_sets_the_containers_own_namespaces_only(busybox):
    with open("/proc/sys/kernel/shmmax") as f:
        host_shmmax = f.read()
    out = busybox.out("run", "--rm", "--sysctl", "kernel.shmmax=12345", "--sysctl",
                      "net.ipv4.ip_unprivileged_port_start=100", "busybox", "sh", "-c",
                      "cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_unprivileged_port_start")
    assert out == "12345\n100\n"
    with open("/proc/sys/kernel/shmmax") as f:
        assert f.read() == host_shmmax
    r = busybox("run", "--rm", "--sysctl", "vm.swappiness=1", "busybox", "true")
    assert r.returncode == 125 and b"sysctl 'vm.swappiness=1' is not allowed" in r.stderr
    r = busybox("run", "--rm", "--network", "host", "--sysctl", "net.core.somaxconn=5", "busybox", "true")
    assert r.returncode == 125 and b"not allowed" in r.stderr


def test_group_add_by_name_and_number(busybox):
    groups = busybox.out("run", "--rm", "--group-add", "daemon", "--group-add", "1234", "busybox", "id", "-G").split()
    assert "1" in groups and "1234" in groups
    r = busybox("run", "--rm", "--group-add", "nosuchgroup", "busybox", "true")
    assert r.returncode == 125 and b"unable to find group nosuchgroup" in r.stderr


def test_ipc_modes(busybox):
    host_ipc = ns("/proc/self/ns/ipc")
    assert busybox.out("run", "--rm", "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc").strip() == host_ipc
    assert busybox.out("run", "--rm", "busybox", "readlink", "/proc/self/ns/ipc").strip() != host_ipc
    assert busybox("run", "--rm", "--ipc", "none", "busybox", "test", "-d", "/dev/shm").returncode == 1
    busybox.out("run", "-d", "--name", "donor", "--ipc", "shareable", "busybox", "sh", "-c",
                "echo shared > /dev/shm/note; exec sleep 30")
    time.sleep(0.3)
    donor_ipc = busybox.out("exec", "donor", "readlink", "/proc/self/ns/ipc")
    out = busybox.out("run", "--rm", "--ipc", "container:donor", "busybox", "sh", "-c",
                      "readlink /proc/self/ns/ipc; cat /dev/shm/note")
    assert out == donor_ipc + "shared\n"
    assert inspect(busybox, "donor")["HostConfig"]["IpcMode"] == "shareable"
    busybox.out("run", "-d", "--name", "private", "busybox", "sleep", "30")
    assert inspect(busybox, "private")["HostConfig"]["IpcMode"] == "private"
    r = busybox("run", "--rm", "--ipc", "container:private", "busybox", "true")
    assert r.returncode == 125 and b"not shareable" in r.stderr
    busybox.out("rm", "-f", "donor", "private")


def test_pid_host_and_container(busybox):
    out = busybox.out("run", "--rm", "--pid", "host", "busybox", "readlink", "/proc/self/ns/pid").strip()
    assert out == ns("/proc/self/ns/pid")
    busybox.out("run", "-d", "--name", "p1", "busybox", "sleep", "31")
    time.sleep(0.3)
    out = busybox.out("run", "--rm", "--pid", "container:p1", "busybox", "ps", "-o", "pid,args")
    assert "1 sleep 31" in " ".join(out.split())
    busybox.out("stop", "-t", "0", "p1")
    r = busybox("run", "--rm", "--pid", "container:p1", "busybox", "true")
    assert r.returncode != 0 and b"not running" in r.stderr
    busybox.out("rm", "p1")


def test_uts_host_shares_the_hostname_and_never_sets_it(busybox):
    host = os.uname().nodename
    assert busybox.out("run", "--rm", "--uts", "host", "busybox", "sh", "-c", "hostname; cat /etc/hostname") == \
        f"{host}\n{host}\n"
    assert os.uname().nodename == host
    r = busybox("run", "--rm", "--uts", "host", "-h", "other", "busybox", "true")
    assert r.returncode == 125 and b"hostname and the UTS mode" in r.stderr


def test_device_is_made_and_allowed_only_as_asked(busybox):
    read = ["sh", "-c", "head -c 5 /dev/k | wc -c"]
    assert busybox.out("run", "--rm", "--cap-add", "SYSLOG", "--device", "/dev/kmsg:/dev/k", "busybox", *read) == "5\n"
    r = busybox("run", "--rm", "--cap-add", "SYSLOG", "--device", "/dev/kmsg:/dev/k:w", "busybox", *read)
    assert b"Operation not permitted" in r.stderr  # the devices cgroup: w, not r
    r = busybox("run", "--rm", "--cap-add", "SYSLOG", "busybox", "sh", "-c", "mknod /dev/k c 1 11; " + read[2])
    assert b"Operation not permitted" in r.stderr  # without --device the device is denied
    r = busybox("run", "--rm", "--device", "/etc/passwd", "busybox", "true")
    assert r.returncode == 125 and b"not a device node" in r.stderr


def test_expose_is_recorded_and_published_by_P(busybox):
    busybox.out("create", "--name", "exp", "--expose", "7000-7001", "--expose", "53/udp", "-P", "busybox",
                "sleep", "30")
    assert inspect(busybox, "exp")["Config"]["ExposedPorts"] == {"53/udp": {}, "7000/tcp": {}, "7001/tcp": {}}
    busybox.out("start", "exp")
    assert sorted(line.split(" -> ")[0] for line in busybox.out("port", "exp").splitlines()) == \
        ["53/udp", "7000/tcp", "7001/tcp"]
    busybox.out("rm", "-f", "exp")


def test_attach_only_the_streams_asked(busybox):
    script = ["sh", "-c", "echo out; echo err >&2; exit 4"]
    r = busybox("run", "--rm", "-a", "stdout", "busybox", *script)
    assert (r.returncode, r.stdout, r.stderr) == (4, b"out\n", b"")
    r = busybox("run", "--rm", "-a", "STDERR", "busybox", *script)
    assert (r.stdout, r.stderr) == (b"", b"err\n")
    r = busybox("run", "--rm", "-a", "stdin", "-i", "busybox", "cat", input=b"fed\n")
    assert r.stdout == b""  # stdin attached, output not
    r = busybox("run", "--rm", "-a", "foo", "busybox", "true")
    assert r.returncode == 125 and b"valid streams are STDIN, STDOUT and STDERR" in r.stderr


def test_inspect_shows_dockers_fields(busybox, tmp_path):
    from corral.api import Host

    (tmp_path / "data").mkdir()
    c = Host(busybox.root).create_container(
        "busybox", ["sh", "-c", "head -c 100000 /dev/zero > /big"], name="insp", memory=64 << 20, cpus=0.5,
        binds=[f"{tmp_path}/data:/data:ro"], ports=["8123:80"], sysctls={"kernel.shmmax": "999"},
        devices=["/dev/null:/dev/n2:r"], group_add=["5"])
    assert c.start(attach=True, stdout_fd=os.open(os.devnull, os.O_WRONLY)) == 0
    d = inspect(busybox, "insp", "-s")
    hc = d["HostConfig"]
    assert hc["Binds"] == [f"{tmp_path}/data:/data:ro"] and hc["RestartPolicy"] == {"Name": "no",
                                                                                      "MaximumRetryCount": 0}
    assert (hc["Memory"], hc["NanoCpus"], hc["PidsLimit"]) == (64 << 20, 500000000, None)
    assert isinstance(hc["NanoCpus"], int) and hc["CapAdd"] is None and hc["Ulimits"] == []
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8123"}]}
    assert hc["Sysctls"] == {"kernel.shmmax": "999"} and hc["GroupAdd"] == ["5"] and "Init" not in hc
    assert hc["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n2", "CgroupPermissions": "r"}]
    assert (hc["IpcMode"], hc["PidMode"], hc["UTSMode"]) == ("private", "", "")
    assert d["Mounts"] == [{"Type": "bind", "Source": f"{tmp_path}/data", "Destination": "/data", "Mode": "ro",
                            "RW": False, "Propagation": "rprivate"}]
    assert d["Config"]["ExposedPorts"] == {"80/tcp": {}}
    for key, name in (("ResolvConfPath", "resolv.conf"), ("HostnamePath", "hostname"), ("HostsPath", "hosts")):
        assert d[key] == os.path.join(c.bundle, name) and os.path.isfile(d[key])
    assert d["SizeRw"] == 100000 and d["SizeRootFs"] == 100000 + Host(busybox.root).image("busybox").size
    assert "SizeRw" not in inspect(busybox, "insp")
    c.remove()


def test_commit_keeps_exposed_ports(busybox):
    busybox.out("create", "--name", "ex2", "--expose", "8125", "busybox", "true")
    image = busybox.out("commit", "ex2", "exposed:1").strip()
    assert json.loads(busybox.out("image", "inspect", image))[0]["Config"]["ExposedPorts"] == {"8125/tcp": {}}
    busybox.out("rm", "ex2")
