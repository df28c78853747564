"""A container's root filesystem as a mount description, the one place that knows how the store lays
out layers and sandboxes.

The runtime is handed a `Mount` (type, source, options), as containerd's snapshotters hand out mounts,
and mounts it without knowing where `diff/`, `upper/` or `work/` live; the VM backend will hand the
same description's layers to a guest. Readers of a sandbox (diff, commit, export, inspect) take its
directories from the same description.

Layers are named in the description through short links, `links/<26 characters>` → the layer's
`diff/`: overlayfs takes all its options in one page (4 KiB) of mount(2) data, and at
`layers/<64 hex>/diff` a layer costs 76 bytes even relative to the store, so images past about 52
layers could not run. Relative to links/, a layer costs 27 bytes and about 140 fit, whatever the
store's own path (Docker's overlay2 does the same, and stops at 125). Links are named after the
layer's chain ID, so they can be made again at any time, by whoever needs one.
"""
from __future__ import annotations

import os

from corral.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.store.root import Store

LINKS = "links"
"""The store's directory of short links to layer contents."""
LINK_LENGTH = 26
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class Mount:
    """What to mount, in the terms of mount(8) and of an OCI config's mounts (minus the destination).
    A plain class: dataclasses cost ~15 ms of imports on the run path."""

    __slots__ = ("type", "source", "options")

    def __init__(self, type: str, source: str, options: tuple[str, ...] = ()) -> None:  # noqa: A002
        self.type, self.source, self.options = type, source, tuple(options)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mount) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Mount({self.type!r}, {self.source!r}, {self.options!r})"

    def option(self, key: str) -> str | None:
        """The value of a `key=value` option, or None."""
        prefix = key + "="
        return next((o[len(prefix):] for o in self.options if o.startswith(prefix)), None)

    def lowerdirs(self) -> list[str]:
        """An overlay's lower directories, top first."""
        return [d for d in (self.option("lowerdir") or "").split(":") if d]

    def to_dict(self) -> dict:
        return {"type": self.type, "source": self.source, "options": list(self.options)}

    @classmethod
    def from_dict(cls, d: dict) -> "Mount":
        return cls(d["type"], d["source"], tuple(d.get("options", ())))


ROOTFS_ANNOTATION = "org.corral.rootfs"
"""config.json's annotation that carries a container's Mount, as JSON: an OCI bundle names only where
the root is mounted (root.path), not what to mount there."""


LEGACY_ANNOTATION = "org.corral.lowerdirs"
"""What a corral before mount descriptions wrote instead: the image's layer directories, top first."""


def rootfs_of(spec: dict, bundle: str) -> Mount:
    """The Mount the config.json of the container in `bundle` carries. A container made by a corral
    before mount descriptions (or whose config.json is gone) gets the overlay its bundle implies."""
    annotations = spec.get("annotations", {})
    if ROOTFS_ANNOTATION in annotations:
        from corral import fastjson as json

        return Mount.from_dict(json.loads(annotations[ROOTFS_ANNOTATION]))
    lower = [d for d in annotations.get(LEGACY_ANNOTATION, "").split(":") if d] or [os.path.join(bundle, "empty")]
    return Mount("overlay", "overlay", (f"lowerdir={':'.join(lower)}", f"upperdir={upper_dir(bundle)}",
                                        f"workdir={os.path.join(bundle, 'work')}"))


PAGE = 4096
"""mount(2) takes a filesystem's options in one page, its terminating NUL included."""


class TooManyLayers(InvalidArgument):
    """An overlay whose options do not fit in one page even with paths relative to its layers."""


def overlay_data(rootfs: Mount) -> tuple[str, str | None]:
    """An overlay description's mount(2) data, and the directory the kernel must resolve it from
    (None: the paths are absolute). Too long for a page, the paths are made relative to the layers'
    common parent (the store's short links), which is where the init changes to before mounting."""
    data = ",".join(rootfs.options)
    if len(data) < PAGE:
        return data, None
    lower = rootfs.lowerdirs()
    base = os.path.commonpath(lower) if len(lower) > 1 else os.path.dirname(lower[0])
    rel = [f"lowerdir={':'.join(os.path.relpath(d, base) for d in lower)}"]
    for opt in rootfs.options:
        key, _, value = opt.partition("=")
        if key in ("upperdir", "workdir"):
            rel.append(f"{key}={os.path.relpath(value, base)}")
        elif key != "lowerdir":
            rel.append(opt)
    data = ",".join(rel)
    if len(data) >= PAGE:
        per_layer = (len(rel[0]) - len("lowerdir=")) / len(lower)
        most = int((PAGE - 1 - (len(data) - len(rel[0])) - len("lowerdir=")) // per_layer)
        raise TooManyLayers(f"the image has {len(lower)} layers; overlayfs can stack at most {most} here "
                            "(its mount options must fit in one page): squash the image or build it in fewer steps")
    return data, base


def layer_diff(store: "Store", chain_id: str) -> str:
    """A layer's unpacked contents."""
    return os.path.join(store.layer_dir(chain_id), "diff")


def link_name(chain_id: str) -> str:
    """The short link's name: the chain ID's first 130 bits in base32, as Docker's overlay2 names them
    (written out here: the base64 module would load `re` on the run path)."""
    n = int(chain_id.split(":", 1)[-1], 16) >> (256 - 5 * LINK_LENGTH)
    return "".join(_BASE32[n >> 5 * i & 31] for i in reversed(range(LINK_LENGTH)))


def ensure_link(store: "Store", chain_id: str) -> str:
    """The path of the layer's short link, made if it is missing (atomically: a concurrent maker, or
    a reader, sees either no link or the whole one)."""
    path = os.path.join(store.root, LINKS, link_name(chain_id))
    target = os.path.join("..", "layers", chain_id.split(":", 1)[-1], "diff")
    try:
        if os.readlink(path) == target:
            return path
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.makedirs(store.tmp, exist_ok=True)
    from corral.store.fsutil import writer_id
    from corral.store.owners import identity

    # named for its owner (check.dead_scratch) and its thread, as two threads of one process may make the same link
    tmp = os.path.join(store.tmp, f"link-{identity()}.{writer_id()}-{link_name(chain_id)}")  # not in links/
    try:
        os.symlink(target, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def stale_links(store: "Store") -> list[str]:
    """Links whose layer is gone (a crash between a layer's removal and its link's), or that are not
    links of this store at all: what `system check` reports and the image sweep removes."""
    d = os.path.join(store.root, LINKS)
    if not os.path.isdir(d):
        return []
    stale = []
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        try:
            target = os.readlink(path)
        except OSError:
            stale.append(path)
            continue
        parts = target.split("/")
        if len(parts) != 4 or parts[:2] != ["..", "layers"] or parts[3] != "diff" or \
                link_name(parts[2]) != name or not os.path.isdir(os.path.join(store.layers, parts[2], "diff")):
            stale.append(path)
    return stale


def upper_dir(bundle: str) -> str:
    """The container's own writes (its sandbox)."""
    return os.path.join(bundle, "upper")


def empty_layers(rootfs: Mount, bundle: str) -> list[str]:
    """The lower dirs that are the bundle's own, not an image layer: the empty one of an image with none."""
    return [d for d in rootfs.lowerdirs() if os.path.dirname(d) == bundle]


def make_sandbox(bundle: str, rootfs: Mount, owner: tuple[int, int] | None = None) -> None:
    """The directories a container's overlay needs in its bundle: the writable upper and work dirs, the
    mount point, and the empty lower layer of an image with none. owner: the host (uid, gid) of the root of a
    user-namespaced container (--userns=auto), which owns its upper and work dirs, as it mounts the overlay."""
    for sub in ("upper", "work", "rootfs"):
        os.makedirs(os.path.join(bundle, sub))
    for d in empty_layers(rootfs, bundle):
        os.makedirs(d)
    if owner is not None:
        for d in ("upper", "work"):
            os.chown(os.path.join(bundle, d), *owner)


def container_rootfs(store: "Store", bundle: str, chain_ids: list[str]) -> Mount:
    """The overlay of a container in `bundle` over the layers `chain_ids` (top first)."""
    lower = [ensure_link(store, c) for c in chain_ids] or [os.path.join(bundle, "empty")]
    return Mount("overlay", "overlay", (f"lowerdir={':'.join(lower)}", f"upperdir={upper_dir(bundle)}",
                                        f"workdir={os.path.join(bundle, 'work')}"))


def shifted_rootfs(rootfs: Mount, bundle: str, layers: list[str], idmap: tuple[list[dict], list[dict]]) -> Mount:
    """The overlay `rootfs` over copies of its `layers` (top first) in the bundle whose ids are shifted by the
    container's mapping (--userns=auto where the layers' filesystem cannot be idmapped: runtime/userns.py)."""
    from corral.runtime.userns import shifted_copy

    uid, gid, size = idmap[0][0]["hostID"], idmap[1][0]["hostID"], idmap[0][0]["size"]
    copies = [os.path.join(bundle, "shifted", str(i)) for i in range(len(layers))]
    for layer, copy in zip(layers, copies):
        shifted_copy(layer, copy, uid, gid, size)
    return Mount(rootfs.type, rootfs.source, tuple(f"lowerdir={':'.join(copies)}" if o.startswith("lowerdir=") else o
                                                   for o in rootfs.options))
