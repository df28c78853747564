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


def test_named_volume_outlives_its_containers_and_is_refused_removal_while_used(busybox):
    busybox.out("run", "--rm", "-v", "store:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert busybox.out("volume", "ls", "-q").split() == ["store"]  # made on first use
    assert busybox.out("run", "--rm", "--mount", "source=store,target=/d", "busybox", "cat", "/d/f") == "kept\n"
    cid = busybox.out("create", "--name", "user", "-v", "store:/data:ro", "busybox", "sh", "-c",
                      "echo more > /data/g").strip()
    r = busybox("volume", "rm", "store")
    assert r.returncode == 1 and f"remove store: volume is in use - [{cid}]" in r.stderr.decode()
    assert busybox.out("volume", "ls", "-q", "-f", "dangling=false").split() == ["store"]
    assert busybox.out("ps", "-aq", "-f", "volume=store").split() == [cid[:12]]
    assert busybox("start", "-a", "user").returncode == 1  # :ro refuses writes
    [m] = json.loads(busybox.out("inspect", "-f", "{{json .Mounts}}", "user"))
    assert m["Type"] == "volume" and m["Name"] == "store" and m["Destination"] == "/data" and m["RW"] is False
    assert m["Source"] == os.path.join(busybox.root, "volumes/store/_data") and m["Driver"] == "local"
    busybox.out("rm", "-v", "user")  # -v takes anonymous volumes only
    assert busybox.out("volume", "rm", "store").strip() == "store"


def test_binds_show_host_changes_live_and_ro_refuses_writes(busybox, tmp_path):
    host = tmp_path / "shared"
    busybox.out("run", "-d", "--name", "live", "-v", f"{host}:/s", "-v", f"{tmp_path}:/ro:ro", "busybox",
                "sleep", "60")
    assert host.is_dir()  # -v makes a missing host directory, as docker's
    (host / "f").write_text("one")
    assert busybox.out("exec", "live", "cat", "/s/f") == "one"
    (host / "f").write_text("two")
    assert busybox.out("exec", "live", "cat", "/s/f") == "two"
    busybox.out("exec", "live", "sh", "-c", "echo back > /s/g")
    assert (host / "g").read_text() == "back\n"
    r = busybox("exec", "live", "touch", "/ro/x")
    assert r.returncode != 0 and b"Read-only file system" in r.stderr and not (tmp_path / "x").exists()
    [bind, ro] = json.loads(busybox.out("inspect", "-f", "{{json .Mounts}}", "live"))
    assert bind == {"Type": "bind", "Source": str(host), "Destination": "/s", "Mode": "", "RW": True,
                    "Propagation": "rprivate"}
    assert ro["Mode"] == "ro" and ro["RW"] is False
    busybox.out("rm", "-f", "live")
    missing = busybox("run", "--rm", "--mount", f"type=bind,src={tmp_path}/nope,dst=/x", "busybox", "true")
    assert missing.returncode == 125 and b"bind source path does not exist" in missing.stderr


def test_copy_up_keeps_owners_modes_and_links_and_volume_in_image_is_anonymous(busybox):
    busybox.out("run", "--name", "maker", "busybox", "sh", "-c",
                "mkdir -p /srv/d && echo x > /srv/d/f && chown 1000:2000 /srv/d/f && chmod 640 /srv/d/f && "
                "chmod 750 /srv/d && ln -s f /srv/d/l")
    busybox.out("commit", "--change", "VOLUME /srv", "maker", "withvol:1")
    busybox.out("rm", "maker")
    assert busybox.out("run", "--rm", "-v", "fresh:/srv", "busybox", "ls", "-A", "/srv") == ""  # no /srv there
    assert busybox.out("run", "--rm", "-v", "fresh:/srv", "withvol:1", "stat", "-c", "%u:%g %a %F",
                       "/srv/d", "/srv/d/f", "/srv/d/l") == \
        "0:0 750 directory\n1000:2000 640 regular file\n0:0 777 symbolic link\n"
    assert busybox.out("run", "--rm", "-v", "bare:/srv:nocopy", "withvol:1", "ls", "-A", "/srv") == ""
    cid = busybox.out("create", "withvol:1", "true").strip()
    [m] = json.loads(busybox.out("inspect", "-f", "{{json .Mounts}}", cid))
    assert m["Type"] == "volume" and m["Destination"] == "/srv" and len(m["Name"]) == 64
    assert busybox.out("run", "--rm", "--volumes-from", f"{cid}:ro", "busybox", "cat", "/srv/d/f") == "x\n"
    assert m["Name"] in busybox.out("volume", "ls", "-q")
    busybox.out("rm", "-v", cid)
    assert m["Name"] not in busybox.out("volume", "ls", "-q")
    busybox.out("run", "--rm", "withvol:1", "true")  # --rm removes its anonymous volume too
    busybox.out("run", "--rm", "-v", "/anon", "busybox", "true")
    assert sorted(busybox.out("volume", "ls", "-q").split()) == ["bare", "fresh"]


@pytest.mark.parametrize("args, message", [
    (("-v", "rel/dir:/x"), '"rel/dir" includes invalid characters for a local volume name'),
    (("-v", "data:rel"), "mount path must be absolute"),
    (("-v", "/tmp:/x:bogus"), "invalid mode: bogus"),
    (("-v", "a:b:c:d"), "invalid volume specification: 'a:b:c:d'"),
    (("--mount", "type=volume,target=/x,colour=red"), "unexpected key 'colour'"),
    (("--mount", "type=volume,source=v1"), "field Target must not be empty"),
    (("--mount", "type=bind,src=/tmp,dst=x"), "mount path must be absolute"),
    (("--mount", "type=floppy,dst=/x"), "mount type unknown"),
    (("-v", "/tmp:/x", "--mount", "type=volume,dst=/x/"), "Duplicate mount point: /x"),
])
def test_mount_flags_refuse_bad_input(busybox, args, message):
    r = busybox("create", *args, "busybox", "true")
    assert r.returncode == 125 and message in r.stderr.decode(), r.stderr
    assert busybox.out("ps", "-aq") == "" and busybox.out("volume", "ls", "-q") == ""


def test_local_driver_options_bind_a_host_directory_or_mount_a_tmpfs(busybox, tmp_path):
    busybox.out("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={tmp_path}", "share")
    busybox.out("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", "scratch")
    busybox.out("run", "--rm", "-v", "share:/s", "busybox", "sh", "-c", "echo via > /s/f")
    assert (tmp_path / "f").read_text() == "via\n"
    out = busybox.out("run", "--rm", "-v", "scratch:/t", "busybox", "sh", "-c", "echo a > /t/a; df -k /t; ls /t")
    assert "tmpfs" in out and " 1024 " in out and out.endswith("a\n")
    assert busybox.out("run", "--rm", "-v", "scratch:/t", "busybox", "ls", "-A", "/t") == ""  # a tmpfs per mount
    [info] = json.loads(busybox.out("volume", "inspect", "scratch"))
    assert info["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert busybox.out("volume", "ls", "--format", "{{.Name}} {{.Size}}", "-f", "name=s").split("\n")[:2] == \
        ["scratch N/A", "share N/A"]


def test_client_volumes_and_volumes_and_mounts_keywords(busybox):
    import corral

    client = corral.Client(busybox.root)
    try:
        vol = client.volumes.create("pyvol", labels={"k": "v"})
        assert vol.name == vol.id == "pyvol" and vol.attrs["Labels"] == {"k": "v"}
        assert client.volumes.get("pyvol").attrs["Mountpoint"].endswith("/volumes/pyvol/_data")
        out = client.containers.run("busybox", "sh -c 'echo py > /a/f; cat /b/f'", remove=True,
                                    volumes={"pyvol": {"bind": "/a", "mode": "rw"}},
                                    mounts=[{"Type": "volume", "Source": "pyvol", "Target": "/b", "ReadOnly": True}])
        assert out == b"py\n"
        c = client.containers.create("busybox", "true", volumes=["pyvol:/x", "/anon"])
        assert [v.name for v in client.volumes.list(filters={"dangling": False})][-1] == "pyvol"
        with pytest.raises(corral.errors.Conflict, match="volume is in use"):
            vol.remove()
        c.remove(v=True)
        assert [v.name for v in client.volumes.list()] == ["pyvol"]  # the anonymous one went with rm -v
        assert client.volumes.prune() == {"VolumesDeleted": [], "SpaceReclaimed": 0}
        assert client.volumes.prune(filters={"all": True})["VolumesDeleted"] == ["pyvol"]
        with pytest.raises(corral.errors.NotFound):
            client.volumes.get("pyvol")
    finally:
        client.close()


def test_build_steps_make_no_volumes_and_system_prune_volumes_takes_anonymous_ones(busybox, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nVOLUME /data\nRUN mkdir -p /data && echo built > /data/f\n")
    busybox.out("build", "-q", "-t", "vol:1", str(tmp_path))
    assert busybox.out("volume", "ls", "-q") == ""  # RUN writes into the layer (as BuildKit), no volume left
    assert busybox.out("run", "--rm", "vol:1", "cat", "/data/f") == "built\n"  # copied up into its volume
    busybox.out("create", "--name", "keeper", "-v", "/kept", "busybox", "true")
    busybox.out("volume", "create", "named")
    busybox.out("volume", "create")
    assert len(busybox.out("volume", "ls", "-q").split()) == 3
    out = busybox.out("system", "prune", "-f", "--volumes")  # keeper goes first, then its anonymous volume
    assert "Deleted Containers:" in out and "Deleted Volumes:" in out
    assert busybox.out("volume", "ls", "-q").split() == ["named"]


def test_mount_type_tmpfs_uses_the_tmpfs_flags_options(busybox):
    """--mount type=tmpfs goes through the same mount as --tmpfs (runtime/spec.tmpfs_mount): docker's flags."""
    line = busybox.out("run", "--rm", "--mount", "type=tmpfs,target=/scratch,tmpfs-size=8m,tmpfs-mode=1700",
                       "busybox", "grep", " /scratch ", "/proc/mounts")
    options = line.split()[3].split(",")
    assert {"nosuid", "nodev", "noexec", "size=8192k", "mode=1700"} <= set(options)
    r = busybox("run", "--rm", "--mount", "type=tmpfs,target=/a", "--tmpfs", "/a", "busybox", "true")
    assert r.returncode == 125 and b"Duplicate mount point" in r.stderr


def test_host_config_lists_binds_as_typed_and_mounts_as_docker(busybox, tmp_path):
    cid = busybox.out("create", "-v", f"{tmp_path}:/host:ro", "-v", "named:/n", "-v", "/anon",
                      "--mount", "type=volume,source=other,target=/o,readonly", "busybox", "true").strip()
    host_config = json.loads(busybox.out("inspect", cid))[0]["HostConfig"]
    assert host_config["Binds"] == [f"{tmp_path}:/host:ro", "named:/n"]  # -v as typed, anonymous ones not
    assert host_config["Mounts"] == [{"Type": "volume", "Source": "other", "Target": "/o", "ReadOnly": True}]
    busybox.out("rm", "-v", cid)
    busybox.out("volume", "rm", "named", "other")


def test_volumes_from_shows_in_host_config_as_typed_not_as_copies(busybox, tmp_path):
    """docker's HostConfig.VolumesFrom lists `C[:ro|rw]` as given; the inherited mounts appear in Mounts only
    (not in HostConfig.Binds nor HostConfig.Mounts), and so do an image's VOLUMEs."""
    busybox.out("create", "--name", "donor", "-v", "named:/n", "-v", "/anon", "-v", f"{tmp_path}:/h",
                "--mount", "type=volume,src=other,dst=/o", "busybox", "true")
    busybox.out("create", "--name", "heir", "--volumes-from", "donor:ro", "busybox", "true")
    [info] = json.loads(busybox.out("inspect", "heir"))
    assert info["HostConfig"]["VolumesFrom"] == ["donor:ro"]
    assert info["HostConfig"]["Binds"] is None and info["HostConfig"]["Mounts"] is None
    assert sorted((m["Destination"], m["RW"]) for m in info["Mounts"]) == \
        [("/anon", False), ("/h", False), ("/n", False), ("/o", False)]
    [donor] = json.loads(busybox.out("inspect", "donor"))
    assert donor["HostConfig"]["VolumesFrom"] is None
    busybox.out("commit", "--change", "VOLUME /declared", "donor", "declares:1")
    busybox.out("create", "--name", "declarer", "declares:1", "true")
    [declarer] = json.loads(busybox.out("inspect", "declarer"))
    assert declarer["HostConfig"]["Mounts"] is None and declarer["HostConfig"]["Binds"] is None
    assert [m["Destination"] for m in declarer["Mounts"]] == ["/declared"]
    busybox.out("rm", "-v", "heir", "donor", "declarer")
    assert sorted(busybox.out("volume", "ls", "-q").split()) == ["named", "other"]


def kernel_has(kind: str) -> bool:
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == kind for line in f if line.strip())


@pytest.mark.parametrize("kind, opts", [
    ("nfs", ["o=addr=127.0.0.1,rw,nfsvers=4", "device=:/export"]),
    ("cifs", ["o=addr=127.0.0.1,username=u,password=p", "device=//127.0.0.1/share"]),
])
def test_a_share_type_the_kernel_lacks_is_refused_in_one_line_naming_it(busybox, kind, opts):
    """docker's local driver hands nfs/cifs options to mount(2); a kernel without that client (these hosts
    have none) gets one line at create, and at run for a volume recorded where the kernel had it."""
    args = [a for o in [f"type={kind}", *opts] for a in ("--opt", o)]
    line = f"this kernel has no {kind} file system (not in /proc/filesystems), so the local driver cannot " \
           f"mount type={kind}"
    if kernel_has(kind):
        pytest.skip(f"this kernel has {kind}: its mounts need a server (the options are checked by a unit test)")
    r = busybox("volume", "create", *args, "share")
    assert r.returncode == 1 and r.stderr.decode() == f"Error: volume share: {line}\n"
    assert busybox.out("volume", "ls", "-q") == ""
    from corral.api.volume import DRIVER
    from corral.store import volumes as records
    from corral.store.root import Store

    store = Store(busybox.root)  # as if made on a host whose kernel had the client
    records.insert(store, records.VolumeRecord("share", DRIVER, {}, dict(o.split("=", 1) for o in
                                                                             [f"type={kind}", *opts]), "now"))
    r = busybox("run", "--rm", "-v", "share:/s", "busybox", "true")
    assert r.returncode == 125 and r.stderr.decode() == f"Error: volume share: {line}\n"
    assert busybox.out("ps", "-aq") == "" and busybox.out("volume", "ls", "-q").split() == ["share"]
    busybox.out("volume", "rm", "share")


@pytest.mark.unit
def test_share_options_reach_mount_as_dockers_local_driver_passes_them(tmp_path, monkeypatch):
    from corral.api import volume
    from corral.errors import InvalidArgument
    from corral.runtime import mounts, spec
    from corral.sys import libc
    from corral.sys.fake import RecordingSyscall

    monkeypatch.setattr(mounts, "has_filesystem", lambda kind, listing=None: True)
    vol = volume.Volume.__new__(volume.Volume)
    vol._load(("share", "local", {}, {"type": "nfs", "o": "addr=localhost,ro,nfsvers=4.1,soft", "device": ":/export"},
               "now"))
    oci = spec.container_mount({"target": "/data", "oci": vol.source(), "readonly": False})
    assert oci == {"destination": "/data", "type": "nfs", "source": ":/export",
                   "options": ["addr=127.0.0.1", "ro", "nfsvers=4.1", "soft"]}
    fake = RecordingSyscall()
    mounts.apply_mount(str(tmp_path), oci, fake)
    assert fake.calls == [("mount", (":/export", str(tmp_path / "data"), "nfs", libc.MS_RDONLY,
                                     "addr=127.0.0.1,nfsvers=4.1,soft"))]
    with pytest.raises(InvalidArgument, match="^cannot resolve addr=nowhere.invalid for the cifs"):
        volume._mount_options("cifs", "addr=nowhere.invalid")
    assert volume._mount_options("ext4", "addr=localhost") == ["addr=localhost"]  # only shares resolve addr


@pytest.mark.unit
def test_kernel_filesystems_are_read_from_proc_filesystems():
    from corral.runtime.mounts import has_filesystem

    listing = "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\tfuse\n"
    assert has_filesystem("ext4", listing) and has_filesystem("tmpfs", listing)
    assert has_filesystem("fuse.sshfs", listing)  # a FUSE type needs fuse
    assert not has_filesystem("nfs", listing) and not has_filesystem("sys", listing)


def test_commit_leaves_volume_and_bind_contents_out_and_system_df_counts_volumes(busybox, tmp_path):
    (tmp_path / "idle.bin").write_bytes(os.urandom(2 << 20))
    busybox.out("volume", "create", "idle")
    busybox.out("run", "--name", "writer", "-v", "used:/vol", "-v", "/anon", "-v", f"{tmp_path}:/host",
                "busybox", "sh", "-c", "head -c 1048576 /dev/urandom > /vol/in-volume; echo a > /anon/in-anon; "
                "echo b > /host/in-bind; echo c > /in-root; mkdir -p /vol/sub")
    busybox.out("cp", str(tmp_path / "idle.bin"), "writer:/tmp/")  # into the root: commit keeps it
    busybox.out("run", "--rm", "-v", "idle:/i", "-v", f"{tmp_path}:/h:ro", "busybox", "cp", "/h/idle.bin", "/i/")
    diff = busybox.out("diff", "writer").split()
    assert "/in-root" in diff and not any(p.startswith(("/vol/", "/anon/", "/host/")) for p in diff)
    busybox.out("commit", "writer", "written:1")
    listing = busybox.out("run", "--rm", "written:1", "sh", "-c",
                          "cat /in-root; ls -A /vol /anon /host 2>&1; ls /tmp")
    assert listing.startswith("c\n") and "in-volume" not in listing and "in-anon" not in listing
    assert "in-bind" not in listing and "idle.bin" in listing  # the root's own writes are in the image
    row = next(line for line in busybox.out("system", "df").splitlines() if line.startswith("Local Volumes"))
    # total 3 (used, idle, the anonymous one), active 2 (writer's), the idle one's 2 MiB reclaimable
    total, active, size, reclaimable = row.split()[2:6]
    assert (total, active) == ("3", "2") and size.endswith("MB") and 3.1 <= float(size[:-2]) <= 3.3
    assert reclaimable == "2.1MB"
    table = busybox.out("system", "df", "-v").split("Local Volumes space usage:")[1].split("Build cache")[0]
    links = {line.split()[0]: line.split()[1] for line in table.strip().splitlines()[1:]}
    assert links["used"] == "1" and links["idle"] == "0" and len(links) == 3
    busybox.out("rm", "-v", "writer")
    busybox.out("volume", "rm", "used", "idle")


def test_each_bad_input_of_the_issue_is_one_line_with_dockers_exit_code(busybox, tmp_path):
    """Issue 15's list of bad input, each through the CLI: exactly one line on stderr, docker's exit code
    (125 for run/create, 1 for the volume and cp commands), and nothing made."""
    busybox.out("create", "--name", "holder", "-v", "held:/h", "busybox", "true")
    (tmp_path / "f").write_text("f")
    cases = [
        (("run", "--rm", "-v", "rel/dir:/x", "busybox", "true"), 125, "includes invalid characters"),
        (("run", "--rm", "--mount", "type=volume,target=/x,colour=red", "busybox", "true"), 125, "unexpected key"),
        (("volume", "create", "b@d"), 1, "includes invalid characters for a local volume name"),
        (("run", "--rm", "-v", "b@d:/x", "busybox", "true"), 125, "includes invalid characters"),
        (("run", "--rm", "-v", "data:rel", "busybox", "true"), 125, "mount path must be absolute"),
        (("run", "--rm", "-v", f"{tmp_path}:/x", "-v", "v1:/x", "busybox", "true"), 125, "Duplicate mount point"),
        (("volume", "rm", "held"), 1, "volume is in use"),
        (("cp", str(tmp_path / "f"), "holder:/nowhere/x"), 1, "Could not find the file /nowhere"),
    ]
    for args, code, words in cases:
        r = busybox(*args)
        err = r.stderr.decode()
        assert (r.returncode, err.count("\n")) == (code, 1) and err.startswith("Error: ") and words in err, (args, err)
    assert busybox.out("ps", "-aq").split() == [busybox.out("inspect", "-f", "{{.Id}}", "holder")[:12]]
    assert busybox.out("volume", "ls", "-q").split() == ["held"]
    busybox.out("rm", "holder")
    busybox.out("volume", "rm", "held")
