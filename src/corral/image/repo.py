"""Finding images in the store by name:tag, digest, ID or unambiguous ID prefix."""
from __future__ import annotations

from corral import fastjson as json

from corral.errors import ImageNotFound, InvalidArgument
from corral.image.reference import normalize
from corral.store import blobs, images
from corral.store.root import Store


def resolve(store: Store, ref: str) -> str:
    """The image ID (sha256:…) that `ref` names, or NotFound with Docker's wording."""
    if not ref:
        raise InvalidArgument("an image name is required")
    norm = normalize(ref)
    found = images.by_tag(store, norm)
    if found:
        return found
    if "@" in norm:
        found = images.by_digest(store, norm.split("@", 1)[1])
        if not found:
            from corral.store import distribution

            found = distribution.by_repo_digest(store, norm.split("@", 1)[1])  # as a registry knows it
        if found:
            return found
    hexpart = ref[7:] if ref.startswith("sha256:") else ref
    if hexpart and len(hexpart) <= 64 and all(c in "0123456789abcdef" for c in hexpart):
        rows = images.with_id_prefix(store, "sha256:" + hexpart)
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            raise InvalidArgument(f"image ID prefix {ref!r} is ambiguous: give more digits")
    raise ImageNotFound(f"No such image: {ref}")


def config(store: Store, image_id: str) -> dict:
    return json.loads(blobs.read(store, image_id))


def tags_of(store: Store, image_id: str) -> list[str]:
    return images.tags_of(store, image_id)


def top_layer(store: Store, image_id: str) -> str | None:
    record = images.get(store, image_id)
    if record is None:
        raise ImageNotFound(f"No such image: {image_id}")
    return record.top_layer


def layer_chain(store: Store, top: str | None) -> list[str]:
    """Chain IDs from the base layer up to `top`, following the parent links."""
    chain: list[str] = []
    while top:
        chain.append(top)
        top = images.parent_of(store, top)
    chain.reverse()
    return chain
