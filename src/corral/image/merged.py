"""Reading an image's files through its layers, as overlayfs would show them, without mounting.

`COPY --from=stage` and the metadata of a directory a COPY writes into both
need the merged view of unpacked layers (top layer first, overlay-format
whiteouts and opaque directories honoured); a mount would need a private
namespace and a cleanup, this needs only lstat and listdir.
"""
from __future__ import annotations

import os
import stat


def is_whiteout(st: os.stat_result) -> bool:
    """overlayfs's mark of a deleted file: a 0/0 character device."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    """overlayfs's mark of a directory that hides whatever lower layers hold under it."""
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


class MergedTree:
    """The union of layer directories, top first; paths are relative ("usr/bin"), "" is the root."""

    def __init__(self, layer_dirs: list[str]) -> None:
        self.layers = layer_dirs

    def lookup(self, rel: str) -> tuple[str, os.stat_result] | None:
        """(real path, lstat) of the entry the merged view shows at rel, or None."""
        rel = rel.strip("/")
        if not rel:
            return (self.layers[0], os.lstat(self.layers[0])) if self.layers else None
        parts = rel.split("/")
        for layer in self.layers:
            path = os.path.join(layer, rel)
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                if any(is_opaque(os.path.join(layer, *parts[:i])) for i in range(1, len(parts))):
                    return None  # an opaque directory above hides every lower layer's entry
                continue
            return None if is_whiteout(st) else (path, st)
        return None

    def listdir(self, rel: str) -> list[str]:
        """The names the merged directory rel holds, sorted."""
        rel = rel.strip("/")
        seen: dict[str, bool] = {}
        for layer in self.layers:
            path = os.path.join(layer, rel) if rel else layer
            try:
                names = os.listdir(path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                if name not in seen:
                    seen[name] = not is_whiteout(os.lstat(os.path.join(path, name)))
            if rel and is_opaque(path):
                break
        return sorted(n for n, visible in seen.items() if visible)

    def walk(self, rel: str):  # noqa: ANN201 - Iterator[tuple[str, str, os.stat_result]]
        """(relative path, real path, lstat) of rel and everything under it, parents first (with a
        stack, not recursion: an image's tree may nest deeper than Python's recursion limit)."""
        stack = [rel.strip("/")]
        while stack:
            path = stack.pop()
            found = self.lookup(path)
            if found is None:
                continue
            yield path, found[0], found[1]
            if stat.S_ISDIR(found[1].st_mode):
                stack.extend(reversed([f"{path}/{n}" if path else n for n in self.listdir(path)]))
