"""Deleting images: the rows in one transaction, then every layer and blob no other image needs.

The DB is the truth: once an image's rows are gone in one transaction, the
files it alone used are garbage, removed right after. A crash between the
two leaves only unreferenced files, which `corral system check` reports as
orphans and a later delete or prune sweeps (sweep()), never a half image.
"""
from __future__ import annotations

import os

from corral.image import repo
from corral.store import images
from corral.store.fsutil import remove_tree
from corral.store.rootfs import stale_links
from corral.store.root import Store


def needed_layers(store: Store) -> set[str]:
    """Chain IDs some image still stands on."""
    needed: set[str] = set()
    for image in images.newest_first(store):
        needed.update(repo.layer_chain(store, image.top_layer))
    return needed


def delete_image(store: Store, image_id: str) -> list[str]:
    """Remove the image and whatever only it used; returns what was deleted (image ID, then layers),
    as `docker rmi` prints it. The caller has checked that no container uses it."""
    images.delete(store, image_id)
    return [image_id] + sweep(store)


def sweep(store: Store, keep_layers: bool = False) -> list[str]:
    """Drop layer rows no image needs, then every blob and layer directory nothing references.
    `keep_layers`: keep recorded layers no image needs (a failed pull's finished ones, for its retry)."""
    with store.content_lock(exclusive=True):
        return _sweep(store, keep_layers)


def _sweep(store: Store, keep_layers: bool = False) -> list[str]:
    needed = needed_layers(store)
    if keep_layers:
        needed.update(layer.chain_id for layer in images.all_layers(store))
    gone = [layer.chain_id for layer in images.all_layers(store) if layer.chain_id not in needed]
    if gone:
        images.delete_layers(store, gone)
    referenced = {layer.blob_digest.split(":", 1)[1] for layer in images.all_layers(store)}
    for image in images.newest_first(store):
        referenced.update((image.id.split(":", 1)[1], image.manifest_digest.split(":", 1)[1]))
    if os.path.isdir(store.blobs):
        for name in os.listdir(store.blobs):
            if name not in referenced:
                _unlink(os.path.join(store.blobs, name))
    kept = {c.split(":", 1)[1] for c in needed}
    if os.path.isdir(store.layers):
        for name in os.listdir(store.layers):
            if name not in kept:
                remove_dir(store, os.path.join(store.layers, name))
    for link in stale_links(store):  # after the layers: a crash in between leaves only dangling links
        _unlink(link)
    return gone


class writing:  # noqa: N801 - used like a function: `with gc.writing(store):`
    """Around adding an image (blobs, layers, then its rows): holds the content lock shared, and if
    anything fails, sweeps what the attempt left, so a failed import, load or commit leaves no
    orphan blob or layer behind (a pull keeps the layers it finished and recorded: keep_layers)."""

    def __init__(self, store: Store, keep_layers: bool = False) -> None:
        self.store, self.keep_layers = store, keep_layers
        self.lock = store.content_lock()

    def __enter__(self) -> None:
        self.lock.__enter__()

    def __exit__(self, kind, value, tb) -> bool:  # noqa: ANN001
        self.lock.__exit__(kind, value, tb)
        if kind is not None:
            try:
                sweep(self.store, self.keep_layers)
            except Exception:  # noqa: BLE001, S110 - the original error is the one to report
                pass
        return False


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove_dir(store: Store, path: str) -> None:
    """Rename into tmp first, so a crash mid-way never leaves a half layer under its real name."""
    doomed = store.mkdtemp("deleted-")
    try:
        os.rename(path, os.path.join(doomed, "layer"))
    except FileNotFoundError:
        pass
    remove_tree(doomed)
