"""Atomic file writes and removal helpers shared by every store writer."""
from __future__ import annotations

import _thread
import os
import stat


def writer_id() -> str:
    """This writer's part of a temporary name: process and thread, as one process (corral serve, a
    threaded script) may write the same file from two threads at once."""
    return f"{os.getpid()}-{_thread.get_ident()}"


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write via temp file + fsync + rename, so a crash leaves the old file or the new one."""
    tmp = f"{path}.tmp-{writer_id()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_tree(path: str) -> None:
    """Remove a tree (overlay whiteouts, read-only dirs included) without following links; missing is fine.

    Hand-written because shutil pulls in re, bz2 and lzma: a few ms on every `run --rm`. A stack,
    not recursion: a container may nest directories deeper than Python's recursion limit.
    """
    stack = [path]
    while stack:
        top = stack[-1]
        try:
            entries = list(os.scandir(top))
        except FileNotFoundError:
            stack.pop()
            continue
        except NotADirectoryError:
            os.unlink(top)
            stack.pop()
            continue
        subdirs = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                try:
                    os.rmdir(entry.path)  # most are empty (a container's work/, rootfs/): no scan needed
                except FileNotFoundError:
                    pass
                except OSError:
                    subdirs.append(entry.path)
            else:
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass
        if subdirs:
            stack += subdirs  # top is scanned again, empty, once they are gone
            continue
        try:
            os.rmdir(top)
        except FileNotFoundError:
            pass
        stack.pop()


def open_beneath(root: str, rel: str) -> int:
    """A read-only fd for root/rel, where no link on the way is followed and nothing leads out of root.

    For files a running container can change under corral's feet (its
    sandbox, read by export and commit): between the lstat that found a
    regular file and this open, it may have swapped a directory on the path
    for a link to the host's "/"; a plain open would then read the host.
    """
    from corral.sys import libc

    dirfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return libc.openat2(dirfd, rel, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK,
                            libc.RESOLVE_BENEATH | libc.RESOLVE_NO_SYMLINKS | libc.RESOLVE_NO_MAGICLINKS)
    finally:
        os.close(dirfd)


class Exactly:
    """A file read as exactly `size` bytes: one shrunk meanwhile is padded with zeros, one grown is
    cut, so a tar entry whose header already gives the size stays well-formed (as `docker export`)."""

    def __init__(self, fd: int | None, size: int) -> None:
        self.fd, self.left = fd, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 or n > self.left else n
        data = os.read(self.fd, n) if self.fd is not None and n else b""
        while self.fd is not None and len(data) < n:
            more = os.read(self.fd, n - len(data))
            if not more:
                break
            data += more
        data += b"\0" * (n - len(data))
        self.left -= n
        return data

    def __enter__(self) -> "Exactly":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def read_beneath(root: str, rel: str, size: int) -> Exactly:
    """root/rel (opened by open_beneath) as exactly `size` bytes; a file gone, or turned into a link
    or anything but a regular file since it was listed, reads as zeros."""
    try:
        fd = open_beneath(root, rel)
    except OSError:
        return Exactly(None, size)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return Exactly(None, size)
    return Exactly(fd, size)


def apparent_size(path: str) -> int:
    """Bytes of the files under path by their lengths (each inode once), directories not counted: what
    docker reports as a container's SizeRw, 0 for a container that wrote nothing."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def disk_usage(path: str) -> int:
    """Bytes of the files under path (each inode once: hard links are not counted twice)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total
