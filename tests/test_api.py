"""The Python API, as a script would use it (and as the README shows it)."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import SRC


def test_readme_script(busybox):
    script = """
from corral.api import Host
host = Host()
c = host.create_container("busybox", ["sleep", "60"], name="web2")
c.start()
print(c.exec(["hostname"]).stdout.decode().strip() == c.id[:12], c.status)
c.remove(force=True)
print(len(host.containers(all=True)))
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, env=busybox.env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"True running\n0\n"


def test_exec_result_stdin_and_errors(busybox):
    sys.path.insert(0, SRC)
    os.environ["CORRAL_ROOT"] = busybox.root
    try:
        from corral.api import Host
        from corral.errors import CommandNotFound, Conflict, NotFound

        host = Host(busybox.root)
        c = host.create_container("busybox", ["sleep", "60"], name="api1", env=["A=1"])
        try:
            import pytest

            with pytest.raises(Conflict):
                c.exec(["true"])
            c.start()
            code, out, err = c.exec(["sh", "-c", "cat; echo $A; echo oops >&2; exit 4"], stdin=b"in\n")
            assert (code, out, err) == (4, b"in\n1\n", b"oops\n")
            assert c.exec(["id", "-u"], user="nobody").stdout == b"65534\n"
            with pytest.raises(CommandNotFound):
                c.exec(["nosuch"])
            assert host.container(c.id[:8]).name == "api1"
            with pytest.raises(NotFound):
                host.container("nope")
            c.stop(timeout=0)
            assert c.wait() == 137
        finally:
            c.remove(force=True)
        assert host.image("busybox").tags == ["busybox:latest"]
    finally:
        del os.environ["CORRAL_ROOT"]



def test_an_image_names_its_containers_as_id_name_and_state(busybox):
    script = """
from corral.api import Host
host = Host()
c = host.create_container("busybox", ["true"], name="user1")
print(host.image("busybox").users() == [(c.id, "user1", "created")])
c.remove()
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, env=busybox.env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"True\n"
