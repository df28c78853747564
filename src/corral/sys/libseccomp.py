"""Compiling an OCI linux.seccomp object to classic BPF with Debian's libseccomp2, through ctypes.

libseccomp knows every architecture's system call numbers and builds the
filter runc and crun build from the same object; corral only exports the
program (seccomp_export_bpf) and loads it itself, so this library is loaded
once per distinct profile (runtime/seccomp.py caches the bytes), never on a
warm container start.

Semantics kept from runc: a rule whose action is the default action is left
out (libseccomp refuses it); names the library does not know are skipped (a
newer profile on an older library); conditions on distinct arguments are
ANDed in one rule, several conditions on the same argument become one rule
each (ORed), as libseccomp cannot AND those.
"""
from __future__ import annotations

import ctypes
import os

_ACT_ALLOW = 0x7FFF0000
_ACT_KILL_PROCESS = 0x80000000
_ACT_KILL_THREAD = 0x00000000
_ACT_TRAP = 0x00030000
_ACT_ERRNO = 0x00050000
_ACT_TRACE = 0x7FF00000
_ACT_LOG = 0x7FFC0000
_EPERM = 1
_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
        "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_NR_SCMP_ERROR = -1
_EEXIST = 17
_FLTATR_CTL_OPTIMIZE = 8


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


_lib: ctypes.CDLL | None = None


def _library() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libseccomp.so.2")
        except OSError as e:
            from corral.errors import APIError

            raise APIError(f"cannot compile the seccomp profile: libseccomp2 is missing ({e})") from None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                               ctypes.POINTER(_ArgCmp)]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        _lib = lib
    return _lib


def action(name: str, errno_ret: int | None) -> int:
    """libseccomp's value of a SCMP_ACT_* name (errnoRet for ERRNO and TRACE)."""
    if name == "SCMP_ACT_ERRNO":
        return _ACT_ERRNO | ((_EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        return _ACT_TRACE | ((_EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    values = {"SCMP_ACT_ALLOW": _ACT_ALLOW, "SCMP_ACT_KILL": _ACT_KILL_THREAD, "SCMP_ACT_KILL_THREAD": _ACT_KILL_THREAD,
              "SCMP_ACT_KILL_PROCESS": _ACT_KILL_PROCESS, "SCMP_ACT_TRAP": _ACT_TRAP, "SCMP_ACT_LOG": _ACT_LOG}
    if name not in values:
        raise ValueError(f"unsupported seccomp action {name!r}")
    return values[name]


def condition_sets(args: list[dict]) -> list[list[dict]]:
    """The argument conditions of one OCI rule as libseccomp rules: all in one when their indexes
    differ (AND), else one rule per condition (OR), as runc does."""
    if not args:
        return [[]]
    if len({a["index"] for a in args}) == len(args):
        return [list(args)]
    return [[a] for a in args]


def compile_filter(linux_seccomp: dict) -> bytes:
    """The BPF program of an OCI linux.seccomp object, as the bytes of its sock_filter array."""
    lib = _library()
    default = action(linux_seccomp["defaultAction"], linux_seccomp.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise OSError(0, "seccomp_init failed")
    try:
        # a binary tree of the system call numbers (libseccomp 2.5): each call runs a few compares instead of
        # hundreds; a busybox fork+exec under Docker's profile costs 0.45 ms less here. Older libraries: linear.
        lib.seccomp_attr_set(ctx, _FLTATR_CTL_OPTIMIZE, 2)
        for arch in linux_seccomp.get("architectures") or []:
            token = lib.seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode())
            ret = lib.seccomp_arch_add(ctx, token) if token else -22
            if ret < 0 and ret != -_EEXIST:
                raise ValueError(f"seccomp: architecture {arch} is not supported here")
        for rule in linux_seccomp.get("syscalls") or []:
            act = action(rule["action"], rule.get("errnoRet"))
            if act == default:
                continue
            for name in rule["names"]:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == _NR_SCMP_ERROR:
                    continue
                for conds in condition_sets(rule.get("args") or []):
                    array = (_ArgCmp * max(len(conds), 1))(*[
                        _ArgCmp(c["index"], _OPS[c["op"]], c.get("value", 0), c.get("valueTwo", 0)) for c in conds])
                    ret = lib.seccomp_rule_add_array(ctx, act, nr, len(conds), array)
                    if ret < 0:
                        raise OSError(-ret, f"seccomp: cannot add the rule for {name}: {os.strerror(-ret)}")
        fd = os.memfd_create("corral-seccomp", os.MFD_CLOEXEC)
        try:
            ret = lib.seccomp_export_bpf(ctx, fd)
            if ret < 0:
                raise OSError(-ret, f"seccomp_export_bpf: {os.strerror(-ret)}")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)
