"""docker-py's high-level API over corral's engine: collections (client.containers, .images,
.networks, .volumes) and models with `id`, `short_id`, `attrs` and `reload()`.

Two layers, as docker-py has APIClient under DockerClient: the engine objects
(corral.api.Host, Container, Image, Network) work on fds and Python values and
are what the CLI drives; these models are docker-py's shapes over them, for
scripts written for docker-py. A model's `attrs` is the engine object's
inspect() dict, Docker's field names, read again by reload().
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from corral.api.client import Client

CHUNK = 2 * 1024 * 1024  # docker-py's DEFAULT_DATA_CHUNK_SIZE


class Model:
    """An object of the store as docker-py shows it: attrs read at creation and by reload()."""

    id_attribute = "Id"

    def __init__(self, attrs: dict, client: Client, collection: Collection) -> None:
        self.attrs = attrs
        self.client = client
        self.collection = collection

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.short_id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and self.id == other.id

    def __hash__(self) -> int:
        return hash(f"{type(self).__name__}:{self.id}")

    @property
    def id(self) -> str:
        return self.attrs[self.id_attribute]

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def reload(self) -> None:
        """Read attrs again from the store (docker-py's reload: the object is not refreshed by itself)."""
        self.attrs = self.collection.get(self.id).attrs


class Collection:
    """A kind of object in the store: get, list, create and prune them."""

    model: type[Model] = Model

    def __init__(self, client: Client) -> None:
        self.client = client

    def prepare_model(self, attrs: dict) -> Model:
        return self.model(attrs, self.client, self)


def check_type(call: str, name: str, value: object, *types: type) -> None:
    """An UnexpectedArgument naming the argument when `value` is none of `types` (None always passes)."""
    if value is not None and not isinstance(value, types):
        from corral.errors import UnexpectedArgument

        wanted = " or ".join(t.__name__ for t in types)
        raise UnexpectedArgument(f"{call}(): {name} must be {wanted}, not {type(value).__name__}")


def refuse_unknown(call: str, kwargs: dict) -> None:
    """docker-py raises TypeError for a keyword it does not know; corral names it in an UnexpectedArgument."""
    if kwargs:
        from corral.errors import UnexpectedArgument

        names = ", ".join(repr(k) for k in sorted(kwargs))
        raise UnexpectedArgument(f"{call}() got unexpected keyword argument(s) {names}")


def wanted_filters(filters: dict | None) -> dict[str, list[str]]:
    """docker-py's filters ({"label": "a=b"}, {"label": ["a", "b"]}, {"dangling": True}) as the
    engine's mapping of key to list of strings."""
    found: dict[str, list[str]] = {}
    for key, value in (filters or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        found[key] = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    return found


def rechunk(chunks: Iterator[bytes], size: int | None) -> Iterator[bytes]:
    """The bytes of `chunks` in pieces of `size` (the last shorter); as they come when size is None."""
    if not size:
        yield from chunks
        return
    pending = b""
    for chunk in chunks:
        pending += chunk
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending


def produced(write: object) -> Iterator[bytes]:
    """What write(stream) writes to a binary stream, as chunks read from a pipe it writes in a thread;
    an error of the writer is raised here, after the chunks it wrote."""
    import threading

    r, w = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with open(w, "wb") as out:
                write(out)  # type: ignore[operator]
        except BaseException as e:  # noqa: BLE001 - handed to the reader
            failure.append(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        with open(r, "rb") as src:
            while chunk := src.read(65536):
                yield chunk
    finally:
        thread.join()
    if failure:
        raise failure[0]
