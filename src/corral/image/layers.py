"""Turning a layer tarball into a stored blob plus an unpacked, shared, read-only directory.

A layer is identified by its chain ID (OCI image-spec), so the same diff on
the same parent is stored and unpacked once, whichever image brings it.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from collections import namedtuple

from corral.store import blobs
from corral.store.fsutil import remove_tree
from corral.store.root import Store, store_errors

GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

# size is the uncompressed size; blob_size the stored (compressed) one.
Layer = namedtuple("Layer", "chain_id diff_id parent blob_digest media_type size blob_size")


def chain_id(parent: str | None, diff_id: str) -> str:
    if parent is None:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def add_layer(store: Store, tar: BinaryIO, parent: str | None, on_skip=None) -> Layer:  # noqa: ANN001
    """Store an uncompressed layer tar read from `tar` on top of chain `parent`.

    Writes the gzip blob and the unpacked directory; the caller records the
    returned Layer in the DB in the same transaction as the image using it.
    """
    from corral.image.extract import extract_layer

    tmpdir = store.mkdtemp("layer-")
    try:
        with store_errors(store.root):
            raw_path = os.path.join(tmpdir, "layer.tar")
            blob_tmp = os.path.join(tmpdir, "blob")
            diff = hashlib.sha256()
            size = 0
            with open(raw_path, "wb") as raw, open(blob_tmp, "wb") as out:
                with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
                    while chunk := tar.read(1 << 20):
                        diff.update(chunk)
                        raw.write(chunk)
                        gz.write(chunk)
                        size += len(chunk)
            diff_id = "sha256:" + diff.hexdigest()
            cid = chain_id(parent, diff_id)
            blob_digest = blobs.file_digest(blob_tmp)
            blob_size = os.path.getsize(blob_tmp)
            target = store.layer_dir(cid)
            if not os.path.isdir(os.path.join(target, "diff")):
                unpack = os.path.join(tmpdir, "unpack")
                os.makedirs(os.path.join(unpack, "diff"))
                with open(raw_path, "rb") as src:
                    extract_layer(src, os.path.join(unpack, "diff"), on_skip=on_skip)
                try:
                    os.rename(unpack, target)
                except OSError:
                    if not os.path.isdir(os.path.join(target, "diff")):
                        raise  # a concurrent writer that won the race is fine; anything else is not
            blobs.put_file(store, blob_tmp, blob_digest)
            return Layer(cid, diff_id, parent, blob_digest, GZIP_LAYER, size, blob_size)
    finally:
        remove_tree(tmpdir)
