"""The host's defaults for new containers: /etc/corral/corral.conf (TOML), beside registries.conf.

One key for now, as docker's daemon has `--exec-opt isolation=...` on Windows hosts:

    isolation = "vm"        # or "process" (the default when the file or the key is absent)

A host that runs only untrusted workloads says so once instead of on every `run`. The file is found in the
directory of registries.conf (registry/conf.py: /etc/corral, or the directory of the file
CORRAL_REGISTRIES_CONF names), so the override that keeps tests away from the host's registries keeps them
away from its defaults too. It is read when a container is created without --isolation (run, create, the
Engine API's create, the Python API), not on the exec/ps paths.
"""
from __future__ import annotations

import os

from corral.errors import InvalidArgument

ISOLATIONS = ("process", "vm")


def conf_path() -> str:
    from corral.registry.conf import conf_path as registries_conf

    return os.path.join(os.path.dirname(registries_conf()), "corral.conf")


def default_isolation() -> str:
    """"process" or "vm": the file's `isolation`, "process" without one; a malformed file or value is refused
    with its path (a typo must not silently run a hostile workload with a shared kernel)."""
    path = conf_path()
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        return "process"  # the usual case: no TOML parser loaded on the run path (tomllib costs ~15 ms)
    except OSError as e:
        raise InvalidArgument(f"cannot read {path}: {e}") from None
    import tomllib

    try:
        data = tomllib.loads(text.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InvalidArgument(f"cannot read {path}: {e}") from None
    unknown = sorted(set(data) - {"isolation"})
    if unknown:
        raise InvalidArgument(f"{path}: unknown key {unknown[0]!r} (corral.conf knows: isolation)")
    value = data.get("isolation", "process")
    if value not in ISOLATIONS:
        raise InvalidArgument(f"{path}: isolation must be \"process\" or \"vm\", not {value!r}")
    return value
