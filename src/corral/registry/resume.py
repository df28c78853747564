"""Resuming a layer download that was interrupted: the compressed bytes received so far, kept in tmp/.

A pull streams each layer through decompress + hash + unpack and keeps no compressed copy, so a pull
killed (or cut off by the registry) in the middle of a large layer would download all of it again. For
layers of KEEP bytes or more it therefore also appends what arrives to `tmp/pull-<owner identity>.<blob
hex>.<random>`, written unbuffered so that a kill -9 loses nothing the page cache has. The next pull of that
blob claims the file a dead writer left (renaming it to its own name: one claimant wins), replays its bytes
through the same hash and unpacking, and asks the registry for the remainder with `Range: bytes=N-`; a
registry that answers 200 instead of 206 gets the file truncated and the blob downloaded whole. The digest
check at the end holds as before: a partial file that does not continue the blob fails it, and is deleted.

The names follow the store's scratch naming ("<what>-<identity>.<rest>", store/check.dead_scratch): a
partial whose writer is gone is what `corral system check` reports and `--repair` removes, unless a pull
has resumed from it first. A finished download deletes its file.
"""
from __future__ import annotations

import os

from corral.store.root import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator, Mapping

    from corral.image.layers import Layer

KEEP = 16 << 20  # a layer this large keeps its compressed bytes while it downloads
PREFIX = "pull-"
CHUNK = 1 << 20


class Partial:
    """The compressed bytes of one blob received so far, in a file of tmp/ this process owns."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.size = os.fstat(self.fd).st_size

    @classmethod
    def claim(cls, store: Store, digest: str) -> Partial:
        """The largest partial of blob `digest` a dead writer left, now ours; else a new, empty one."""
        import uuid

        from corral.store.owners import identity, is_alive

        hexpart = digest.partition(":")[2]
        mine = os.path.join(store.tmp, f"{PREFIX}{identity()}.{hexpart}.{uuid.uuid4().hex[:8]}")
        os.makedirs(store.tmp, exist_ok=True)
        found = []
        for name in os.listdir(store.tmp):
            owner, _, rest = name.removeprefix(PREFIX).partition(".")
            if name.startswith(PREFIX) and rest.startswith(hexpart + ".") and not is_alive(owner):
                try:
                    found.append((os.lstat(os.path.join(store.tmp, name)).st_size, name))
                except FileNotFoundError:
                    pass
        for _, name in sorted(found, reverse=True):
            try:
                os.rename(os.path.join(store.tmp, name), mine)  # another pull may have claimed it first
                break
            except FileNotFoundError:
                continue
        return cls(mine)

    def replay(self, size: int) -> Iterator[bytes]:
        """The first `size` bytes kept, in chunks."""
        offset = 0
        while offset < size:
            chunk = os.pread(self.fd, min(CHUNK, size - offset), offset)
            if not chunk:
                raise OSError(f"{self.path} shrank while being read")
            offset += len(chunk)
            yield chunk

    def restart(self) -> None:
        os.ftruncate(self.fd, 0)
        self.size = 0

    def append(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            view = view[os.write(self.fd, view):]
        self.size += len(chunk)

    def close(self) -> None:
        """Keep the bytes for the next pull (this process is failing, or is about to exit)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def drop(self) -> None:
        """The blob is in (or its bytes are wrong): the file goes."""
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def adopt(store: Store, cid: str, diff_id: str, parent: str | None) -> Layer | None:
    """The layer `cid` if a pull killed before it could record it (a layer below was unfinished) left it
    unpacked in layers/ and its files still rebuild the tar its diff_id names; else None (and a damaged
    directory is removed, so the download replaces it)."""
    from corral.errors import StoreError
    from corral.image.gc import remove_dir
    from corral.image.layers import SPLIT, TAR_LAYER, Layer, rebuilt_digest

    layer_dir = store.layer_dir(cid)
    if not os.path.isdir(os.path.join(layer_dir, "diff")) or not os.path.isfile(os.path.join(layer_dir, SPLIT)):
        return None
    layer = Layer(cid, diff_id, parent, diff_id, TAR_LAYER, 0, 0)
    try:
        digest, size = rebuilt_digest(store, layer)
    except (OSError, StoreError, ValueError):
        digest = ""
    if digest != diff_id:
        remove_dir(store, layer_dir)
        return None
    return layer._replace(size=size, blob_size=size)


def content_range_start(headers: Mapping[str, str]) -> int | None:
    """Where a 206 answer's `Content-Range: bytes START-END/TOTAL` starts, or None when it says nothing usable."""
    value = headers.get("content-range") or ""
    unit, _, spec = value.partition(" ")
    start = spec.partition("-")[0]
    return int(start) if unit == "bytes" and start.isdecimal() else None
