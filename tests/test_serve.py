"""`corral serve` (issue 18, slice 1): the socket (mode, group, a live owner refused, a stale one
replaced, removed at stop), TCP only with mutual TLS, version negotiation and the headers clients read,
docker's JSON errors, chunked bodies both ways, hijacking with half-close, and a malformed request
costing only its own connection. Raw HTTP where the exact bytes matter (docker-api-notes §0)."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time

import servefix
from conftest import CORRAL
from servefix import Served, read_response

served = servefix.served


def _head(response: bytes) -> tuple[str, dict[str, str]]:
    head = response.partition(b"\r\n\r\n")[0].decode()
    lines = head.split("\r\n")
    return lines[0], {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}


def _body(response: bytes) -> bytes:
    head, _, body = response.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, body = out + rest[:n], rest[n + 2:]
    return out


# the socket ----------------------------------------------------------------------------------------------


def test_socket_is_0660_root_and_gone_after_stop(busybox, tmp_path):
    server = Served(busybox, str(tmp_path))
    st = os.stat(server.sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")], "the temporary bind name was left"
    server.stop()


def test_group_owns_the_socket(busybox, tmp_path):
    import grp

    group = next(g for g in grp.getgrall() if g.gr_gid != 0)
    server = Served(busybox, str(tmp_path), "--group", group.gr_name)
    try:
        assert os.stat(server.sock).st_gid == group.gr_gid
    finally:
        server.stop()


def test_a_live_server_is_refused_and_a_stale_socket_replaced(served, tmp_path):
    second = subprocess.run(CORRAL + ["serve", "--host", served.url], env=served.cli.env, capture_output=True,
                            timeout=30)
    assert second.returncode != 0 and b"another server is listening" in second.stderr
    assert served.answers()  # the first one keeps its socket
    stale = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(stale)
    s.close()  # a dead server's socket: nobody listens
    replaced = subprocess.Popen(CORRAL + ["serve", "--host", "unix://" + stale], env=served.cli.env,
                                stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(stale)
                break
            except OSError:
                assert replaced.poll() is None and time.monotonic() < deadline, replaced.stderr.read()
                time.sleep(0.02)
            finally:
                probe.close()
    finally:
        replaced.terminate()
        replaced.wait(15)
    assert not os.path.exists(stale)


def test_plain_tcp_is_refused(busybox):
    proc = subprocess.run(CORRAL + ["serve", "--host", "tcp://127.0.0.1:23750"], env=busybox.env, capture_output=True,
                          timeout=30)
    assert proc.returncode != 0 and b"without --tlsverify" in proc.stderr


def _certs(d: str) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, with openssl."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=corral-test-ca")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("cert", "extendedKeyUsage=clientAuth")):
        key = "key.pem" if name == "cert" else f"{name}-key.pem"
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", f"{name}.csr", "-subj", f"/CN={name}")
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(ext + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return {n: os.path.join(d, n) for n in ("ca.pem", "server.pem", "server-key.pem", "cert.pem", "key.pem")}


def test_tcp_with_mutual_tls(busybox, tmp_path):
    certs = _certs(str(tmp_path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(CORRAL + ["serve", "--host", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert",
                                      certs["ca.pem"], "--tlscert", certs["server.pem"], "--tlskey",
                                      certs["server-key.pem"]], env=busybox.env, stderr=subprocess.PIPE)
    try:
        env = dict(busybox.env, DOCKER_HOST=f"tcp://127.0.0.1:{port}", DOCKER_TLS_VERIFY="1",
                   DOCKER_CERT_PATH=str(tmp_path), DOCKER_CONFIG=str(tmp_path / "cfg"))
        deadline = time.monotonic() + 15
        while True:
            out = subprocess.run(["docker", "version", "--format", "{{.Server.APIVersion}}"], env=env,
                                 capture_output=True, timeout=30)
            if out.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert out.returncode == 0 and out.stdout.strip() == b"1.50", out.stderr
        run = subprocess.run(["docker", "run", "--rm", "busybox", "echo", "over tls"], env=env, capture_output=True,
                             timeout=60)
        assert run.returncode == 0 and run.stdout == b"over tls\n", run.stderr
        # without a client certificate the handshake fails: no answer
        bare = dict(env, DOCKER_TLS_VERIFY="", DOCKER_CERT_PATH="")
        refused = subprocess.run(["docker", "--tls", "--tlscacert", certs["ca.pem"], "version"], env=bare,
                                 capture_output=True, timeout=30)
        assert refused.returncode != 0
    finally:
        proc.terminate()
        proc.wait(15)


# negotiation and headers -----------------------------------------------------------------------------------


def test_ping_carries_api_version_head_get_and_versioned(served):
    for request in (b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /v1.44/_ping HTTP/1.1\r\nHost: x\r\n\r\n"):
        response = served.raw(request)
        status, headers = _head(response)
        assert status == "HTTP/1.1 200 OK"
        assert headers["api-version"] == "1.50" and headers["ostype"] == "linux"
        assert headers["server"].endswith("(linux)") and headers["builder-version"] == "1"
        assert headers["swarm"] == "inactive"
        if request.startswith(b"HEAD"):
            assert headers["content-length"] == "0"
        else:
            assert _body(response) == b"OK"
    version = json.loads(_body(served.raw(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")))
    assert version["ApiVersion"] == "1.50" and version["MinAPIVersion"] == "1.24"
    assert [c["Name"] for c in version["Components"]] == ["Engine"]
    # any /v1.NN/ prefix is accepted
    for v in ("1.24", "1.44", "1.50", "1.99"):
        assert json.loads(_body(served.raw(f"GET /v{v}/version HTTP/1.1\r\nHost: x\r\n\r\n".encode())))


def test_docker_cli_negotiates_without_downgrade(served):
    out = served.out("version")
    assert "API version:       1.50\n" in out and "downgraded" not in out
    info = served.out("info", "--format", "{{.Swarm.LocalNodeState}} {{.Images}} {{.OSType}}")
    assert info.strip() == "inactive 1 linux"


def test_errors_are_docker_json_with_the_exact_content_type(served):
    response = served.raw(b"GET /v1.50/containers/nosuch/json HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers = _head(response)
    assert status.startswith("HTTP/1.1 404") and headers["content-type"] == "application/json"
    assert json.loads(_body(response)) == {"message": "No such container: nosuch"}
    proc = served.docker("inspect", "--type", "container", "nosuch")
    assert proc.returncode == 1 and b"No such container: nosuch" in proc.stderr
    proc = served.docker("create", "nosuchimage:1")  # 404 "No such image" is what makes the CLI pull
    assert b"Unable to find image 'nosuchimage:1' locally" in proc.stderr
    proc = served.docker("run", "--rm", "--name", "dup", "busybox", "true")
    assert proc.returncode == 0
    served.out("create", "--name", "dup", "busybox")
    proc = served.docker("create", "--name", "dup", "busybox")
    assert proc.returncode != 0 and b'The container name "/dup" is already in use' in proc.stderr
    served.out("rm", "dup")


def test_a_malformed_request_gets_400_and_costs_only_its_connection(served):
    response = served.raw(b"GET /_ping HTTP/1.1\r\nHost x no colon\r\n\r\n")
    status, headers = _head(response)
    assert status.startswith("HTTP/1.1 400") and headers["content-type"] == "application/json"
    assert "message" in json.loads(_body(response))
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(served.sock)
    s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
    assert read_response(s).startswith(b"HTTP/1.1 400")
    assert s.recv(10) == b""  # that connection is closed
    s.close()
    assert _body(served.raw(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")) == b"OK"  # the server is not
    # a body beyond the bound is refused, not read into memory
    big = served.raw(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n"
                     b"Content-Type: application/json\r\n\r\n" + b" " * 1000)
    assert _head(big)[0].startswith("HTTP/1.1 413")


def test_keep_alive_serves_several_requests_on_one_connection(served):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(served.sock)
    try:
        for _ in range(3):
            s.sendall(b"GET /v1.50/_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _body(read_response(s)) == b"OK"
    finally:
        s.close()


def test_chunked_request_body_and_chunked_stream_response(served):
    import io
    import tarfile

    cid = served.out("run", "-d", "busybox", "sleep", "60").strip()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("chunked.txt")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"12345"))
    data = buf.getvalue()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 1000]), data[i:i + 1000])
                      for i in range(0, len(data), 1000))
    response = served.raw(f"PUT /v1.50/containers/{cid}/archive?path=%2Ftmp HTTP/1.1\r\nHost: x\r\n"
                          "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n".encode()
                          + chunks + b"0\r\n\r\n")
    assert _head(response)[0] == "HTTP/1.1 200 OK"
    assert served.out("exec", cid, "cat", "/tmp/chunked.txt") == "12345"
    response = served.raw(f"GET /v1.50/containers/{cid}/logs?stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, headers = _head(response)
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"] == "application/vnd.docker.multiplexed-stream"
    served.out("rm", "-f", cid)


def test_wait_answers_its_head_at_once(served):
    cid = served.out("create", "busybox", "sleep", "1").strip()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(served.sock)
    try:
        s.sendall(f"POST /v1.50/containers/{cid}/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 200")  # before the container even started
        served.out("start", cid)
        rest = head.partition(b"\r\n\r\n")[2]
        while b"0\r\n\r\n" not in rest:
            rest += s.recv(4096)
        assert b'"StatusCode": 0' in rest
    finally:
        s.close()
    served.out("rm", cid)


def test_hijack_answers_101_and_half_close_is_not_a_hang_up(served):
    """The CLI's attach: 101 UPGRADED with the multiplexed type, the client shuts its writing side at
    once, the output still comes in docker's frames, and the stream ends when the process exits."""
    import struct

    cid = served.out("create", "busybox", "sh", "-c", "sleep 0.3; echo out; echo err >&2; exit 4").strip()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(served.sock)
    s.sendall(f"POST /v1.50/containers/{cid}/attach?stderr=1&stdout=1&stream=1 HTTP/1.1\r\nHost: x\r\n"
              "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 101 UPGRADED"
    assert b"Content-Type: application/vnd.docker.multiplexed-stream" in lines
    assert b"Upgrade: tcp" in lines and b"Connection: Upgrade" in lines
    s.shutdown(socket.SHUT_WR)
    assert served.docker("start", cid).returncode == 0
    data = head.partition(b"\r\n\r\n")[2]
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    frames = []
    while data:
        kind, size = struct.unpack(">BxxxI", data[:8])
        frames.append((kind, data[8:8 + size]))
        data = data[8 + size:]
    assert (1, b"out\n") in frames and (2, b"err\n") in frames
    assert served.out("wait", cid).strip() == "4"
    served.out("rm", cid)
