"""One file or directory as a tar stream, and docker's rules for naming and describing it.

Both ends of `docker cp` need the same few things: a path read the way
docker reads it (absolute inside the container, a trailing "/" or "/."
kept, because it changes what is copied), the stat docker reports in the
X-Docker-Container-Path-Stat header (Go's os.FileMode bits, RFC 3339
time), and a tar of a tree whose top entry carries a chosen name. The
container side runs these inside the container's root (api/archive.py);
the host side runs them on the user's files. Nothing here looks a user or
group name up: NSS would load libraries from whatever root the caller is
in (docker's CVE-2019-14271), and numeric ids are what a container means.
"""
from __future__ import annotations

import os
import posixpath
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

# Go's os.FileMode type bits, as docker's stat header carries them
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20


def ends_as_dir(path: str) -> bool:
    """Docker's "asserts a directory": the path ends with a separator or with "/." (or is ".")."""
    return path.endswith("/") or go_base(path) == "."


def clean(path: str, base: str = "/") -> str:
    """path made absolute against base and cleaned, with a trailing "/" or "/." kept as docker keeps
    it (PreserveTrailingDotOrSeparator): "dir/." copies the contents of dir, "dir" the directory."""
    cleaned = posixpath.normpath(posixpath.join(base, path))
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if go_base(path) == "." and go_base(cleaned) != ".":
        cleaned = cleaned.rstrip("/") + "/."
    elif path.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def go_base(path: str) -> str:
    """Go's filepath.Base: the last element once trailing slashes are gone; "/" for the root."""
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else "."
    return stripped.rsplit("/", 1)[-1]


def split_entry(path: str) -> tuple[str, str]:
    """Docker's SplitPathDirEntry: (parent, last element), the element "." for a path that ends "/."."""
    cleaned = posixpath.normpath(path)
    if go_base(path) == ".":
        cleaned = cleaned.rstrip("/") + "/."
    return posixpath.dirname(cleaned) or ".", go_base(cleaned)


def go_mode(mode: int) -> int:
    """st_mode as Go's os.FileMode: permission bits plus Go's own type and special bits."""
    out = mode & 0o777
    kind = stat.S_IFMT(mode)
    out |= {stat.S_IFDIR: MODE_DIR, stat.S_IFLNK: MODE_SYMLINK, stat.S_IFIFO: MODE_NAMED_PIPE,
            stat.S_IFSOCK: MODE_SOCKET, stat.S_IFBLK: MODE_DEVICE,
            stat.S_IFCHR: MODE_DEVICE | MODE_CHAR_DEVICE}.get(kind, 0)
    for bit, go_bit in ((stat.S_ISUID, MODE_SETUID), (stat.S_ISGID, MODE_SETGID), (stat.S_ISVTX, MODE_STICKY)):
        if mode & bit:
            out |= go_bit
    return out


def rfc3339_ns(mtime_ns: int) -> str:
    """A file time as Go marshals a time.Time in UTC: seconds, then the nanoseconds without trailing zeros."""
    import time

    secs, ns = divmod(mtime_ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return text + (f".{ns:09d}".rstrip("0") if ns else "") + "Z"


def stat_dict(name: str, st: os.stat_result, link_target: str = "") -> dict:
    """Docker's ContainerPathStat: what HEAD/GET /containers/{id}/archive put in X-Docker-Container-Path-Stat."""
    return {"name": name, "size": st.st_size, "mode": go_mode(st.st_mode), "mtime": rfc3339_ns(st.st_mtime_ns),
            "linkTarget": link_target}


def rebase(name: str, old: str, new: str) -> str:
    """An archive entry's name with its top element old renamed to new (docker's RebaseArchiveEntries)."""
    if old in (".", "/"):
        rest = name[2:] if name.startswith("./") else name.lstrip("/")
        return posixpath.join(new, rest) if rest not in ("", ".") else new
    if name == old or name == old + "/":
        return new + name[len(old):]
    if name.startswith(old + "/"):
        return new + name[len(old):]
    return name


def _info(tarfile, name: str, st: os.stat_result):  # noqa: ANN001, ANN202 - a tarfile.TarInfo
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    return info


def _capability(path: str) -> dict:
    """The one extended attribute docker carries in its archives (file capabilities)."""
    try:
        value = os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return {}
    return {"SCHILY.xattr.security.capability": value.decode("utf-8", "surrogateescape")}


def write_tar(out: "BinaryIO", path: str, top: str) -> None:
    """Write the file or directory at path (never following a link at or under it) to out as a tar
    whose first entry is named top ("." for the contents of a directory: "./", "./a", ...).

    Hard links inside the tree become tar hard links; sockets are left out, as docker does.
    A file is opened without following links and without blocking, and checked to be the
    file that was listed, so a tree changing while it is read yields a consistent archive.
    """
    import tarfile

    seen: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        stack = [(path, top, os.lstat(path))]
        while stack:
            real, name, st = stack.pop()
            tf.members.clear()  # tarfile keeps every header otherwise
            info = _info(tarfile, name, st)
            info.pax_headers.update(_capability(real))
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
                children = []
                for child in sorted(os.listdir(real)):
                    child_path = os.path.join(real, child)
                    try:
                        children.append((child_path, f"{name}/{child}" if name != "." else f"./{child}",
                                         os.lstat(child_path)))
                    except FileNotFoundError:
                        continue  # removed while we read
                stack.extend(reversed(children))
            elif stat.S_ISLNK(mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(real)
                tf.addfile(info)
            elif stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen:
                    info.type, info.linkname = tarfile.LNKTYPE, seen[key]
                    tf.addfile(info)
                    continue
                _add_file(tf, info, real, st)
                if st.st_nlink > 1:
                    seen[key] = name
            elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                info.type = tarfile.FIFOTYPE if stat.S_ISFIFO(mode) else (
                    tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE)
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                tf.addfile(info)
            # sockets: no tar type holds one


def _add_file(tf, info, real: str, st: os.stat_result) -> None:  # noqa: ANN001
    from corral.store.fsutil import Exactly

    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # gone, or swapped for a link, since it was listed
    with Exactly(fd, st.st_size) as data:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
            return
        info.size = st.st_size
        tf.addfile(info, data)
