"""Images from root filesystem tarballs (`corral import`) and from directories (bootstrap)."""
from __future__ import annotations

import os
import tarfile
from typing import BinaryIO

from corral.image import gc, oci
from corral.image.extract import open_stream
from corral.image.layers import add_layer
from corral.image.reference import validate_tag
from corral.store.root import Store
from corral.timestamps import rfc3339


def import_tar(store: Store, src: BinaryIO, tags: list[str], *, cmd: list[str] | None = None,
               created_by: str = "corral import", created_ts: float | None = None,
               on_skip=None) -> str:  # noqa: ANN001
    """One-layer image from a rootfs tarball; returns the image ID."""
    tags = [validate_tag(t) for t in tags]
    with gc.writing(store):
        layer = add_layer(store, open_stream(src, "rootfs archive"), None, on_skip=on_skip)
        created = rfc3339(created_ts)
        container_config: dict = {"Env": [oci.DEFAULT_PATH]}
        if cmd:
            container_config["Cmd"] = cmd
        history = [{"created": created, "created_by": created_by}]
        config = oci.new_config([layer], container_config, history, created)
        return oci.register_image(store, config, [layer], tags)


def import_rootfs_dir(store: Store, rootfs: str, tags: list[str], **kwargs) -> str:  # noqa: ANN003
    """Tar a directory (numeric owners, sorted, no device nodes) and import it."""
    tmpdir = store.mkdtemp("import-")
    path = os.path.join(tmpdir, "rootfs.tar")
    try:
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            for dirpath, dirnames, filenames in os.walk(rootfs):
                dirnames.sort()
                for name in sorted(dirnames) + sorted(filenames):
                    full = os.path.join(dirpath, name)
                    info = tar.gettarinfo(full, os.path.relpath(full, rootfs))
                    if info.ischr() or info.isblk():
                        continue
                    info.uname = info.gname = ""
                    if info.isreg():
                        with open(full, "rb") as f:
                            tar.addfile(info, f)
                    else:
                        tar.addfile(info)
        with open(path, "rb") as f:
            return import_tar(store, f, tags, **kwargs)
    finally:
        from corral.store.fsutil import remove_tree

        remove_tree(tmpdir)
