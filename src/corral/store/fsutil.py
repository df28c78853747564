"""Atomic file writes and removal helpers shared by every store writer."""
from __future__ import annotations

import os


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write via temp file + fsync + rename, so a crash leaves the old file or the new one."""
    tmp = f"{path}.tmp-{os.getpid()}"
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
