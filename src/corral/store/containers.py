"""Finding a container's record by the names users give it: full ID, name, or unambiguous ID prefix."""
from __future__ import annotations

from corral.errors import InvalidArgument, NotFound
from corral.store.root import Store


def find(store: Store, ref: str, columns: str) -> tuple:
    """The row (`columns` of table containers) that `ref` names: an ID, a name ("/name" too, as
    Docker prints them) or an ID prefix that only one container has."""
    if not ref:
        raise InvalidArgument("a container name or ID is required")
    bare = ref[1:] if ref.startswith("/") else ref
    rows = store.query(f"SELECT {columns} FROM containers WHERE id=? OR name=?", (bare, bare))
    if not rows and all(c in "0123456789abcdef" for c in bare):
        rows = store.query(f"SELECT {columns} FROM containers WHERE id >= ? AND id < ?", (bare, bare + "g"))
        if len(rows) > 1:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {bare}")
    if not rows:
        raise NotFound(f"No such container: {ref}")
    return rows[0]
