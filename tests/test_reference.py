"""Docker's reference grammar and the short-name search list: pure logic, no store."""
from __future__ import annotations

import pytest

from corral.errors import InvalidArgument
from corral.image.reference import Reference, parse
from corral.registry import conf

pytestmark = pytest.mark.unit
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("ref, parts, familiar", [
    ("busybox", ("", "busybox", "", ""), "busybox:latest"),
    ("busybox:1.36", ("", "busybox", "1.36", ""), "busybox:1.36"),
    ("team/app/web:v2", ("", "team/app/web", "v2", ""), "team/app/web:v2"),
    ("localhost:5000/x", ("localhost:5000", "x", "", ""), "localhost:5000/x:latest"),
    ("localhost/x:1", ("localhost", "x", "1", ""), "localhost/x:1"),
    ("127.0.0.1:5000/a/b/c:t", ("127.0.0.1:5000", "a/b/c", "t", ""), "127.0.0.1:5000/a/b/c:t"),
    ("registry.example.com/app", ("registry.example.com", "app", "", ""), "registry.example.com/app:latest"),
    ("[::1]:5000/app", ("[::1]:5000", "app", "", ""), "[::1]:5000/app:latest"),
    ("docker.io/library/busybox", ("docker.io", "library/busybox", "", ""), "busybox:latest"),
    ("index.docker.io/me/app:2", ("docker.io", "me/app", "2", ""), "me/app:2"),
    ("app@" + DIGEST, ("", "app", "", DIGEST), "app@" + DIGEST),
    ("host:5000/app:1@" + DIGEST, ("host:5000", "app", "1", DIGEST), "host:5000/app:1"),
    ("Host.Example/app", ("Host.Example", "app", "", ""), "Host.Example/app:latest"),
    ("a_b__c-d---e.f", ("", "a_b__c-d---e.f", "", ""), "a_b__c-d---e.f:latest"),
])
def test_docker_grammar(ref, parts, familiar):
    parsed = parse(ref)
    assert (parsed.domain, parsed.path, parsed.tag, parsed.digest) == parts
    assert parsed.familiar == familiar


@pytest.mark.parametrize("ref, message", [
    ("App", "lowercase"), ("a//b", "lowercase"), ("a/", "lowercase"), ("a_-b", "lowercase"), ("-a", "lowercase"),
    ("a:b:c", "lowercase"), ("a:-x", "a tag is up to 128"), ("a:" + "t" * 129, "a tag is up to 128"),
    ("a@sha512:" + "0" * 128, "only sha256"), ("a@sha256:abc", "64 lowercase hex"),
    ("a@sha256:" + "A" * 64, "64 lowercase hex"), ("ho_st:5000/a", "not a registry host"),
    ("host:port/a", "not a registry host"), ("h/" + "a" * 254, "at most 255"),
])
def test_refused_references(ref, message):
    with pytest.raises(InvalidArgument, match="invalid reference format.*" + message):
        parse(ref)


def test_remote_path_on_docker_hub_adds_library():
    assert parse("busybox").remote_path("docker.io") == "library/busybox"
    assert parse("me/app").remote_path("docker.io") == "me/app"
    assert parse("busybox").remote_path("localhost:5000") == "busybox"
    assert parse("busybox").with_tag("2") == Reference("", "busybox", "2", "")


def test_short_names_without_search_registries_name_the_file(tmp_path, monkeypatch):
    path = tmp_path / "registries.conf"
    monkeypatch.setenv("CORRAL_REGISTRIES_CONF", str(path))
    with pytest.raises(InvalidArgument, match=f"none is configured.*{path}"):
        conf.candidates(parse("busybox"))
    assert conf.candidates(parse("localhost:5000/busybox")) == [("localhost:5000", "busybox")]


def test_search_list_and_insecure_registries(tmp_path, monkeypatch):
    path = tmp_path / "registries.conf"
    path.write_text('unqualified-search-registries = ["reg.example:5000", "docker.io"]\n'
                    '[[registry]]\nlocation = "reg.example:5000"\ninsecure = true\n')
    monkeypatch.setenv("CORRAL_REGISTRIES_CONF", str(path))
    assert conf.candidates(parse("busybox:1")) == [("reg.example:5000", "busybox"), ("docker.io", "library/busybox")]
    assert conf.endpoint("reg.example:5000") == "http://reg.example:5000"
    assert conf.endpoint("other.example") == "https://other.example"
    assert conf.endpoint("docker.io") == "https://registry-1.docker.io"
    assert conf.endpoint("localhost:5000") == "http://localhost:5000"
    assert conf.endpoint("127.0.0.2:80") == "http://127.0.0.2:80"
    assert conf.endpoint("[::1]:5000") == "http://[::1]:5000"


def test_malformed_configuration_is_refused_with_its_path(tmp_path, monkeypatch):
    path = tmp_path / "registries.conf"
    path.write_text("unqualified-search-registries = [1]\n")
    monkeypatch.setenv("CORRAL_REGISTRIES_CONF", str(path))
    with pytest.raises(InvalidArgument, match=str(path)):
        conf.candidates(parse("busybox"))
    path.write_text("not toml [")
    with pytest.raises(InvalidArgument, match=f"cannot read {path}"):
        conf.search_registries()
