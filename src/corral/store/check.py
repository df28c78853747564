"""`corral system check`: prove the store is consistent, blob digests and DB against disk."""
from __future__ import annotations

import hashlib
import os

from corral.store import containers, images
from corral.store.root import Store
from corral.store.rootfs import stale_links


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _check_tar_split(store: Store, chain: str) -> list[str]:
    """A layer kept as tar-split must rebuild to exactly the tar its diff_id names."""
    from corral.errors import StoreError
    from corral.image.layers import open_layer, stored_layer

    layer = stored_layer(store, chain)
    if layer is None:
        return [f"layer {chain}: unpacked directory is missing"]
    h = hashlib.sha256()
    try:
        tar = open_layer(store, layer)
        try:
            while chunk := tar.read(1 << 20):
                h.update(chunk)
        finally:
            tar.close()
    except (OSError, StoreError, ValueError) as e:
        return [f"layer {chain}: cannot rebuild its tar ({e})"]
    if "sha256:" + h.hexdigest() != layer.diff_id:
        return [f"layer {chain}: its files no longer rebuild its tar (diff_id {layer.diff_id}): changed on disk"]
    return []


def check(store: Store) -> list[str]:
    problems: list[str] = []
    blob_files = set(os.listdir(store.blobs)) if os.path.isdir(store.blobs) else set()
    for name in sorted(blob_files):
        if _sha256_file(os.path.join(store.blobs, name)) != name:
            problems.append(f"blob sha256:{name} does not match its digest (corrupt)")

    referenced: set[str] = set()
    layer_rows = images.all_layers(store)
    recorded = {layer.chain_id for layer in layer_rows}
    image_rows = images.newest_first(store)
    for image in image_rows:
        image_id, manifest, top = image.id, image.manifest_digest, image.top_layer
        for digest, what in ((image_id, "config"), (manifest, "manifest")):
            referenced.add(digest.split(":", 1)[1])
            if digest.split(":", 1)[1] not in blob_files:
                problems.append(f"image {image_id[7:19]}: {what} blob {digest} is missing")
        if top and top not in recorded:
            problems.append(f"image {image_id[7:19]}: top layer {top} is not recorded")
    known_layers = set()
    for layer in layer_rows:
        chain, parent, blob = layer.chain_id, layer.parent, layer.blob_digest
        known_layers.add(chain.split(":", 1)[1])
        referenced.add(blob.split(":", 1)[1])
        if os.path.exists(os.path.join(store.layer_dir(chain), "tar-split")):
            problems += _check_tar_split(store, chain)
        elif blob.split(":", 1)[1] not in blob_files:
            problems.append(f"layer {chain}: blob {blob} is missing")
        if not os.path.isdir(os.path.join(store.layer_dir(chain), "diff")):
            problems.append(f"layer {chain}: unpacked directory is missing")
        if parent and parent not in recorded:
            problems.append(f"layer {chain}: parent {parent} is not recorded")
    for name in sorted(blob_files - referenced):
        problems.append(f"blob sha256:{name} is not referenced by any image (orphan)")
    if os.path.isdir(store.layers):
        for name in sorted(set(os.listdir(store.layers)) - known_layers):
            problems.append(f"layer directory {name} is not recorded in the DB (orphan)")
    for link in stale_links(store):
        problems.append(f"link {os.path.relpath(link, store.root)} leads to no layer (a removal was interrupted)")

    for cid in containers.damaged(store):
        problems.append(f"container {cid[:12]}: its recorded options are damaged (not JSON)")
    rows = containers.images_used(store)
    cids = {cid for cid, _ in rows}
    image_ids = {i.id for i in image_rows}
    for cid, image_id in rows:
        if not os.path.isfile(os.path.join(store.container_dir(cid), "config.json")):
            problems.append(f"container {cid[:12]}: its directory or config.json is missing")
        if image_id not in image_ids:
            problems.append(f"container {cid[:12]}: image {image_id} is missing")
    if os.path.isdir(store.containers):
        for name in sorted(set(os.listdir(store.containers)) - cids):
            problems.append(f"container directory {name[:12]} is not recorded in the DB (orphan)")
    for name in dead_scratch(store):
        problems.append(f"tmp/{name} was left by a writer that is gone (an interrupted write)")
    return problems + _check_pods(store, cids)


def _check_pods(store: Store, cids: set[str]) -> list[str]:
    """A pod whose removal or creation a crash cut short: `pod rm -f` finishes either."""
    from corral.store import pods

    problems = []
    for pod in pods.by_creation(store):
        if pod.removing:
            problems.append(f"pod {pod.name}: its removal was interrupted: `corral pod rm -f {pod.name}` finishes it")
        elif pod.infra_id not in cids:
            problems.append(f"pod {pod.name}: its infra container is missing (an interrupted create): "
                            f"`corral pod rm -f {pod.name}` removes it")
    return problems


def dead_scratch(store: Store) -> list[str]:
    """Entries of tmp/ whose writer is gone (killed mid-write): what check reports and the repair removes.
    Each is named "<what>-<owner identity>.<rest>" (Store.mkdtemp); a name without an identity (from a
    store written before names carried one) counts as dead."""
    from corral.store.owners import is_alive

    try:
        names = sorted(os.listdir(store.tmp))
    except FileNotFoundError:
        return []
    return [name for name in names if not is_alive(name.partition("-")[2].partition(".")[0])]


def remove_dead_scratch(store: Store) -> list[str]:
    """Remove what dead writers left in tmp/; returns what was removed, as the repair reports it."""
    from corral.store.fsutil import remove_tree

    removed = []
    for name in dead_scratch(store):
        path = os.path.join(store.tmp, name)
        if os.path.isdir(path) and not os.path.islink(path):
            remove_tree(path)
        else:
            os.unlink(path)
        removed.append(f"tmp/{name}, left by a writer that is gone")
    return removed
