"""JSON through the stdlib's C accelerator alone.

`import json` compiles regular expressions at import time (about 10 ms on
these machines, a third of a whole `crun run`); the C scanner and encoder in
`_json` need none of that. Output is compact and, for dumps, key-sorted
optionally; everything else behaves like json.loads/json.dumps.
"""
from __future__ import annotations

import _json

_WS = " \t\n\r"


def _constant(name: str) -> float:
    raise ValueError(f"invalid JSON constant {name}")


class _Context:
    """The attributes the C scanner reads from a json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo: dict = {}


_scan = _json.make_scanner(_Context())


def loads(text: str | bytes) -> object:
    if isinstance(text, bytes):
        text = text.decode()
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, start)
    except StopIteration as e:
        raise ValueError(f"invalid JSON at offset {e.value}") from None
    except SystemError:
        # Some syntax errors make the C scanner look up json.decoder.JSONDecodeError in sys.modules
        # only; without `import json` it finds nothing and returns NULL with no exception set.
        raise ValueError("invalid JSON") from None
    if text[end:].strip(_WS):
        raise ValueError(f"extra data after JSON value at offset {end}")
    return obj


def _default(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_encoders = {
    sort: _json.make_encoder(None, _default, _json.encode_basestring_ascii, None, ":", ",", sort, False, False)
    for sort in (False, True)
}


def dumps(obj: object, sort_keys: bool = False) -> str:
    return "".join(_encoders[sort_keys](obj, 0))
