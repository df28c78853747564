"""Seccomp on the real kernel (issue 20, item 1): Docker's default profile in every container and exec,
--security-opt seccomp=unconfined|PROFILE.json and no-new-privileges, --privileged, and the compiled
filter cached under the store."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

STATUS = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\\t'"
USERNS = "if unshare -U -r true 2>/dev/null; then echo userns=yes; else echo userns=no; fi"


def test_a_default_container_and_its_execs_are_filtered(busybox):
    r = busybox("run", "--rm", "busybox", "sh", "-c", f"{STATUS}; {USERNS}; unshare -U -r true")
    assert r.stdout.decode().splitlines() == ["NoNewPrivs:1", "Seccomp:2", "userns=no"]
    assert r.returncode == 1 and b"unshare(0x10000000): Operation not permitted" in r.stderr
    cid = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    try:
        assert busybox.out("exec", cid, "sh", "-c", f"{STATUS}; {USERNS}").splitlines() == [
            "NoNewPrivs:1", "Seccomp:2", "userns=no"]
        # a privileged exec has every capability but the container's filter, as docker's
        assert busybox.out("exec", "--privileged", cid, "sh", "-c", f"{STATUS}; {USERNS}").splitlines() == [
            "NoNewPrivs:0", "Seccomp:2", "userns=no"]
    finally:
        busybox.out("rm", "-f", cid)


def test_unconfined_and_privileged_containers_may_make_a_user_namespace(busybox):
    for flags in (["--security-opt", "seccomp=unconfined"], ["--privileged"]):
        out = busybox.out("run", "--rm", *flags, "busybox", "sh", "-c", f"{STATUS}; {USERNS}")
        assert "Seccomp:0" in out.splitlines() and "userns=yes" in out.splitlines(), flags


def test_cap_add_sys_admin_lets_the_profile_allow_unshare(busybox):
    out = busybox.out("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", f"{STATUS}; {USERNS}")
    assert out.splitlines() == ["NoNewPrivs:1", "Seccomp:2", "userns=yes"]


def test_a_custom_profile_denies_mkdir_with_eperm(busybox, tmp_path):
    profile = tmp_path / "nomkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}))
    r = busybox("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c",
                f"{STATUS}; mkdir /tmp/x; echo mkdir=$?; touch /tmp/y && echo touch=ok")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["NoNewPrivs:1", "Seccomp:2", "mkdir=1", "touch=ok"]
    assert b"Operation not permitted" in r.stderr


def test_no_new_privileges_false_keeps_the_filter(busybox):
    out = busybox.out("run", "--rm", "--security-opt", "no-new-privileges=false", "busybox", "sh", "-c",
                      f"{STATUS}; {USERNS}")
    assert out.splitlines() == ["NoNewPrivs:0", "Seccomp:2", "userns=no"]


def test_security_opt_is_inspected_and_bad_values_create_nothing(busybox, tmp_path):
    cid = busybox.out("create", "--security-opt", "seccomp=unconfined", "--security-opt", "no-new-privileges",
                      "busybox", "true").strip()
    assert json.loads(busybox.out("inspect", "-f", "{{json .HostConfig.SecurityOpt}}", cid)) == [
        "seccomp=unconfined", "no-new-privileges=true"]
    busybox.out("rm", cid)
    (tmp_path / "bad.json").write_text("{not json")
    for value, message in (("seccomp=" + str(tmp_path / "bad.json"), b"Decoding seccomp profile failed"),
                           ("seccomp=" + str(tmp_path / "none.json"), b"opening seccomp profile"),
                           ("apparmor=docker-default", b"corral does not apply apparmor options"),
                           ("bogus", b'invalid --security-opt 1: "bogus"')):
        r = busybox("run", "--rm", "--security-opt", value, "busybox", "true")
        assert r.returncode == 125 and message in r.stderr and r.stderr.count(b"\n") == 1, (value, r.stderr)
    assert busybox.out("ps", "-aq") == ""


def test_the_compiled_filter_is_cached_in_the_store_and_reused(busybox):
    busybox.out("run", "--rm", "busybox", "true")
    cached = glob.glob(os.path.join(busybox.root, "seccomp", "*.bpf"))
    assert len(cached) == 1
    before = os.stat(cached[0]).st_mtime_ns
    busybox.out("run", "--rm", "busybox", "true")
    busybox.out("run", "--rm", "--cap-drop", "CHOWN", "busybox", "true")  # no rule names CHOWN: the same program
    busybox.out("run", "--rm", "--cap-add", "SYS_PTRACE", "busybox", "true")  # ptrace allowed: another program
    after = glob.glob(os.path.join(busybox.root, "seccomp", "*.bpf"))
    assert cached[0] in after and len(after) == 2 and os.stat(cached[0]).st_mtime_ns == before


def test_docker_py_security_opt(busybox):
    script = """
import corral
client = corral.from_env()
out = client.containers.run("busybox", ["sh", "-c", "grep Seccomp: /proc/self/status"], remove=True,
                            security_opt=["seccomp=unconfined"])
print(out.decode().split())
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, env=busybox.env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"['Seccomp:', '0']\n"
