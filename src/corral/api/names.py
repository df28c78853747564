"""Container names: Docker's rules, and a readable random name when none is given."""
from __future__ import annotations

import os

from corral.errors import InvalidArgument

_FIRST = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_REST = _FIRST | set("_.-")
_ADJECTIVES = ("brave", "calm", "eager", "fond", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty",
               "quirky", "sharp", "tender", "vivid", "witty", "zen", "bold", "clever", "dreamy")
_NOUNS = ("turing", "hopper", "lovelace", "ritchie", "thompson", "knuth", "dijkstra", "hamilton", "liskov",
          "torvalds", "kernighan", "backus", "mccarthy", "shannon", "wirth", "perlman", "goldberg", "cerf")


def validate(name: str) -> str:
    bare = name[1:] if name.startswith("/") else name
    if len(bare) < 2 or bare[0] not in _FIRST or any(c not in _REST for c in bare):
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return bare


def generate() -> str:
    a, b, c = os.urandom(3)
    return f"{_ADJECTIVES[a % len(_ADJECTIVES)]}_{_NOUNS[b % len(_NOUNS)]}{c % 100}"
