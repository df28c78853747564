"""The seccomp profile → OCI linux.seccomp translation, the compiler's rules, the cache, and where the init
loads the filter: pure data, libseccomp in this process (it needs no privilege) and the recording fake."""
from __future__ import annotations

import json
import os

import pytest

from corral.errors import InvalidArgument
from corral.runtime import caps, exec as exec_, init, seccomp, spec
from corral.runtime.options import ContainerOptions, check_security_opts
from corral.runtime.seccomp_default import NAMESPACE_FLAGS
from corral.sys import libseccomp
from corral.sys.fake import ExecCalled, RecordingSyscall

pytestmark = pytest.mark.unit

DEFAULT_CAPS = caps.oci_names(caps.DOCKER_DEFAULT)


def allowed(linux_seccomp: dict) -> set[str]:
    """Names allowed without any argument condition."""
    return {n for r in linux_seccomp["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
            for n in r["names"]}


def rules_for(linux_seccomp: dict, name: str) -> list[dict]:
    return [r for r in linux_seccomp["syscalls"] if name in r["names"]]


def test_the_default_profile_refuses_namespaces_mounts_and_kernel_interfaces_to_a_default_container():
    o = seccomp.oci(seccomp.default_profile(), DEFAULT_CAPS, "x86_64", "6.1.0")
    assert o["defaultAction"] == "SCMP_ACT_ERRNO" and o["defaultErrnoRet"] == 1
    assert o["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    names = allowed(o)
    assert {"read", "execve", "mkdir", "chown", "arch_prctl", "modify_ldt", "ptrace"} <= names
    refused = {"unshare", "setns", "mount", "umount2", "keyctl", "add_key", "bpf", "perf_event_open", "kexec_load",
               "open_by_handle_at", "init_module", "reboot", "settimeofday", "clone", "clone3", "syslog"}
    assert names & refused == set()
    assert rules_for(o, "clone") == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                                      "args": [{"index": 0, "value": NAMESPACE_FLAGS, "valueTwo": 0,
                                                "op": "SCMP_CMP_MASKED_EQ"}]}]
    assert rules_for(o, "clone3") == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    assert sorted(r["args"][0]["value"] for r in rules_for(o, "personality")) == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    assert rules_for(o, "socket")[0]["args"] == [{"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_NE"}]


def test_capabilities_include_and_exclude_rules():
    admin = seccomp.oci(seccomp.default_profile(), DEFAULT_CAPS + ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"], "x86_64")
    names = allowed(admin)
    assert {"unshare", "setns", "mount", "clone", "clone3", "bpf", "kcmp", "process_madvise"} <= names
    assert [r for r in rules_for(admin, "clone") if r.get("args")] == []  # the namespace check is for others only
    assert [r for r in rules_for(admin, "clone3") if r["action"] != "SCMP_ACT_ALLOW"] == []
    time = seccomp.oci(seccomp.default_profile(), ["CAP_SYS_TIME"], "x86_64")
    assert {"settimeofday", "clock_settime"} <= allowed(time) and "reboot" not in allowed(time)


def test_architectures_and_kernel_versions_select_rules():
    arm = seccomp.oci(seccomp.default_profile(), DEFAULT_CAPS, "aarch64", "6.1.0")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert {"set_tls", "cacheflush"} <= allowed(arm) and "arch_prctl" not in allowed(arm)
    old = seccomp.oci(seccomp.default_profile(), DEFAULT_CAPS, "x86_64", "4.4.0-210-generic")
    assert "ptrace" not in allowed(old)  # minKernel 4.8, as docker's


def test_a_users_profile_keeps_its_own_architectures_errno_and_conditions():
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"name": "socket", "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}],
         "excludes": {"caps": ["CAP_NET_RAW"]}}]}
    o = seccomp.oci(profile, [], "x86_64")
    assert o == {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 2, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}]}
    assert len(seccomp.oci(profile, ["CAP_NET_RAW"], "x86_64")["syscalls"]) == 1


@pytest.mark.parametrize("text, message", [
    ("{bad", "Decoding seccomp profile failed"),
    ("[]", "not a JSON object"),
    ('{"defaultAction": "SCMP_ACT_NOTIFY"}', "no seccomp agent"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}', "without names"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", '
     '"args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}', "invalid argument condition"),
])
def test_a_bad_profile_is_one_clear_line(text, message):
    with pytest.raises(InvalidArgument, match=message):
        seccomp.parse_profile(text)


def test_security_opts_are_read_as_dockers_cli_reads_them(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    assert check_security_opts(["seccomp=unconfined", "no-new-privileges", "no-new-privileges:false",
                                f"seccomp={path}", "apparmor=unconfined"]) == [
        "seccomp=unconfined", "no-new-privileges=true", "no-new-privileges=false",
        'seccomp={"defaultAction": "SCMP_ACT_ALLOW"}', "apparmor=unconfined"]
    for bad, message in (("foo=bar", 'invalid --security-opt 1: "foo=bar"'),
                         ("no-new-privileges=maybe", "invalid --security-opt 2"),
                         ("apparmor=docker-default", "corral does not apply apparmor options"),
                         (f"seccomp={tmp_path}/none.json", "opening seccomp profile")):
        with pytest.raises(InvalidArgument, match=message):
            check_security_opts([bad])


def test_the_spec_carries_the_profile_unless_unconfined_or_privileged(tmp_path):
    def linux(**kw: object) -> tuple[dict, bool]:
        opts = ContainerOptions(cmd=["sh"], **kw)
        opts.check()
        return (spec.build("c0ffee" * 10 + "abcd", opts, {}, _rootfs(tmp_path), str(tmp_path))["linux"],
                opts.no_new_privileges())

    default, nnp = linux()
    assert default["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO" and nnp
    assert "seccomp" not in linux(security_opt=["seccomp=unconfined"])[0]
    assert "seccomp" not in linux(privileged=True)[0] and not linux(privileged=True)[1]
    assert not linux(security_opt=["no-new-privileges=false"])[1]
    added = linux(cap_add=["SYS_ADMIN"])[0]["seccomp"]
    assert "unshare" in allowed(added)


def _rootfs(tmp_path):
    from corral.store.rootfs import Mount

    for d in ("rootfs", "upper", "work", "lower"):
        os.makedirs(tmp_path / d, exist_ok=True)
    return Mount("overlay", "overlay", [f"lowerdir={tmp_path}/lower", f"upperdir={tmp_path}/upper",
                                        f"workdir={tmp_path}/work"])


def test_conditions_on_distinct_arguments_are_anded_on_one_argument_ored():
    a0, a1, b0 = ({"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 3, "op": "SCMP_CMP_EQ"})
    assert libseccomp.condition_sets([]) == [[]]
    assert libseccomp.condition_sets([a0, a1]) == [[a0, a1]]
    assert libseccomp.condition_sets([a0, b0]) == [[a0], [b0]]
    assert libseccomp.action("SCMP_ACT_ERRNO", None) == 0x50001 and libseccomp.action("SCMP_ACT_ERRNO", 38) == 0x50026


def test_the_compiled_program_skips_unknown_names_and_rules_equal_to_the_default():
    o = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
         "syscalls": [{"names": ["read", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                      {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    program = libseccomp.compile_filter(o)
    assert program and len(program) % 8 == 0


def test_the_program_is_compiled_once_then_read_from_the_cache(tmp_path, monkeypatch):
    o = seccomp.oci(seccomp.default_profile(), DEFAULT_CAPS)
    monkeypatch.setattr(seccomp, "_memo", {})
    first = seccomp.program(o, str(tmp_path))
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].endswith(".bpf") and (tmp_path / files[0]).read_bytes() == first

    def refuse(_: dict) -> bytes:
        raise AssertionError("compiled again")

    monkeypatch.setattr(libseccomp, "compile_filter", refuse)
    monkeypatch.setattr(seccomp, "_memo", {})  # a fresh monitor: only the store's file
    assert seccomp.program(o, str(tmp_path)) == first
    assert seccomp.program(o, str(tmp_path)) == first  # and then its memo
    assert seccomp.program(None, str(tmp_path)) is None


def test_the_filter_goes_in_between_the_path_lookup_and_execve():
    fake = RecordingSyscall()
    with pytest.raises(ExecCalled):
        init.execute(["/bin/true"], [], fake, b"\x06\0\0\0\0\0\xff\x7f")
    assert fake.calls == [("seccomp_filter", ("06000000" "0000ff7f",)),
                          ("execve", ("/bin/true", ["/bin/true"], {}))]


def test_without_no_new_privs_the_filter_goes_in_before_the_capabilities_are_dropped():
    fake = RecordingSyscall()
    assert init.seccomp_before_identity({"noNewPrivileges": True}, b"12345678", fake) == b"12345678"
    assert fake.calls == []
    assert init.seccomp_before_identity({"noNewPrivileges": False}, b"12345678", fake) is None
    assert fake.names() == ["seccomp_filter"]
    fake.fail("seccomp_filter", OSError(13, "Permission denied"))
    with pytest.raises(init.ExecFailure, match="cannot apply the seccomp profile"):
        init.load_seccomp(b"12345678", fake)


def test_an_exec_child_loads_the_containers_filter_last(tmp_path):
    from test_init_calls import collapsed, run_forked

    entry = tmp_path / "tasks"
    entry.write_text("")
    process = {"args": ["/bin/ls"], "env": [], "cwd": "/", "noNewPrivileges": True,
               "user": {"uid": 0, "gid": 0}, "capabilities": {"bounding": [], "effective": [], "permitted": []}}
    ns_fds = {"cgroup": 11, "ipc": 12, "uts": 13, "net": 14, "mnt": 15}
    code, written = run_forked(lambda fake, fail_w: exec_._child(ns_fds, process, [str(entry)], (0, 1, 2), fail_w,
                                                                 fake, b"abcdefgh"))
    assert code == 0, written
    calls = json.loads(written)
    assert collapsed(calls)[-3:] == ["capset", "seccomp_filter", "execve"]
    assert calls[-2] == ["seccomp_filter", [b"abcdefgh".hex()]]
