"""Small differences from the docker CLI that break scripts (issue 14, items 4 and 5), each pinned by
its effect: environment and label files, --cidfile, start -i, wait on a created container, logs
--since/--until, --pids-limit -1, a failed start, --cpus, docker's pre-defined networks, history
-H=false, flag errors and help, generated names, and the global flags."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import SRC, network_residue

sys.path.insert(0, SRC)

from corral.api import names  # noqa: E402
from corral.cli.main import command  # noqa: E402
from corral.cli.parser import UsageError, parse  # noqa: E402
from corral.cli.shared import env_list, read_kv_file  # noqa: E402
from corral.errors import Conflict, InvalidArgument  # noqa: E402
from corral.timestamps import docker_time, go_duration  # noqa: E402


def _inspect(cli, ref: str) -> dict:  # noqa: ANN001
    return json.loads(cli.out("inspect", ref))[0]


# environment, labels, cidfile -------------------------------------------------------------------------------


def test_bare_env_takes_the_callers_value_or_leaves_the_variable_unset(busybox):
    busybox.env.update(FROM_CALLER="caller's value")
    busybox.env.pop("NOT_SET_HERE", None)
    out = busybox.out("run", "--rm", "-e", "FROM_CALLER", "-e", "NOT_SET_HERE", "-e", "PLAIN=1", "busybox", "env")
    assert "FROM_CALLER=caller's value\n" in out and "PLAIN=1\n" in out
    assert "NOT_SET_HERE" not in out  # docker: not set at all, not set empty
    busybox.out("run", "-d", "--name", "ex", "busybox", "sleep", "60")
    out = busybox.out("exec", "-e", "FROM_CALLER", "-e", "NOT_SET_HERE", "ex", "env")
    assert "FROM_CALLER=caller's value\n" in out and "NOT_SET_HERE" not in out
    busybox.out("rm", "-f", "ex")


def test_env_file_and_label_file_in_dockers_format(busybox, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\n\nA=1\n  B=two words  \nFROM_CALLER\nUNSET_BARE\nC=x=y\n")
    label_file = tmp_path / "labels"
    label_file.write_text("# labels\ncom.example.a=1\ncom.example.bare\n")
    busybox.env.update(FROM_CALLER="yes")
    busybox.env.pop("UNSET_BARE", None)
    out = busybox.out("run", "--rm", "--env-file", str(env_file), "-e", "A=override", "busybox", "env")
    assert "A=override\n" in out and "B=two words  \n" in out and "FROM_CALLER=yes\n" in out
    assert "C=x=y\n" in out and "UNSET_BARE" not in out and "comment" not in out
    busybox.out("create", "--name", "lab", "--label-file", str(label_file), "-l", "com.example.a=2", "busybox")
    assert _inspect(busybox, "lab")["Config"]["Labels"] == {"com.example.a": "2", "com.example.bare": ""}
    r = busybox("run", "--rm", "--env-file", str(tmp_path / "missing"), "busybox", "true")
    assert r.returncode == 125 and b"no such file or directory" in r.stderr
    busybox.out("rm", "lab")


def test_cidfile_gets_the_id_and_an_existing_one_is_refused(busybox, tmp_path):
    path = tmp_path / "cid"
    cid = busybox.out("create", "--cidfile", str(path), "busybox", "true").strip()
    assert path.read_text() == cid
    r = busybox("run", "--rm", "--cidfile", str(path), "busybox", "true")
    assert r.returncode == 125
    assert r.stderr.decode() == (f"Error: Container ID file found, make sure the other container isn't running "
                                 f"or delete {path}\n")
    assert path.read_text() == cid and busybox.out("ps", "-aq").split() == [cid[:12]]
    failed = tmp_path / "failed"
    assert busybox("run", "--cidfile", str(failed), "nosuchimage").returncode == 125
    assert not failed.exists()  # removed with the create that failed, as docker does
    busybox.out("rm", cid)


# start, wait, logs ------------------------------------------------------------------------------------------


def test_start_i_attaches_stdin_and_output(busybox):
    busybox.out("create", "-i", "--name", "cat", "busybox", "sh", "-c", "read line; echo got $line; exit 3")
    r = busybox("start", "-i", "cat", input=b"hello\n", timeout=30)
    assert (r.returncode, r.stdout) == (3, b"got hello\n")
    busybox.out("rm", "cat")


def test_wait_on_a_created_container_returns_at_once(busybox):
    busybox.out("create", "--name", "never", "busybox", "true")
    started = time.monotonic()
    assert busybox.out("wait", "never", timeout=20) == "0\n"
    assert time.monotonic() - started < 10
    busybox.out("rm", "never")


def test_logs_since_and_until(busybox):
    busybox.out("run", "--name", "lg", "busybox", "sh", "-c", "echo one; sleep 1.2; echo two")
    stamped = busybox.out("logs", "-t", "lg").splitlines()
    (t1, _), (t2, _) = (line.split(" ", 1) for line in stamped)
    assert busybox.out("logs", "--since", t2, "lg") == "two\n"
    assert busybox.out("logs", "--until", t1, "lg") == "one\n"
    t2_ns = docker_time(t2)
    unix_t2 = f"{t2_ns // 10**9}.{t2_ns % 10**9:09d}"
    assert busybox.out("logs", "--since", unix_t2, "lg") == "two\n"
    assert busybox.out("logs", "--since", "10m", "lg") == "one\ntwo\n"
    assert busybox.out("logs", "--until", "1h30m", "lg") == ""
    assert busybox.out("logs", "--since", "2000-01-01", "--until", t1, "lg") == "one\n"
    assert busybox.out("logs", "--tail", "1", "--until", t1, "lg") == ""  # tail first, then the filter
    r = busybox("logs", "--since", "yesterday", "lg")
    assert r.returncode == 1 and r.stderr == b'Error: failed to parse value as time or duration: "yesterday"\n'
    busybox.out("rm", "lg")


# resources ----------------------------------------------------------------------------------------------------


def test_pids_limit_minus_one_and_zero_are_unlimited(busybox):
    for limit in ("-1", "0"):
        busybox.out("create", "--name", f"p{limit}", "--pids-limit", limit, "busybox", "true")
        info = _inspect(busybox, f"p{limit}")
        assert info["HostConfig"]["PidsLimit"] is None and "pids" not in info["Resources"]
        assert busybox("start", "-a", f"p{limit}").returncode == 0
        busybox.out("rm", f"p{limit}")
    busybox.out("create", "--name", "p5", "--pids-limit", "5", "busybox", "true")
    assert _inspect(busybox, "p5")["Resources"]["pids"] == {"limit": 5}
    busybox.out("rm", "p5")


def test_cpus_above_the_host_is_refused_as_docker(busybox):
    count = len(os.sched_getaffinity(0))
    r = busybox("run", "--rm", "--cpus", str(count + 1), "busybox", "true")
    assert r.returncode == 125
    assert r.stderr.decode() == (f"Error: range of CPUs is from 0.01 to {count}.00, as there are only {count} "
                                 "CPUs available\n")
    assert busybox.out("ps", "-aq") == ""


def test_a_failed_start_leaves_the_container_created(busybox):
    r = busybox("run", "--name", "nf", "busybox", "no-such-command")
    assert r.returncode == 127 and b"executable file not found" in r.stderr
    state = _inspect(busybox, "nf")["State"]
    assert (state["Status"], state["Running"], state["ExitCode"]) == ("created", False, 127)
    assert "executable file not found" in state["Error"]
    assert state["StartedAt"] == "0001-01-01T00:00:00Z"
    [line] = busybox.out("ps", "-a").splitlines()[1:]
    assert "   Created   " in line and "Exited" not in line
    assert busybox.out("ps", "-q") == ""
    assert busybox.out("wait", "nf", timeout=20) == "127\n"
    busybox.out("rm", "nf")


# networks -------------------------------------------------------------------------------------------------------


def test_predefined_networks_listed_inspected_and_not_removable(busybox):
    busybox.env["CORRAL_NETWORK_POOLS"] = "10.213.91.0/24:24"  # the default switch's record: never brought up
    listed = [line.split() for line in busybox.out("network", "ls").splitlines()[1:]]
    assert [row[1:4] for row in listed] == [["bridge", "bridge", "local"], ["host", "host", "local"],
                                            ["none", "null", "local"]]
    bridge, host, none = json.loads(busybox.out("network", "inspect", "bridge", "host", "none"))
    assert bridge["Id"].startswith(listed[0][0]) and host["Id"].startswith(listed[1][0])
    assert bridge["IPAM"]["Config"] == [{"Subnet": "10.213.91.0/24", "Gateway": "10.213.91.1"}]
    assert (host["Driver"], none["Driver"]) == ("host", "null")
    assert network_residue(busybox.root) == []  # listing and inspecting made no bridge on the host
    assert json.loads(busybox.out("network", "inspect", "bridge"))[0]["Id"] == bridge["Id"]  # the same one
    r = busybox("network", "rm", "bridge", "host", "none")
    assert r.returncode == 1
    assert r.stderr.decode() == "".join(f"Error: {n} is a pre-defined network and cannot be removed\n"
                                        for n in ("bridge", "host", "none"))
    busybox.out("run", "-d", "--name", "onhost", "--network", "host", "busybox", "sleep", "60")
    info = json.loads(busybox.out("network", "inspect", "host"))[0]
    assert [c["Name"] for c in info["Containers"].values()] == ["onhost"]
    busybox.out("rm", "-f", "onhost")


# history, flags, help -------------------------------------------------------------------------------------------


def test_history_human_false_prints_bytes_and_rfc3339(busybox):
    for flag in ("-H=false", "--human=false"):
        rows = busybox.out("history", flag, "busybox").splitlines()[1:]
        assert rows
        for row in rows:
            fields = row.split()
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", fields[1]), row
            assert any(f.isdigit() for f in fields[2:]), row
    human = busybox.out("history", "busybox").splitlines()[1]
    assert " ago " in human and re.search(r"\d(B|kB|MB)\b", human)


def test_flag_errors_and_help_as_docker(busybox):
    for args in (("ps", "--bogus"), ("run", "--bogus", "busybox"), ("network", "ls", "--bogus")):
        r = busybox(*args)
        name = " ".join(args[:-1] if args[0] != "run" else args[:1])
        assert r.returncode == 125, args
        assert r.stderr.decode() == (f"unknown flag: --bogus\n\nUsage:  corral {command(name).usage}\n\n"
                                     f"Run 'corral {name} --help' for more information\n")
    r = busybox("logs")
    assert r.returncode == 1 and r.stderr.startswith(b"corral: 'corral logs' requires exactly 1 argument\n\n")
    for args in (("ps", "-h"), ("ps", "--help"), ("network", "create", "--help"), ("logs", "-h"),
                 ("run", "--help")):
        r = busybox(*args)
        assert r.returncode == 0 and r.stdout.startswith(f"Usage:  corral {command(' '.join(args[:-1])).usage}\n"
                                                         .encode()), args
    assert busybox.out("run", "--rm", "-h", "myhost", "busybox", "hostname") == "myhost\n"  # -h: hostname
    assert busybox.out("run", "--rm", "busybox", "echo", "--help") == "--help\n"  # the container's


def test_global_flags(busybox, other):
    r = busybox("-H", "unix:///run/corral.sock", "ps")
    assert r.returncode == 125 and b"only local stores are supported until `corral serve` lands" in r.stderr
    busybox.env["CORRAL_HOST"] = "unix:///run/corral.sock"
    assert busybox("ps").returncode == 125
    del busybox.env["CORRAL_HOST"]
    config = busybox.root + "-config"  # --config: docker's config.json's directory, as DOCKER_CONFIG
    with open(os.path.join(os.makedirs(config) or config, "config.json"), "w") as f:
        f.write('{"auths": {"127.0.0.1:1": {"auth": "eDp5"}}}')
    assert busybox.out("--config", config, "logout", "127.0.0.1:1") == "Removing login credentials for 127.0.0.1:1\n"
    assert busybox.out("--config", config, "logout", "127.0.0.1:1") == "Not logged in to 127.0.0.1:1\n"
    r = busybox("--log-level", "loud", "ps")
    assert r.returncode == 1 and r.stderr == b"Unable to parse logging level: loud\n"
    r = busybox("rm", "nosuch")
    assert r.returncode == 1 and b"Traceback" not in r.stderr
    for flags, verb in ((("-D",), "rm"), (("--debug",), "logs"), (("--log-level", "debug"), "rm"),
                        (("-l=debug",), "logs")):
        r = busybox(*flags, verb, "nosuch")
        assert r.returncode == 1 and b"Traceback (most recent call last)" in r.stderr, flags
        assert r.stderr.endswith(b"Error: No such container: nosuch\n")
    assert busybox("--log-level", "warn", "ps").returncode == 0
    cid = busybox.out("create", "busybox", "true").strip()
    assert busybox.out("--root", other.root, "ps", "-aq") == ""
    assert busybox.out(f"--root={busybox.root}", "ps", "-aq").split() == [cid[:12]]
    busybox.out("rm", cid)


# pure logic --------------------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_boolean_flags_take_a_value_as_pflag():
    assert parse(command("history"), ["-H=false", "img"])[0]["human"] is False
    assert parse(command("history"), ["--human=0", "img"])[0]["human"] is False
    assert parse(command("ps"), ["-a=true"])[0]["all"] is True
    with pytest.raises(UsageError, match='invalid argument "maybe" for "--all" flag') as e:
        parse(command("ps"), ["--all=maybe"])
    assert e.value.status == 125


@pytest.mark.unit
@pytest.mark.parametrize(("name", "args", "message"), [
    ("ps", ["x"], "'corral ps' accepts no arguments"),
    ("rm", [], "'corral rm' requires at least 1 argument"),
    ("rename", ["a"], "'corral rename' requires exactly 2 arguments"),
    ("port", ["a", "b", "c"], "'corral port' requires at least 1 and at most 2 arguments"),
    ("images", ["a", "b"], "'corral images' requires at most 1 argument"),
])
def test_argument_counts_in_dockers_words(name, args, message):
    with pytest.raises(UsageError, match=message) as e:
        parse(command(name), args)
    assert e.value.status == 1


@pytest.mark.unit
def test_docker_times_and_durations():
    assert go_duration("10m") == 600 and go_duration("1h30m") == 5400 and go_duration("1.5h") == 5400
    assert go_duration("300ms") == pytest.approx(0.3) and go_duration("-2s") == -2 and go_duration("10") is None
    now, s = 1_700_000_000.75, 10**9
    assert docker_time("10m", now) == (1_700_000_000 - 600) * s  # whole seconds, as docker's
    assert docker_time("2023-11-14T22:13:20Z") == 1_700_000_000 * s
    assert docker_time("2023-11-14T22:13:20.5+01:00") == (1_700_000_000 - 3600) * s + s // 2
    assert docker_time("2023-11-14T22:13Z") == (1_700_000_000 - 20) * s
    assert docker_time("1700000000.123456789") == 1_700_000_000_123_456_789
    assert docker_time("2023-11-14") == int(time.mktime((2023, 11, 14, 0, 0, 0, 0, 0, -1))) * s  # local time
    for bad in ("soon", "2023-13-01", "1h-"):
        with pytest.raises(InvalidArgument):
            docker_time(bad)


@pytest.mark.unit
def test_env_files_and_bare_names(tmp_path, monkeypatch):
    monkeypatch.setenv("HAVE", "v")
    monkeypatch.delenv("HAVE_NOT", raising=False)
    f = tmp_path / "f"
    f.write_bytes("\ufeff# c\n\n K=V \nHAVE\nHAVE_NOT\n".encode())
    assert read_kv_file(str(f), True) == ["K=V ", "HAVE=v", "HAVE_NOT"]
    assert read_kv_file(str(f), False) == ["K=V ", "HAVE", "HAVE_NOT"]
    assert env_list(["HAVE", "HAVE_NOT", "K=2"], [str(f)]) == ["K=V ", "HAVE=v", "HAVE_NOT", "HAVE=v", "HAVE_NOT",
                                                              "K=2"]
    f.write_text("BAD KEY=1\n")
    with pytest.raises(InvalidArgument, match="variable 'BAD KEY' contains whitespaces"):
        read_kv_file(str(f), True)


@pytest.mark.unit
def test_generated_names_and_their_retries():
    assert len(names._ADJECTIVES) * len(names._SURNAMES) > 10_000
    for _ in range(200):
        assert re.fullmatch(r"[a-z]+_[a-z_]+", names.generate()) and names.validate(names.generate())
        assert re.fullmatch(r"[a-z]+_[a-z_]+\d", names.generate(retry=1))
    seen: list[str] = []

    def taken(name: str) -> bool:
        seen.append(name)
        return len(seen) < 4  # the first three tries clash

    name = names.free_name(taken)
    assert name == seen[-1] and len(seen) == 4 and name[-1].isdigit()
    with pytest.raises(Conflict, match="no free container name"):
        names.free_name(lambda n: True)


def test_hundreds_of_unnamed_containers_get_distinct_names(busybox):
    """The 154th unnamed container once failed with a name Conflict; names are retried on a clash."""
    script = ("import sys; sys.path.insert(0, %r)\nfrom corral.api import Host\nh = Host()\n"
              "print(len({h.create_container('busybox', ['true']).name for _ in range(300)}))") % SRC
    r = subprocess.run([sys.executable, "-c", script], env=busybox.env, capture_output=True, timeout=300)
    assert r.stdout == b"300\n", r.stderr
    ids = busybox.out("ps", "-aq").split()
    assert len(ids) == 300
    busybox.out("rm", *ids, timeout=300)
