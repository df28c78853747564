"""`corral serve` under tools built on docker-py (issue 18, slice 4): testcontainers-python with a
published port and a log wait strategy, cleaned up after, Ryuk off (TESTCONTAINERS_RYUK_DISABLED); and
docker-compose 1.29 with two services, a named volume and a published port."""
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


COMPOSE = """\
version: "3"
services:
  web:
    image: busybox
    command: sh -c "mkdir -p /www && echo hello-compose > /www/index.html && exec httpd -f -p 80 -h /www"
    ports:
      - "127.0.0.1:{port}:80"
    volumes:
      - data:/data
  client:
    image: busybox
    command: sh -c "until wget -qO- http://web/ > /data/got; do sleep 0.2; done; echo fetched; sleep 300"
    volumes:
      - data:/data
volumes:
  data:
networks:
  default:
    ipam:
      config:
        - subnet: 10.238.9.0/24
"""


def test_docker_compose_two_services_a_volume_and_a_port(served, tmp_path):
    """docker-compose 1.29 (Debian's, on its own docker-py): up -d, ps, exec, logs, down -v; the client
    reaches the web server by its service name, the port is published on the host."""
    import socket
    import subprocess
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "docker-compose.yml").write_text(COMPOSE.format(port=port))

    def compose(*args: str) -> str:
        proc = subprocess.run(["docker-compose", "-p", "srvcompose", *args], cwd=tmp_path, env=served.env,
                              capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout.decode()

    try:
        compose("up", "-d")
        listed = compose("ps")
        assert "srvcompose_web_1" in listed and "srvcompose_client_1" in listed and f":{port}->80/tcp" in listed
        deadline = time.monotonic() + 30
        while "fetched" not in compose("logs", "client") and time.monotonic() < deadline:
            time.sleep(0.3)
        assert compose("exec", "-T", "client", "cat", "/data/got") == "hello-compose\n"
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read() == b"hello-compose\n"
    finally:
        compose("down", "-v")
    assert served.out("ps", "-aq") == "" and served.out("volume", "ls", "-q") == ""
    assert "srvcompose_default" not in served.out("network", "ls")
