"""The Python object API: Host, Container, Image, Network. The CLI and the API server are thin layers over it.

    from corral.api import Host
    host = Host()
    c = host.create_container("busybox", ["sleep", "60"], name="web2")
    c.start()
    print(c.exec(["hostname"]).stdout)
    c.remove(force=True)
"""
from corral.api.container import Container, ExecResult
from corral.api.host import Host
from corral.api.image import Image
from corral.api.network import Network

__all__ = ["Host", "Container", "Image", "ExecResult", "Network"]
