"""A container's root filesystem as one flat tar (`corral export`), computed from directories.

The merged view is what overlayfs shows the container: the sandbox (upper
dir) over the image's layers, a 0/0 character device hiding a name, an
opaque directory hiding everything below it. It is computed here from the
directories themselves rather than by mounting anything, so it works the
same on a stopped container and on a running one (whose mounts live in its
own namespace). /proc, /sys and /dev are kept as empty directories: their
contents in a running container are the kernel's, not the container's.
"""
from __future__ import annotations

import os
import stat
import tarfile
from typing import BinaryIO

from corral.errors import APIError
from corral.image.commit import xattrs
from corral.store.fsutil import read_beneath
from corral.store.merged import is_opaque, is_whiteout  # the sandbox's format, read one way

_EMPTIED = ("proc", "sys", "dev")


def _xattr(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def export_rootfs(upper: str, lower_dirs: list[str], out: BinaryIO) -> None:
    """Write the merged tree of `upper` over `lower_dirs` (top first) as an uncompressed tar to `out`:
    names relative to the root, numeric owners, modes, times, xattrs, hard links kept as links."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _Exporter(tar).tree([upper] + lower_dirs)


class _Exporter:
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.inodes: dict[tuple[int, int], str] = {}  # a second name of an inode becomes a hard link

    def tree(self, sources: list[str]) -> None:
        """Every entry under the merged root of `sources`, parents first, sorted; an explicit stack,
        not recursion, as a container may nest directories thousands deep."""
        stack = [("", iter(sorted(self._children(sources).items())))]
        while stack:
            rel, items = stack[-1]
            item = next(items, None)
            if item is None:
                stack.pop()
                continue
            name, (full, st, below) = item
            child = f"{rel}/{name}" if rel else name
            self.entry(child, full, st)
            if below is not None and child not in _EMPTIED:
                stack.append((child, iter(sorted(self._children(below).items()))))

    @staticmethod
    def _children(sources: list[str]) -> dict[str, tuple[str, os.stat_result, list[str] | None]]:
        """name -> (path in its topmost layer, its lstat, the directories merged under it or None) for
        the merged directory whose layers are `sources` (top first, cut at the first opaque one)."""
        found: dict[str, tuple[str, os.stat_result, list[str] | None]] = {}
        hidden: set[str] = set()
        closed: set[str] = set()  # directories no lower layer may add to
        for layer_dir in sources:
            for name in os.listdir(layer_dir):
                if name in hidden or (name in found and name in closed):
                    continue
                full = os.path.join(layer_dir, name)
                st = os.lstat(full)
                top = found.get(name)
                if top is None:
                    if is_whiteout(st):
                        hidden.add(name)
                        continue
                    _refuse_metacopy(full, st)
                    is_dir = stat.S_ISDIR(st.st_mode)
                    found[name] = (full, st, [full] if is_dir else None)
                    if not is_dir or is_opaque(full):
                        closed.add(name)
                elif stat.S_ISDIR(st.st_mode):
                    top[2].append(full)  # type: ignore[union-attr] - only open directories get here
                    if is_opaque(full):
                        closed.add(name)
                else:
                    closed.add(name)  # a file or whiteout below a directory ends the merge there
        return found

    def entry(self, rel: str, full: str, st: os.stat_result) -> None:
        mode = st.st_mode
        if stat.S_ISSOCK(mode):
            return  # a socket is a live endpoint, not content; tar cannot hold one either
        info = tarfile.TarInfo(rel)
        info.mode, info.uid, info.gid, info.mtime = stat.S_IMODE(mode), st.st_uid, st.st_gid, int(st.st_mtime)
        info.uname = info.gname = ""
        records = xattrs(full)
        if records:
            info.pax_headers = records
        key = (st.st_dev, st.st_ino)
        if not stat.S_ISDIR(mode) and st.st_nlink > 1 and key in self.inodes:
            info.type, info.linkname, info.pax_headers = tarfile.LNKTYPE, self.inodes[key], {}
            self.tar.addfile(info)
            return
        if st.st_nlink > 1 and not stat.S_ISDIR(mode):
            self.inodes[key] = rel
        if stat.S_ISREG(mode):
            info.size = st.st_size
            with read_beneath(full[: len(full) - len(rel) - 1], rel, st.st_size) as f:
                self.tar.addfile(info, f)  # type: ignore[arg-type]
            return
        if stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        else:
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        self.tar.addfile(info)


def _refuse_metacopy(full: str, st: os.stat_result) -> None:
    """corral mounts without metacopy and redirect_dir; a sandbox using them would export wrong data."""
    for name in ("trusted.overlay.metacopy", "trusted.overlay.redirect"):
        if _xattr(full, name) is not None:
            raise APIError(f"cannot export {full}: it uses overlayfs {name.rsplit('.', 1)[1]}, "
                              "which corral does not support")
