"""Seccomp: a docker JSON profile → the OCI `linux.seccomp` of one container → a BPF program, cached.

Two steps, as docker and runc split them:

- at create (spec.py), `oci()` resolves a docker profile for the container's
  capability set, architecture and kernel: `includes`/`excludes` decide which
  rules exist, `archMap` which architectures the filter covers. The result is
  the OCI runtime-spec object, so crun given the same bundle applies the same policy;
- at start and exec (in the monitor), `program()` compiles that object to
  classic BPF with libseccomp (sys/libseccomp.py) once, and keeps the bytes
  under the store (`<store>/seccomp/<sha256>.bpf`, written atomically) and in
  memory: a warm start reads a file, or nothing, and never loads libseccomp.

The init and every exec load the bytes as their last step before execve
(runtime/init.py); the kernel then checks each system call of the container.
"""
from __future__ import annotations

import os

from corral.errors import InvalidArgument

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "x86", "armv7l": "arm", "s390x": "s390x",
            "ppc64le": "ppc64le", "riscv64": "riscv64"}
_SCMP_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64", "s390x": "SCMP_ARCH_S390X",
              "riscv64": "SCMP_ARCH_RISCV64", "ppc64le": "SCMP_ARCH_PPC64LE"}
ACTIONS = ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS",
           "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG")
OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
       "SCMP_CMP_MASKED_EQ")
_FORMAT_VERSION = "corral-seccomp-2"
_memo: dict[str, bytes] = {}


def default_profile() -> dict:
    from corral.runtime.seccomp_default import profile

    return profile()


def parse_profile(text: str) -> dict:
    """A profile in docker's JSON format (--security-opt seccomp=FILE's content), checked so that a
    mistake is one line at create rather than a container that never starts."""
    from corral import fastjson as json

    try:
        profile = json.loads(text)
    except ValueError as e:
        raise InvalidArgument(f"Decoding seccomp profile failed: {e}") from None
    if not isinstance(profile, dict):
        raise InvalidArgument("Decoding seccomp profile failed: not a JSON object")
    check_action(profile.get("defaultAction") or "", "defaultAction")
    for rule in profile.get("syscalls") or []:
        if not isinstance(rule, dict) or not (rule.get("names") or rule.get("name")):
            raise InvalidArgument(f"seccomp profile: a rule without names: {rule!r}")
        check_action(rule.get("action") or "", f"the action of {rule.get('names') or rule.get('name')}")
        for arg in rule.get("args") or []:
            if arg.get("op") not in OPS or not isinstance(arg.get("index"), int) or not 0 <= arg["index"] < 6:
                raise InvalidArgument(f"seccomp profile: invalid argument condition {arg!r}")
    return profile


def check_action(action: str, what: str) -> None:
    if action not in ACTIONS:
        hint = " (corral has no seccomp agent for SCMP_ACT_NOTIFY)" if action == "SCMP_ACT_NOTIFY" else ""
        raise InvalidArgument(f"seccomp profile: unknown {what}: {action!r}{hint}")


def oci(profile: dict, caps: list[str], machine: str | None = None, kernel: str | None = None) -> dict:
    """The OCI linux.seccomp object of `profile` for a container whose capability set is `caps`
    ("CAP_*" names), on `machine` (os.uname().machine) and kernel release `kernel` (the host's)."""
    uname = os.uname()
    machine = machine or uname.machine
    kernel_version = _version(kernel or uname.release)
    arch = _GO_ARCH.get(machine, machine)
    held = set(caps)
    syscalls = []
    for rule in profile.get("syscalls") or []:
        if not _selected(rule, held, arch, kernel_version):
            continue
        out: dict = {"names": list(rule.get("names") or [rule["name"]]), "action": rule["action"]}
        errno_ret = rule.get("errnoRet")
        if errno_ret is not None:
            out["errnoRet"] = errno_ret
        if rule.get("args"):
            out["args"] = [{"index": a["index"], "value": a.get("value", 0), "valueTwo": a.get("valueTwo", 0),
                            "op": a["op"]} for a in rule["args"]]
        syscalls.append(out)
    result: dict = {"defaultAction": profile["defaultAction"], "architectures": architectures(profile, machine),
                    "syscalls": syscalls}
    if profile.get("defaultErrnoRet") is not None:
        result["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return result


def architectures(profile: dict, machine: str) -> list[str]:
    """The native architecture and its sub-architectures from archMap (or the profile's own list)."""
    if profile.get("architectures"):
        return list(profile["architectures"])
    native = _SCMP_ARCH.get(machine)
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            return [native] + list(entry.get("subArchitectures") or [])
    return [native] if native else []


def _selected(rule: dict, held: set[str], arch: str, kernel: tuple[int, ...]) -> bool:
    """docker's includes (all must hold) and excludes (none may)."""
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("caps") and not set(inc["caps"]) <= held:
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if inc.get("minKernel") and kernel < _version(inc["minKernel"]):
        return False
    if exc.get("caps") and set(exc["caps"]) & held:
        return False
    if exc.get("arches") and arch in exc["arches"]:
        return False
    if exc.get("minKernel") and kernel >= _version(exc["minKernel"]):
        return False
    return True


def _version(release: str) -> tuple[int, ...]:
    parts = []
    for piece in release.split("-")[0].split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit()) if not piece.isdigit() else piece
        parts.append(int(digits or 0))
    return tuple(parts)


def program(linux_seccomp: dict | None, cache_dir: str | None) -> bytes | None:
    """The BPF program (struct sock_filter array as bytes) of an OCI linux.seccomp object, from the
    memo, from `cache_dir`, or compiled and stored there; None for no object (unconfined)."""
    if not linux_seccomp:
        return None
    from corral import fastjson as json

    text = json.dumps(linux_seccomp, sort_keys=True)
    found = _memo.get(text)
    if found is not None:
        return found
    path = os.path.join(cache_dir, _key(text) + ".bpf") if cache_dir else None
    try:
        with open(path or "", "rb") as f:
            found = f.read()
    except OSError:
        found = None
    if not found or len(found) % 8:
        from corral.sys import libseccomp

        found = libseccomp.compile_filter(linux_seccomp)
        if path:
            _store(path, found)
    _memo[text] = found
    return found


def _key(text: str) -> str:
    try:
        from _sha256 import sha256  # the builtin one: hashlib loads OpenSSL (~4 ms) in a fresh monitor
    except ImportError:
        from hashlib import sha256

    return sha256(f"{_FORMAT_VERSION}\0{os.uname().machine}\0{text}".encode()).hexdigest()


def cache_name(linux_seccomp: dict) -> str:
    """The file under the cache directory that holds the program of `linux_seccomp` (what prune keeps)."""
    from corral import fastjson as json

    return _key(json.dumps(linux_seccomp, sort_keys=True)) + ".bpf"


def _store(path: str, data: bytes) -> None:
    """Atomically, so a concurrent reader sees the whole program or none; the temporary file is named
    "<hash>-<writer identity>.bpf.tmp" (store/owners.py), so that one a killed writer left is told from a
    live writer's and the repair removes it (store/check.py, dead_scratch)."""
    from corral import failpoints
    from corral.store.owners import identity

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path[:-len('.bpf')]}-{identity()}.bpf.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    failpoints.hit("seccomp.tmp")
    os.rename(tmp, path)
