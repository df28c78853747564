"""The Python API in docker-py's shape (corral.from_env, client.containers/images/networks and their
models), each method called with the arguments docker-py documents, against the real engine."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time

import pytest

from conftest import SRC

import corral
from corral import errors
from corral.types import IPAMConfig, IPAMPool


@pytest.fixture
def client(busybox):
    c = corral.Client(busybox.root)
    yield c
    c.close()


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ---------------------------------------------------------------- the README's script


def test_readme_script_runs_as_docker_py_would(busybox):
    """The README's Python section: docker-py's own README script with `import corral as docker`."""
    readme = open(os.path.join(SRC, "..", "README.md")).read()
    script = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert script.startswith("import corral as docker\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, env=dict(busybox.env, PYTHONPATH=SRC),
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"b'hello world\\n'\n"), r.stdout
    assert busybox.out("ps", "-aq") == ""


# ---------------------------------------------------------------- containers.run and create


def test_run_returns_output_string_command_and_removes(client, busybox):
    assert client.containers.run("busybox", "echo hello world", remove=True) == b"hello world\n"
    assert client.containers.run("busybox", ["sh", "-c", "echo 'a b'"], remove=True) == b"a b\n"
    assert client.containers.run("busybox", "sh -c 'echo out; echo err >&2'", stderr=True,
                                 remove=True) == b"out\nerr\n"
    assert client.containers.run("busybox", "sh -c 'echo out; echo err >&2'", stdout=False, stderr=True,
                                 remove=True) == b"err\n"
    assert list(client.containers.run("busybox", "echo streamed", stream=True, remove=True)) == [b"streamed\n"]
    assert busybox.out("ps", "-aq") == ""
    kept = client.containers.run("busybox", "true")
    assert kept == b"" and len(client.api.containers(all=True)) == 1


def test_run_nonzero_exit_raises_container_error_with_stderr(client, busybox):
    with pytest.raises(errors.ContainerError) as e:
        client.containers.run("busybox", "sh -c 'echo bad >&2; exit 3'", remove=True)
    assert (e.value.exit_status, e.value.stderr, e.value.image) == (3, b"bad\n", "busybox")
    assert "returned non-zero exit status 3" in str(e.value)
    assert isinstance(e.value, errors.DockerException) and isinstance(e.value, errors.CorralError)
    assert busybox.out("ps", "-aq") == ""


def test_run_detached_and_with_an_image_object(client):
    image = client.images.get("busybox")
    c = client.containers.run(image, "sleep 30", detach=True, name="bg")
    assert (c.name, c.status, c.attrs["Image"]) == ("bg", "running", image.id)
    assert c.image == image
    c.remove(force=True)
    with pytest.raises(errors.NotFound):
        c.reload()
    auto = client.containers.run("busybox", "true", detach=True, remove=True)
    assert auto.wait(condition="removed")["StatusCode"] == 0
    with pytest.raises(errors.NotFound):
        client.containers.get(auto.id)


def test_missing_image_is_image_not_found(client):
    with pytest.raises(errors.ImageNotFound, match="No such image: nosuch"):
        client.containers.run("nosuch", "true")
    with pytest.raises(errors.NotFound):
        client.images.get("nosuch")
    assert issubclass(errors.ImageNotFound, errors.APIError)


def test_create_applies_docker_py_keywords(client, tmp_path):
    (tmp_path / "data").write_text("from the host\n")
    tmp_path.chmod(0o755)
    c = client.containers.create(
        "busybox", ["sleep 30"], name="kw", environment={"A": "1", "B": "two words"}, working_dir="/tmp",
        user="nobody", hostname="box", mem_limit="64m", nano_cpus=500_000_000, pids_limit=50,
        labels={"tier": "web"}, ports={"80/tcp": 18081, 81: None, "82/udp": ("127.0.0.1", 18082)},
        extra_hosts={"db": "10.9.8.7"}, cap_drop=["NET_RAW"], stop_signal="SIGUSR1", stdin_open=True,
        volumes={str(tmp_path): {"bind": "/mnt", "mode": "ro"}}, entrypoint="/bin/sh -c")
    attrs = c.attrs
    assert attrs["Config"]["Labels"] == {"tier": "web"} and c.labels == {"tier": "web"}
    assert "A=1" in attrs["Config"]["Env"] and "B=two words" in attrs["Config"]["Env"]
    assert (attrs["HostConfig"]["Memory"], attrs["HostConfig"]["NanoCpus"], attrs["HostConfig"]["PidsLimit"]) == (
        64 * 1024 * 1024, 500_000_000, 50)
    assert attrs["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "18081"}], "81/tcp": [{"HostIp": "", "HostPort": ""}],
        "82/udp": [{"HostIp": "127.0.0.1", "HostPort": "18082"}]}
    assert (attrs["Config"]["Entrypoint"], attrs["Config"]["Cmd"]) == (["/bin/sh", "-c"], ["sleep 30"])
    assert (attrs["Config"]["StopSignal"], attrs["Config"]["OpenStdin"], c.status) == ("SIGUSR1", True, "created")
    c.start()
    try:
        script = "id -un; pwd; hostname; cat /mnt/data; grep db /etc/hosts; touch /mnt/x 2>&1 || echo ro"
        code, out = c.exec_run(["sh", "-c", script], environment={"B": None})
        assert code == 0
        lines = out.decode().splitlines()
        assert lines[:4] == ["nobody", "/tmp", "box", "from the host"]
        assert "10.9.8.7" in lines[4] and lines[-1] == "ro"
    finally:
        c.remove(force=True)


def test_create_applies_namespace_and_limit_keywords(client):
    from corral.types import Ulimit

    c = client.containers.run("busybox", "sleep 30", detach=True, init=True, ulimits=[Ulimit(name="nofile", soft=99)],
                              sysctls={"kernel.shmmax": 65536}, group_add=["mail", 4321], ipc_mode="shareable",
                              uts_mode="host")
    try:
        script = "ulimit -n; cat /proc/sys/kernel/shmmax; id -G; cat /proc/1/cmdline | tr '\\0' ' '"
        lines = c.exec_run(["sh", "-c", script]).output.decode().splitlines()
        assert lines[:2] == ["99", "65536"] and {"12", "4321"} <= set(lines[2].split())
        assert lines[3].startswith("/sbin/docker-init -- sleep 30")
        assert c.exec_run("hostname").output.decode().strip() == os.uname().nodename
        assert c.attrs["HostConfig"]["IpcMode"] == "shareable"
        joined = client.containers.run("busybox", "sleep 30", detach=True, ipc_mode=f"container:{c.id}",
                                       pid_mode=f"container:{c.id}")
        assert b"sleep 30" in joined.exec_run("ps").output  # the other container's processes
        joined.remove(force=True)
    finally:
        c.remove(force=True)


def test_bad_keywords_name_the_argument(client):
    with pytest.raises(errors.UnexpectedArgument, match="run\\(\\) got an unexpected keyword argument 'bogus'"):
        client.containers.run("busybox", "true", bogus=1)
    with pytest.raises(TypeError):  # as docker-py's own TypeError, for code that catches that
        client.containers.create("busybox", "true", colour="red")
    with pytest.raises(errors.InvalidArgument, match="mem_limit must be int or str, not list"):
        client.containers.run("busybox", "true", mem_limit=[1])
    with pytest.raises(errors.InvalidArgument, match="environment must be dict or list or tuple, not int"):
        client.containers.create("busybox", "true", environment=3)
    with pytest.raises(errors.InvalidArgument, match="storage_opt: corral does not support storage options yet"):
        client.containers.run("busybox", "true", storage_opt={"size": "1G"})
    with pytest.raises(errors.InvalidArgument, match='"network" and "network_mode" can not be used together'):
        client.containers.run("busybox", "true", network="a", network_mode="b")
    with pytest.raises(errors.InvalidArgument, match="volumes: invalid volume specification: 'd@ta:/data'"):
        client.containers.create("busybox", "true", volumes=["d@ta:/data"])
    with pytest.raises(errors.UnexpectedArgument, match="container option ports must be a list, not dict"):
        client.api.create_container("busybox", ["true"], ports={"80/tcp": 8080})
    assert client.api.containers(all=True) == []


def test_engine_takes_a_command_line_as_docker_py_users_write_it(client):
    c = client.api.create_container("busybox", "sh -c 'echo hi; sleep 30'")
    assert c.spec["process"]["args"] == ["sh", "-c", "echo hi; sleep 30"]
    c.start()
    try:
        assert c.exec("cat /etc/hostname").stdout.decode().strip() == c.short_id
    finally:
        c.remove(force=True)


# ---------------------------------------------------------------- the Container model


def test_model_attributes_and_reload(client):
    c = client.containers.run("busybox", "sleep 30", detach=True, name="m1", labels=["a"])
    try:
        assert (c.id, c.short_id, c.name, c.labels, c.health) == (c.attrs["Id"], c.id[:12], "m1", {"a": ""},
                                                                  "unknown")
        assert c.attrs["State"]["Running"] is True and c.status == "running"
        c.pause()
        assert c.status == "running"  # attrs as read before: docker-py reads again only on reload()
        c.reload()
        assert c.status == "paused"
        c.unpause()
        c.reload()
        assert c.status == "running"
        assert client.containers.get("m1") == c and hash(client.containers.get(c.id[:8])) == hash(c)
        c.rename("m2")
        c.reload()
        assert c.name == "m2"
        c.kill(signal="SIGKILL")
        assert c.wait(timeout=10) == {"StatusCode": 137, "Error": None}
        c.reload()
        assert c.status == "exited"
        c.restart(timeout=1)
        c.reload()
        assert c.status == "running"
        c.stop(timeout=1)
        c.reload()
        assert c.attrs["State"]["ExitCode"] == 137
    finally:
        c.remove(force=True)


def test_wait_conditions_and_timeout(client):
    created = client.containers.create("busybox", "sh -c 'exit 4'")
    assert created.wait() == {"StatusCode": 0, "Error": None}  # not running: at once, as docker
    import threading

    later = threading.Timer(0.3, lambda: corral.Client(client.api.store.root).containers.get(created.id).start())
    later.start()  # another client (a store connection belongs to its thread), as another process would
    assert created.wait(condition="next-exit", timeout=10)["StatusCode"] == 4  # through the start that came
    later.join()
    with pytest.raises(errors.InvalidArgument, match="condition 'never'"):
        created.wait(condition="never")
    slow = client.containers.run("busybox", "sleep 30", detach=True)
    t0 = time.monotonic()
    with pytest.raises(errors.APIError, match="timed out"):
        slow.wait(timeout=0.3)
    assert time.monotonic() - t0 < 3
    slow.remove(force=True)
    created.remove()


def test_exec_run_shapes(client):
    c = client.containers.run("busybox", "sleep 30", detach=True, environment=["A=from-create"])
    try:
        assert c.exec_run("sh -c 'echo $A; echo e >&2; exit 3'") == (3, b"from-create\ne\n")
        r = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
        assert (r.exit_code, r.output) == (0, (b"o\n", b"e\n"))
        assert c.exec_run("sh -c 'echo o; echo e >&2'", stdout=False, demux=True).output == (None, b"e\n")
        assert c.exec_run("sh -c 'echo o; echo e >&2'", stderr=False).output == b"o\n"
        assert c.exec_run("tty", tty=True) == (0, b"/dev/pts/0\r\n")
        assert c.exec_run("pwd", workdir="/etc").output == b"/etc\n"
        assert c.exec_run("id -u", user="nobody").output == b"65534\n"
        assert c.exec_run("sh -c 'echo $A $B'", environment={"A": "x", "B": "y"}).output == b"x y\n"
        def effective(**kw: bool) -> int:
            return int(c.exec_run("grep CapEff /proc/self/status", **kw).output.split()[1], 16)

        assert effective(privileged=True) & ~effective() and not effective() & ~effective(privileged=True)
        streamed = c.exec_run("sh -c 'echo 1; echo 2'", stream=True)
        assert streamed.exit_code is None and b"".join(streamed.output) == b"1\n2\n"
        assert c.exec_run("sh -c 'echo done > /tmp/d'", detach=True) == (None, b"")
        _wait_for(lambda: c.exec_run("cat /tmp/d").output == b"done\n")
        missing = c.exec_run("nosuchcommand")
        assert missing.exit_code == 127 and b"executable file not found" in missing.output  # as docker's
        assert c.exec_run("/etc", stream=True).output.__next__().startswith(b"exec")
        with pytest.raises(errors.InvalidArgument, match="socket=True"):
            c.exec_run("true", socket=True)
        with pytest.raises(errors.UnexpectedArgument, match="cmd must be str or list or tuple, not int"):
            c.exec_run(5)
    finally:
        c.remove(force=True)


def test_logs_forms(client):
    c = client.containers.run("busybox", "sh -c 'echo one; echo two >&2; sleep 0.3; echo three'", detach=True)
    c.wait(timeout=10)
    assert c.logs() == b"one\ntwo\nthree\n"
    assert c.logs(stderr=False) == b"one\nthree\n"
    assert c.logs(stdout=False) == b"two\n"
    assert c.logs(tail=1) == b"three\n"
    stamped = c.logs(timestamps=True).splitlines()
    assert len(stamped) == 3 and stamped[0].endswith(b"Z one") and stamped[0][:2] == b"20"
    assert list(c.logs(stream=True)) == [b"one\n", b"two\n", b"three\n"]
    with pytest.raises(errors.InvalidArgument, match="tail must be 'all' or an int"):
        c.logs(tail="some")
    live = client.containers.run("busybox", "sh -c 'sleep 0.3; echo late'", detach=True)
    assert list(live.logs(stream=True, follow=True)) == [b"late\n"]  # followed until it exited
    c.remove()
    live.remove()


def test_attach_top_diff_export_commit(client):
    c = client.containers.run("busybox", "sh -c 'echo early; sleep 0.5; echo late; touch /new; sleep 30'",
                              detach=True)
    try:
        _wait_for(lambda: c.logs() == b"early\n")
        chunks = c.attach(stream=True, logs=True)
        assert next(chunks) == b"early\n" and next(chunks) == b"late\n"
        top = c.top()
        assert top["Titles"][:3] == ["UID", "PID", "PPID"] and any("sleep 30" in p[-1] for p in top["Processes"])
        _wait_for(lambda: {"Path": "/new", "Kind": 1} in c.diff())
        tar = tarfile.open(fileobj=io.BytesIO(b"".join(c.export(chunk_size=4096))))
        assert "new" in tar.getnames() and "bin/busybox" in tar.getnames()
        image = c.commit("snap", "1", message="first", author="A. Finn", changes="ENV X=1")
        assert image.tags == ["snap:1"] and image.short_id == image.id[:19]
        assert "X=1" in image.attrs["Config"]["Env"] and image.attrs["Author"] == "A. Finn"
    finally:
        c.remove(force=True)


def test_resize_sets_the_container_terminal(client):
    c = client.containers.run("busybox", "sh", detach=True, tty=True, stdin_open=True)
    try:
        c.resize(height=33, width=101)
        assert c.exec_run("stty -F /proc/1/fd/0 size").output == b"33 101\n"
        plain = client.containers.run("busybox", "sleep 30", detach=True)
        with pytest.raises(errors.Conflict, match="no terminal"):
            plain.resize(10, 10)
        plain.remove(force=True)
    finally:
        c.remove(force=True)


def test_list_filters_limit_and_prune(client):
    a = client.containers.run("busybox", "sleep 30", detach=True, name="la", labels={"tier": "web"})
    b = client.containers.create("busybox", "true", name="lb", labels={"tier": "db"})
    c = client.containers.run("busybox", "sh -c 'exit 2'", detach=True, name="lc")
    c.wait()
    try:
        assert [x.name for x in client.containers.list()] == ["la"]
        assert [x.name for x in client.containers.list(all=True)] == ["lc", "lb", "la"]
        assert [x.name for x in client.containers.list(limit=1)] == ["lc"]
        assert [x.name for x in client.containers.list(all=True, filters={"label": "tier=db"})] == ["lb"]
        assert [x.name for x in client.containers.list(filters={"status": ["created", "exited"]})] == ["lc", "lb"]
        assert [x.name for x in client.containers.list(all=True, filters={"exited": 2})] == ["lc"]
        assert [x.name for x in client.containers.list(since="la")] == ["lc", "lb"]
        assert [x.name for x in client.containers.list(before="lb")] == ["la"]
        with pytest.raises(errors.InvalidArgument, match="invalid filter 'colour'"):
            client.containers.list(filters={"colour": "red"})
        done = client.containers.prune(filters={"label": "tier=db"})
        assert done["ContainersDeleted"] == [b.id] and done["SpaceReclaimed"] >= 0
        assert client.containers.prune()["ContainersDeleted"] == [c.id]
        assert client.containers.prune() == {"ContainersDeleted": None, "SpaceReclaimed": 0}
    finally:
        a.remove(force=True)


def test_put_and_get_archive(client):
    c = client.containers.create("busybox", "sleep 30")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode, info.uid = 6, 0o640, 1234
        tar.addfile(info, io.BytesIO(b"hello\n"))
    assert c.put_archive("/tmp", data.getvalue()) is True  # a created container: not running
    c.start()
    try:
        chunks, stat = c.get_archive("/tmp/hello.txt", chunk_size=4)
        got = tarfile.open(fileobj=io.BytesIO(b"".join(chunks)))
        member = got.getmember("hello.txt")
        assert (member.mode & 0o777, member.uid, got.extractfile(member).read()) == (0o640, 1234, b"hello\n")
        assert (stat["name"], stat["size"], stat["mode"] & 0o777) == ("hello.txt", 6, 0o640)
        assert c.exec_run("cat /tmp/hello.txt").output == b"hello\n"
        with pytest.raises(errors.NotFound, match="Could not find the file /nope"):
            c.get_archive("/nope")
        with pytest.raises(errors.InvalidArgument, match="encode_stream"):
            c.get_archive("/tmp", encode_stream=True)
    finally:
        c.remove(force=True)


def test_stats_and_update(client):
    c = client.containers.run("busybox", "sleep 30", detach=True, mem_limit="64m")
    try:
        sample = c.stats(stream=False, one_shot=True)
        assert sample["id"] == c.id and sample["name"] == "/" + c.name
        assert sample["memory_stats"]["limit"] == 64 * 1024 * 1024 and sample["pids_stats"]["current"] >= 1
        stream = c.stats(decode=True)
        first, second = next(stream), next(stream)
        assert first["precpu_stats"].get("system_cpu_usage", 0) == 0 and second["precpu_stats"]["system_cpu_usage"] > 0
        raw = next(c.stats())
        assert raw.startswith(b"{") and b'"memory_stats"' in raw
        assert c.update(mem_limit="96m", cpu_shares=512) == {"Warnings": []}
        c.reload()
        assert (c.attrs["HostConfig"]["Memory"], c.attrs["HostConfig"]["CpuShares"]) == (96 * 1024 * 1024, 512)
        assert c.stats(stream=False, one_shot=True)["memory_stats"]["limit"] == 96 * 1024 * 1024
        with pytest.raises(errors.InvalidArgument, match="unknown policy 'sometimes'"):
            c.update(restart_policy={"Name": "sometimes"})
        with pytest.raises(errors.UnexpectedArgument, match="update\\(\\) got unexpected keyword argument"):
            c.update(colour="red")
    finally:
        c.remove(force=True)


# ---------------------------------------------------------------- images


def test_images_get_list_tag_history_save_load_remove(client, busybox):
    image = client.images.get("busybox:latest")
    assert image.tags == ["busybox:latest"] and image.labels == {} and repr(image) == "<Image: 'busybox:latest'>"
    assert image.tag("mine", "v1") is True
    image.reload()
    assert sorted(image.tags) == ["busybox:latest", "mine:v1"]
    assert [i.id for i in client.images.list(name="mine")] == [image.id]
    assert image.history()[0]["Id"] == image.id
    data = b"".join(image.save(named="mine:v1"))
    assert client.images.remove("mine:v1") == [{"Untagged": "mine:v1"}]
    loaded = client.images.load(data)
    assert [i.id for i in loaded] == [image.id] and "mine:v1" in loaded[0].tags
    with pytest.raises(errors.APIError, match="none is configured: list them as unqualified-search-registries"):
        client.images.pull("busybox")  # no search registry configured here (tests/test_registry_push.py pulls)


def test_images_build_from_path_and_fileobj(client, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nARG WHO=nobody\nRUN echo hi $WHO > /greeting\n")
    image, logs = client.images.build(path=str(tmp_path), tag="app:1", buildargs={"WHO": "you"})
    assert image.tags == ["app:1"]
    assert any("aux" in e for e in logs)
    assert client.containers.run("app:1", "cat /greeting", remove=True) == b"hi you\n"
    image2, _ = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nLABEL a=b\n"), tag="app:2")
    assert image2.labels == {"a": "b"}
    with pytest.raises(errors.BuildError) as e:
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 7\n"))
    assert "non-zero code: 7" in str(e.value) and any("error" in line for line in e.value.build_log)
    with pytest.raises(errors.InvalidArgument, match="give either path or fileobj"):
        client.images.build()


# ---------------------------------------------------------------- networks


def test_networks_create_connect_remove(client):
    ipam = IPAMConfig(pool_configs=[IPAMPool(subnet="10.213.7.0/24", gateway="10.213.7.1")])
    net = client.networks.create("pylab", driver="bridge", ipam=ipam, labels={"k": "v"})
    try:
        assert (net.name, net.attrs["IPAM"]["Config"]) == ("pylab", [{"Subnet": "10.213.7.0/24",
                                                                      "Gateway": "10.213.7.1"}])
        c = client.containers.run("busybox", "sleep 30", detach=True, network="pylab")
        net.reload()
        assert [x.id for x in net.containers] == [c.id]
        second = client.networks.create("pylab2", ipam={"Config": [{"Subnet": "10.213.8.0/24"}]})
        other = client.containers.run("busybox", "sleep 30", detach=True, network="pylab2")
        net.connect(other, ipv4_address="10.213.7.50", aliases=["buddy"])
        assert b"10.213.7.50" in other.exec_run("ip -4 addr").output
        assert c.exec_run("ping -c1 -W2 buddy").exit_code == 0
        net.disconnect(other)
        assert b"10.213.7.50" not in other.exec_run("ip -4 addr").output
        assert client.networks.get("pylab") == net
        for x in (c, other):
            x.remove(force=True)
        second.remove()
    finally:
        for x in client.containers.list(all=True):
            x.remove(force=True)
        net.remove()
    with pytest.raises(errors.NotFound):
        client.networks.get("pylab")
    with pytest.raises(errors.InvalidArgument, match="driver 'overlay'"):
        client.networks.create("x", driver="overlay")


# ---------------------------------------------------------------- the client


def test_client_from_env_ping_version_info_df(busybox):
    client = corral.from_env(environment={"CORRAL_ROOT": busybox.root}, timeout=30, version="auto")
    assert client.ping() is True and client.api.store.root == busybox.root
    assert corral.DockerClient is corral.Client
    version = client.version()
    assert version["Version"] == corral.__version__ and version["Os"] == "linux" and version["ApiVersion"]
    c = client.containers.run("busybox", "sleep 30", detach=True)
    try:
        info = client.info()
        assert (info["Containers"], info["ContainersRunning"], info["Images"]) == (1, 1, 1)
        df = client.df()
        assert [i["RepoTags"] for i in df["Images"]] == [["busybox:latest"]] and df["Images"][0]["Containers"] == 1
        assert [x["Id"] for x in df["Containers"]] == [c.id] and df["LayersSize"] > 0 and df["Volumes"] == []
    finally:
        c.remove(force=True)
    stream = client.events(since=0, until=time.time() + 0.1, decode=True)  # tests/test_events.py has the rest
    assert [e["Action"] for e in stream if e["Actor"]["ID"] == c.id][-1] == "destroy"


@pytest.mark.unit
def test_error_tree_is_docker_pys_inside_corrals():
    assert errors.DockerException is errors.CorralError
    for cls, parent in ((errors.APIError, errors.DockerException), (errors.NotFound, errors.APIError),
                        (errors.ImageNotFound, errors.NotFound), (errors.ContainerError, errors.DockerException),
                        (errors.BuildError, errors.DockerException), (errors.InvalidArgument, errors.DockerException),
                        (errors.UnexpectedArgument, TypeError)):
        assert issubclass(cls, parent), cls
    e = errors.NotFound("No such container: x")
    assert (e.status_code, e.explanation, e.is_client_error(), e.is_server_error(), e.response) == (
        404, "No such container: x", True, False, None)
    assert errors.APIError("boom").is_server_error()
