"""--userns (issue 20 item 4, the part built): `host` is what corral does for every container, so it is
accepted (compose files and docker-py's userns_mode="host" say it) and shown by inspect; every other mode
(auto, keep-id, ...) is refused in one line that says what is not built, from the CLI, docker-py's keyword
and the Engine API's HostConfig alike. The container runs in the host's user namespace either way."""
from __future__ import annotations

import os

import pytest

REFUSED = ("Error: --userns=auto is not supported: corral runs every container in the host's user namespace "
           "(--userns=host, the default); user-namespaced containers (--userns=auto, with ranges from /etc/subuid) "
           "are not built yet")


def test_userns_host_is_the_hosts_user_namespace_and_inspect_says_so(busybox):
    cid = busybox.out("run", "-d", "--userns=host", "busybox", "sleep", "60").strip()
    try:
        assert busybox.out("inspect", "-f", "{{.HostConfig.UsernsMode}}", cid) == "host\n"
        pid = int(busybox.out("inspect", "-f", "{{.State.Pid}}", cid))
        assert os.readlink(f"/proc/{pid}/ns/user") == os.readlink("/proc/self/ns/user")
        assert busybox.out("exec", cid, "cat", "/proc/self/uid_map").split() == ["0", "0", "4294967295"]
    finally:
        busybox.out("rm", "-f", cid)


@pytest.mark.parametrize("mode", ["auto", "keep-id", "private"])
def test_other_modes_are_refused_in_one_line_and_nothing_is_made(busybox, mode):
    r = busybox("run", f"--userns={mode}", "busybox", "true")
    assert r.returncode == 125
    assert r.stderr.decode().splitlines() == [REFUSED.replace("--userns=auto is", f"--userns={mode} is")]
    assert busybox.out("ps", "-aq") == ""


@pytest.mark.unit
def test_docker_py_and_the_engine_api_take_host_and_refuse_the_others():
    from corral.api.bodies import create_arguments
    from corral.api.models.create import create_options
    from corral.errors import InvalidArgument
    from corral.runtime.options import ContainerOptions

    assert create_arguments({"Image": "busybox", "HostConfig": {"UsernsMode": "host"}})[2]["userns"] == "host"
    assert create_options("run", {"userns_mode": "host"})["userns"] == "host"
    for options in (create_arguments({"Image": "busybox", "HostConfig": {"UsernsMode": "auto"}})[2],
                    create_options("run", {"userns_mode": "auto"})):
        with pytest.raises(InvalidArgument, match="--userns=auto is not supported"):
            ContainerOptions(**options).check()
