"""docker-py's high-level API over corral's engine: collections (client.containers, .images,
.networks) and models with `id`, `short_id`, `attrs` and `reload()`.

Two layers, as docker-py has APIClient under DockerClient: the engine objects
(corral.api.Host, Container, Image, Network) work on fds and Python values and
are what the CLI drives; these models are docker-py's shapes over them, for
scripts written for docker-py. A model's `attrs` is the engine object's
inspect() dict, Docker's field names, read again by reload().
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.client import Client


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
