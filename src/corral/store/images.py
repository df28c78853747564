"""Image records: the images, tags and layers tables, the one place their rows are read and written.

An image row points at its top layer; each layer row at its parent, so an
image's layers are a chain (image/repo.py walks it). Content (config and
manifest blobs, unpacked layers) is in blobs/ and layers/; these rows are what
makes it an image, and what garbage collection (image/gc.py) counts as a
reference.
"""
from __future__ import annotations

from corral.store.records import Record, columns
from corral.store.root import Store


class ImageRecord(Record):
    """One row of the images table: the ID is the config blob's digest; size is its layers' unpacked bytes."""

    __slots__ = ()
    id: str
    manifest_digest: str
    created: str
    top_layer: str | None
    size: int


class LayerRecord(Record):
    """One row of the layers table: size is the layer's uncompressed tar size."""

    __slots__ = ()
    chain_id: str
    diff_id: str
    parent: str | None
    blob_digest: str
    media_type: str
    size: int


_IMAGE_COLUMNS = columns(ImageRecord)
_LAYER_COLUMNS = columns(LayerRecord)


# images ------------------------------------------------------------------------------------------------

def get(store: Store, image_id: str) -> ImageRecord | None:
    rows = store.query(f"SELECT {_IMAGE_COLUMNS} FROM images WHERE id=?", (image_id,))
    return ImageRecord.of(rows[0]) if rows else None


def newest_first(store: Store) -> list[ImageRecord]:
    return [ImageRecord.of(r) for r in store.query(f"SELECT {_IMAGE_COLUMNS} FROM images ORDER BY created DESC")]


def listed_ids(store: Store, all: bool = False) -> list[str]:  # noqa: A002 - docker's flag
    """IDs, newest first; without `all`, the build cache's intermediate images (untagged) are left out."""
    if all:
        return [r[0] for r in store.query("SELECT id FROM images ORDER BY created DESC")]
    return [r[0] for r in store.query(
        "SELECT id FROM images WHERE id IN (SELECT image_id FROM tags) OR id NOT IN "
        "(SELECT image_id FROM build_cache) ORDER BY created DESC")]


def by_digest(store: Store, digest: str) -> str | None:
    """The image whose manifest or config (its ID) has `digest`."""
    rows = store.query("SELECT id FROM images WHERE manifest_digest=? OR id=?", (digest, digest))
    return rows[0][0] if rows else None


def with_id_prefix(store: Store, prefix: str) -> list[str]:
    """IDs starting with `prefix` ("sha256:" and some hex digits)."""
    return [r[0] for r in store.query("SELECT id FROM images WHERE id >= ? AND id < ?", (prefix, prefix + "g"))]


def register(store: Store, image: ImageRecord, layers: list[LayerRecord], tags: list[str]) -> None:
    """Record an image with its layers and tags in one transaction; rows already there are kept (the same
    content has the same IDs), and a tag another image had moves to this one."""
    with store.transaction() as conn:
        conn.executemany(f"INSERT OR IGNORE INTO layers({_LAYER_COLUMNS}) VALUES(?,?,?,?,?,?)", layers)
        conn.execute(f"INSERT OR IGNORE INTO images({_IMAGE_COLUMNS}) VALUES(?,?,?,?,?)", image)
        conn.executemany("INSERT OR REPLACE INTO tags(name, image_id) VALUES(?,?)", [(t, image.id) for t in tags])


def delete(store: Store, image_id: str) -> None:
    """The image's row and its tags, in one transaction (its layers go with the next sweep)."""
    with store.transaction(freeing=True) as conn:
        conn.execute("DELETE FROM tags WHERE image_id=?", (image_id,))
        conn.execute("DELETE FROM images WHERE id=?", (image_id,))


# tags --------------------------------------------------------------------------------------------------

def by_tag(store: Store, name: str) -> str | None:
    """The image tagged `name` (as image/reference.normalize spells it)."""
    rows = store.query("SELECT image_id FROM tags WHERE name=?", (name,))
    return rows[0][0] if rows else None


def all_tags(store: Store) -> list[str]:
    return [r[0] for r in store.query("SELECT name FROM tags ORDER BY name")]


def tags_of(store: Store, image_id: str) -> list[str]:
    return [r[0] for r in store.query("SELECT name FROM tags WHERE image_id=? ORDER BY name", (image_id,))]


def tag(store: Store, names: list[str], image_id: str) -> None:
    """Give the image these names; a name another image had moves here (as `docker tag` does)."""
    with store.transaction() as conn:
        conn.executemany("INSERT OR REPLACE INTO tags(name, image_id) VALUES(?,?)", [(n, image_id) for n in names])


def untag(store: Store, names: list[str]) -> None:
    with store.transaction(freeing=True) as conn:
        conn.executemany("DELETE FROM tags WHERE name=?", [(n,) for n in names])


# layers ------------------------------------------------------------------------------------------------

def layer(store: Store, chain_id: str) -> LayerRecord | None:
    rows = store.query(f"SELECT {_LAYER_COLUMNS} FROM layers WHERE chain_id=?", (chain_id,))
    return LayerRecord.of(rows[0]) if rows else None


def add_layers(store: Store, layers: list[LayerRecord]) -> None:
    """Record layers no image uses yet: a pull's finished layers, kept so that an interrupted pull resumes
    without downloading them again (until the next sweep, which drops layers no image needs)."""
    with store.transaction() as conn:
        conn.executemany(f"INSERT OR IGNORE INTO layers({_LAYER_COLUMNS}) VALUES(?,?,?,?,?,?)", layers)


def all_layers(store: Store) -> list[LayerRecord]:
    return [LayerRecord.of(r) for r in store.query(f"SELECT {_LAYER_COLUMNS} FROM layers")]


def parent_of(store: Store, chain_id: str) -> str | None:
    """The layer `chain_id` stands on; None for a base layer or one not recorded."""
    rows = store.query("SELECT parent FROM layers WHERE chain_id=?", (chain_id,))
    return rows[0][0] if rows else None


def delete_layers(store: Store, chain_ids: list[str]) -> None:
    with store.transaction(freeing=True) as conn:
        conn.executemany("DELETE FROM layers WHERE chain_id=?", [(c,) for c in chain_ids])
