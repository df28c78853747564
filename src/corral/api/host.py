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
