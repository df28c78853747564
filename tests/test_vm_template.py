"""VM templates (runtime/vm/template.py): a guest booted once per shape, saved, restored for each VM container.

Each test has its own template directory (CORRAL_VM_TEMPLATES), so what it builds, reuses or replaces is
its own. Whether a container was restored rather than booted is read from its QEMU's command line (a
restored one waits for its state: `-incoming defer`, and maps the template's RAM file); whether a template
was reused, from its state file's inode (a rebuild makes new files in a new directory).
"""
from __future__ import annotations

import fcntl
import json
import os
import time

import pytest

from corral.runtime.vm import template


def _templates(directory: str) -> dict[str, dict]:
    """The templates in `directory` by name, each its manifest and its state file's inode."""
    found = {}
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if not name.startswith(".") and os.path.isdir(path):
            with open(os.path.join(path, "manifest.json")) as f:
                found[name] = dict(json.load(f), state_ino=os.stat(os.path.join(path, "state")).st_ino)
    return found


def _qemu_argv(cli, name: str) -> list[str]:
    pid = cli.out("inspect", "-f", "{{.State.Pid}}", name).strip()
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode().split("\0")


@pytest.fixture
def vm(busybox, tmp_path):
    """busybox's store, its VM templates in a directory of the test's own."""
    busybox.templates = str(tmp_path / "templates")
    busybox.env["CORRAL_VM_TEMPLATES"] = busybox.templates
    yield busybox
    leftover = [n for n in os.listdir(busybox.templates) if n.startswith(".build-")] \
        if os.path.isdir(busybox.templates) else []
    assert not leftover, f"a template build left {leftover}"


# ---------------------------------------------------------------- unit: the key and the check

@pytest.mark.unit
def test_the_key_changes_with_each_input(tmp_path):
    kernel, initrd = tmp_path / "vmlinux", tmp_path / "initrd"
    kernel.write_bytes(b"k")
    initrd.write_bytes(b"i")
    def key(accel: str = "tcg", memory_mib: int = 128, cpus: int = 1, nics: int = 0) -> str:
        return template.key(str(kernel), str(initrd), accel, memory_mib, cpus, nics)

    base = key()
    assert base == key()
    others = {key(memory_mib=96), key(cpus=2), key("kvm"), key(nics=1)}
    initrd.write_bytes(b"a new init")
    others.add(key())
    assert base not in others and len(others) == 5


@pytest.mark.unit
def test_a_template_is_valid_only_whole(tmp_path):
    d = tmp_path / "t"
    d.mkdir()
    (d / "state").write_bytes(b"saved devices")
    (d / "ram").write_bytes(b"\0" * 4096)
    st = os.stat(d / "ram")
    manifest = {"key": "k", "version": template.VERSION, "ram": [st.st_size, st.st_ino, st.st_mtime_ns],
                "state": template._sha256(str(d / "state"))}
    (d / "manifest.json").write_text(json.dumps(manifest))
    assert template.valid(str(d), "k")
    assert not template.valid(str(d), "another")
    (d / "state").write_bytes(b"saved devicez")
    assert not template.valid(str(d), "k")
    (d / "state").write_bytes(b"saved devices")
    with open(d / "ram", "r+b") as f:
        f.truncate(2048)
    assert not template.valid(str(d), "k")
    (d / "manifest.json").write_text("{")
    assert not template.valid(str(d), "k")


@pytest.mark.unit
def test_unusable_templates_and_long_unused_inits_are_pruned(tmp_path, monkeypatch):
    from corral.runtime.vm import assets, build

    monkeypatch.setenv("CORRAL_VM_CACHE", str(tmp_path))
    monkeypatch.setenv("CORRAL_VM_TEMPLATES", str(tmp_path / "templates"))
    current, old, recent, interrupted = (tmp_path / n for n in (
        os.path.basename(assets.init_dir()), "init-0000000000000000", "init-1111111111111111",
        "init-2222222222222222.x1y2z3"))
    for d in (current, old, recent, interrupted):
        d.mkdir()
        (d / "initrd.cpio").write_bytes(b"cpio")
    (tmp_path / "vmlinux").write_bytes(b"kernel")
    now = time.time()
    for d in (current, old, interrupted):
        os.utime(d, (now - 8 * 86400, now - 8 * 86400))
    assert assets.guest_initrd() == str(current / "initrd.cpio")  # a use: the current init is touched
    assert sorted(build.prune_inits(now)) == sorted([str(old), str(interrupted)])
    assert current.exists() and recent.exists()
    for name, initrd in (("usable", recent), ("orphan", old)):
        d = tmp_path / "templates" / name
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(json.dumps({"kernel": str(tmp_path / "vmlinux"),
                                                     "initrd": str(initrd / "initrd.cpio")}))
        (tmp_path / "templates" / f".{name}.lock").write_text("")
    (tmp_path / "templates" / "damaged").mkdir()
    (tmp_path / "templates" / "damaged" / "manifest.json").write_text("{")
    assert template.prune() == [str(tmp_path / "templates" / "orphan")]
    assert sorted(os.listdir(tmp_path / "templates")) == [".usable.lock", "damaged", "usable"]


@pytest.mark.unit
def test_a_restore_is_asked_in_one_write_and_read_as_it_comes(tmp_path):
    import socket

    (tmp_path / "state").write_bytes(b"saved")

    def restore(*replies: bytes) -> tuple[list[str | None], list[dict]]:
        resumed = template.Resume(str(tmp_path))
        qemu = socket.socket(fileno=os.dup(resumed.qemu_end))
        resumed.begin()
        asked = [json.loads(line) for line in qemu.recv(65536).splitlines()]
        said = []
        for reply in replies:
            if reply:
                qemu.sendall(reply)
            else:
                qemu.close()
            said.append(resumed.feed())
        if qemu.fileno() >= 0:
            qemu.close()
        return said, asked

    greeting = b'{"QMP": {"version": {}}}\n'
    done = b'{"return": {}}\n' * 3 + b'{"event": "MIGRATION", "data": {"status": "completed"}}\n'
    said, asked = restore(greeting, done)
    assert said == [None, ""]
    assert [a["execute"] for a in asked] == ["qmp_capabilities", "migrate-set-capabilities", "migrate-incoming", "cont"]
    assert asked[2]["arguments"]["uri"].startswith("fd:")
    [failed], _ = restore(b'{"event": "MIGRATION", "data": {"status": "failed"}}\n')
    assert failed.endswith("QEMU could not load its state")
    [refused], _ = restore(b'{"error": {"class": "GenericError", "desc": "no"}}\n')
    assert "QEMU refused a command" in refused
    [garbage], _ = restore(b"[1, 2]\n")
    assert garbage.endswith("its monitor answered garbage")
    [ended], _ = restore(b"")
    assert ended.endswith("QEMU ended")


@pytest.mark.unit
def test_templates_off_means_a_cold_boot(monkeypatch):
    monkeypatch.setenv("CORRAL_VM_TEMPLATES", "none")
    argv = ["qemu"]
    assert template.resume(argv, "/nonexistent/vmlinux", "/nonexistent/initrd", "tcg", 128) is None
    assert argv == ["qemu"]


# ---------------------------------------------------------------- root: real guests

def test_built_once_reused_and_rebuilt_for_another_memory_size(vm):
    assert vm.out("run", "--rm", "--isolation=vm", "busybox", "echo", "first") == "first\n"
    [(name, first)] = _templates(vm.templates).items()
    assert (first["memory_mib"], first["cpus"]) == (128, 1)
    assert template.valid(os.path.join(vm.templates, name), name)
    vm.out("run", "-d", "--name", "again", "--isolation=vm", "busybox", "sleep", "1000")
    argv = _qemu_argv(vm, "again")
    assert "defer" in argv and any(os.path.join(vm.templates, name, "ram") in a for a in argv), argv
    assert vm.out("exec", "again", "date", "+%Y") == time.strftime("%Y\n")  # the host's clock, not the template's
    vm.out("rm", "-f", "again")
    assert _templates(vm.templates)[name]["state_ino"] == first["state_ino"]  # reused, not rebuilt
    assert vm.out("run", "--rm", "--isolation=vm", "-m", "96m", "busybox", "sh", "-c",
                  "grep MemTotal /proc/meminfo >/dev/null && echo small") == "small\n"
    templates = _templates(vm.templates)
    assert sorted(t["memory_mib"] for t in templates.values()) == [96, 128]


def test_a_corrupt_template_is_detected_and_replaced(vm):
    vm.out("run", "--rm", "--isolation=vm", "busybox", "true")
    [(name, before)] = _templates(vm.templates).items()
    with open(os.path.join(vm.templates, name, "state"), "r+b") as f:
        f.seek(100)
        f.write(b"\xff" * 16)
    assert vm.out("run", "--rm", "--isolation=vm", "busybox", "echo", "ok") == "ok\n"
    [(same, after)] = _templates(vm.templates).items()
    assert same == name and after["state_ino"] != before["state_ino"]
    assert template.valid(os.path.join(vm.templates, name), name)
    with open(os.path.join(vm.templates, name, "ram"), "r+b") as f:  # a truncated RAM file
        f.truncate(1 << 20)
    assert vm.out("run", "--rm", "--isolation=vm", "busybox", "echo", "ok") == "ok\n"
    assert template.valid(os.path.join(vm.templates, name), name)
    assert os.path.getsize(os.path.join(vm.templates, name, "ram")) == 128 << 20


def test_containers_of_one_template_see_only_their_own_root(vm):
    for name in ("one", "two"):
        vm.out("run", "-d", "--name", name, "--isolation=vm", "busybox", "sleep", "1000")
        vm.out("exec", name, "sh", "-c", f"echo {name} > /mine")
    argvs = [_qemu_argv(vm, name) for name in ("one", "two")]
    assert all("defer" in argv for argv in argvs)
    [ram] = {a for argv in argvs for a in argv if "mem-path=" in a}  # one template for both
    assert vm.out("exec", "one", "cat", "/mine") == "one\n"
    assert vm.out("exec", "two", "cat", "/mine") == "two\n"
    assert vm.out("exec", "two", "sh", "-c", "ls / | grep -c mine") == "1\n"
    ids = {name: vm.out("inspect", "-f", "{{.Id}}", name).strip() for name in ("one", "two")}
    assert vm.out("diff", "one") == "A /mine\n"
    vm.out("rm", "-f", "one", "two")
    for cid in ids.values():
        assert not os.path.exists(os.path.join(vm.root, "containers", cid))
    assert not [line for line in open("/proc/self/mountinfo") if vm.templates in line]


def test_a_template_being_built_elsewhere_means_a_cold_boot(vm):
    vm.out("run", "--rm", "--isolation=vm", "busybox", "true")
    [name] = _templates(vm.templates)
    os.unlink(os.path.join(vm.templates, name, "manifest.json"))  # invalid: to be rebuilt, but the lock is held
    lock = os.open(os.path.join(vm.templates, f".{name}.lock"), os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        vm.out("run", "-d", "--name", "cold", "--isolation=vm", "busybox", "sleep", "1000")
        assert "-incoming" not in _qemu_argv(vm, "cold")
        assert vm.out("exec", "cold", "echo", "booted") == "booted\n"
        vm.out("rm", "-f", "cold")
    finally:
        os.close(lock)
    assert not template.valid(os.path.join(vm.templates, name), name)
    killed = os.path.join(vm.templates, f".build-{name}-1")  # what a builder killed midway left
    os.makedirs(os.path.join(killed, "root"))
    assert vm.out("run", "--rm", "--isolation=vm", "busybox", "echo", "rebuilt") == "rebuilt\n"
    assert template.valid(os.path.join(vm.templates, name), name) and not os.path.exists(killed)


def test_a_template_that_cannot_be_built_means_a_cold_boot(busybox, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the templates would go")
    busybox.env["CORRAL_VM_TEMPLATES"] = str(blocked)
    busybox.out("run", "-d", "--name", "cold", "--isolation=vm", "busybox", "sleep", "1000")
    assert "-incoming" not in _qemu_argv(busybox, "cold")
    assert busybox.out("exec", "cold", "echo", "booted") == "booted\n"
    busybox.out("rm", "-f", "cold")
    assert blocked.read_text() == "a file where the templates would go"
