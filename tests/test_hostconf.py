"""The host's default isolation (corral.conf beside registries.conf): run/create/the API take it when no
--isolation is given, an explicit one wins, pods and build steps keep the shared kernel, `info` shows it,
and a malformed file is one clear line."""
from __future__ import annotations

import os

import pytest

from corral.api import Host
from corral.api.hostconf import conf_path, default_isolation
from corral.errors import InvalidArgument


@pytest.fixture
def conf_dir(tmp_path, monkeypatch):
    """A conf directory of the test's own (registries.conf's override names it), for this process and the CLI."""
    d = tmp_path / "etc"
    d.mkdir()
    monkeypatch.setenv("CORRAL_REGISTRIES_CONF", str(d / "registries.conf"))
    return d


@pytest.mark.unit
def test_the_file_sits_beside_registries_conf_and_is_checked(conf_dir):
    assert conf_path() == str(conf_dir / "corral.conf")
    assert default_isolation() == "process"  # no file
    (conf_dir / "corral.conf").write_text('isolation = "vm"\n')
    assert default_isolation() == "vm"
    (conf_dir / "corral.conf").write_text("# nothing said\n")
    assert default_isolation() == "process"
    for text, said in (('isolation = "hyperv"\n', "isolation must be \"process\" or \"vm\", not 'hyperv'"),
                       ('isolaton = "vm"\n', "unknown key 'isolaton'"), ("isolation = vm\n", "cannot read")):
        (conf_dir / "corral.conf").write_text(text)
        with pytest.raises(InvalidArgument, match=said) as e:
            default_isolation()
        assert str(conf_dir / "corral.conf") in str(e.value)


def test_run_create_and_the_api_take_the_hosts_default(busybox, conf_dir):
    busybox.env["CORRAL_REGISTRIES_CONF"] = os.environ["CORRAL_REGISTRIES_CONF"]
    assert "Default Isolation: process" in busybox.out("info")
    (conf_dir / "corral.conf").write_text('isolation = "vm"\n')
    assert "Default Isolation: vm" in busybox.out("info")
    assert busybox.out("info", "-f", "{{.Isolation}}").strip() == "vm"
    r = busybox("run", "--rm", "busybox", "uname", "-r")  # a guest: its own kernel
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() not in ("", os.uname().release)
    made = busybox.out("create", "busybox", "true").strip()
    given = busybox.out("create", "--isolation=process", "busybox", "true").strip()
    assert busybox.out("inspect", "-f", "{{.HostConfig.Isolation}}", made, given).split() == ["vm"]  # "" for process
    host = Host(busybox.root)  # the Engine API's create (an empty HostConfig.Isolation) goes through here
    assert host.create_container("busybox", ["true"]).inspect()["HostConfig"]["Isolation"] == "vm"
    assert host.create_container("busybox", ["true"], isolation="default").inspect()["HostConfig"]["Isolation"] == "vm"
    assert host.create_container("busybox", ["true"], isolation="process").inspect()["HostConfig"]["Isolation"] == ""
    member = busybox.out("create", "--pod", "new:p1", "busybox", "true").strip()  # a pod shares namespaces: no VM
    assert busybox.out("inspect", "-f", "{{.HostConfig.Isolation}}.", member).strip() == "."
    ctx = conf_dir / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN uname -r > /built-on\n")
    busybox.out("build", "-q", "-t", "built", str(ctx))  # a build step shares the host's kernel
    r = busybox("run", "--rm", "--isolation=process", "built", "cat", "/built-on")
    assert r.stdout.decode().strip() == os.uname().release, r.stderr
    (conf_dir / "corral.conf").write_text('isolation = "kvm"\n')
    r = busybox("create", "busybox", "true")
    assert r.returncode == 125 and r.stderr.decode().count("\n") == 1, r.stderr
    assert "isolation must be" in r.stderr.decode() and str(conf_dir) in r.stderr.decode()
    busybox.out("pod", "rm", "-f", "p1")
