"""Plain records: what the store's typed modules (containers, images, networks, leases…) take and return.

A record is a tuple with named fields. Not a dataclass: `dataclasses`
imports ~15 ms of the standard library, and records are on the `run` and
`ps` path, which may load nothing heavy. Not a namedtuple either, for the
same reason (collections). A tuple is also what a query returns, so a row
becomes a record without copying, and code that unpacks a row keeps working.

    class Thing(Record):
        __slots__ = ()
        id: str
        size: int = 0

gives Thing("a", 1), Thing(id="a", size=1), Thing("a"), thing.id, thing.size. Records are
values: equal when their fields are, and (being tuples) hashable only when every
field is, so one that holds decoded JSON (a dict, a list) is not a set member.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.store.root import Store


def _field(i: int) -> property:
    """The i-th item as a read-only attribute (operator.itemgetter would load one module more on `run`)."""
    return property(lambda record: tuple.__getitem__(record, i))


class Record(tuple):
    """A tuple whose fields are the subclass's annotations, in order."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _defaults: dict[str, object] = {}

    def __init_subclass__(cls) -> None:
        own = tuple(cls.__dict__.get("__annotations__", {}))
        cls._fields = cls._fields + own
        cls._defaults = dict(cls._defaults, **{f: cls.__dict__[f] for f in own if f in cls.__dict__})
        for i, name in enumerate(cls._fields):
            setattr(cls, name, _field(i))

    def __new__(cls, *values: object, **named: object):  # noqa: ANN204 - the subclass
        if len(values) < len(cls._fields):
            missing = [f for f in cls._fields[len(values):] if f not in named and f not in cls._defaults]
            if missing:
                raise TypeError(f"{cls.__name__} needs field(s) {', '.join(missing)}")
            values = values + tuple(named.pop(f) if f in named else cls._defaults[f]
                                    for f in cls._fields[len(values):])
        if named or len(values) != len(cls._fields):
            raise TypeError(f"{cls.__name__} takes the fields {', '.join(cls._fields)}; got "
                            f"{len(values)} values and {', '.join(sorted(named)) or 'no other names'}")
        return tuple.__new__(cls, values)

    @classmethod
    def of(cls, row: tuple):  # noqa: ANN206 - the subclass
        """The record of a DB row whose columns are the fields, in order."""
        return tuple.__new__(cls, row)

    def replace(self, **changes: object):  # noqa: ANN201 - the subclass
        values = tuple(changes.pop(f, v) for f, v in zip(self._fields, self))
        if changes:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(changes))}")
        return tuple.__new__(type(self), values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f}={v!r}' for f, v in zip(self._fields, self))})"


def by_ref(store: "Store", table: str, columns: str, ref: str) -> tuple[list[tuple], bool]:
    """Docker's lookup by name, full ID or ID prefix: the rows of `table` whose ID or name is `ref`, else
    those whose ID starts with it when it can be a prefix (hex); and whether they came by prefix, where
    more than one row means an ambiguous prefix."""
    rows = store.query(f"SELECT {columns} FROM {table} WHERE id=? OR name=?", (ref, ref))
    if rows or not ref or any(c not in "0123456789abcdef" for c in ref):
        return rows, False
    return store.query(f"SELECT {columns} FROM {table} WHERE id >= ? AND id < ?", (ref, ref + "g")), True


def columns(cls: type[Record], prefix: str = "") -> str:
    """The SQL column list of a record type (`prefix` qualifies each: "n." → "n.id, n.name, …")."""
    return ", ".join(prefix + f for f in cls._fields)
