"""Docker's events: recorded by every corral process into the store's bounded journal, read back in order
by `corral events` and Client.events(), with docker's filters, bounds and JSON shape."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import CORRAL, SRC

sys.path.insert(0, SRC)

from corral.api import events  # noqa: E402
from corral.errors import InvalidArgument  # noqa: E402
from corral.store import events as journal  # noqa: E402
from corral.store.root import Store  # noqa: E402

DOCKER_KEYS = {"status": str, "id": str, "from": str, "Type": str, "Action": str, "Actor": dict, "scope": str,
               "time": int, "timeNano": int}
"""moby's events.Message as the docker CLI 28 reads it: the legacy status/id/from of container events first."""


def _now() -> str:
    return f"{time.time():.9f}"


def _seen(cli, since: str, *args: str) -> list[dict]:
    """Every event since `since` until now, as `corral events --format json` prints them."""
    lines = cli.out("events", "--since", since, "--until", _now(), "--format", "json", *args).splitlines()
    return [json.loads(line) for line in lines]


def _actions(found: list[dict], kind: str | None = None) -> list[str]:
    return [e["Action"] for e in found if kind is None or e["Type"] == kind]


# ------------------------------------------------------------------ the journal and its logic (no root)


@pytest.mark.unit
def test_the_journal_keeps_the_newest_limit_events_in_order(tmp_path):
    store = Store(str(tmp_path))
    for i in range(25):
        journal.append(store, "container", "start", f"c{i}", {"n": str(i)}, limit=10)
    kept = journal.after(store)
    assert [r.actor for r in kept] == [f"c{i}" for i in range(15, 25)] and journal.count(store) == 10
    assert [r.seq for r in kept] == list(range(16, 26))  # seq goes on: a follower's place stays valid
    assert all(a.time_ns <= b.time_ns for a, b in zip(kept, kept[1:]))
    assert journal.after(store, 20, batch=2)[0].actor == "c20" and len(journal.after(store, 20, batch=2)) == 2


@pytest.mark.unit
def test_record_writes_strings_and_never_raises(tmp_path):
    store = Store(str(tmp_path))
    events.record(store, "container", "die", "abc", {"exitCode": 3, "execDuration": 0})
    (rec,) = journal.after(store)
    assert rec.attributes == {"exitCode": "3", "execDuration": "0"}
    os.chmod(tmp_path / "corral.db", 0o400)
    store.close()
    unwritable = Store(str(tmp_path))
    if os.geteuid() != 0:  # root writes a read-only file anyway; the point is only that no error escapes
        events.record(unwritable, "container", "die", "abc")
    events.record(Store(str(tmp_path / "no" / "such")), "container", "die", "abc")  # made on first use: fine


@pytest.mark.unit
def test_the_recording_module_imports_nothing_at_load():
    code = ("import sys; before = set(sys.modules); import corral.api.events; "
            "print(sorted(set(sys.modules) - before))")
    r = subprocess.run([sys.executable, "-IS", "-c", f"import sys; sys.path.insert(0, {SRC!r}); {code}"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "['__future__', 'corral', 'corral.api', 'corral.api.events']"


def _msg(kind: str, action: str, actor: str, **attrs: str) -> dict:
    rec = journal.EventRecord(1, 1_700_000_000_123_456_789, kind, action, actor, attrs)
    return events.message(rec)


@pytest.mark.unit
def test_message_has_dockers_shape_and_legacy_fields():
    m = _msg("container", "start", "c1", image="busybox", name="web")
    assert list(m) == ["status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert (m["status"], m["id"], m["from"], m["time"], m["timeNano"]) == \
        ("start", "c1", "busybox", 1_700_000_000, 1_700_000_000_123_456_789)
    assert list(_msg("image", "tag", "sha256:x", name="a:1")) == ["status", "id", "Type", "Action", "Actor", "scope",
                                                                 "time", "timeNano"]
    assert "status" not in _msg("network", "create", "n1", name="n", type="bridge")


@pytest.mark.unit
def test_filters_as_dockers():
    start = _msg("container", "start", "abcdef", image="busybox", name="web", team="a")
    exec_ = _msg("container", "exec_start: ls -l", "abcdef", image="busybox:latest", name="web")
    tag = _msg("image", "tag", "sha256:1234", name="busybox:2")
    net = _msg("network", "connect", "n1234", name="lab", type="bridge", container="abcdef")

    def keep(filters: dict, *msgs: dict) -> list[bool]:
        return [events.matches(events.check_filters(filters), m) for m in msgs]

    assert keep({}, start, tag, net) == [True, True, True]
    assert keep({"type": ["image", "network"]}, start, tag, net) == [False, True, True]
    assert keep({"event": ["start"]}, start, exec_) == [True, False]
    assert keep({"event": ["exec_start"]}, start, exec_) == [False, True]  # by prefix, as docker's
    assert keep({"event": "exec_start: ls -l"}, exec_) == [True]
    assert keep({"container": ["abc"]}, start, net) == [True, False]  # ID prefix; network events name it apart
    assert keep({"container": ["we"]}, start) == [True] and keep({"container": ["nope"]}, start) == [False]
    assert keep({"network": ["lab"]}, start, net) == [False, True]
    assert keep({"image": ["busybox"]}, start, exec_, tag) == [True, True, True]  # tag stripped, names familiar
    assert keep({"image": ["busybox:2"]}, start, tag) == [False, True]
    assert keep({"image": ["docker.io/library/busybox"]}, start, tag) == [False, False]  # docker's exact names
    assert keep({"label": ["team"]}, start, exec_) == [True, False]
    assert keep({"label": ["team=a"], "event": ["start", "die"]}, start) == [True]
    assert keep({"label": ["team=b"]}, start) == [False]
    with pytest.raises(InvalidArgument, match="^invalid filter 'colour'$"):
        events.check_filters({"colour": ["red"]})


@pytest.mark.unit
def test_since_until_take_dockers_forms():
    assert events.bound("1700000000.5", "since") == 1_700_000_000_500_000_000
    assert events.bound("2023-11-14T22:13:20Z", "since") == 1_700_000_000_000_000_000
    assert events.bound(1_700_000_000, "since") == 1_700_000_000_000_000_000
    assert abs(events.bound("10m", "since") / 1e9 - (time.time() - 600)) < 2
    assert events.bound(None, "since") is None
    with pytest.raises(InvalidArgument, match="cannot be after `until`"):
        events.window("1700000001", "1700000000")
    with pytest.raises(InvalidArgument, match='failed to parse value as time or duration: "soon"'):
        events.window("soon", None)


@pytest.mark.unit
def test_the_line_format_is_dockers():
    from corral.cli.events_cmds import line

    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        m = _msg("container", "die", "c1", name="web", exitCode="0", image="busybox")
        assert line(m) == "2023-11-14T22:13:20.123456789Z container die c1 (exitCode=0, image=busybox, name=web)"
        assert line(_msg("volume", "create", "v")) == "2023-11-14T22:13:20.123456789Z volume create v"
    finally:
        del os.environ["TZ"]
        time.tzset()


@pytest.mark.unit
def test_since_after_the_fact_and_until_from_the_python_api(tmp_path):
    import corral

    client = corral.Client(str(tmp_path))
    t0 = time.time()
    for action in ("create", "start", "die", "destroy"):
        events.record(client.api.store, "container", action, "c1", {"name": "web", "image": "busybox"})
    t1 = time.time()
    events.record(client.api.store, "volume", "create", "v1", {"driver": "local"})
    raw = list(client.events(since=t0, until=t1))
    assert all(isinstance(b, bytes) and b.endswith(b"\n") for b in raw)
    assert [json.loads(b)["Action"] for b in raw] == ["create", "start", "die", "destroy"]
    found = list(client.events(since=t0, until=time.time() + 0.2, decode=True, filters={"type": "volume"}))
    assert [(e["Type"], e["Action"], e["Actor"]["ID"]) for e in found] == [("volume", "create", "v1")]
    with pytest.raises(InvalidArgument):
        client.events(since=t1, until=t0)


@pytest.mark.unit
def test_a_live_follower_sees_another_process_promptly_and_close_ends_it(tmp_path):
    """Client.events() without bounds follows; events recorded by another process reach it within a poll."""
    import corral

    client = corral.Client(str(tmp_path))
    events.record(client.api.store, "container", "create", "old")  # before: not shown
    stream = client.events(decode=True)
    got: list[tuple[dict, float]] = []

    def read() -> None:
        for e in stream:
            got.append((e, time.monotonic()))

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.2)
    sent = []
    for i in range(3):
        sent.append(time.monotonic())
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {SRC!r}); "
                        "from corral.store.root import Store; from corral.api import events; "
                        f"events.record(Store({str(tmp_path)!r}), 'container', 'start', 'new{i}')"], check=True)
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stream.close()
    reader.join(2)
    assert not reader.is_alive()  # close() ended a blocked iteration from another thread
    assert [e["Actor"]["ID"] for e, _ in got] == ["new0", "new1", "new2"]
    delays = [seen - sent[i] for i, (_, seen) in enumerate(got)]
    assert max(delays) < 1.0, delays  # a subprocess start (~30 ms) plus at most one poll (50 ms)


@pytest.mark.unit
def test_the_cli_follows_until_interrupted_and_stops_at_until(tmp_path):
    env = dict(os.environ, CORRAL_ROOT=str(tmp_path), PYTHONPATH=SRC)
    store = Store(str(tmp_path))
    events.record(store, "container", "create", "c0")
    follower = subprocess.Popen(CORRAL + ["events", "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}"],
                                stdout=subprocess.PIPE, env=env)
    try:
        time.sleep(1.0)  # the follower has started and read where the journal ends
        events.record(store, "container", "start", "c1")
        first = follower.stdout.readline()
        assert first == b"container start c1\n"
    finally:
        follower.kill()
        follower.wait()
    t0 = time.monotonic()  # until alone: what was recorded (docker's), then live until that time
    r = subprocess.run(CORRAL + ["events", "--until", f"{time.time() + 1:.3f}", "--format", "{{.Actor.ID}}"],
                       capture_output=True, env=env, timeout=10)
    assert r.returncode == 0 and r.stdout == b"c0\nc1\n" and 0.9 < time.monotonic() - t0 < 3
    r = subprocess.run(CORRAL + ["events", "--format", "{{.Nope}}"], capture_output=True, env=env, timeout=10)
    assert r.returncode == 64 and r.stderr.startswith(b"Error parsing format: template: ") and \
        b"can't evaluate field Nope in type events.Message" in r.stderr
    r = subprocess.run(CORRAL + ["events", "-f", "colour=red", "--until", "0"], capture_output=True, env=env)
    assert r.returncode == 1 and r.stderr == b"Error: invalid filter 'colour'\n"


# ------------------------------------------------------------------ recorded where they happen (root)


def test_a_container_life_cycle_in_order_with_dockers_attributes(busybox):
    t0 = _now()
    cid = busybox.out("create", "--name", "evc", "-l", "team=a", "busybox", "sleep", "60").strip()
    busybox.out("start", "evc")
    assert busybox("exec", "evc", "sh", "-c", "exit 2").returncode == 2
    busybox.out("pause", "evc")
    busybox.out("unpause", "evc")
    busybox.out("rename", "evc", "evd")
    busybox.out("stop", "-t", "1", "evd")  # sleep as PID 1 ignores SIGTERM: killed after 1 s
    busybox.out("rm", "evd")
    found = _seen(busybox, t0, "-f", f"container={cid[:12]}")
    assert _actions(found) == ["create", "start", "exec_create: sh -c exit 2", "exec_start: sh -c exit 2", "exec_die",
                               "pause", "unpause", "rename", "kill", "kill", "die", "stop", "destroy"]
    assert all(set(e) == set(DOCKER_KEYS) and all(isinstance(e[k], t) for k, t in DOCKER_KEYS.items())
               for e in found)
    assert all(e["Actor"]["ID"] == e["id"] == cid and e["from"] == "busybox" and e["scope"] == "local"
               for e in found)
    by = {e["Action"]: e["Actor"]["Attributes"] for e in found}
    assert by["create"] == {"image": "busybox", "name": "evc", "team": "a"}
    assert by["exec_die"]["exitCode"] == "2" and by["exec_die"]["execID"] == by["exec_start: sh -c exit 2"]["execID"]
    assert by["rename"]["name"] == "evd" and by["rename"]["oldName"] == "evc"
    assert [e["Actor"]["Attributes"]["signal"] for e in found if e["Action"] == "kill"] == ["15", "9"]
    assert by["die"]["exitCode"] == "137" and by["die"]["execDuration"] in ("1", "2")
    times = [e["timeNano"] for e in found]
    assert times == sorted(times) and all(e["time"] == e["timeNano"] // 10**9 for e in found)
    assert _actions(_seen(busybox, t0, "-f", "event=die", "-f", "label=team=a")) == ["die"]
    assert _actions(_seen(busybox, t0, "-f", "label=team=b")) == []


def test_run_rm_records_die_from_the_monitor_with_no_client_left(busybox):
    """die is written by the monitor, which sees the exit: here the client is gone long before."""
    t0 = _now()
    cid = busybox.out("run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.3; exit 7").strip()
    deadline = time.monotonic() + 10
    while "destroy" not in _actions(_seen(busybox, t0)) and time.monotonic() < deadline:
        time.sleep(0.1)
    found = _seen(busybox, t0, "-f", f"container={cid}")
    assert _actions(found) == ["create", "start", "die", "destroy"]
    assert found[2]["Actor"]["Attributes"]["exitCode"] == "7"


def test_network_and_volume_events(busybox):
    t0 = _now()
    busybox.out("volume", "create", "evvol")
    net_id = busybox.out("network", "create", "--subnet", "10.235.7.0/24", "evnet").strip()
    cid = busybox.out("run", "-d", "--name", "evn", "--network", "evnet", "-v", "evvol:/data", "busybox",
                      "sleep", "60").strip()
    busybox.out("rm", "-f", "evn")
    busybox.out("network", "rm", "evnet")
    busybox.out("volume", "rm", "evvol")
    found = _seen(busybox, t0, "-f", "type=network", "-f", "type=volume")
    assert [(e["Type"], e["Action"]) for e in found] == [
        ("volume", "create"), ("network", "create"), ("network", "connect"), ("volume", "mount"),
        ("network", "disconnect"), ("volume", "unmount"), ("network", "destroy"), ("volume", "destroy")]
    assert {e["Actor"]["ID"] for e in found if e["Type"] == "network"} == {net_id}
    connect = found[2]["Actor"]["Attributes"]
    assert connect == {"container": cid, "name": "evnet", "type": "bridge"}
    assert found[3]["Actor"]["Attributes"] == {"container": cid, "destination": "/data", "driver": "local",
                                               "propagation": "", "read/write": "true"}
    assert all("status" not in e and "id" not in e for e in found)  # no legacy fields for these, as docker's
    assert _actions(_seen(busybox, t0, "-f", "network=evnet")) == ["create", "connect", "disconnect", "destroy"]
    assert _actions(_seen(busybox, t0, "-f", "volume=evvol")) == ["create", "mount", "unmount", "destroy"]


def test_image_events(busybox, tmp_path):
    t0 = _now()
    image_id = busybox.out("image", "inspect", "-f", "{{.Id}}", "busybox").strip()
    busybox.out("tag", "busybox", "evimg:1")
    busybox.out("save", "-o", str(tmp_path / "bb.tar"), "evimg:1")
    busybox.out("rmi", "evimg:1")
    busybox.out("load", "-i", str(tmp_path / "bb.tar"))
    busybox.out("create", "--name", "evcommit", "busybox", "true")
    new_id = busybox.out("commit", "evcommit", "evimg:2").strip()
    busybox.out("rm", "evcommit")
    busybox.out("rmi", "evimg:2")
    found = _seen(busybox, t0, "-f", "type=image")
    assert [(e["Action"], e["Actor"]["ID"]) for e in found][:4] == [
        ("tag", image_id), ("save", image_id), ("untag", image_id), ("load", image_id)]
    assert found[0]["Actor"]["Attributes"]["name"] == "evimg:1" and found[0]["status"] == "tag"
    assert [(e["Action"], e["Actor"]["ID"]) for e in found][4:] == [
        ("tag", new_id), ("untag", new_id), ("delete", new_id)]
    commit = [e for e in _seen(busybox, t0, "-f", "event=commit")]
    assert len(commit) == 1 and commit[0]["Actor"]["Attributes"]["imageID"] == new_id
    assert commit[0]["Actor"]["Attributes"]["imageRef"] == "evimg:2"
    assert _actions(_seen(busybox, t0, "-f", "image=evimg")) == ["tag", "tag"]  # untag names the ID, as docker


def test_the_python_api_sees_a_life_cycle_in_order(busybox):
    import corral

    client = corral.Client(busybox.root)
    t0 = time.time()
    c = client.containers.run("busybox", "sleep 60", detach=True, labels={"k": "v"})
    assert c.exec_run("true").exit_code == 0
    c.kill("KILL")
    c.wait()
    c.remove()
    found = list(client.events(since=t0, until=time.time() + 0.1, decode=True, filters={"container": c.id}))
    assert _actions(found) == ["create", "start", "exec_create: true ", "exec_start: true ", "exec_die", "kill",
                               "die", "destroy"]
    assert found[-3]["Actor"]["Attributes"]["signal"] == "9" and found[-2]["Actor"]["Attributes"]["exitCode"] == "137"
    assert all(e["Actor"]["Attributes"]["k"] == "v" for e in found)


def test_resize_and_restart_from_the_python_api(busybox):
    import corral

    client = corral.Client(busybox.root)
    t0 = time.time()
    c = client.containers.run("busybox", "sleep 60", detach=True, tty=True)
    try:
        c.resize(30, 100)
        c.restart(timeout=0)
    finally:
        c.remove(force=True)
    found = list(client.events(since=t0, until=time.time() + 0.1, decode=True, filters={"container": c.id}))
    assert _actions(found)[:3] == ["create", "start", "resize"]
    assert {k: found[2]["Actor"]["Attributes"][k] for k in ("height", "width")} == {"height": "30", "width": "100"}
    assert "restart" in _actions(found) and _actions(found)[-1] == "destroy"
    assert _actions(found).index("restart") > _actions(found).index("die")
