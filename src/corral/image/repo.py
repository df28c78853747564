"""Finding images in the store by name:tag, digest, ID or unambiguous ID prefix."""
from __future__ import annotations

from corral import fastjson as json

from corral.errors import InvalidArgument, NotFound
from corral.image.reference import normalize
from corral.store import blobs
from corral.store.root import Store


def resolve(store: Store, ref: str) -> str:
    """The image ID (sha256:…) that `ref` names, or NotFound with Docker's wording."""
    if not ref:
        raise InvalidArgument("an image name is required")
    norm = normalize(ref)
    row = store.query("SELECT image_id FROM tags WHERE name=?", (norm,))
    if row:
        return row[0][0]
    if "@" in norm:
        digest = norm.split("@", 1)[1]
        row = store.query("SELECT id FROM images WHERE manifest_digest=? OR id=?", (digest, digest))
        if row:
            return row[0][0]
    hexpart = ref[7:] if ref.startswith("sha256:") else ref
    if hexpart and len(hexpart) <= 64 and all(c in "0123456789abcdef" for c in hexpart):
        rows = store.query("SELECT id FROM images WHERE id >= ? AND id < ?",
                           ("sha256:" + hexpart, "sha256:" + hexpart + "g"))
        if len(rows) == 1:
            return rows[0][0]
        if len(rows) > 1:
            raise InvalidArgument(f"image ID prefix {ref!r} is ambiguous: give more digits")
    raise NotFound(f"No such image: {ref}")


def config(store: Store, image_id: str) -> dict:
    return json.loads(blobs.read(store, image_id))


def tags_of(store: Store, image_id: str) -> list[str]:
    return [r[0] for r in store.query("SELECT name FROM tags WHERE image_id=? ORDER BY name", (image_id,))]


def top_layer(store: Store, image_id: str) -> str | None:
    return store.query("SELECT top_layer FROM images WHERE id=?", (image_id,))[0][0]


def layer_chain(store: Store, top: str | None) -> list[str]:
    """Chain IDs from the base layer up to `top`, following the parent links."""
    chain: list[str] = []
    while top:
        chain.append(top)
        row = store.query("SELECT parent FROM layers WHERE chain_id=?", (top,))
        top = row[0][0] if row else None
    chain.reverse()
    return chain
