"""`corral serve` under tools built on docker-py (issue 18, slice 4): testcontainers-python with a
published port and a log wait strategy, cleaned up after, Ryuk off (TESTCONTAINERS_RYUK_DISABLED)."""
from __future__ import annotations

import urllib.request

import servefix

served = servefix.served


def test_testcontainers_port_and_log_wait(served, monkeypatch):
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    for key, value in (("DOCKER_HOST", served.url), ("TESTCONTAINERS_RYUK_DISABLED", "true"),
                       # /.dockerenv exists on these hosts: without this testcontainers looks for a gateway
                       ("TESTCONTAINERS_CONNECTION_MODE", "docker_host")):
        monkeypatch.setenv(key, value)
    script = "mkdir -p /www; echo hello-tc > /www/index.html; echo ready; exec httpd -f -p 80 -h /www"
    box = DockerContainer("busybox", command=["sh", "-c", script]).with_exposed_ports(80)
    with box.waiting_for(LogMessageWaitStrategy("ready")):
        port = box.get_exposed_port(80)
        host = box.get_container_host_ip()
        assert urllib.request.urlopen(f"http://{host}:{port}/", timeout=10).read() == b"hello-tc\n"
        assert served.cli.out("ps", "--format", "{{.Status}}").startswith("Up ")
    assert served.out("ps", "-aq") == ""  # stop() removed it
