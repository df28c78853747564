"""The bpf(2) calls a cgroup v2 device filter needs: load a BPF_PROG_TYPE_CGROUP_DEVICE program, attach it.

Through ctypes (no library: libbpf would bring an ELF loader for a program of a few dozen instructions
that runtime/devicefilter.py assembles itself), with a query of what is attached for the tests. Each
raises OSError with errno.
"""
from __future__ import annotations

import ctypes
import struct

from corral.sys import libc

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
_ATTR_SIZE = 128  # union bpf_attr, zero-padded: the kernel checks that the bytes it does not know are zero


def _call(cmd: int, attr: ctypes.Array, what: str) -> int:
    return libc.bpf(cmd, attr, _ATTR_SIZE, what)


def load_device_program(program: bytes) -> int:
    """Load `program` (eBPF instructions, 8 bytes each) as a cgroup device program; returns its fd."""
    insns = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 16)
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
    struct.pack_into("=IIQQIIQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
                     ctypes.addressof(insns), ctypes.addressof(license_), 1, len(log), ctypes.addressof(log))
    try:
        return _call(BPF_PROG_LOAD, attr, "bpf(BPF_PROG_LOAD) of the device filter")
    except OSError as e:
        detail = log.value.decode(errors="replace").strip().splitlines()
        raise OSError(e.errno, f"{e.strerror}{': ' + detail[-1] if detail else ''}") from None


def attach_device_program(cgroup_fd: int, prog_fd: int) -> None:
    """Attach the program to the cgroup (an fd of its directory), replacing any one attached before."""
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("=IIII", attr, 0, cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, 0)  # flags 0: one program, replaced
    _call(BPF_PROG_ATTACH, attr, "bpf(BPF_PROG_ATTACH) of the device filter")


def attached_device_programs(cgroup_fd: int) -> int:
    """How many device programs are attached to the cgroup itself."""
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    ids = (ctypes.c_uint32 * 8)()
    # target_fd, attach_type, query_flags, attach_flags, prog_ids, prog_cnt
    struct.pack_into("=IIIIQI", attr, 0, cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), 8)
    _call(BPF_PROG_QUERY, attr, "bpf(BPF_PROG_QUERY)")
    return struct.unpack_from("=I", attr, 24)[0]
