"""The devices rules of a container (OCI linux.resources.devices) as a cgroup v2 device filter.

cgroup v1 has a devices controller that takes rules as text (cgroups.py, CgroupV1._devices); the unified
hierarchy has none: the kernel asks a BPF program attached to the cgroup (BPF_CGROUP_DEVICE) at each
mknod and open of a device node, as runc and crun do. The program is assembled here (a few instructions
per rule, no compiler, no library) and loaded and attached through sys/bpf.py.

Semantics are the OCI rules read in order, a later rule winning over an earlier one (v1's sequence of
devices.allow/devices.deny writes): the program tries the rules last to first and answers with the first
that matches. An allow rule matches an access it wholly covers (`m` allows mknod but not open), a deny rule
one it touches at all. No rule matching: allowed if the rules never denied everything (a cgroup without
rules allows all, as v1's root), else denied. Docker's default list (deny all, then mknod of any device and
the usual character devices) so lets a process holding CAP_MKNOD make a block device node but never open it.

The context the kernel passes (struct bpf_cgroup_dev_ctx): u32 access_type (access << 16 | type), u32 major,
u32 minor; type 1 block, 2 char; access 1 mknod, 2 read, 4 write.
"""
from __future__ import annotations

import struct

_TYPES = {"b": 1, "c": 2}
_ACCESS = {"m": 1, "r": 2, "w": 4}

# eBPF opcodes (linux/bpf.h) and the registers used: r1 the context, then scratch; r2 type, r3 access,
# r4 major, r5 minor; r0 the answer
_LDX_W = 0x61      # dst = *(u32 *)(src + off)
_AND32_K = 0x54    # dst &= imm
_RSH32_K = 0x74    # dst >>= imm
_MOV32_X = 0xbc    # dst = src
_MOV64_K = 0xb7    # dst = imm
_JNE_K = 0x55      # if dst != imm: pc += off
_JNE_X = 0x5d      # if dst != src: pc += off
_JEQ_K = 0x15      # if dst == imm: pc += off
_EXIT = 0x95


def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


def _access(text: str | None) -> int:
    bits = 0
    for ch in text or "rwm":
        if ch not in _ACCESS:
            raise ValueError(f"device rule access {text!r}: only r, w and m are allowed")
        bits |= _ACCESS[ch]
    return bits


def _rule(rule: dict) -> list[bytes]:
    """The instructions of one rule: a block that returns the rule's answer when it matches, and jumps to
    the next block when it does not (each such jump's offset, None below, is counted to the block's end)."""
    kind = rule.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise ValueError(f"device rule type {kind!r}: only a, b and c are allowed")
    allow, access = bool(rule.get("allow")), _access(rule.get("access"))
    block: list[tuple] = []
    if kind != "a":
        block.append((_JNE_K, 2, 0, None, _TYPES[kind]))
    block.append((_MOV32_X, 1, 3, 0, 0))
    block.append((_AND32_K, 1, 0, 0, access))
    # allow: the access asked must lie wholly inside the rule's; deny: touch it at all
    block.append((_JNE_X, 1, 3, None, 0) if allow else (_JEQ_K, 1, 0, None, 0))
    if kind != "a" and rule.get("major") is not None and rule["major"] >= 0:
        block.append((_JNE_K, 4, 0, None, int(rule["major"])))
    if kind != "a" and rule.get("minor") is not None and rule["minor"] >= 0:
        block.append((_JNE_K, 5, 0, None, int(rule["minor"])))
    block.append((_MOV64_K, 0, 0, 0, 1 if allow else 0))
    block.append((_EXIT, 0, 0, 0, 0))
    end = len(block)
    return [_insn(op, dst, src, end - (i + 1) if off is None else off, imm)
            for i, (op, dst, src, off, imm) in enumerate(block)]


def program(rules: list[dict]) -> bytes:
    """The eBPF program of the OCI device rules `rules`."""
    out = [_insn(_LDX_W, 2, 1, 0), _insn(_AND32_K, 2, imm=0xFFFF),
           _insn(_LDX_W, 3, 1, 0), _insn(_RSH32_K, 3, imm=16),
           _insn(_LDX_W, 4, 1, 4), _insn(_LDX_W, 5, 1, 8)]
    for rule in reversed(rules):
        out += _rule(rule)
    denies_all = any((r.get("type") or "a") == "a" and not r.get("allow") for r in rules)
    out += [_insn(_MOV64_K, 0, imm=0 if denies_all else 1), _insn(_EXIT)]
    return b"".join(out)


def attach(cgroup_dir: str, rules: list[dict]) -> None:
    """Load the program of `rules` and attach it to the v2 cgroup `cgroup_dir` (replacing any one before);
    the cgroup holds it from then on, so the fds are closed."""
    import os

    from corral.sys import bpf

    prog = bpf.load_device_program(program(rules))
    try:
        fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            bpf.attach_device_program(fd, prog)
        finally:
            os.close(fd)
    finally:
        os.close(prog)
