"""docker's filters, prunes and management commands against a real store: ps/images/network ls filters by
each key, the prompts and filters of every prune, system prune (with its store repair), df -v, info, version
and `container VERB` (the matching itself is unit-tested in test_api_queries.py)."""
from __future__ import annotations

import json

from test_network import subnet


def _names(cli, *args: str) -> list[str]:
    """The NAMES column of `ps ARGS`."""
    return [line.split()[-1] for line in cli.out("ps", *args).splitlines()[1:]]


def _ids(cli, *args: str) -> list[str]:
    return cli.out(*args, "-q").split()


def test_ps_filters_limits_and_size(busybox):
    web = busybox.out("run", "-d", "--name", "web", "-l", "tier=web", "busybox", "sleep", "60").strip()
    assert busybox("run", "--name", "done", "busybox", "sh", "-c", "echo hello > /f; exit 3").returncode == 3
    child = busybox.out("commit", "done", "child:1").strip()
    busybox.out("network", "create", "--subnet", subnet(141), "f141")
    new = busybox.out("create", "--name", "new", "--network", "f141", "busybox", "true").strip()
    kid = busybox.out("create", "--name", "kid", "child:1", "true").strip()
    assert child.startswith("sha256:")
    assert _names(busybox) == ["web"] and _names(busybox, "-a") == ["kid", "new", "done", "web"]
    assert _names(busybox, "-f", "status=exited") == ["done"]  # no -a needed, as docker
    assert _names(busybox, "-f", "status=created", "-f", "status=running") == ["kid", "new", "web"]
    assert _names(busybox, "-a", "-f", "exited=3") == ["done"] and _names(busybox, "-a", "-f", "exited=0") == []
    assert _names(busybox, "-a", "-f", "name=^/?(do|ne)") == ["new", "done"]
    assert _ids(busybox, "ps", "-a", "-f", f"id={web[:8]}") == [web[:12]]
    assert _names(busybox, "-a", "-f", "label=tier=web") == ["web"] and _names(busybox, "-f", "label=tier=db") == []
    assert _names(busybox, "-a", "-f", "ancestor=busybox") == ["kid", "new", "done", "web"]  # children too
    assert _names(busybox, "-a", "-f", "ancestor=child:1") == ["kid"]
    assert _names(busybox, "-a", "-f", "network=f141") == ["new"]
    assert _names(busybox, "-a", "-f", "before=new") == ["done", "web"]
    assert _names(busybox, "-a", "-f", "since=done") == ["kid", "new"]
    assert _names(busybox, "-f", "health=none") == ["web"] and _names(busybox, "-f", "health=healthy") == []
    assert _names(busybox, "-a", "-f", "volume=data") == []
    assert _names(busybox, "-n", "2") == ["kid", "new"] and _names(busybox, "-l") == ["kid"]  # any state
    assert _names(busybox, "-n", "1", "-f", "status=exited") == ["done"]
    sized = busybox.out("ps", "-a", "-s", "-f", "name=done").splitlines()
    assert sized[0].split()[-1] == "SIZE" and sized[1].endswith("6B (virtual 2.14MB)"), sized
    for flags, message in ((("-f", "color=red"), b"invalid filter 'color'"),
                           (("-f", "status=asleep"), b"invalid filter 'status=asleep'"),
                           (("-f", "health=ok"), b"Unrecognised filter value for health: ok"),
                           (("-f", "status"), b"bad format of filter"), (("-n", "x"), b"invalid argument \"x\"")):
        r = busybox("ps", *flags)
        assert r.returncode == 1 and message in r.stderr, r.stderr
    busybox.out("rm", "-f", web, new, kid, "done")
    busybox.out("network", "rm", "f141")


def test_images_filters_arguments_digests_and_build_cache(busybox, tmp_path):
    busybox.out("tag", "busybox", "team/app:1")
    busybox.out("tag", "busybox", "team/app:2")
    assert busybox.out("images", "busybox:latest").splitlines()[1].split()[:2] == ["busybox", "latest"]
    assert len(busybox.out("images", "busybox:latest").splitlines()) == 2
    rows = [line.split()[:2] for line in busybox.out("images", "team/app:1").splitlines()[1:]]
    assert rows == [["team/app", "1"]]  # only the tag asked for, as docker
    rows = [line.split()[:2] for line in busybox.out("images", "--filter", "reference=team/*").splitlines()[1:]]
    assert rows == [["team/app", "1"], ["team/app", "2"]]
    assert busybox.out("images", "app").splitlines()[1:] == []  # no match on the last path part: docker's glob
    assert len(busybox.out("images", "-f", "reference=busybox", "-f", "reference=team/app:2").splitlines()) == 3
    busybox.out("run", "--name", "w1", "busybox", "touch", "/x")
    dangling = busybox.out("commit", "w1").strip()
    assert _ids(busybox, "images", "--no-trunc", "--filter", "dangling=true") == [dangling]
    assert dangling not in _ids(busybox, "images", "--no-trunc", "--filter", "dangling=false")
    assert "<none>" in busybox.out("images", "-f", "dangling=true")
    assert _ids(busybox, "images", "--no-trunc", "-f", f"since={dangling[7:19]}") == []
    assert len(_ids(busybox, "images", "-f", f"before={dangling[7:19]}")) == 1
    assert _ids(busybox, "images", "-f", "label=nope") == []
    table = busybox.out("images", "--digests", "busybox").splitlines()
    assert table[0].split()[:3] == ["REPOSITORY", "TAG", "DIGEST"] and table[1].split()[2].startswith("sha256:")
    r = busybox("image", "ls", "--filter", "foo=bar")
    assert r.returncode == 1 and r.stderr == b"Error: invalid filter 'foo'\n"
    # -a: the build cache's intermediate images; df and system prune count and remove them
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n")
    busybox.out("build", "-q", "--network", "none", "-t", "built:1", str(tmp_path))
    assert len(_ids(busybox, "images", "-a")) > len(_ids(busybox, "images"))
    cache_row = [line.split() for line in busybox.out("system", "df").splitlines() if line.startswith("Build Cache")]
    assert cache_row and int(cache_row[0][2]) >= 2, cache_row  # its layers are the built image's: 0B of its own
    out = busybox.out("system", "prune", "-f")
    assert "Deleted Containers:\n" in out and "Deleted build cache objects:\n" in out
    assert f"deleted: {dangling}" in out and out.rstrip().splitlines()[-1].startswith("Total reclaimed space: ")
    assert len(_ids(busybox, "images", "-a")) == len(_ids(busybox, "images")) == 2  # busybox (3 names), built
    assert busybox.out("images", "built").count("built") == 1  # a named image stays
    assert busybox("system", "check").returncode == 0


def test_network_ls_filters_and_network_prune(busybox):
    lab = busybox.out("network", "create", "--subnet", subnet(142), "--label", "env=test", "lab142").strip()
    busybox.out("network", "create", "--subnet", subnet(143), "idle143")
    busybox.out("create", "--name", "on", "--network", "lab142", "busybox", "true")

    def names(*flags: str) -> list[str]:
        return [line.split()[1] for line in busybox.out("network", "ls", *flags).splitlines()[1:]]

    assert names("-f", "dangling=true") == ["idle143"] and "lab142" in names("-f", "dangling=false")
    assert names("-f", "label=env=test") == ["lab142"] and names("-f", "label=env=prod") == []
    assert names("-f", "name=143") == ["idle143"] and names("-f", f"id={lab[:10]}") == ["lab142"]
    assert names("-f", "name=lab", "-f", "name=idle") == ["lab142", "idle143"]  # values of one key OR
    assert names("-f", "driver=bridge", "-f", "scope=local", "-f", "type=custom") == ["lab142", "idle143"]
    assert names("-f", "type=builtin") == ["bridge", "host", "none"] and names("-f", "driver=macvlan") == []
    r = busybox("network", "ls", "-f", "until=1h")
    assert r.returncode == 1 and b"invalid filter 'until'" in r.stderr
    out = busybox.out("network", "prune", input=b"n\n")  # docker's prompt, answered no
    assert out == "WARNING! This will remove all custom networks not used by at least one container.\n" \
                  "Are you sure you want to continue? [y/N] "
    assert busybox.out("network", "prune", "-f", "--filter", "label=env") == ""  # lab142 is in use
    assert busybox.out("network", "prune", "-f", "--filter", "until=1h") == ""  # both are younger
    assert busybox.out("network", "prune", input=b"y\n").endswith("Deleted Networks:\nidle143\nbridge\n")
    busybox.out("rm", "on")
    assert busybox.out("network", "prune", "-f", "--filter", "label!=env") == ""
    assert busybox.out("network", "prune", "-f", "--filter", "label=env=test") == "Deleted Networks:\nlab142\n"


def test_container_and_image_prune_prompt_and_filters(busybox):
    busybox.out("create", "--name", "keep", "-l", "keep=1", "busybox", "true")
    busybox.out("run", "--name", "gone", "busybox", "sh", "-c", "echo 12345 > /f")
    run = busybox.out("run", "-d", "--name", "up", "busybox", "sleep", "60").strip()
    warning = "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
    assert busybox.out("container", "prune") == warning  # stdin empty: cancelled, as docker, exit 0
    assert busybox.out("container", "prune", input=b"no\n") == warning
    assert len(_ids(busybox, "ps", "-a")) == 3
    assert busybox.out("container", "prune", "-f", "--filter", "until=10m") == "Total reclaimed space: 0B\n"
    out = busybox.out("container", "prune", "--filter", "label!=keep", input=b"y\n")
    gone = [line for line in out.splitlines() if len(line) == 64]
    assert out.startswith(warning + "Deleted Containers:\n") and len(gone) == 1
    assert out.endswith("\n\nTotal reclaimed space: 6B\n")  # the bytes the container wrote
    assert _names(busybox, "-a") == ["up", "keep"]
    r = busybox("container", "prune", "-f", "--filter", "color=red")
    assert r.returncode == 1 and r.stderr == b"Error: invalid filter 'color'\n"
    r = busybox("container", "prune", "-f", "--filter", "until=later")
    assert r.returncode == 1 and b"invalid filter 'until=later'" in r.stderr
    assert busybox.out("container", "prune", "-f", "--filter", "label=keep=1").startswith("Deleted Containers:\n")
    assert _names(busybox, "-a") == ["up"]
    # image prune: docker's prompt, -a's wording, until= and label=
    busybox.out("tag", "busybox", "spare:1")
    busybox.out("rm", "-f", run)
    out = busybox.out("image", "prune", "-a", input=b"\n")
    assert out == "WARNING! This will remove all images without at least one container associated to them.\n" \
                  "Are you sure you want to continue? [y/N] "
    assert busybox.out("image", "prune", "-a", "-f", "--filter", "until=2000-01-01") == "Total reclaimed space: 0B\n"
    assert busybox.out("image", "prune", "-a", "-f", "--filter", "label=nope") == "Total reclaimed space: 0B\n"
    r = busybox("image", "prune", "-f", "--filter", "reference=x")
    assert r.returncode == 1 and b"invalid filter 'reference'" in r.stderr
    out = busybox.out("image", "prune", "-f", "--filter", "dangling=false")  # as -a
    assert "untagged: busybox:latest\nuntagged: spare:1\ndeleted: sha256:" in out
    assert busybox.out("images", "-q") == ""
    assert busybox("system", "check").returncode == 0


def test_system_prune_warnings_filters_and_repair(busybox):
    out = busybox.out("system", "prune", "-a", "--volumes", "--filter", "label=a=b", input=b"N\n")
    assert out == ("WARNING! This will remove:\n  - all stopped containers\n"
                   "  - all networks not used by at least one container\n"
                   "  - all anonymous volumes not used by at least one container\n"
                   "  - all images without at least one container associated to them\n  - all build cache\n\n"
                   "  Items to be pruned will be filtered with:\n  - label=a=b\n\n"
                   "Are you sure you want to continue? [y/N] ")
    r = busybox("system", "prune", "--volumes", "--filter", "until=1h")  # refused before the prompt, as docker
    assert r.returncode == 1 and r.stdout == b"" and b'The "until" filter is not supported with "--volumes"' in r.stderr
    r = busybox("system", "prune", "-f", "--filter", "dangling=true")
    assert r.returncode == 1 and b"invalid filter 'dangling'" in r.stderr
    busybox.out("run", "--name", "old", "busybox", "true")
    busybox.out("network", "create", "--subnet", subnet(144), "n144")
    out = busybox.out("system", "prune", "-f", "--filter", "label=x")  # nothing has that label
    assert out == "Total reclaimed space: 0B\n"
    out = busybox.out("system", "prune", "-f", "-a")
    assert "Deleted Containers:\n" in out and "Deleted Networks:\nn144\n" in out
    assert "untagged: busybox:latest" in out and busybox.out("images", "-q") == ""
    assert busybox.out("system", "check", "--repair").startswith("store at ")


def test_df_info_version_and_the_container_management_command(busybox):
    c = busybox.out("container", "run", "-d", "--name", "box", "busybox", "sleep", "60").strip()
    busybox.out("container", "create", "--name", "idle", "busybox", "true")
    assert _ids(busybox, "container", "ls") == [c[:12]] == _ids(busybox, "container", "list")
    assert len(_ids(busybox, "container", "ps", "-a")) == 2
    assert json.loads(busybox.out("container", "inspect", "box"))[0]["Id"] == c
    r = busybox("container", "inspect", "busybox")
    assert r.returncode == 1 and r.stderr == b"Error: No such container: busybox\n"
    assert busybox.out("container", "exec", "box", "echo", "hi") == "hi\n"
    busybox.out("container", "pause", "box")
    assert _names(busybox, "-f", "status=paused") == ["box"]
    busybox.out("container", "unpause", "box")
    busybox.out("container", "rename", "idle", "idle2")
    assert busybox.out("container", "rm", "idle2") == "idle2\n"
    df = [line.split() for line in busybox.out("system", "df").splitlines()]
    assert df[0] == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [r[0] for r in df[1:]] == ["Images", "Containers", "Local", "Build"] and df[1][1:3] == ["1", "1"]
    assert df[3] == ["Local", "Volumes", "0", "0", "0B", "0B"]
    verbose = busybox.out("system", "df", "-v")
    for heading in ("Images space usage:", "Containers space usage:", "Local Volumes space usage:",
                    "Build cache usage: 0B"):
        assert heading in verbose
    image_row = verbose.split("Images space usage:\n\n")[1].splitlines()[1].split()
    assert image_row[:2] == ["busybox", "latest"] and image_row[-1] == "1"  # one container uses it
    assert "box" in verbose.split("Containers space usage:")[1].split("Local Volumes")[0]
    info = busybox.out("system", "info")
    assert info == busybox.out("info")
    assert info.startswith("Client:\n Version:") and "\nServer:\n Containers: 1\n  Running: 1\n  Paused: 0\n" \
        "  Stopped: 0\n Images: 1\n" in info
    for field in (" Storage Driver: overlay2\n", " Cgroup Driver: cgroupfs\n", " Cgroup Version: ",
                  " Kernel Version: ", " Operating System: ", " CPUs: ", " Total Memory: ",
                  f" Corral Root Dir: {busybox.root}\n"):
        assert field in info
    version = busybox.out("version").splitlines()
    assert version[0] == "Client:" and version[1].startswith(" Version:           ")
    assert "Server: corral" in version and " Engine:" in version
    assert any(line.startswith("  API version:      1.50 (minimum version") for line in version)
    busybox.out("container", "stop", "-t", "0", "box")
    assert busybox.out("container", "wait", "box").strip() in ("137", "143", "0")
    busybox.out("container", "rm", "box")
