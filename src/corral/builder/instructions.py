"""What the executor asks of an instruction's arguments: key=value pairs, secret mounts, durations.

These are BuildKit's instructions/ helpers (parseKvps, parseMount, parseOptInterval):
each reads one argument the parser kept as written, after or without expansion,
and both the parser (to reject a bad Dockerfile before anything runs) and the
executor (to build the config) call the same function, so the two cannot
disagree. Errors carry only the reason: the caller knows the file and line.
"""
from __future__ import annotations

from corral.builder import shellwords
from corral.errors import InvalidArgument

_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")


def key_values(words: list[str], cmd: str) -> list[tuple[str, str | None]]:
    """ENV/LABEL/ARG arguments as (key, value) pairs, in order, still unexpanded (quotes kept).

    ENV and LABEL: `KEY=VALUE` words, or the legacy `KEY VALUE` (when the first
    word has no "="): one pair, the value being the rest joined by spaces.
    ARG: `NAME=default` gives (NAME, "default"), a bare `NAME` gives (NAME, None).
    The executor expands each value in turn, so `ENV A=1 B=$A` sees the old A.
    Raises InvalidArgument(reason); the parser, which knows the line, checks
    every ENV/LABEL/ARG this way, so the executor's calls cannot fail.
    """
    cmd = cmd.upper()
    if not words:
        raise InvalidArgument(f"{cmd} requires at least one argument")
    if cmd != "ARG" and "=" not in words[0]:
        if len(words) < 2:
            raise InvalidArgument(f"{cmd} must have two arguments (KEY=VALUE, or the legacy KEY VALUE)")
        return [(words[0], " ".join(words[1:]))]
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq and cmd != "ARG":
            raise InvalidArgument(f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value')
        if not key:
            raise InvalidArgument(f"{cmd} names can not be blank")
        pairs.append((key, value if eq else None))
    return pairs


def parse_duration(text: str) -> int:
    """Nanoseconds in a Go duration ("30s", "1m30s", "1.5h", "0"); ValueError when it is not one."""
    units = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6, "s": 10**9,
             "m": 60 * 10**9, "h": 3600 * 10**9}
    sign, s = 1, text
    if s.startswith(("+", "-")):
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(text)
    total = 0
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and (s[j].isascii() and s[j].isdecimal() or s[j] == "."):
            j += 1
        number = s[i:j]
        if not number or number == "." or number.count(".") > 1:
            raise ValueError(text)
        k = j
        while k < len(s) and not (s[k].isascii() and (s[k].isdecimal() or s[k] == ".")):
            k += 1
        unit = s[j:k]
        if unit not in units:
            raise ValueError(text)
        whole, _, frac = number.partition(".")
        value = int(whole or "0") * units[unit]
        if frac:
            value += int(frac) * units[unit] // 10 ** len(frac)
        total += value
        i = k
    return sign * total


def secret_mount(value: str, env: dict[str, str], escape: str = "\\") -> dict:
    """A `RUN --mount=type=secret,...` value, variables expanded, with Docker's defaults filled in.

    Returns {"id", "target", "required", "mode", "uid", "gid"}: id defaults to
    the target's basename, target to /run/secrets/<id>, mode to 0o400, owner
    to 0:0, required to False. Raises InvalidArgument for anything but a valid
    secret mount (corral supports only type=secret).
    """
    fields = _mount_fields(value, env, escape)
    ident = fields.get("id", "")
    target = fields.get("target", "")
    if not ident:
        ident = target.rstrip("/").rsplit("/", 1)[-1]
    return {
        "id": ident,
        "target": target or "/run/secrets/" + ident.rstrip("/").rsplit("/", 1)[-1],
        "required": fields.get("required", "false") == "true",
        "mode": int(fields.get("mode", "400"), 8),
        "uid": int(fields.get("uid", "0")),
        "gid": int(fields.get("gid", "0")),
    }


def check_mount(value: str, escape: str) -> None:
    """The parse-time check of a `RUN --mount` value: InvalidArgument(reason) unless it is a secret
    mount corral can give; fields holding a variable are checked once expanded (`secret_mount`)."""
    _mount_fields(value, None, escape)


def _mount_fields(value: str, env: dict[str, str] | None, escape: str) -> dict[str, str]:
    """Check a --mount value; with env None (parse time) values holding a variable are not checked."""
    import csv

    try:
        fields = next(csv.reader([value], skipinitialspace=False))
    except (csv.Error, StopIteration):
        raise InvalidArgument("failed to parse csv mounts") from None
    out: dict[str, str] = {}
    deferred: set[str] = set()  # keys whose value holds a variable (checked once expanded)
    named: set[str] = set()  # which of id= and source= were given
    for field in fields:
        key, eq, val = field.partition("=")
        key = key.lower()
        if not eq:
            if key in ("ro", "readonly", "rw", "readwrite"):
                continue
            if key == "required":
                out["required"] = "true"
                continue
            raise InvalidArgument(f"invalid field '{field}' must be a key=value pair")
        if env is not None:
            val = shellwords.expand(val, env, escape)
        key = _MOUNT_KEYS.get(key, key)
        if env is None and "$" in val:
            deferred.add("id" if key == "source" else key)
            named.add(key)
            continue
        if key == "type":
            val = val.lower()
            if val not in _MOUNT_TYPES:
                raise InvalidArgument(f'unsupported mount type "{val}" (bind, cache, tmpfs, secret or ssh)')
            if val != "secret":
                raise InvalidArgument(f"mount type={val} is not supported by corral (only type=secret)")
        elif key in ("mode", "uid", "gid"):
            base = 8 if key == "mode" else 10
            try:
                number = int(val, base)
            except ValueError:
                number = -1
            if number < 0 or number > 0xFFFFFFFF or not val.isdecimal():
                raise InvalidArgument(f"invalid value {val} for {key}")
        elif key == "required":
            if val.lower() not in ("1", "t", "true", "0", "f", "false"):
                raise InvalidArgument(f"invalid value for required: {val}")
            val = "true" if val.lower() in ("1", "t", "true") else "false"
        elif key in ("readonly", "readwrite"):
            continue
        elif key not in ("id", "target", "source"):
            raise InvalidArgument(f"unexpected key '{key}' in '{field}' (a secret mount takes id, target, "
                                  "required, mode, uid, gid)")
        if key in ("id", "source"):
            if ("source" if key == "id" else "id") in named:
                raise InvalidArgument("both source and id can't be set")
            named.add(key)
            key = "id"  # Docker takes source= as the secret's id
        out[key] = val
    if "type" not in out and "type" not in deferred:
        raise InvalidArgument("mount type=bind (the default) is not supported by corral: use type=secret")
    if not (out.get("id") or out.get("target") or deferred & {"id", "target"}):
        raise InvalidArgument("invalid secret mount: one of id, target required")
    return out


_MOUNT_KEYS = {"dst": "target", "destination": "target", "src": "source", "ro": "readonly", "rw": "readwrite"}
