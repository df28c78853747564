"""docker's config.json and credential helpers (registry/credentials.py): keys, the file's format and
mode, helpers run for real (a small helper script put on PATH). No registry, no root."""
from __future__ import annotations

import base64
import json
import os
import stat
import sys

import pytest

from corral.errors import APIError, InvalidArgument
from corral.registry import credentials
from corral.registry.credentials import Credentials

pytestmark = pytest.mark.unit

HELPER = """#!{python}
# docker-credential-{name}: docker-credential-helpers' protocol over a JSON file beside it
import json, os, sys
db = os.path.join(os.path.dirname(os.path.abspath(__file__)), "{name}.json")
data = json.load(open(db)) if os.path.exists(db) else {{}}
action, given = sys.argv[1], sys.stdin.read()
with open(db + ".log", "a") as log:
    log.write(action + " " + (given if action != "store" else json.loads(given)["ServerURL"]) + "\\n")
if action == "get":
    if given not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps(dict(data[given], ServerURL=given)))
elif action == "store":
    entry = json.loads(given)
    data[entry["ServerURL"]] = {{"Username": entry["Username"], "Secret": entry["Secret"]}}
elif action == "erase":
    if data.pop(given, None) is None:
        print("credentials not found in native keychain")
        sys.exit(1)
json.dump(data, open(db, "w"))
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    folder = tmp_path / "docker"
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return folder


def helper(tmp_path, monkeypatch, name: str) -> str:
    """docker-credential-NAME on PATH; returns the path of the JSON file it keeps."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text(HELPER.format(python=sys.executable, name=name))
    path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return str(bin_dir / f"{name}.json")


def test_keys_are_dockers():
    assert credentials.key("127.0.0.1:5000") == "127.0.0.1:5000"
    assert credentials.key("https://Registry.Example.com:5000/v2/") == "registry.example.com:5000"
    assert credentials.key("http://localhost:5000") == "localhost:5000"
    for hub in (None, "", "docker.io", "index.docker.io", "https://index.docker.io/v1/", "registry-1.docker.io"):
        assert credentials.key(hub) == "https://index.docker.io/v1/"
    with pytest.raises(InvalidArgument, match="no registry address"):
        credentials.key("https:///v2/")


def test_file_round_trip_keeps_other_keys_mode_and_format(config):
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"psFormat": "{{.ID}}", "auths": {"other:1": {"auth": "eDp5"}},
                                                    "proxies": {"default": {"httpProxy": "http://127.0.0.1:3"}}}))
    where = credentials.store("127.0.0.1:5000", Credentials("alice", "s3:cret"))
    assert where == str(config / "config.json")
    assert stat.S_IMODE(os.stat(where).st_mode) == 0o600
    text = (config / "config.json").read_text()
    assert '\n\t"auths": {' in text  # docker's own indentation
    data = json.loads(text)
    assert data["psFormat"] == "{{.ID}}" and data["proxies"]["default"]["httpProxy"] == "http://127.0.0.1:3"
    assert data["auths"]["127.0.0.1:5000"] == {"auth": base64.b64encode(b"alice:s3:cret").decode()}
    assert data["auths"]["other:1"] == {"auth": "eDp5"}
    assert os.listdir(config) == ["config.json"]  # written through a temporary file, renamed
    assert credentials.get("127.0.0.1:5000") == Credentials("alice", "s3:cret")
    assert credentials.get("other:1") == Credentials("x", "y")
    assert credentials.get("127.0.0.1:5001") is None
    assert credentials.erase("127.0.0.1:5000") is True and credentials.erase("127.0.0.1:5000") is False
    assert credentials.get("127.0.0.1:5000") is None
    assert json.loads((config / "config.json").read_text())["psFormat"] == "{{.ID}}"


def test_keys_written_as_urls_and_the_hub_legacy_key_are_found(config):
    config.mkdir()
    token = base64.b64encode(b"bob:").decode()
    (config / "config.json").write_text(json.dumps({"auths": {
        "https://127.0.0.1:5000/v2/": {"auth": base64.b64encode(b"alice:pw").decode()},
        "https://index.docker.io/v1/": {"auth": token, "identitytoken": "refresh-me"}}}))
    assert credentials.get("127.0.0.1:5000") == Credentials("alice", "pw")
    assert credentials.get("docker.io") == Credentials("bob", "", "refresh-me")
    credentials.store("127.0.0.1:5000", Credentials("carol", "pw2"))
    auths = json.loads((config / "config.json").read_text())["auths"]
    assert "https://127.0.0.1:5000/v2/" not in auths and "127.0.0.1:5000" in auths  # one entry per registry
    credentials.store("docker.io", Credentials("bob", "", "new-token"))
    assert json.loads((config / "config.json").read_text())["auths"] == {
        "127.0.0.1:5000": auths["127.0.0.1:5000"],
        "https://index.docker.io/v1/": {"auth": token, "identitytoken": "new-token"}}


def test_a_malformed_file_is_named(config):
    config.mkdir()
    (config / "config.json").write_text("{not json")
    with pytest.raises(InvalidArgument, match=f"{config}/config.json is not valid JSON"):
        credentials.get("127.0.0.1:5000")
    (config / "config.json").write_text(json.dumps({"auths": {"127.0.0.1:5000": {"auth": "%%%"}}}))
    with pytest.raises(InvalidArgument, match=r"auths\['127.0.0.1:5000'\]: auth is not base64"):
        credentials.get("127.0.0.1:5000")


def test_creds_store_helper(config, tmp_path, monkeypatch):
    db = helper(tmp_path, monkeypatch, "corraltest")
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credsStore": "corraltest"}))
    assert credentials.get("127.0.0.1:5000") is None  # the helper's "credentials not found"
    assert credentials.store("127.0.0.1:5000", Credentials("alice", "pw")) == "docker-credential-corraltest"
    assert json.load(open(db)) == {"127.0.0.1:5000": {"Username": "alice", "Secret": "pw"}}
    data = json.loads((config / "config.json").read_text())
    assert data == {"credsStore": "corraltest", "auths": {"127.0.0.1:5000": {}}}  # no secret in the file
    assert credentials.get("http://127.0.0.1:5000/") == Credentials("alice", "pw")
    credentials.store("docker.io", Credentials("bob", "", "tok"))
    assert json.load(open(db))["https://index.docker.io/v1/"] == {"Username": "<token>", "Secret": "tok"}
    assert credentials.get("docker.io") == Credentials(identity_token="tok")
    assert credentials.erase("127.0.0.1:5000") is True
    assert "127.0.0.1:5000" not in json.load(open(db))
    assert credentials.erase("127.0.0.1:5000") is False
    assert open(db + ".log").read().split("\n")[:3] == ["get 127.0.0.1:5000", "store 127.0.0.1:5000",
                                                         "get 127.0.0.1:5000"]


def test_cred_helpers_per_registry_win_over_creds_store(config, tmp_path, monkeypatch):
    one = helper(tmp_path, monkeypatch, "one")
    two = helper(tmp_path, monkeypatch, "two")
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credsStore": "one", "credHelpers": {"127.0.0.1:6000": "two"},
                                                    "auths": {"127.0.0.1:6000": {"auth": "eDp5"}}}))
    credentials.store("127.0.0.1:6000", Credentials("alice", "two-pw"))
    credentials.store("127.0.0.1:7000", Credentials("alice", "one-pw"))
    assert list(json.load(open(two))) == ["127.0.0.1:6000"] and list(json.load(open(one))) == ["127.0.0.1:7000"]
    assert credentials.get("127.0.0.1:6000") == Credentials("alice", "two-pw")  # the helper, not the file's x:y


def test_helper_failures_are_one_clear_line(config, tmp_path, monkeypatch):
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credsStore": "corral-no-such-helper"}))
    with pytest.raises(APIError, match="the credential helper docker-credential-corral-no-such-helper "
                                       f"\\(named in {config}/config.json\\) is not on PATH"):
        credentials.get("127.0.0.1:5000")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    broken = bin_dir / "docker-credential-broken"
    broken.write_text("#!/bin/sh\necho 'the keychain is locked' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    (config / "config.json").write_text(json.dumps({"credsStore": "broken"}))
    with pytest.raises(APIError, match=r"docker-credential-broken get failed \(exit 3\): the keychain is locked"):
        credentials.get("127.0.0.1:5000")


def test_auth_configs_in_docker_py_shape():
    assert credentials.from_auth_config(None) is None and credentials.from_auth_config({}) is None
    assert credentials.from_auth_config({"username": "a", "password": "b", "email": "x", "serveraddress": "h"}) \
        == Credentials("a", "b")
    assert credentials.from_auth_config({"auth": base64.b64encode(b"a:b:c").decode()}) == Credentials("a", "b:c")
    assert credentials.from_auth_config({"Username": "a", "Password": "b"}) == Credentials("a", "b")
    assert credentials.from_auth_config({"identitytoken": "t"}) == Credentials(identity_token="t")
    assert credentials.from_auth_config({"registrytoken": "r"}) == Credentials(registry_token="r")
    with pytest.raises(InvalidArgument, match="password must be a string"):
        credentials.from_auth_config({"username": "a", "password": 1})
    assert Credentials("a", "b").basic() == "Basic " + base64.b64encode(b"a:b").decode()
