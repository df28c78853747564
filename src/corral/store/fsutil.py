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
    """Remove a directory tree that may hold overlay whiteouts and read-only dirs; missing is fine."""
    import shutil

    def onerror(func, p, exc_info):  # noqa: ANN001 - shutil's callback signature
        err = exc_info[1]
        if isinstance(err, FileNotFoundError):
            return
        if isinstance(err, PermissionError):
            os.chmod(os.path.dirname(p), 0o700)
            func(p)
            return
        raise err

    shutil.rmtree(path, onerror=onerror)
