"""The build cache: a Dockerfile step's key (what it ran, on what, with which inputs) → the image it made.

A row goes with its image (ON DELETE CASCADE): deleting an image forgets
every step that made it, so a cache hit always names an image that exists.
"""
from __future__ import annotations

from corral.store.root import Store


def lookup(store: Store, key: str) -> str | None:
    """The image a step with this key made before, or None."""
    rows = store.query("SELECT image_id FROM build_cache WHERE key=?", (key,))
    return rows[0][0] if rows else None


def remember(store: Store, key: str, image_id: str, created: str) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO build_cache(key, image_id, created) VALUES(?,?,?)",
                     (key, image_id, created))
