"""The pause image: what a pod's infra container runs, made on this host from its static catatonit.

podman's model: the infra container holds the pod's namespaces (network, IPC,
UTS) while members come and go, and does nothing else, so its image is one
static binary in pause mode (`catatonit -P`: sleeps, reaps, ends on SIGTERM).
podman builds `localhost/podman-pause` from the host's catatonit on first
use; corral does the same, so a pod needs no registry and no base image.
The image carries the binary's digest in its tag: a host whose catatonit
changed gets a new image, the old one stays until no infra container uses it.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile

from corral.errors import ImageNotFound, NotFound
from corral.store.root import Store

CATATONIT = ("/usr/libexec/podman/catatonit", "/usr/bin/catatonit")
"""Where Debian's catatonit package (which setup.sh installs) puts it."""
REPOSITORY = "localhost/corral-pause"


def binary() -> str:
    for path in CATATONIT:
        if os.access(path, os.X_OK):
            found = os.path.realpath(path)
            if not is_static(found):
                raise NotFound(f"{found} is linked dynamically: a pod's infra container runs it alone in its image, "
                               "so it must be static (Debian's catatonit package is)")
            return found
    raise NotFound("a pod's infra container needs the host's static catatonit: install Debian's catatonit package")


def is_static(path: str) -> bool:
    """Whether the ELF executable at `path` runs without a dynamic loader (no PT_INTERP program header)."""
    import struct

    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit ELF only, as this host's
            return False
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))  # 3: PT_INTERP


def image(store: Store) -> str:
    """The name of the pause image for this host's catatonit, made when the store lacks it."""
    from corral.image import repo

    path = binary()
    with open(path, "rb") as f:
        data = f.read()
    tag = f"{REPOSITORY}:{hashlib.sha256(data).hexdigest()[:12]}"
    try:
        repo.resolve(store, tag)
        return tag
    except ImageNotFound:
        pass
    from corral.image.importer import import_tar

    mtime = int(os.stat(path).st_mtime)
    import_tar(store, io.BytesIO(_rootfs(data, mtime)), [tag], cmd=["/catatonit", "-P"],
                      created_by="corral pod create (the pause image, from the host's catatonit)", created_ts=mtime)
    return tag


def _rootfs(catatonit: bytes, mtime: int) -> bytes:
    """catatonit at /, and the directories a container's mounts land on."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("dev", "etc", "proc", "sys"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
            tar.addfile(info)
        info = tarfile.TarInfo("catatonit")
        info.size, info.mode, info.mtime = len(catatonit), 0o755, mtime
        tar.addfile(info, io.BytesIO(catatonit))
    return buf.getvalue()
