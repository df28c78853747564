"""corral: a container engine for Linux, and a Python library for it.

    import corral
    client = corral.from_env()
    print(client.containers.run("busybox", "echo hello world"))

The names below (from_env, Client and docker-py's DockerClient, errors, types)
load on first use, so the `corral` command, which imports this package, pays
nothing for them.
"""

__version__ = "0.1.0"

_LAZY = {"from_env": "corral.api.client", "Client": "corral.api.client", "DockerClient": "corral.api.client",
         "errors": None, "types": None}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'corral' has no attribute {name!r}")
    import importlib

    home = _LAZY[name]
    value = importlib.import_module(f"corral.{name}") if home is None else getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
