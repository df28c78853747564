"""The container's process as the guest init reads it: the OCI spec's process, hostname and root flags.

The guest has no Python and no JSON parser, so the host flattens what the init applies into one
message of NUL-terminated entries, each a one-letter tag and its value (guest/init.c, read_process):
arguments, environment, working directory, user and groups, the capabilities to keep (as numbers),
rlimits (as RLIMIT_ numbers), no_new_privs, the hostname, a terminal and its size, an open stdin, the NICs
(runtime/vm/network.py; a read-only root is the host's to make: runtime/vm/start.py), and the file to exec when the
host found the command in the PATH (found_executable). It travels on the control
port, framed as every message there is: a little-endian u32 length, then the payload. An exec's
process goes the same way on the exec port, after its type and id (guest/init.c says the messages).
"""
from __future__ import annotations

import os
import stat
import struct
import time

from corral.errors import InvalidArgument
from corral.runtime.caps import NAMES
from corral.runtime.options import RLIMITS
from corral.runtime.vm import network
from corral.runtime.spec import STDIN_ANNOTATION


def frame(payload: bytes) -> bytes:
    return struct.pack("<I", len(payload)) + payload


def process_message(spec: dict, window: tuple[int, int] = (0, 0), extra: bytes = b"", exe: str | None = None) -> bytes:
    """The 'P' message for the spec's process (`window`: its terminal's first rows and columns; `extra`: more
    entries, host_state's; `exe`: found_executable's); a NUL inside any string is refused (it would split an entry)."""
    stdin = spec.get("annotations", {}).get(STDIN_ANNOTATION) == "open"
    stdio = _stdio(bool(spec["process"].get("terminal")), stdin, window)
    return frame(b"P" + _entries(spec["process"], spec, exe) + stdio + extra)


def found_executable(root: str, process: dict) -> str | None:
    """The file the process's command names, looked up in its PATH under `root` (the container's root as the host
    sees it), as the guest's execvp would find it: the first regular file there the process's user may execute.
    Why on the host: the guest walks its root over 9p, a round trip to QEMU per name and per PATH entry (about 6 ms
    under TCG for `true` in a PATH of six directories); here each candidate is one openat2. None (the guest then
    searches itself) for a name with a slash, no PATH or a relative PATH entry, or when nothing is found (so the
    guest's error is the one reported)."""
    name = process["args"][0] if process.get("args") else ""
    path = next((e[5:] for e in process.get("env", []) if e.startswith("PATH=")), None)
    if not name or "/" in name or path is None or any(not d.startswith("/") for d in path.split(":")):
        return None
    from corral.sys import libc

    user = process.get("user", {})
    uid, gids = int(user.get("uid", 0)), {int(user.get("gid", 0)), *map(int, user.get("additionalGids") or [])}
    try:
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        for d in path.split(":"):
            candidate = os.path.join(d, name)
            try:
                fd = libc.openat2(root_fd, candidate.lstrip("/"), os.O_PATH | os.O_CLOEXEC, libc.RESOLVE_IN_ROOT)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
            if stat.S_ISREG(st.st_mode) and st.st_mode & _execute_bit(st, uid, gids):
                return candidate
    finally:
        os.close(root_fd)
    return None


def _execute_bit(st: os.stat_result, uid: int, gids: set[int]) -> int:
    """The mode bit that lets `uid` (in `gids`) execute the file, as access(2) picks it (root: any)."""
    if uid == 0:
        return stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
    if st.st_uid == uid:
        return stat.S_IXUSR
    return stat.S_IXGRP if st.st_gid in gids else stat.S_IXOTH


def host_state() -> bytes:
    """Entries for the init to set the guest's clock to the host's and reseed its random pool: a guest
    restored from a template (runtime/vm/template.py) would keep the template's time and random state."""
    now = time.clock_gettime_ns(time.CLOCK_REALTIME)
    return b"T%d.%09d\0r%s\0" % (now // 10**9, now % 10**9, os.urandom(32).hex().encode())


def exec_message(exec_id: str, process: dict, tty: bool = False, stdin: bool = False,
                 window: tuple[int, int] = (0, 0), exe: str | None = None) -> bytes:
    """The exec port's request to run `process` (an OCI process, runtime/spec.py's exec_process) as exec_id."""
    return frame(b"x" + exec_id.encode() + b"\0" + _entries(process, {}, exe) + _stdio(tty, stdin, window))


def input_message(kind: bytes, data: bytes = b"", exec_id: str = "") -> bytes:
    """Input for the command (on the input port) or an exec (on the exec port, with its id): b"i" and stdin
    bytes, b"I" (stdin ended, or the session hung up), b"z" and "rows cols" (the terminal's new size)."""
    return frame(kind + exec_id.encode() + data)


def _stdio(tty: bool, stdin: bool, window: tuple[int, int]) -> bytes:
    entries = (b"t\0" if tty else b"") + (b"i\0" if stdin else b"")
    return entries + (b"W%d %d\0" % window if tty and window[0] > 0 and window[1] > 0 else b"")


def exec_signal_message(exec_id: str, sig: int) -> bytes:
    return frame(b"k" + exec_id.encode() + b"%d" % sig)


def _entries(process: dict, spec: dict, exe: str | None) -> bytes:
    entries: list[str] = [f"a{arg}" for arg in process["args"]]
    if exe:
        entries.append(f"p{exe}")
    entries += [f"e{env}" for env in process.get("env", [])]
    entries.append(f"c{process.get('cwd') or '/'}")
    user = process.get("user", {})
    entries += [f"u{int(user.get('uid', 0))}", f"g{int(user.get('gid', 0))}"]
    entries += [f"G{int(gid)}" for gid in user.get("additionalGids") or []]
    bounding = (process.get("capabilities") or {}).get("bounding")
    if bounding is not None:
        entries.append("B")
        entries += [f"C{NAMES.index(name.removeprefix('CAP_'))}" for name in bounding
                    if name.removeprefix("CAP_") in NAMES]
    for limit in process.get("rlimits") or []:
        number = RLIMITS.get(limit["type"].removeprefix("RLIMIT_").lower())
        if number is not None:
            entries.append(f"L{number} {int(limit['soft'])} {int(limit['hard'])}")
    if process.get("noNewPrivileges"):
        entries.append("N")
    if spec.get("hostname"):
        entries.append(f"h{spec['hostname']}")
    entries += network.guest_entries(spec)
    if any("\0" in entry for entry in entries):
        raise InvalidArgument("a NUL byte in the container's command, environment or working directory")
    return b"".join(entry.encode() + b"\0" for entry in entries)


def signal_message(sig: int) -> bytes:
    return frame(b"S%d" % sig)


def parse_messages(data: bytes) -> tuple[list[bytes], bytes]:
    """The complete messages at the head of `data`, and what is left of an incomplete one."""
    found = []
    while len(data) >= 4:
        (length,) = struct.unpack_from("<I", data)
        if len(data) < 4 + length:
            break
        found.append(data[4:4 + length])
        data = data[4 + length:]
    return found, data


WAITING = b"W"
"""The init's first message: it waits for its process (runtime/vm/template.py saves a template there)."""


def answers(data: bytes) -> tuple[list[bytes], bytes]:
    """parse_messages without the init's WAITING: what a guest answers to its process."""
    messages, rest = parse_messages(data)
    return [m for m in messages if m != WAITING], rest
