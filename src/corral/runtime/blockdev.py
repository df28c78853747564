"""The block device a path stands for, as the blkio/io cgroup controllers name devices (MAJOR:MINOR).

docker takes only device nodes (`--device-write-bps /dev/sda:1mb`); corral takes
any path, so `--device-write-bps /var/lib/corral:10mb` limits the disk holding the
store. A device node stands for itself; any other path for the filesystem it is on.
The throttles apply to whole disks only (the kernel refuses a partition's
numbers), so a partition is taken as the disk it is a part of. A filesystem on
no block device (tmpfs, overlay, proc, a btrfs subvolume's anonymous device) is
refused in words naming the filesystem, rather than with the kernel's ENODEV.
"""
from __future__ import annotations

import os
import stat

from corral.errors import InvalidArgument


def whole_disk(path: str, flag: str, sys_root: str = "/sys",
               mountinfo: str = "/proc/self/mountinfo") -> tuple[int, int]:
    """(major, minor) of the whole disk behind `path`; InvalidArgument naming `flag` when there is none."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise InvalidArgument(f"{flag} {path}: {e.strerror}") from None
    dev = st.st_rdev if stat.S_ISBLK(st.st_mode) else st.st_dev
    return disk_of(os.major(dev), os.minor(dev), f"{flag} {path}", sys_root, mountinfo)


def disk_of(major: int, minor: int, what: str, sys_root: str = "/sys",
            mountinfo: str = "/proc/self/mountinfo") -> tuple[int, int]:
    """The whole disk of block device major:minor (itself, or the disk a partition is part of); `what`
    (the flag and path) begins the error when major:minor is no block device."""
    node = os.path.join(sys_root, "dev", "block", f"{major}:{minor}")
    if not os.path.exists(node):
        fs = _filesystem(major, minor, mountinfo)
        on = f"its filesystem ({fs})" if fs else f"its device {major}:{minor}"
        raise InvalidArgument(f"{what}: {on} is not on a block device, so there is no disk to limit")
    if os.path.exists(os.path.join(node, "partition")):
        with open(os.path.join(os.path.dirname(os.path.realpath(node)), "dev")) as f:
            major_text, _, minor_text = f.read().strip().partition(":")
        major, minor = int(major_text), int(minor_text)
    return major, minor


def _filesystem(major: int, minor: int, mountinfo: str) -> str:
    """The type of a mounted filesystem whose device is major:minor ("tmpfs"), or "" when none is."""
    try:
        with open(mountinfo) as f:
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[2] == f"{major}:{minor}" and " - " in line:
                    return line.split(" - ", 1)[1].split()[0]
    except OSError:
        pass
    return ""
