"""Turning a layer tarball into an unpacked, shared, read-only directory (and back into the tarball).

A layer is identified by its chain ID (OCI image-spec), so the same diff on
the same parent is stored and unpacked once, whichever image brings it.
"""
from __future__ import annotations

import hashlib
import os
from collections import namedtuple

from corral.errors import InvalidArgument
from corral.store.fsutil import remove_tree
from corral.store.root import Store, store_errors

TAR_LAYER = "application/vnd.oci.image.layer.v1.tar"
SPLIT = "tar-split"


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO


class DigestMismatch(InvalidArgument):
    """Content does not hash to the digest that names it: corrupt or forged, never stored."""


# size is the uncompressed size; blob_size the stored blob's (the same, for layers kept as tar-split).
Layer = namedtuple("Layer", "chain_id diff_id parent blob_digest media_type size blob_size")


def chain_id(parent: str | None, diff_id: str) -> str:
    if parent is None:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def add_layer(store: Store, tar: BinaryIO, parent: str | None, on_skip=None, *,  # noqa: ANN001
              diff_id: str | None = None, verify=None) -> Layer:  # noqa: ANN001
    """Unpack a layer tar (plain or compressed) read from `tar` on top of chain `parent`, in one pass.

    The store keeps the unpacked directory and the tar's tar-split (see
    image/tarsplit.py), no second copy: the layer is recorded uncompressed
    (its blob digest is its diff_id) and rebuilt when saved or pushed. The
    caller records the returned Layer in the DB with the image using it.
    `diff_id` is the digest an image config promised for this content (load):
    a mismatch raises DigestMismatch and nothing is kept. `verify()`, called
    once the tar is read and before the layer is put in place, may refuse it
    too (a pull checks the compressed blob's own digest there).
    """
    from corral import failpoints
    from corral.image.extract import extract_layer, open_stream
    from corral.image.tarsplit import Recorder

    tmpdir = store.mkdtemp("layer-")
    try:
        with store_errors(store.root):
            unpack = os.path.join(tmpdir, "unpack")
            os.makedirs(os.path.join(unpack, "diff"))
            recorder = Recorder(open_stream(tar), os.path.join(unpack, SPLIT), unpack)
            try:
                extract_layer(recorder, os.path.join(unpack, "diff"), on_skip=on_skip, recorder=recorder)
                while recorder.read(1 << 20):
                    pass
                actual = recorder.finish()
            finally:
                recorder.close()
            if verify is not None:
                verify()
            if diff_id is not None and actual != diff_id:
                raise DigestMismatch(f"layer content has digest {actual}, not the {diff_id} its image config names")
            failpoints.hit("layer.unpacked")
            cid = chain_id(parent, actual)
            target = store.layer_dir(cid)
            if not os.path.isdir(os.path.join(target, "diff")):
                try:
                    os.rename(unpack, target)
                except OSError:
                    if not os.path.isdir(os.path.join(target, "diff")):
                        raise  # a concurrent writer that won the race is fine; anything else is not
            failpoints.hit("layer.renamed")
            return Layer(cid, actual, parent, actual, TAR_LAYER, recorder.size, recorder.size)
    finally:
        remove_tree(tmpdir)


def rebuilt_digest(store: Store, layer: Layer) -> tuple[str, int]:
    """The digest ("sha256:...") and size of the tar open_layer rebuilds for `layer`, to hold against its
    diff_id; raises what open_layer and the reading raise (OSError, StoreError, ValueError)."""
    import hashlib

    h, size = hashlib.sha256(), 0
    tar = open_layer(store, layer)
    try:
        while chunk := tar.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    finally:
        tar.close()
    return "sha256:" + h.hexdigest(), size


def open_layer(store: Store, layer: Layer) -> BinaryIO:
    """The layer's uncompressed tar, whose sha256 is its diff_id: replayed from its tar-split, or
    read from the gzip blob that stores made before tar-split kept."""
    from corral.errors import StoreError
    from corral.image.tarsplit import Replay

    split = os.path.join(store.layer_dir(layer.chain_id), SPLIT)
    if os.path.exists(split):
        return Replay(store.layer_dir(layer.chain_id), split)  # type: ignore[return-value]
    try:
        blob = open(store.blob_path(layer.blob_digest), "rb")  # noqa: SIM115 - the caller's stream
    except FileNotFoundError:
        raise StoreError(f"layer {layer.chain_id} has neither tar-split nor blob: run `corral system check`") from None
    from corral.image.extract import open_stream

    return open_stream(blob)  # type: ignore[return-value]


# save, load, export


def stored_layer(store: Store, cid: str) -> Layer | None:
    """The layer recorded under chain ID `cid` with its unpacked directory and its tar (tar-split or
    blob) present, or None: a load that finds it need not read, store or unpack that layer again."""
    from corral.store import images

    record = images.layer(store, cid)
    layer_dir = store.layer_dir(cid)
    if record is None or not os.path.isdir(os.path.join(layer_dir, "diff")):
        return None
    if os.path.exists(os.path.join(layer_dir, SPLIT)):
        return Layer(*record, record.size)
    try:
        blob_size = os.path.getsize(store.blob_path(record.blob_digest))
    except FileNotFoundError:
        return None
    return Layer(*record, blob_size)


def image_layers(store: Store, image_id: str) -> list[Layer]:
    """The image's layers, base first; a missing one means a damaged store."""
    from corral.errors import StoreError
    from corral.image import repo

    found = []
    for cid in repo.layer_chain(store, repo.top_layer(store, image_id)):
        layer = stored_layer(store, cid)
        if layer is None:
            raise StoreError(f"layer {cid} of image {image_id[7:19]} is missing: the store is damaged, "
                             "run `corral system check`")
        found.append(layer)
    return found
