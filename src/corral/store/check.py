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
    from corral.image.layers import rebuilt_digest, stored_layer

    layer = stored_layer(store, chain)
    if layer is None:
        return [f"layer {chain}: unpacked directory is missing"]
    try:
        digest, _ = rebuilt_digest(store, layer)
    except (OSError, StoreError, ValueError) as e:
        return [f"layer {chain}: cannot rebuild its tar ({e})"]
    if digest != layer.diff_id:
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
        problems.append(f"{name} was left by a writer that is gone (an interrupted write)")
    for cid in orphan_steps(store):
        problems.append(f"container {cid[:12]} is a RUN step of a build that was killed")
    for name in orphan_volumes(store):
        problems.append(f"volume directory {name} is not recorded in the DB (orphan: a removal was interrupted)")
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


def orphan_steps(store: Store) -> list[str]:
    """IDs of a build's RUN-step containers whose builder is gone (killed before it removed them)."""
    from corral.store.owners import BUILD_STEP_LABEL, is_alive

    return [cid for cid, owner in containers.with_label(store, BUILD_STEP_LABEL) if not is_alive(owner)]


def half_removed(store: Store) -> list[str]:
    """IDs of containers recorded but without their bundle and not running: an `rm` killed between
    deleting the directory and the row (a create writes the bundle before the row). The repair finishes it."""
    from corral.store.owners import is_alive

    return [cid for cid, _, st, supervisor in containers.states(store)
            if not os.path.isfile(os.path.join(store.container_dir(cid), "config.json"))
            and not (st in containers.SUPERVISED and is_alive(supervisor))]


def orphan_volumes(store: Store) -> list[str]:
    """Volume directories without a row: a `volume rm` killed between the row and the data (the row goes
    first, so that no record is ever left without its data)."""
    from corral.store import volumes

    top = os.path.join(store.root, "volumes")
    try:
        names = set(os.listdir(top))
    except FileNotFoundError:
        return []
    return sorted(names - {v.name for v in volumes.by_name(store)})


def remove_orphan_volumes(store: Store) -> list[str]:
    """Remove volume directories no row records, each checked again inside a transaction (a `volume
    create` makes its directory inside its own, so one being made is never taken)."""
    from corral.store import volumes
    from corral.store.fsutil import remove_tree

    removed = []
    for name in orphan_volumes(store):
        with store.transaction():
            if volumes.get(store, name) is not None:
                continue
            remove_tree(volumes.directory(store, name))
        removed.append(f"volume directory {name}, whose removal was interrupted")
    return removed


def dead_scratch(store: Store) -> list[str]:
    """What writers that are gone (killed mid-write) left, as paths under the store: what check reports and
    the repair removes. Entries of tmp/, and the seccomp cache's temporary files (runtime/seccomp.py), each
    named "<what>-<owner identity>.<rest>" (Store.mkdtemp); a name without an identity (from a store written
    before names carried one) counts as dead."""
    from corral.store.owners import is_alive

    found = []
    for top, only in ((store.tmp, ""), (store.seccomp_cache, ".tmp")):
        try:
            names = sorted(os.listdir(top))
        except FileNotFoundError:
            continue
        found += [os.path.join(os.path.basename(top), name) for name in names
                  if name.endswith(only) and not is_alive(name.partition("-")[2].partition(".")[0])]
    return found


def remove_dead_scratch(store: Store) -> list[str]:
    """Remove what dead writers left; returns what was removed, as the repair reports it."""
    from corral.store.fsutil import remove_tree

    removed = []
    for name in dead_scratch(store):
        path = os.path.join(store.root, name)
        if os.path.isdir(path) and not os.path.islink(path):
            remove_tree(path)
        else:
            os.unlink(path)
        removed.append(f"{name}, left by a writer that is gone")
    return removed
