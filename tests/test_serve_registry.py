"""`corral serve` and registries: docker pull and push (the real docker CLI, docker-py) through the server
to Debian's docker-registry on 127.0.0.1, docker import, GET /distribution, registry credentials in
X-Registry-Auth, and errors where dockerd gives them (a status code before any progress, in-band after)."""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess

import pytest

import servefix
from tests.registryd import Registry
from tests.test_serve import _body

served = servefix.served
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def registry(tmp_path):
    reg = Registry(str(tmp_path / "registry")).start()
    yield reg
    reg.stop()


def _manifest_digest(registry: Registry, path: str, tag: str) -> tuple[str, int]:
    status, body, _ = registry.get(f"/v2/{path}/manifests/{tag}", OCI_MANIFEST)
    assert status == 200
    return "sha256:" + hashlib.sha256(body).hexdigest(), len(body)


def test_docker_push_then_pull_back_into_the_store(served, registry):
    ref = f"{registry.host}/team/bb:1"
    served.out("tag", "busybox", ref)
    pushed = served.out("push", ref).splitlines()
    digest, size = _manifest_digest(registry, "team/bb", "1")
    assert pushed[0] == f"The push refers to repository [{registry.host}/team/bb]"
    assert any(line.endswith(": Pushed") for line in pushed)
    assert pushed[-1] == f"1: digest: {digest} size: {size}"
    served.out("rmi", ref, "busybox")
    assert served.out("images", "-q") == ""
    pulled = served.out("pull", ref).splitlines()
    assert pulled[0] == "1: Pulling from team/bb"
    assert any(line.endswith(": Pull complete") for line in pulled)
    assert pulled[-3:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {ref}", ref]
    assert served.out("images", "--format", "{{.Repository}}:{{.Tag}}") == f"{registry.host}/team/bb:1\n"
    assert served.out("image", "inspect", "-f", "{{json .RepoDigests}}", ref) == \
        json.dumps([f"{registry.host}/team/bb@{digest}"]) + "\n"
    arch = served.out("image", "inspect", "-f", "{{.Architecture}}", ref).strip()
    again = served.out("pull", "--platform", f"linux/{arch}", ref).splitlines()
    assert again[-2:] == [f"Status: Image is up to date for {ref}", ref]
    served.out("tag", ref, f"{registry.host}/team/bb:2")
    served.out("push", f"{registry.host}/team/bb:2")
    every = served.out("pull", "-a", f"{registry.host}/team/bb").splitlines()  # no tag sent: every tag
    assert {"1: Pulling from team/bb", "2: Pulling from team/bb"} <= set(every)
    assert every[-1] == f"{registry.host}/team/bb"
    assert served.out("run", "--rm", ref, "echo", "pulled") == "pulled\n"
    raw = served.raw(f"POST /v1.50/images/create?fromImage={registry.host}/team/bb&tag=1 HTTP/1.1\r\n"
                     "Host: x\r\nContent-Length: 0\r\nX-Registry-Auth: e30=\r\n\r\n".encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Type: application/json\r\n" in head
    assert b"Transfer-Encoding: chunked" in head  # docker-py streams only a chunked answer
    lines = [json.loads(chunk) for chunk in _body(raw).split(b"\r\n") if chunk]
    assert lines[0] == {"status": "Pulling from team/bb", "progressDetail": {}, "id": "1"}
    assert lines[-1] == {"status": f"Status: Image is up to date for {ref}"}
    assert sorted(served.cli.out("images", "--format", "{{.Tag}}").split()) == ["1", "2"]  # one store, corral's CLI


def test_docker_py_push_stream_pull_and_registry_data(served, registry):
    client = served.client()
    repo = f"{registry.host}/py"
    assert client.images.get("busybox").tag(repo, "2") is True
    messages = list(client.images.push(repo, tag="2", stream=True, decode=True))
    digest, size = _manifest_digest(registry, "py", "2")
    assert messages[0] == {"status": f"The push refers to repository [{repo}]"}
    assert messages[-1] == {"progressDetail": {}, "aux": {"Tag": "2", "Digest": digest, "Size": size}}
    assert any(m.get("status") == "Pushed" and len(m.get("id", "")) == 12 for m in messages)
    again = client.images.push(repo, tag="2")  # not streamed: one string of JSON lines
    assert '"Layer already exists"' in again
    data = client.images.get_registry_data(f"{repo}:2")
    assert data.id == digest and data.attrs["Descriptor"] == {"mediaType": OCI_MANIFEST, "digest": digest,
                                                              "size": size}
    arch = client.images.get("busybox").attrs["Architecture"]
    assert data.attrs["Platforms"] == [{"architecture": arch, "os": "linux"}]
    assert data.has_platform(f"linux/{arch}") and not data.has_platform("linux/s390x")
    client.images.remove(f"{repo}:2")
    image = client.images.pull(repo, tag="2")
    assert sorted(image.tags) == [f"{repo}:2", "busybox:latest"] and image.id == client.images.get("busybox").id
    pulled = client.images.pull(repo, tag=digest)  # a digest in `tag`, as docker-py sends it
    assert pulled.id == image.id
    assert f"{repo}@{digest}" in client.images.get(f"{repo}:2").attrs["RepoDigests"]


def test_errors_as_dockerd_gives_them(served, registry):
    missing = served.docker("pull", f"{registry.host}/nothing:1")
    assert missing.returncode == 1
    assert missing.stderr.decode() == (f"Error response from daemon: manifest for {registry.host}/nothing:1 not "
                                       "found: manifest unknown: manifest unknown\n")
    head = served.raw(f"POST /v1.50/images/create?fromImage={registry.host}/nothing&tag=1 HTTP/1.1\r\n"
                      "Host: x\r\nContent-Length: 0\r\n\r\n".encode())
    assert head.startswith(b"HTTP/1.1 404 ") and b"Content-Type: application/json\r\n" in head
    nothing = served.docker("push", f"{registry.host}/none:1")  # in-band: after "The push refers to..."
    assert nothing.returncode == 1
    assert f"An image does not exist locally with the tag: {registry.host}/none:1" in nothing.stderr.decode()
    response = served.raw(f"POST /v1.50/images/{registry.host}/none/push?tag=1 HTTP/1.1\r\nHost: x\r\n"
                          "Content-Length: 0\r\n\r\n".encode())
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b'"errorDetail": {"message": "An image does not exist' in body
    bad_auth = served.raw(b"POST /v1.50/images/create?fromImage=x&tag=1 HTTP/1.1\r\nHost: x\r\n"
                          b"X-Registry-Auth: %%%\r\nContent-Length: 0\r\n\r\n")
    assert bad_auth.startswith(b"HTTP/1.1 400 ") and b"X-Registry-Auth: not base64url" in bad_auth
    url = served.raw(b"POST /v1.50/images/create?fromSrc=http://127.0.0.1:1/x.tar&repo=x HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 0\r\n\r\n")
    assert url.startswith(b"HTTP/1.1 400 ") and b"corral imports only a tarball sent as the request body" in url
    platform = served.docker("pull", "--platform", "linux/", f"{registry.host}/nothing:1")
    assert platform.returncode == 1 and b"invalid platform" in platform.stderr
    lookup = served.raw(f"GET /v1.50/distribution/{registry.host}/nothing:1/json HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert lookup.startswith(b"HTTP/1.1 404 ") and b"not found: manifest unknown" in lookup
    assert served.out("images", "--format", "{{.Repository}}") == "busybox\n"


def test_docker_import_from_the_request_body(served):
    served.out("run", "--name", "toexport", "busybox", "sh", "-c", "echo imported > /marker")
    exported = served.docker("export", "toexport").stdout
    served.out("rm", "toexport")
    image_id = served.out("import", "-", "imported:1", input=exported).strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert served.out("run", "--rm", "imported:1", "cat", "/marker") == "imported\n"
    refused = served.docker("import", "-c", "CMD [\"sh\"]", "-", "imported:2", input=exported)
    assert refused.returncode == 1 and b"import: changes: corral does not support it yet" in refused.stderr


def test_login_and_credentials_in_x_registry_auth(served, tmp_path):
    htpasswd = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-Bbc", str(htpasswd), "ann", "secret"], check=True, capture_output=True)
    reg = Registry(str(tmp_path / "locked"), extra=f"auth:\n  htpasswd:\n    realm: corral\n"
                                                   f"    path: {htpasswd}\n").start()
    try:
        ref = f"{reg.host}/locked:1"
        served.out("tag", "busybox", ref)
        anonymous = served.docker("push", ref)
        assert anonymous.returncode == 1 and b"authentication required" in anonymous.stderr
        wrong = served.docker("login", "-u", "ann", "--password-stdin", reg.host, input=b"nope\n")
        assert wrong.returncode == 1 and f"login attempt to http://{reg.host}/v2/ failed with status: 401 " \
            "Unauthorized" in wrong.stderr.decode()
        config = tmp_path / "docker-config"  # the docker CLI's own, where it keeps what POST /auth accepted
        assert not (config / "config.json").exists() or reg.host not in (config / "config.json").read_text()
        login = served.docker("login", "-u", "ann", "--password-stdin", reg.host, input=b"secret\n")
        assert login.returncode == 0 and login.stdout.decode().endswith("Login Succeeded\n"), login.stderr
        stored = json.loads((config / "config.json").read_text())["auths"][reg.host]["auth"]
        assert base64.b64decode(stored) == b"ann:secret"
        assert served.out("push", ref).splitlines()[-1].startswith("1: digest: sha256:")  # the CLI sends them
        served.out("rmi", ref)
        assert served.out("pull", ref).splitlines()[-1] == ref
        client = served.client()
        assert client.login("ann", "secret", registry=reg.host)["Status"] == "Login Succeeded"  # POST /auth
        client.images.remove(ref)
        import docker

        with pytest.raises(docker.errors.APIError, match="login attempt to"):
            served.client().login("ann", "wrong", registry=reg.host)

        with pytest.raises(docker.errors.APIError, match="authentication required"):
            client.images.pull(f"{reg.host}/locked", tag="1", auth_config={"username": "ann", "password": "no"})
        image = client.images.pull(f"{reg.host}/locked", tag="1", auth_config={"username": "ann",
                                                                                "password": "secret"})
        assert ref in image.tags
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM {ref}\nRUN echo built-on-locked > /b\n")
        build = ["build", "--pull", "-q", "-t", "fromlocked:1", str(ctx)]
        assert served.out(*build, env={"DOCKER_BUILDKIT": "0"}).startswith("sha256:")  # X-Registry-Config
        assert served.out("run", "--rm", "fromlocked:1", "cat", "/b") == "built-on-locked\n"
        assert served.out("logout", reg.host) == f"Removing login credentials for {reg.host}\n"
        refused = served.docker(*build, env={"DOCKER_BUILDKIT": "0"})
        assert refused.returncode == 1 and b"authentication required" in refused.stderr
    finally:
        reg.stop()


def test_pull_and_push_draw_on_a_terminal(served, registry):
    from tests.test_serve_scenarios import Pty

    ref = f"{registry.host}/tty:1"
    served.out("tag", "busybox", ref)
    push = Pty(["docker", "push", ref], served.env, 24, 100)
    push.expect(rb"1: digest: sha256:[0-9a-f]{64} size: \d+")
    assert push.wait() == 0
    served.out("rmi", ref)
    pull = Pty(["docker", "pull", ref], served.env, 24, 100)
    drawn = pull.expect(rb"Status: Downloaded newer image for " + ref.encode() + rb"\r\n" + ref.encode())
    assert b"Already exists" in drawn and b"\x1b[1A" in drawn  # busybox's layer; lines redrawn in place
    assert pull.wait() == 0


def test_x_registry_config_gives_each_registry_its_own():
    from corral.api.host import _by_registry
    from corral.errors import InvalidArgument
    from corral.registry.credentials import Credentials

    assert _by_registry({"https://index.docker.io/v1/": {"username": "a", "password": "b"},
                         "http://127.0.0.1:5000": {"auth": base64.b64encode(b"c:d").decode()},
                         "127.0.0.1:6000": {}}) == {"docker.io": Credentials("a", "b"),
                                                    "127.0.0.1:5000": Credentials("c", "d")}
    assert _by_registry({}) is None and _by_registry(None) is None
    with pytest.raises(InvalidArgument, match="credentials for 127.0.0.1:7000"):
        _by_registry({"127.0.0.1:7000": {"password": "no user"}})
