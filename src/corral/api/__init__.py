"""The Python object API: Host, Container, Image, Network. The CLI and the API server are thin layers over it.

    from corral.api import Host
    host = Host()
    c = host.create_container("busybox", ["sleep", "60"], name="web2")
    c.start()
    print(c.exec(["hostname"]).stdout)
    c.remove(force=True)

The classes load on first use, so a client of a light module here
(corral.api.sessions, for `corral exec`) loads no more than it uses.
"""
_HOMES = {"Container": "container", "ExecResult": "container", "Host": "host", "Image": "image",
          "Network": "network"}

__all__ = list(_HOMES)


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'corral.api' has no attribute {name!r}")
    module = __import__(f"corral.api.{_HOMES[name]}", fromlist=[name])
    value = getattr(module, name)
    globals()[name] = value
    return value
