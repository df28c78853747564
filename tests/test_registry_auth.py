"""Credentials against real registries: Debian's docker-registry behind htpasswd Basic auth and behind
token auth (tests/authfix.py's token server), over TLS from a test CA; docker-py's auth_config, `corral
login`/`logout` and client.login, the docker CLI sharing the same config.json."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess

import pytest

import corral
from corral import errors
from tests import authfix
from tests.authfix import USERS
from tests.registryd import free_port

basic_registry, token_registry, tls_registry = authfix.basic_registry, authfix.token_registry, authfix.tls_registry

ALICE = {"username": "alice", "password": USERS["alice"]}


def tagged(cli, ref: str) -> str:
    cli.out("tag", "busybox", ref)
    return ref


def test_auth_config_is_used_for_that_call(busybox, other, basic_registry, tmp_path):
    ref = tagged(busybox, f"{basic_registry.host}/alice/bb")
    with corral.Client(busybox.root) as pusher:
        refused = pusher.images.push(ref, tag="latest")
        assert "authentication required: corral login " + basic_registry.host in refused
        assert '"error"' in refused and "Pushed" not in refused
        pushed = pusher.images.push(ref, tag="latest", auth_config=ALICE)
        assert "Pushed" in pushed and "digest: sha256:" in pushed and '"error"' not in pushed
    with corral.Client(other.root) as puller:
        with pytest.raises(errors.APIError, match="authentication required") as e:
            puller.images.pull(ref, tag="latest")
        assert e.value.status_code == 401
        with pytest.raises(errors.APIError, match="authentication required"):
            puller.images.pull(ref, tag="latest", auth_config={"username": "alice", "password": "wrong"})
        encoded = base64.b64encode(f"alice:{USERS['alice']}".encode()).decode()
        image = puller.images.pull(ref, tag="latest", auth_config={"auth": encoded, "email": "a@example.com"})
        assert image.tags == [f"{ref}:latest"]
        assert image.id == puller.images.pull(ref, tag="latest", auth_config={"Username": "bob",
                                                                               "Password": USERS["bob"]}).id
        with pytest.raises(errors.InvalidArgument, match="give username and password"):
            puller.images.pull(ref, auth_config={"username": "alice"})
        with pytest.raises(errors.InvalidArgument, match="auth is not base64 of user:password"):
            puller.images.push(ref, auth_config={"auth": "!!"})
        with pytest.raises(errors.InvalidArgument, match="auth_config must be a dict"):
            puller.images.pull(ref, auth_config="alice:secret")
    assert other.out("images", "-q", "--no-trunc") == image.id + "\n"


def test_stored_credentials_file_and_helper(busybox, other, basic_registry, tmp_path, monkeypatch):
    """What config.json holds is used by push and pull, from the file or its credsStore helper; a call's
    auth_config wins over it."""
    from corral.registry import credentials
    from corral.registry.credentials import Credentials
    from tests.test_registry_credentials import helper

    ref = tagged(busybox, f"{basic_registry.host}/alice/stored:1")
    r = busybox("push", ref)
    assert r.returncode == 1 and f"authentication required: corral login {basic_registry.host}".encode() in r.stderr
    credentials.store(basic_registry.host, Credentials("alice", USERS["alice"]),
                      path=busybox.env["DOCKER_CONFIG"] + "/config.json")
    assert "1: digest: sha256:" in busybox.out("push", ref)

    db = helper(tmp_path, monkeypatch, "corraltest")  # on PATH (monkeypatch) for this process and `other`
    other.env["PATH"] = os.environ["PATH"]
    os.makedirs(other.env["DOCKER_CONFIG"])
    with open(other.env["DOCKER_CONFIG"] + "/config.json", "w") as f:
        json.dump({"credsStore": "corraltest"}, f)
    r = other("pull", ref)
    assert r.returncode == 1 and b"authentication required" in r.stderr
    r = other("login", "-u", "bob", "--password-stdin", basic_registry.host, input=USERS["bob"].encode())
    assert (r.returncode, r.stdout, r.stderr) == (0, b"Login Succeeded\n", b"")  # kept by the helper: no warning
    assert json.load(open(db)) == {basic_registry.host: {"Username": "bob", "Secret": USERS["bob"]}}
    assert authfix.docker_config_of(other.env["DOCKER_CONFIG"]) == {"credsStore": "corraltest",
                                                                   "auths": {basic_registry.host: {}}}
    assert other.out("pull", "-q", ref) == ref + "\n"

    monkeypatch.setenv("DOCKER_CONFIG", other.env["DOCKER_CONFIG"])
    with corral.Client(other.root) as client:
        assert client.images.pull(ref).tags == [ref]  # the helper's, in process too
        with pytest.raises(errors.APIError, match="authentication required"):
            client.images.pull(ref, auth_config={"username": "bob", "password": "wrong"})  # not the stored ones


def test_login_and_logout_as_docker(busybox, other, basic_registry):
    host = basic_registry.host
    config = other.env["DOCKER_CONFIG"] + "/config.json"
    r = other("login", "-u", "alice", "--password-stdin", host, input=b"wrong\n")
    assert (r.returncode, r.stdout) == (1, b"")
    assert r.stderr.decode() == f"login attempt to http://{host}/v2/ failed with status: 401 Unauthorized\n"
    assert not os.path.exists(config)  # nothing kept

    r = other("login", "-u", "alice", "-p", USERS["alice"], host)
    assert (r.returncode, r.stdout) == (0, b"Login Succeeded\n"), r.stderr
    assert r.stderr.decode() == ("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n"
                                 f"WARNING! Your credentials are stored unencrypted in '{config}'.\n"
                                 "Configure a credential helper to remove this warning. See\n"
                                 "https://docs.docker.com/go/credential-store/\n\n")
    assert os.stat(config).st_mode & 0o777 == 0o600
    assert authfix.docker_config_of(other.env["DOCKER_CONFIG"]) == {"auths": {host: {"auth": base64.b64encode(
        f"alice:{USERS['alice']}".encode()).decode()}}}
    r = busybox("login", "--username", "bob", "--password-stdin", host, input=USERS["bob"].encode() + b"\r\n")
    assert r.stdout == b"Login Succeeded\n", r.stderr
    ref = tagged(busybox, f"{host}/shared/bb:1")
    busybox.out("push", ref)
    assert other.out("pull", "-q", ref) == ref + "\n"

    r = other("login", host)  # no -u/-p: the stored credentials, checked again
    assert (r.returncode, r.stdout) == (0, b"Login Succeeded\n")
    assert r.stderr == b"Authenticating with existing credentials... [Username: alice]\n"
    assert other.out("logout", host) == f"Removing login credentials for {host}\n"
    assert other.out("logout", f"http://{host}/v2/") == f"Not logged in to {host}\n"
    assert authfix.docker_config_of(other.env["DOCKER_CONFIG"]) == {"auths": {}}
    r = other("pull", ref)
    assert r.returncode == 1 and b"authentication required" in r.stderr

    for args, code, message in [
            (("login", "-u", "alice", host), 1, "Error: Cannot perform an interactive login from a non TTY device\n"),
            (("login", host), 1, "Error: Cannot perform an interactive login from a non TTY device\n"),
            (("login", "--password-stdin", host), 1, "the --password-stdin option requires --username to be set\n"),
            (("login", "-u", "a", "-p", "b", "--password-stdin", host), 1,
             "conflicting options: cannot specify both --password and --password-stdin\n")]:
        r = other(*args, input=b"")
        assert (r.returncode, r.stderr.decode()) == (code, message), args
    r = other("login", "-u", "alice", "--password-stdin", f"127.0.0.1:{free_port()}", input=b"pw")
    assert r.returncode == 1 and b"onnection refused" in r.stderr and len(r.stderr.splitlines()) == 1
    assert authfix.docker_config_of(other.env["DOCKER_CONFIG"]) == {"auths": {}}


def test_client_login_as_docker_py(busybox, other, basic_registry, tmp_path):
    host = basic_registry.host
    ref = tagged(busybox, f"{host}/alice/py:1")
    with corral.Client(busybox.root) as client:
        with pytest.raises(errors.APIError, match=f"login attempt to http://{host}/v2/ failed with status: 401") \
                as e:
            client.login("alice", "wrong", registry=host)
        assert e.value.status_code == 401
        assert client.login("alice", USERS["alice"], email="a@example.com", registry=host) == {
            "Status": "Login Succeeded", "IdentityToken": ""}
        assert "Pushed" in client.images.push(f"{host}/alice/py", tag="1")  # the client remembers its login
        remembered = client.login("alice", "anything", registry=host)  # docker-py: known user, no reauth
        assert remembered["username"] == "alice" and remembered["password"] == USERS["alice"]
        with pytest.raises(errors.APIError, match="failed with status: 401"):
            client.login("alice", "anything", registry=host, reauth=True)
    assert not os.path.exists(busybox.env["DOCKER_CONFIG"])  # as docker-py: nothing written
    with corral.Client(other.root) as client:
        with pytest.raises(errors.APIError, match="authentication required"):
            client.images.pull(ref)
        cfg = tmp_path / "elsewhere.json"
        cfg.write_text(json.dumps({"auths": {f"http://{host}": {"auth": base64.b64encode(
            f"bob:{USERS['bob']}".encode()).decode()}}}))
        assert client.login("bob", registry=host, dockercfg_path=str(cfg))["username"] == "bob"
        assert client.images.pull(ref).tags == [ref]  # with dockercfg_path's credentials


def test_token_auth_login_identity_token_and_scopes(busybox, other, token_registry):
    host, tokens = token_registry.host, token_registry.tokens
    mine = tagged(busybox, f"{host}/alice/app:1")
    r = busybox("push", mine)
    assert r.returncode == 1 and f"(authentication required: corral login {host})".encode() in r.stderr, r.stderr
    r = busybox("login", "-u", "alice", "--password-stdin", host, input=b"wrong")
    assert r.returncode == 1 and not os.path.exists(busybox.env["DOCKER_CONFIG"])
    assert r.stderr.decode() == (f"login attempt to http://{host}/v2/ failed: {host}: the token service "
                                 f"{tokens.realm} refused the credentials (HTTP 401 Unauthorized)\n")

    busybox.out("login", "-u", "alice", "--password-stdin", host, input=USERS["alice"].encode())
    entry = authfix.docker_config_of(busybox.env["DOCKER_CONFIG"])["auths"][host]
    assert entry["identitytoken"] in tokens.refresh and tokens.refresh[entry["identitytoken"]] == "alice"
    assert entry["auth"] == base64.b64encode(b"alice:").decode()  # the password is not kept, as docker
    asked = tokens.requests[-1]
    assert asked["offline_token"] == "true" and asked["account"] == "alice" and asked["scopes"] == []
    del tokens.requests[:]
    busybox.out("push", mine)
    assert {(r["method"], r.get("grant_type"), " ".join(r["scopes"])) for r in tokens.requests} == {
        ("POST", "refresh_token", "repository:alice/app:pull,push")}  # the identity token, for this repository
    assert other("pull", mine).returncode == 1  # anonymous: nothing

    theirs = tagged(busybox, f"{host}/bob/app:1")
    r = busybox("push", theirs)
    assert r.returncode == 1 and b"the credentials give no repository:bob/app:" in r.stderr, r.stderr
    shared = tagged(busybox, f"{host}/shared/app:1")
    assert busybox("push", shared).returncode == 1  # alice may only pull shared/
    with corral.Client(busybox.root) as client:  # bob's password through the token service's GET
        assert "Pushed" in client.images.push(f"{host}/shared/app", tag="1",
                                              auth_config={"username": "bob", "password": USERS["bob"]})
    other.out("login", "-u", "bob", "-p", USERS["bob"], host)
    assert other.out("pull", "-q", shared) == shared + "\n"
    r = other("pull", mine)
    assert r.returncode == 1 and b"the credentials give no repository:alice/app:pull access" in r.stderr, r.stderr
    assert busybox.out("pull", "-q", shared) == shared + "\n"

    from corral.api import logins  # the Engine API's /auth answer (corral serve)
    answer = logins.check({"username": "bob", "password": USERS["bob"], "serveraddress": host})
    assert answer["Status"] == "Login Succeeded" and tokens.refresh[answer["IdentityToken"]] == "bob"
    with pytest.raises(errors.APIError, match="refused the credentials") as e:
        logins.check({"username": "bob", "password": "wrong", "serveraddress": f"http://{host}/v2/"})
    assert e.value.status_code == 401


def docker(cli, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:  # noqa: A002
    """The docker CLI on the store's DOCKER_CONFIG (no daemon: login and logout are client-side)."""
    env = dict(cli.env, DOCKER_HOST="unix:///nonexistent/corral-tests/docker.sock")
    return subprocess.run(["docker", *args], input=input, capture_output=True, env=env, timeout=60)


def test_the_docker_cli_shares_the_credentials(busybox, other, basic_registry, token_registry):
    basic, token = basic_registry.host, token_registry.host
    for host in (basic, token):
        tagged(busybox, f"{host}/shared/bb:1")
        r = busybox("login", "-u", "bob", "--password-stdin", host, input=USERS["bob"].encode())
        assert r.returncode == 0, r.stderr
        busybox.out("push", f"{host}/shared/bb:1")
    # docker login's file (a password for Basic, an identity token for the token service) serves corral
    for host in (basic, token):
        r = docker(other, "login", "-u", "alice", "--password-stdin", host, input=USERS["alice"].encode())
        assert r.returncode == 0 and r.stdout == b"Login Succeeded\n", r.stderr
    auths = authfix.docker_config_of(other.env["DOCKER_CONFIG"])["auths"]
    assert "identitytoken" in auths[token] and "identitytoken" not in auths[basic]
    for host in (basic, token):
        assert other.out("pull", "-q", f"{host}/shared/bb:1") == f"{host}/shared/bb:1\n"
    assert other.out("logout", token) == f"Removing login credentials for {token}\n"
    assert other("pull", f"{token}/shared/bb:1").returncode == 1
    # and docker reads corral's: docker logout removes what corral login kept, keeping the rest
    assert docker(busybox, "logout", basic).stdout == f"Removing login credentials for {basic}\n".encode()
    assert list(authfix.docker_config_of(busybox.env["DOCKER_CONFIG"])["auths"]) == [token]
    r = busybox("push", f"{basic}/shared/bb:1")
    assert r.returncode == 1 and b"authentication required" in r.stderr


def test_tls_verified_against_certs_d(busybox, other, tls_registry, tmp_path):
    host = tls_registry.host
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{host}"\ninsecure = false\n')  # 127.0.0.1, and yet TLS
    certs = tmp_path / "certs.d"
    for cli in (busybox, other):
        cli.env.update(CORRAL_REGISTRIES_CONF=str(conf), CORRAL_CERTS_D=str(certs))
    ref = tagged(busybox, f"{host}/tls/bb:1")
    r = busybox("push", ref)
    assert r.returncode == 1
    assert r.stderr.decode() == (f"Error: {host}: the TLS certificate of https://{host} is not trusted (certificate "
                                 "verify failed: unable to get local issuer certificate): put the CA that signed "
                                 f"it in {certs}/{host}/ca.crt\n")
    (certs / host).mkdir(parents=True)
    shutil.copy(tls_registry.ca, certs / host / "ca.crt")
    busybox.out("push", ref)
    assert other.out("pull", "-q", ref) == ref + "\n"
    r = other("login", "-u", "alice", "--password-stdin", host, input=b"any")  # an open registry takes anyone
    assert r.stdout == b"Login Succeeded\n", r.stderr
    stranger = authfix.make_ca(str(tmp_path / "other-ca"))[0]
    shutil.copy(stranger, certs / host / "ca.crt")  # a CA, but not the one that signed it
    r = other("pull", ref)
    assert r.returncode == 1 and b"is not trusted (certificate verify failed: unable to get local issuer" in r.stderr
    (certs / host / "ca.crt").write_text("")
    r = other("pull", ref)
    assert r.returncode == 1 and r.stderr.decode() == (f"Error: {certs}/{host}/ca.crt: cannot be used as a "
                                                       "certificate (NO_CERTIFICATE_OR_CRL_FOUND): fix or remove it\n")


def on_a_terminal(cli, args: list[str], answers: list[tuple[bytes, bytes]]) -> tuple[bytes, int]:
    """`corral ARGS` on a pseudo-terminal (its controlling one, as getpass wants), typing each answer once
    its prompt shows; everything it wrote and its exit code."""
    import pty
    import select
    import time

    from conftest import CORRAL

    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(CORRAL[0], CORRAL + args, cli.env)
        finally:
            os._exit(127)
    out, deadline = b"", time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if answers and out.endswith(answers[0][0]):
                os.write(fd, answers.pop(0)[1])
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # the child is gone
                    break
                if not data:
                    break
                out += data
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return out, os.waitstatus_to_exitcode(status)


def test_login_prompts_on_a_terminal(other, basic_registry):
    host = basic_registry.host
    out, code = on_a_terminal(other, ["login", host], [(b"Username: ", b"alice\n"),
                                                      (b"Password: ", USERS["alice"].encode() + b"\n")])
    assert code == 0 and out.endswith(b"Login Succeeded\r\n"), out
    assert USERS["alice"].encode() not in out  # not echoed
    assert other.out("logout", host) == f"Removing login credentials for {host}\n"
    out, code = on_a_terminal(other, ["login", "-u", "alice", host], [(b"Password: ", b"nope\n")])
    assert code == 1 and b"failed with status: 401 Unauthorized" in out, out
    assert not os.path.exists(other.env["DOCKER_CONFIG"] + "/config.json") or \
        authfix.docker_config_of(other.env["DOCKER_CONFIG"]) == {"auths": {}}
