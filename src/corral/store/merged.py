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
    """The union of layer directories, top first; paths are relative ("usr/bin"), "" is the root.

    Nothing here lets the kernel follow a symlink a layer holds: a path is
    walked one component at a time with lstat, so "d/f" where d is a link
    (to "/", say, in a hostile image or a build stage) is not found, rather
    than read from the host. resolve() follows such links the way the
    container would see them, inside the tree.
    """

    MAX_LINKS = 40  # as the kernel's path walk: more links than this on one path is a loop

    def __init__(self, layer_dirs: list[str]) -> None:
        self.layers = layer_dirs

    def _entry(self, parents: list[str], name: str) -> tuple[str, os.stat_result, list[str]] | None:
        """(real path, lstat, and for a directory the layer directories that make it up) of `name`
        in the merged directory made of `parents`, or None."""
        top = None
        dirs: list[str] = []
        for parent in parents:
            path = os.path.join(parent, name)
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if top is None:
                if is_whiteout(st):
                    return None
                top = (path, st)
            if not stat.S_ISDIR(st.st_mode):
                break  # a file, link or whiteout hides the name in every lower layer
            dirs.append(path)
            if is_opaque(path):
                break
        return None if top is None else (top[0], top[1], dirs)

    def _dirs(self, rel: str) -> list[str] | None:
        """The layer directories that make up the merged directory rel, top first; None if rel is
        missing or not a directory (a link on the way included)."""
        dirs = self.layers
        for name in [p for p in rel.split("/") if p]:
            found = self._entry(dirs, name)
            if found is None or not stat.S_ISDIR(found[1].st_mode):
                return None
            dirs = found[2]
        return dirs

    def lookup(self, rel: str) -> tuple[str, os.stat_result] | None:
        """(real path, lstat) of the entry the merged view shows at rel (a link itself, not its
        target), or None; a link among rel's parents is not followed (see resolve)."""
        rel = rel.strip("/")
        if not rel:
            return (self.layers[0], os.lstat(self.layers[0])) if self.layers else None
        parent, name = os.path.split(rel)
        dirs = self._dirs(parent)
        found = self._entry(dirs, name) if dirs is not None else None
        return None if found is None else (found[0], found[1])

    def resolve(self, rel: str, must_exist: bool = True) -> str | None:
        """rel with every symlink on it followed as inside the container (absolute targets start at
        the tree's root, ".." stops there), as a clean relative path whose components are all
        directories but the last, which is no link. None when a component is missing, or one
        before the last is no directory, or links go round; with must_exist=False a missing
        component and what follows it are kept as written (a destination to create)."""
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        done: list[str] = []
        chain = [self.layers]  # chain[k]: the layer directories that make up the directory done[:k]
        links = 0
        while parts:
            name = parts.pop(0)
            if name == "..":
                if done:
                    done.pop()
                    chain.pop()
                continue
            found = self._entry(chain[-1], name)
            if found is None:
                if must_exist:
                    return None
                rest: list[str] = []
                for p in [name] + parts:
                    if p == "..":
                        if rest:
                            rest.pop()
                    else:
                        rest.append(p)
                return "/".join(done + rest)
            path, st, dirs = found
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > self.MAX_LINKS:
                    return None
                target = os.readlink(path)
                if target.startswith("/"):
                    done, chain = [], [self.layers]
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            if parts and not stat.S_ISDIR(st.st_mode):
                return None
            done.append(name)
            chain.append(dirs)
        return "/".join(done)

    def listdir(self, rel: str) -> list[str]:
        """The names the merged directory rel holds, sorted."""
        dirs = self._dirs(rel.strip("/"))
        return self._names(dirs) if dirs is not None else []

    @staticmethod
    def _names(dirs: list[str]) -> list[str]:
        seen: dict[str, bool] = {}
        for d in dirs:
            for name in os.listdir(d):
                if name not in seen:
                    seen[name] = not is_whiteout(os.lstat(os.path.join(d, name)))
        return sorted(n for n, visible in seen.items() if visible)

    def walk(self, rel: str):  # noqa: ANN201 - Iterator[tuple[str, str, os.stat_result]]
        """(relative path, real path, lstat) of rel and everything under it, parents first (with a
        stack, not recursion: an image's tree may nest deeper than Python's recursion limit).
        Links are listed, never followed."""
        rel = rel.strip("/")
        if rel:
            parent, name = os.path.split(rel)
            dirs = self._dirs(parent)
            first = self._entry(dirs, name) if dirs is not None else None
        else:
            first = (self.layers[0], os.lstat(self.layers[0]), self.layers) if self.layers else None
        if first is None:
            return
        stack = [(rel, first)]
        while stack:
            path, (real, st, dirs) = stack.pop()
            yield path, real, st
            if stat.S_ISDIR(st.st_mode):
                children = []
                for name in self._names(dirs):
                    found = self._entry(dirs, name)
                    if found is not None:
                        children.append((f"{path}/{name}" if path else name, found))
                stack.extend(reversed(children))
