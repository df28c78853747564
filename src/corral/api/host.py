"""Host: one container host's store, and the use-cases that create and find things in it."""
from __future__ import annotations

from corral import fastjson as json
import os

from corral.api.container import COLUMNS, Container
from corral.api.image import Image
from corral.errors import Conflict, InvalidArgument, NotFound
from corral.runtime.options import ContainerOptions
from corral.store.db import IntegrityError
from corral.store.root import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO


class Host:
    def __init__(self, root: str | None = None) -> None:
        self.store = Store(root)

    # containers --------------------------------------------------------------------------------------

    def create_container(self, image: str, command: list[str] | None = None, *, name: str | None = None,
                         **options) -> Container:  # noqa: ANN003 - the ContainerOptions fields
        """Create (not start) a container from `image`; keyword options are ContainerOptions fields."""
        from corral.api import names
        from corral.image import repo
        from corral.runtime import spec as specs
        from corral.store.fsutil import remove_tree, write_atomic

        opts = ContainerOptions(cmd=command, **options)
        opts.check()
        image_id = repo.resolve(self.store, image)
        bare = names.validate(name) if name else names.generate()
        self._check_name_free(bare)
        cid = os.urandom(32).hex()
        img = Image(self, image_id)
        layer_dirs = img.layer_dirs()
        bundle = self.store.container_dir(cid)
        try:
            spec = specs.build(cid, opts, img.config, layer_dirs, bundle)
            for sub in ("upper", "work", "rootfs"):
                os.makedirs(os.path.join(bundle, sub))
            for fname, text in specs.etc_files(spec["hostname"]).items():
                with open(os.path.join(bundle, fname), "w") as f:
                    f.write(text)
            write_atomic(os.path.join(bundle, "config.json"), json.dumps(spec).encode())
            from corral.runtime.state import CREATED, now

            with self.store.transaction() as conn:
                conn.execute(
                    "INSERT INTO containers(id, name, image_id, image_ref, created, options, state)"
                    " VALUES(?,?,?,?,?,?,?)",
                    (cid, bare, image_id, image, now(), json.dumps(opts.to_dict()), CREATED),
                )
        except IntegrityError:
            remove_tree(bundle)
            self._check_name_free(bare)
            raise
        except BaseException:
            remove_tree(bundle)
            raise
        return self.container(cid)

    def _check_name_free(self, bare: str) -> None:
        rows = self.store.query("SELECT id FROM containers WHERE name=?", (bare,))
        if rows:
            raise Conflict(
                f'Conflict. The container name "/{bare}" is already in use by container "{rows[0][0]}". '
                "You have to remove (or rename) that container to be able to reuse that name."
            )

    def container(self, ref: str) -> Container:
        """A container by full ID, name, or unambiguous ID prefix."""
        if not ref:
            raise InvalidArgument("a container name or ID is required")
        bare = ref[1:] if ref.startswith("/") else ref
        rows = self.store.query(f"SELECT {COLUMNS} FROM containers WHERE id=? OR name=?", (bare, bare))
        if not rows and all(c in "0123456789abcdef" for c in bare):
            rows = self.store.query(f"SELECT {COLUMNS} FROM containers WHERE id >= ? AND id < ?",
                                    (bare, bare + "g"))
            if len(rows) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {bare}")
        if not rows:
            raise NotFound(f"No such container: {ref}")
        return Container(self, rows[0])

    def containers(self, all: bool = False) -> list[Container]:  # noqa: A002 - docker-py's name
        rows = self.store.query(f"SELECT {COLUMNS} FROM containers ORDER BY created DESC")
        found = [Container(self, r) for r in rows]
        return found if all else [c for c in found if c.status == "running"]

    # images ------------------------------------------------------------------------------------------

    def image(self, ref: str) -> Image:
        from corral.image import repo

        return Image(self, repo.resolve(self.store, ref))

    def images(self) -> list[Image]:
        return [Image(self, r[0]) for r in self.store.query("SELECT id FROM images ORDER BY created DESC")]

    def import_image(self, src: str | BinaryIO, tag: str) -> Image:
        """An image from a root filesystem tarball (path, '-' for stdin, or a binary stream)."""
        from corral.image.importer import import_tar

        if isinstance(src, str):
            if src == "-":
                import sys

                return Image(self, import_tar(self.store, sys.stdin.buffer, [tag]))
            try:
                f = open(src, "rb")
            except FileNotFoundError:
                raise NotFound(f"no such file: {src}") from None
            with f:
                return Image(self, import_tar(self.store, f, [tag]))
        return Image(self, import_tar(self.store, src, [tag]))

    def remove_image(self, ref: str, force: bool = False) -> list[tuple[str, str]]:
        """`docker rmi`: untag, and delete the image once no name and no container is left on it.

        Returns ("Untagged"|"Deleted", what) lines. A name shared with other
        tags only untags; an image a container uses is refused (by name: it
        must be forced; a running container's image cannot be forced), and
        with force an image still used by a stopped container loses its names
        but stays, as in Docker. Layers go only when no other image needs them.
        """
        from corral.image import gc, repo
        from corral.image.reference import normalize

        image = self.image(ref)
        tags = image.tags
        named = normalize(ref) in tags
        if named and len(tags) > 1 and not force:
            self._untag([normalize(ref)])
            return [("Untagged", normalize(ref))]
        users = image.users()
        running = [u for u in users if Container(self, self._row(u[0])).status == "running"]
        if running:
            how = "cannot be forced" if force or not named else "must force"
            raise Conflict(f"conflict: unable to delete {image.short_id} ({how}) - image is being used by "
                           f"running container {running[0][0][:12]}")
        if users and not force:
            if named:
                raise Conflict(f'conflict: unable to remove repository reference "{ref}" (must force) - '
                               f"container {users[0][0][:12]} is using its referenced image {image.short_id}")
            raise Conflict(f"conflict: unable to delete {image.short_id} (must be forced) - image is being used "
                           f"by stopped container {users[0][0][:12]}")
        gone = tags if force or not named else [normalize(ref)]
        self._untag(gone)
        done = [("Untagged", t) for t in gone]
        if not users and not repo.tags_of(self.store, image.id):
            done += [("Deleted", d) for d in gc.delete_image(self.store, image.id)]
        return done

    def _untag(self, names: list[str]) -> None:
        with self.store.transaction() as conn:
            conn.executemany("DELETE FROM tags WHERE name=?", [(n,) for n in names])

    def _row(self, cid: str) -> tuple:
        return self.store.query(f"SELECT {COLUMNS} FROM containers WHERE id=?", (cid,))[0]

    def prune_images(self, all: bool = False) -> tuple[list[str], int]:  # noqa: A002 - docker-py's name
        """Delete images no container uses: untagged ones, or with all=True every unused one.
        Returns the deleted IDs and layers, and the bytes freed."""
        from corral.image import gc

        before = _disk_usage(self.store.layers) + _disk_usage(self.store.blobs)
        used = {r[0] for r in self.store.query("SELECT DISTINCT image_id FROM containers")}
        deleted: list[str] = []
        for image in self.images():
            if image.id in used or (image.tags and not all):
                continue
            self._untag(image.tags)
            deleted += gc.delete_image(self.store, image.id)
        deleted += gc.sweep(self.store)
        return deleted, max(0, before - _disk_usage(self.store.layers) - _disk_usage(self.store.blobs))

    def df(self) -> dict:
        """`docker system df`: images and containers, total, in use, bytes, reclaimable bytes."""
        used_images = {r[0] for r in self.store.query("SELECT DISTINCT image_id FROM containers")}
        images = self.images()
        layer_size = dict(self.store.query("SELECT chain_id, size FROM layers"))
        needed_by_used: set[str] = set()
        all_layers: set[str] = set()
        for image in images:
            chain = set(image.layers)
            all_layers |= chain
            if image.id in used_images:
                needed_by_used |= chain
        containers = self.containers(all=True)
        sizes = {c.id: _disk_usage(os.path.join(c.bundle, "upper")) for c in containers}
        return {
            "Images": {"Total": len(images), "Active": len(used_images & {i.id for i in images}),
                       "Size": sum(layer_size.get(c, 0) for c in all_layers),
                       "Reclaimable": sum(layer_size.get(c, 0) for c in all_layers - needed_by_used)},
            "Containers": {"Total": len(containers), "Active": sum(c.status == "running" for c in containers),
                           "Size": sum(sizes.values()),
                           "Reclaimable": sum(s for cid, s in sizes.items()
                                              if self.container(cid).status != "running")},
        }

    def bootstrap(self, name: str) -> Image:
        """A base image made on this host: `busybox[:tag]` or `debian:<suite>`."""
        from corral.image import bootstrap
        from corral.image.reference import normalize, split, validate_tag

        repo_name, tag = split(normalize(name))
        if repo_name == "busybox":
            return Image(self, bootstrap.bootstrap_busybox(self.store, validate_tag(name)))
        if repo_name == "debian":
            suite = "bookworm" if tag == "latest" else tag
            return Image(self, bootstrap.bootstrap_debian(self.store, suite, validate_tag(name)))
        raise InvalidArgument(f"cannot bootstrap {name!r}: known bases are busybox and debian:<suite>")

    # store -------------------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Every inconsistency between blobs, layers, containers and the DB; empty when the store is sound."""
        from corral.store.check import check

        return check(self.store)


def _disk_usage(path: str) -> int:
    """Bytes of the files under path (each inode once: hard links are not counted twice)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total
