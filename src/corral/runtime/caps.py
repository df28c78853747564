"""Linux capability names and Docker's default set for container root."""
from __future__ import annotations

NAMES = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
]

DOCKER_DEFAULT = [
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
    "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
]


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def oci_names(names: list[str]) -> list[str]:
    return ["CAP_" + n for n in names]


def all_names() -> list[str]:
    """Every capability this process can still give: "all" for --privileged means what we hold, as in
    podman (a host without CAP_SYS_RESOURCE, like these machines, cannot grant it to anyone)."""
    held = (1 << (last_cap() + 1)) - 1
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    held = int(line.split()[1], 16)
    except OSError:
        pass
    return [n for i, n in enumerate(NAMES[: last_cap() + 1]) if held & (1 << i)]


def mask(oci: list[str]) -> int:
    """Bit mask of OCI-style names (CAP_CHOWN…); names this kernel lacks are ignored."""
    index = {"CAP_" + n: i for i, n in enumerate(NAMES)}
    top = last_cap()
    bits = 0
    for name in oci:
        i = index.get(name)
        if i is not None and i <= top:
            bits |= 1 << i
    return bits


def normalize(name: str) -> str:
    """`net_admin`, `NET_ADMIN` or `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; unknown names are an error."""
    from corral.errors import InvalidArgument

    upper = name.upper()
    bare = upper[4:] if upper.startswith("CAP_") else upper
    if bare == "ALL":
        return "ALL"
    if bare not in NAMES:
        raise InvalidArgument(f"unknown capability {name!r}")
    return "CAP_" + bare
