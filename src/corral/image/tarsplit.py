"""A layer's tar, kept as its headers only, rebuilt byte for byte from the unpacked files when needed.

A store that kept each layer twice, as a tar blob and unpacked for overlayfs,
would cost twice the image's size on disk and a compression pass on every
import, load and commit. Instead, while a layer is unpacked, everything in
its tar that is not file content (headers, PAX records, padding, the end
blocks) is recorded, with a reference to the unpacked file for each payload.
Replaying that gives back the exact tar whose digest is the layer's diff_id
(what `save` and a push need), from files that never change: layers are
read-only lower directories.

The record file is zlib-compressed records: R<len><bytes> raw tar bytes,
F<index><size><path> the content of an unpacked file, and a final M<json>
naming, per F index, a side link kept when the layer's own tar later
replaced that path (duplicate entries, whiteouts of earlier files).
"""
from __future__ import annotations

import hashlib
import os
import struct
import zlib

from corral import fastjson as json
from corral.errors import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

SIDE = "replaced"  # a directory next to diff/, holding links to replaced payload files
_RAW, _FILE, _MOVED = b"R", b"F", b"M"


class Recorder:
    """Reads the uncompressed layer tar for the extractor, hashing it and recording its tar-split.

    The extractor tells it, per regular file, where the payload sits in the
    stream and where it went on disk (payload()), and before each entry which
    path that entry may replace (replacing()).
    """

    def __init__(self, src: BinaryIO, out_path: str, layer_dir: str) -> None:
        self.src, self.layer_dir = src, layer_dir
        self.diff = os.path.join(layer_dir, "diff")
        self.hash = hashlib.sha256()
        self.size = 0  # bytes read from src
        self.flushed = 0  # stream position the records cover up to
        self.pending = bytearray()  # the stream from `flushed` on, not yet recorded (headers, read-ahead)
        self.skip_until = 0  # bytes before this position are payload of a recorded file
        self.out = open(out_path, "wb")
        self.z = zlib.compressobj(1)
        self.count = 0
        self.recorded: dict[str, int] = {}  # path in diff/ → record index
        self.moved: dict[int, str] = {}

    def read(self, n: int = -1) -> bytes:
        """What src gives, unchanged; meanwhile every byte is hashed, and kept unless it is known payload."""
        data = self.src.read(n)
        self.hash.update(data)
        start = self.size
        self.size += len(data)
        self.pending += data[max(0, self.skip_until - start):] if start < self.skip_until else data
        return data

    def payload(self, offset: int, size: int, rel: str) -> None:
        """The bytes [offset, offset+size) of the stream are the content of diff/rel."""
        raw = offset - self.flushed
        self._raw(bytes(self.pending[:raw]))
        del self.pending[: raw + size]  # whatever of the payload was already read ahead
        self._emit(_FILE + struct.pack(">IQH", self.count, size, len(rel.encode())) + rel.encode())
        self.recorded[rel] = self.count
        self.count += 1
        self.flushed = offset + size
        self.skip_until = max(self.skip_until, offset + size)

    def replacing(self, rel: str) -> None:
        """An entry is about to replace diff/rel (and all below it): keep recorded payloads there."""
        if not self.recorded or not rel:
            return
        full = os.path.join(self.diff, rel)
        if not os.path.lexists(full):
            return  # the common case: a new path
        if os.path.isdir(full) and not os.path.islink(full):
            hit = [p for p in self.recorded if p.startswith(rel + "/")]
        else:
            hit = [rel] if rel in self.recorded else []
        for path in hit:
            index = self.recorded.pop(path)
            full = os.path.join(self.diff, path)
            side = os.path.join(self.layer_dir, SIDE)
            os.makedirs(side, exist_ok=True)
            os.link(full, os.path.join(side, str(index)), follow_symlinks=False)
            self.moved[index] = str(index)

    def finish(self) -> str:
        """Record the rest of the stream; returns the diff_id."""
        self._raw(bytes(self.pending))
        self.pending.clear()
        moved = json.dumps({str(k): v for k, v in self.moved.items()}).encode()
        self._emit(_MOVED + struct.pack(">I", len(moved)) + moved)
        self.out.write(self.z.flush())
        self.out.close()
        return "sha256:" + self.hash.hexdigest()

    def close(self) -> None:
        if not self.out.closed:
            self.out.close()

    def _raw(self, data: bytes) -> None:
        if data:
            self._emit(_RAW + struct.pack(">I", len(data)) + data)

    def _emit(self, record: bytes) -> None:
        self.out.write(self.z.compress(record))


class Replay:
    """The layer's tar again, as a read()-able stream, from its records and its unpacked files."""

    def __init__(self, layer_dir: str, split_path: str) -> None:
        self.layer_dir = layer_dir
        with open(split_path, "rb") as f:
            self.data = zlib.decompress(f.read())
        self.at = 0
        self.moved = self._moved()
        self.buffer = b""
        self.file = None
        self.left = 0

    def _moved(self) -> dict[int, str]:
        marker = self.data.rfind(_MOVED)
        while marker >= 0:
            (length,) = struct.unpack_from(">I", self.data, marker + 1)
            if marker + 5 + length == len(self.data):
                return {int(k): v for k, v in json.loads(self.data[marker + 5:]).items()}
            marker = self.data.rfind(_MOVED, 0, marker)
        raise StoreError(f"the tar-split of layer {os.path.basename(self.layer_dir)} is damaged")

    def read(self, n: int = -1) -> bytes:
        chunks = []
        want = n if n >= 0 else 1 << 62
        while want > 0:
            if self.buffer:
                piece, self.buffer = self.buffer[:want], self.buffer[want:]
            elif self.file is not None:
                piece = self.file.read(min(want, self.left, 1 << 20))
                if not piece:
                    raise StoreError(f"layer {os.path.basename(self.layer_dir)}: an unpacked file is shorter "
                                     "than its tar said: the store is damaged, run `corral system check`")
                self.left -= len(piece)
                if not self.left:
                    self.file.close()
                    self.file = None
            elif not self._next():
                break
            else:
                continue
            chunks.append(piece)
            want -= len(piece)
        return b"".join(chunks)

    def _next(self) -> bool:
        """Load the next record; False at the end."""
        kind = self.data[self.at:self.at + 1]
        if kind == _RAW:
            (length,) = struct.unpack_from(">I", self.data, self.at + 1)
            self.buffer = self.data[self.at + 5:self.at + 5 + length]
            self.at += 5 + length
            return True
        if kind == _FILE:
            index, size, plen = struct.unpack_from(">IQH", self.data, self.at + 1)
            rel = self.data[self.at + 15:self.at + 15 + plen].decode()
            self.at += 15 + plen
            path = os.path.join(self.layer_dir, SIDE, self.moved[index]) if index in self.moved else \
                os.path.join(self.layer_dir, "diff", rel)
            if size:
                self.file = open(path, "rb")  # noqa: SIM115 - closed once its bytes are read
                self.left = size
            return True
        return False

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
