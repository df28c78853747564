"""The registry client's pure logic: docker's progress bar and display, auth challenges. No store, no network."""
from __future__ import annotations

import io

import pytest

from corral.cli.fmt import Display
from corral.registry.auth import parse_challenge
from corral.registry.progress import bar, human, moving, status

pytestmark = pytest.mark.unit


def test_docker_sizes_and_bar():
    assert [human(n) for n in (0, 512, 1024, 12_345_678, 45_600_000_000)] == ["0B", "512B", "1.024kB", "12.35MB",
                                                                              "45.6GB"]
    assert bar(0, 100) == "[>" + " " * 50 + "]       0B/100B"
    assert bar(50, 100) == "[" + "=" * 25 + ">" + " " * 25 + "]      50B/100B"
    assert bar(100, 100).startswith("[" + "=" * 50 + ">]")
    assert bar(7, 0) == "7B"


def test_display_redraws_a_layer_line_in_place_on_a_terminal():
    out = io.StringIO()
    show = Display(out, tty=True)
    show(status("Pulling from x", "1"))
    show(status("Pulling fs layer", "aaa"))
    show(status("Pulling fs layer", "bbb"))
    show(moving("Downloading", "aaa", 5, 10))
    show(status("Digest: sha256:00"))
    text = out.getvalue()
    assert "aaa: Pulling fs layer\nbbb: Pulling fs layer\n" in text
    assert "\x1b[2A\r\x1b[2Kaaa: Downloading [" in text and "\x1b[2B\r" in text  # two lines up, back down
    assert text.endswith("Digest: sha256:00\n")


def test_display_prints_plain_lines_once_per_status_elsewhere():
    out = io.StringIO()
    show = Display(out, tty=False)
    for current in (1, 2, 3):
        show(moving("Downloading", "aaa", current, 3))
    show(status("Pull complete", "aaa"))
    assert out.getvalue() == "aaa: Downloading\naaa: Pull complete\n"


def test_auth_challenges():
    assert parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"') \
        == ("bearer", {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull,push"})
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})
    assert parse_challenge("Bearer realm=http://x/t, service=s") == ("bearer", {"realm": "http://x/t", "service": "s"})


def test_token_scopes_one_per_repository():
    from types import SimpleNamespace

    from corral.registry.auth import Auth

    auth = Auth(SimpleNamespace(path="team/app", registry="r"), "pull,push")
    auth.extra_scopes.append("repository:base/img:pull")
    assert auth.scopes({"scope": "repository:team/app:pull repository:base/img:pull registry:catalog:*"}) == [
        "repository:team/app:pull,push", "repository:base/img:pull", "registry:catalog:*"]
    assert Auth(SimpleNamespace(path="", registry="r"), "pull").scopes({}) == []
