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


def entries(store: Store) -> list[tuple[str, str, str]]:
    """(key, image ID, created) of every step remembered, oldest first: what `system df` and prune count."""
    return store.query("SELECT key, image_id, created FROM build_cache ORDER BY created")


def forget(store: Store, keys: list[str]) -> None:
    """Drop these steps from the cache (their images stay: deleting those is image/gc.py's)."""
    with store.transaction() as conn:
        conn.executemany("DELETE FROM build_cache WHERE key=?", [(k,) for k in keys])
