"""Pure logic under `corral serve`: docker's create and exec bodies read as the engine's options
(corral.api.bodies), moby's BoolValue and both filter forms, docker's stream frames, -H values."""
from __future__ import annotations

import json
import sys

import pytest

from conftest import SRC

sys.path.insert(0, SRC)

from corral.api.bodies import create_arguments, exec_arguments  # noqa: E402
from corral.errors import InvalidArgument  # noqa: E402

pytestmark = pytest.mark.unit

# what docker CLI 28.2.2 sent for `docker run -d --name web -p 8080:80 -e A=1 -v /tmp:/data busybox echo hi`
# (every HostConfig field at its zero, as the CLI sends them; docker-api-notes §3)
CLI_BODY = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "ExposedPorts": {"80/tcp": {}}, "Tty": False, "OpenStdin": False, "StdinOnce": False,
    "Env": ["A=1"], "Cmd": ["echo", "hi"], "Image": "busybox", "Volumes": {}, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": {},
    "HostConfig": {
        "Binds": ["/tmp:/data"], "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False, "VolumeDriver": "",
        "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None, "CapDrop": None, "CgroupnsMode": "",
        "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "IpcMode": "",
        "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
        "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "",
        "ShmSize": 0, "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
        "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "CpuPeriod": 0, "CpuQuota": 0,
        "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": None, "DeviceRequests": None,
        "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": -1, "OomKillDisable": False,
        "PidsLimit": None, "Ulimits": [], "MaskedPaths": None, "ReadonlyPaths": None,
    },
    "NetworkingConfig": {"EndpointsConfig": {"default": {"IPAMConfig": None, "Links": None, "Aliases": None,
                                                         "MacAddress": "", "DriverOpts": None, "GwPriority": 0}}},
}


def test_the_clis_create_body_becomes_the_options_its_flags_mean():
    image, cmd, options = create_arguments(json.loads(json.dumps(CLI_BODY)))
    assert (image, cmd) == ("busybox", ["echo", "hi"])
    assert options["env"] == ["A=1"] and options["ports"] == ["8080:80/tcp"] and options["expose"] == ["80/tcp"]
    assert options["network"] == "default"
    assert [(m["type"], m["source"], m["target"]) for m in options["mounts"]] == [("bind", "/tmp", "/data")]
    for unset in ("memory", "cpus", "pids_limit", "ipc", "shm_size", "entrypoint", "autoremove", "labels"):
        assert unset not in options, unset


def test_docker_py_and_compose_shapes():
    image, cmd, options = create_arguments({
        "Image": "busybox", "Cmd": "true", "Entrypoint": [""], "Tty": True, "OpenStdin": True,
        "Labels": {"a": "b"}, "Volumes": {"/anon": {}}, "StopTimeout": 3,
        "HostConfig": {"NetworkMode": "proj_default", "AutoRemove": True, "Memory": 64 << 20, "NanoCpus": 500000000,
                       "PortBindings": {"80/tcp": [{}], "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
                       "Mounts": [{"Type": "volume", "Source": "data", "Target": "/data"}], "Init": True},
        "NetworkingConfig": {"EndpointsConfig": {"proj_default": {"Aliases": ["web"]}}}})
    assert cmd == ["true"] and options["entrypoint"] == [] and options["tty"] and options["interactive"]
    assert options["labels"] == {"a": "b"} and options["stop_timeout"] == 3 and options["init"]
    assert options["network"] == "proj_default" and options["network_aliases"] == ["web"]
    assert options["memory"] == 64 << 20 and options["cpus"] == 0.5 and options["autoremove"]
    assert sorted(options["ports"]) == ["127.0.0.1::53/udp", "80/tcp"]
    assert sorted((m["type"], m.get("source"), m["target"]) for m in options["mounts"])[1][1:] == ("data", "/data")


@pytest.mark.parametrize("body, word", [
    ({"HostConfig": {"RestartPolicy": {"Name": "always"}}}, "restart"),
    ({"HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}}, "SecurityOpt"),
    ({"HostConfig": {"LogConfig": {"Type": "syslog"}}}, "json-file"),
    ({"Domainname": "example.com"}, "Domainname"),
    ({"HostConfig": {"Links": ["a:b"]}}, "Links"),
    ({"Image": ""}, "image name is required"),
    ({"Cmd": 5}, "Cmd"),
])
def test_what_corral_does_not_apply_is_refused_by_name(body, word):
    full = dict({"Image": "busybox"}, **body)
    with pytest.raises(InvalidArgument, match=word):
        create_arguments(full)


def test_exec_bodies_of_the_cli_and_docker_py():
    cli = exec_arguments({"User": "", "Privileged": False, "Tty": True, "AttachStdin": True, "AttachStderr": True,
                          "AttachStdout": True, "Detach": False, "DetachKeys": "", "Env": None, "WorkingDir": "",
                          "Cmd": ["sh"], "ConsoleSize": [30, 100]})
    assert cli["cmd"] == ["sh"] and cli["tty"] and cli["stdin"] and cli["console"] == [30, 100]
    assert cli["user"] is None and cli["env"] == [] and cli["workdir"] is None
    py = exec_arguments({"Container": "x", "User": "1000", "Privileged": False, "Tty": False, "AttachStdin": False,
                         "AttachStdout": True, "AttachStderr": False, "Cmd": ["ls", "/"], "Env": ["A=1"]})
    assert py["user"] == "1000" and not py["stderr"] and py["env"] == ["A=1"]
    with pytest.raises(InvalidArgument, match="No exec command"):
        exec_arguments({"Cmd": []})


def _request(target: str):  # noqa: ANN202 - a corral.server.http.Request
    import h11

    from corral.server.http import Request

    return Request(None, h11.Request(method="GET", target=target, headers=[("Host", "x")]))


def test_booleans_versions_and_filters_as_moby_reads_them():
    req = _request("/v1.44/containers/json?all=True&size=False&a=0&b=no&c=none&d=1&e=yes&f=&"
                   "filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D")
    assert req.version == "1.44" and req.path == "/containers/json"
    assert req.flag("all") and not req.flag("size") and not req.flag("a") and not req.flag("b")
    assert not req.flag("c") and req.flag("d") and req.flag("e") and not req.flag("f") and not req.flag("missing")
    assert req.filters() == {"status": ["exited"]}
    py = _request('/containers/json?filters={"id":["abc"],"label":["x=1"]}')
    assert py.version is None and py.filters() == {"id": ["abc"], "label": ["x=1"]}


def test_stream_frames_and_hosts():
    from corral.server.listen import parse_host
    from corral.server.streams import frame

    assert frame(1, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert frame(2, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"
    assert parse_host("unix:///run/corral.sock") == ("unix", "/run/corral.sock")
    assert parse_host("tcp://127.0.0.1:2376") == ("tcp", ("127.0.0.1", 2376))
    for bad in ("unix://relative.sock", "tcp://nohost", "http://x:1"):
        with pytest.raises(InvalidArgument):
            parse_host(bad)
