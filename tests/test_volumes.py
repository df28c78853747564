"""Volumes (issue 15): `volume create/ls/inspect/rm/prune`, `-v`/`--mount` on run and create, what
containers see in them, and docker's refusals of bad input."""
from __future__ import annotations

import json
import os

import pytest


def test_volume_create_ls_inspect_rm_and_prune(cli):
    assert cli.out("volume", "create", "--label", "tier=db", "data").strip() == "data"
    anon = cli.out("volume", "create").strip()
    assert len(anon) == 64 and all(c in "0123456789abcdef" for c in anon)
    assert cli.out("volume", "create", "data").strip() == "data"  # an existing name: the same volume, as docker
    table = cli.out("volume", "ls").splitlines()
    assert table[0].split() == ["DRIVER", "VOLUME", "NAME"] and len(table) == 3
    assert cli.out("volume", "ls", "-q", "--filter", "label=tier=db").split() == ["data"]
    assert cli.out("volume", "ls", "-q", "-f", "name=dat").split() == ["data"]
    assert cli.out("volume", "ls", "-q", "-f", "dangling=true").split() == sorted([anon, "data"])
    assert cli.out("volume", "ls", "-q", "-f", "driver=local", "-f", "label!=tier").split() == [anon]
    assert cli.out("volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}}",
                   "-f", "name=data").strip() == "data local local tier=db"
    bad = cli("volume", "ls", "-f", "colour=red")
    assert bad.returncode == 1 and b"invalid filter 'colour'" in bad.stderr
    [info] = json.loads(cli.out("volume", "inspect", "data"))
    assert info["Name"] == "data" and info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Labels"] == {"tier": "db"} and info["Mountpoint"] == os.path.join(cli.root, "volumes/data/_data")
    assert os.path.isdir(info["Mountpoint"])
    assert cli.out("volume", "inspect", "-f", "{{.Mountpoint}}", "data").strip() == info["Mountpoint"]
    assert "Local Volumes   2" in cli.out("system", "df")
    assert "data" in cli.out("system", "df", "-v").split("Local Volumes space usage:")[1]
    # prune takes the anonymous one only; -a takes the named one too
    out = cli.out("volume", "prune", "-f")
    assert f"Deleted Volumes:\n{anon}\n" in out and "Total reclaimed space:" in out
    assert cli.out("volume", "ls", "-q").split() == ["data"]
    assert cli.out("volume", "prune", "-f", "--filter", "label=nope", "-a").count("Deleted") == 0
    assert cli.out("volume", "prune", "-af").startswith("Deleted Volumes:\ndata\n")
    assert not os.path.exists(info["Mountpoint"])
    cli.out("volume", "create", "gone")
    assert cli.out("volume", "rm", "gone").strip() == "gone"
    missing = cli("volume", "rm", "gone")
    assert missing.returncode == 1 and b"no such volume" in missing.stderr
    assert cli("volume", "rm", "-f", "gone").returncode == 0


@pytest.mark.parametrize("args, message", [
    (("b@d",), "includes invalid characters for a local volume name"),
    (("-o", "colour=red", "v1"), 'invalid option key: "colour"'),
    (("-o", "type=none", "-o", "o=bind", "v1"), "device=/absolute/host/path"),
    (("-d", "nfsplugin", "v1"), 'plugin "nfsplugin" not found'),
])
def test_volume_create_refuses_bad_input(cli, args, message):
    r = cli("volume", "create", *args)
    assert r.returncode == 1 and message in r.stderr.decode(), r.stderr
    assert cli.out("volume", "ls", "-q") == ""
