"""Content-addressed blobs: written once under their sha256, verified on demand."""
from __future__ import annotations

import os

from corral.store.fsutil import write_atomic
from corral.store.root import Store, store_errors


def put_bytes(store: Store, data: bytes) -> str:
    """Store `data` and return its digest ('sha256:<hex>'); an existing blob is left as it is."""
    import hashlib  # not at the top: blobs.read is on the run path, hashing is not

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = store.blob_path(digest)
    if not os.path.exists(path):
        with store_errors(store.root):
            os.makedirs(store.blobs, exist_ok=True)
            write_atomic(path, data)
    return digest


def put_file(store: Store, tmp_path: str, digest: str) -> None:
    """Move an already-hashed temp file into place (rename is atomic on one filesystem)."""
    path = store.blob_path(digest)
    with store_errors(store.root):
        fd = os.open(tmp_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if os.path.exists(path):
            os.unlink(tmp_path)
        else:
            os.rename(tmp_path, path)


def read(store: Store, digest: str) -> bytes:
    with open(store.blob_path(digest), "rb") as f:
        return f.read()


def file_digest(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
