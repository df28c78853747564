"""Credentials against real registries: Debian's docker-registry behind htpasswd Basic auth and behind
token auth (tests/authfix.py's token server), over TLS from a test CA; docker-py's auth_config, `corral
login`/`logout` and client.login, the docker CLI sharing the same config.json."""
from __future__ import annotations

import base64
import json
import os

import pytest

import corral
from corral import errors
from tests import authfix
from tests.authfix import USERS

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
    with open(db, "w") as f:
        json.dump({basic_registry.host: {"Username": "bob", "Secret": USERS["bob"]}}, f)
    assert other.out("pull", "-q", ref) == ref + "\n"

    monkeypatch.setenv("DOCKER_CONFIG", other.env["DOCKER_CONFIG"])
    with corral.Client(other.root) as client:
        assert client.images.pull(ref).tags == [ref]  # the helper's, in process too
        with pytest.raises(errors.APIError, match="authentication required"):
            client.images.pull(ref, auth_config={"username": "bob", "password": "wrong"})  # not the stored ones
