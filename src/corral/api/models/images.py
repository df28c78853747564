"""client.images and the Image model, in docker-py's shape (docker.models.images)."""
from __future__ import annotations

from corral.api.models import (CHUNK, Collection, Model, check_type, produced, rechunk, refuse_unknown,
                                wanted_filters)
from corral.errors import APIError, BuildError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

class Image(Model):
    """An image as docker-py shows it; `attrs` is `corral image inspect`'s dict."""

    def __repr__(self) -> str:
        return f"<Image: {', '.join(repr(t) for t in self.tags)}>"

    @property
    def short_id(self) -> str:
        """sha256: and 12 hex digits, as docker-py writes an image's short ID."""
        return self.id[:19] if self.id.startswith("sha256:") else self.id[:12]

    @property
    def tags(self) -> list[str]:
        return [t for t in self.attrs.get("RepoTags") or [] if t != "<none>:<none>"]

    @property
    def labels(self) -> dict:
        return (self.attrs.get("Config") or {}).get("Labels") or {}

    def reload(self) -> None:
        self.attrs = self.client.api.image(self.id).inspect()

    def history(self) -> list[dict]:
        """The steps that made the image, newest first (docker history)."""
        return self.client.api.image(self.id).history()

    def remove(self, force: bool = False, noprune: bool = False) -> list[dict]:
        return self.collection.remove(self.id, force=force, noprune=noprune)

    def tag(self, repository: str, tag: str | None = None, force: bool = False) -> bool:
        """Give the image another name; True. A name another image had moves here (force is implied)."""
        check_type("tag", "repository", repository, str)
        check_type("tag", "tag", tag, str)
        self.client.api.image(self.id).tag(repository, tag)
        return True

    def save(self, chunk_size: int | None = CHUNK, named: bool | str = False) -> Iterator[bytes]:
        """The image as a docker-archive tar, in chunks. named=True keeps its first tag in the archive
        (named="repo:tag" that one); by default the archive names it by ID only, as docker-py."""
        if named is True:
            refs = self.tags[:1] or [self.id]
        elif isinstance(named, str):
            if named not in self.tags:
                raise InvalidArgument(f"save(): {named!r} is not a tag of this image; its tags: {self.tags}")
            refs = [named]
        else:
            refs = [self.id]
        return rechunk(produced(lambda out: self.client.api.save(refs, out)), chunk_size)

    def push(self, repository: str | None = None, tag: str | None = None, stream: bool = False,
             decode: bool = False) -> str | Iterator:
        """Push this image (by default under its first tag); as client.images.push."""
        if repository is None:
            if not self.tags:
                raise InvalidArgument("push(): the image has no tag: give a repository")
            repository, _, tag = self.tags[0].rpartition(":")
        return self.collection.push(repository, tag, stream=stream, decode=decode)


class RegistryData(Model):
    """docker-py's RegistryData: an image in a registry; `attrs` is docker's DistributionInspect."""

    def __init__(self, image_name: str, attrs: dict, client: object, collection: ImageCollection) -> None:
        super().__init__(attrs, client, collection)  # type: ignore[arg-type]
        self.image_name = image_name

    @property
    def id(self) -> str:
        return self.attrs["Descriptor"]["digest"]

    @property
    def short_id(self) -> str:
        return self.id[:19]

    def reload(self) -> None:
        self.attrs = self.client.api.distribution(self.image_name)

    def pull(self, platform: str | None = None) -> Image:
        """This very manifest (by digest) into the store."""
        repository = self.image_name.split("@")[0]
        if ":" in repository.rsplit("/", 1)[-1]:
            repository = repository.rsplit(":", 1)[0]
        return self.collection.pull(repository, tag=self.id, platform=platform)  # type: ignore[return-value]

    def has_platform(self, platform: str | dict) -> bool:
        """True when the registry has the image for `platform` ("os[/arch[/variant]]" or a dict)."""
        from corral.registry.pull import parse_platform

        if isinstance(platform, dict):
            platform = "/".join(str(platform[k]) for k in ("os", "architecture", "variant") if platform.get(k))
        check_type("has_platform", "platform", platform, str)
        os_, arch, variant = parse_platform(platform)
        return any(p.get("os") == os_ and p.get("architecture") == arch and (not variant or p.get("variant") == variant)
                   for p in self.attrs.get("Platforms") or [])


class ImageCollection(Collection):
    model = Image

    def get(self, name: str) -> Image:
        """An image by name, ID, ID prefix or digest; ImageNotFound otherwise."""
        check_type("get", "name", name, str)
        return self.prepare_model(self.client.api.image(name).inspect())  # type: ignore[return-value]

    def list(self, name: str | None = None, all: bool = False,  # noqa: A002 - docker-py's name
             filters: dict | None = None) -> list[Image]:
        """Images, newest first: those named `name` (a repository, or repository:tag), passing
        `filters` (dangling, label, reference, before, since); all=True adds untagged build steps."""
        from corral.api import filters as listing
        check_type("list", "name", name, str)
        check_type("list", "filters", filters, dict)
        found = listing.images(self.client.api, name=name, all=all, filters=wanted_filters(filters))
        return [self.prepare_model(img.inspect()) for img in found]  # type: ignore[misc]

    def build(self, path: str | None = None, fileobj: object = None, tag: str | None = None, quiet: bool = False,
              nocache: bool = False, rm: bool = True, forcerm: bool = False, dockerfile: str | None = None,
              buildargs: dict | None = None, labels: dict | None = None, target: str | None = None,
              network_mode: str | None = None, pull: bool = False, **kwargs: object) -> tuple[Image, Iterator[dict]]:
        """Build a Dockerfile: `path` (a context directory) or `fileobj` (a Dockerfile alone, no
        context). Returns (Image, the build's log as docker's JSON chunks); a failed step raises
        BuildError with the log so far. Intermediate containers are always removed (rm, forcerm)."""
        import tempfile

        for key in ("timeout", "custom_context", "encoding", "container_limits", "shmsize", "cache_from",
                    "squash", "extra_hosts", "platform", "isolation", "use_config_proxy"):
            if kwargs.get(key) not in (None, False, [], {}):
                raise InvalidArgument(f"build(): {key}: corral does not support it yet")
            kwargs.pop(key, None)
        refuse_unknown("build", kwargs)
        if not rm:
            raise InvalidArgument("build(rm=False): corral always removes a build's intermediate containers")
        if (path is None) == (fileobj is None):
            raise InvalidArgument("build(): give either path or fileobj")
        check_type("build", "tag", tag, str)
        check_type("build", "buildargs", buildargs, dict)
        check_type("build", "labels", labels, dict)
        log: list[dict] = []
        with tempfile.TemporaryDirectory(prefix="corral-build-") as scratch:
            context = path
            if fileobj is not None:
                data = fileobj.read()  # type: ignore[attr-defined]
                with open(f"{scratch}/Dockerfile", "wb") as f:
                    f.write(data.encode() if isinstance(data, str) else data)
                context, dockerfile = scratch, None
            try:
                for event in self.client.api.build(context, tags=[tag] if tag else None, buildargs=buildargs,
                                                   dockerfile=dockerfile, target=target, nocache=nocache,
                                                   labels=labels, network=network_mode or "bridge", quiet=quiet,
                                                   pull=pull):
                    log.append(event)
            except BuildError as e:
                log.append({"error": str(e), "errorDetail": {"message": str(e)}})
                raise BuildError(str(e), iter(log)) from None
        image_id = next((e["aux"]["ID"] for e in reversed(log) if "aux" in e), None)
        if image_id is None:
            raise BuildError("the build made no image", iter(log))
        return self.get(image_id), iter(log)

    def load(self, data: bytes | object) -> list[Image]:
        """Images from a docker-archive or OCI tar (bytes or a binary file object)."""
        import io

        check_type("load", "data", data, bytes, bytearray, io.IOBase)
        src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
        return [self.prepare_model(img.inspect()) for img in self.client.api.load(src)]  # type: ignore[misc]

    def remove(self, image: str, force: bool = False, noprune: bool = False) -> list[dict]:
        """Untag the image, and delete it once no name and no container is left on it (docker rmi):
        [{"Untagged": name}, {"Deleted": id}, ...]."""
        check_type("remove", "image", image, str)
        if noprune:
            raise InvalidArgument("remove(noprune=True): corral deletes an image's unused layers with it")
        return [{kind: what} for kind, what in self.client.api.remove_image(image, force=force)]

    def prune(self, filters: dict | None = None) -> dict:
        """Delete dangling images ({"dangling": False}: every unused one; until=, label=), docker's answer
        {"ImagesDeleted": [{"Deleted": id}, ...], "SpaceReclaimed": bytes}."""
        check_type("prune", "filters", filters, dict)
        done = self.client.api.prune_images(filters=wanted_filters(filters))
        return {"ImagesDeleted": done["ImagesDeleted"] or None, "SpaceReclaimed": done["SpaceReclaimed"]}

    def prune_builds(self, filters: dict | None = None, keep_storage: int | None = None,
                     all: bool = False) -> dict:  # noqa: A002 - docker-py's name
        """Empty the build cache: {"CachesDeleted": [...], "SpaceReclaimed": bytes}."""
        if keep_storage is not None:
            raise InvalidArgument("prune_builds(keep_storage=...): corral empties the cache or a filter's part of it")
        return self.client.api.prune_build_cache(all=all, filters=wanted_filters(filters))

    def pull(self, repository: str, tag: str | None = None, all_tags: bool = False, platform: str | None = None,
             **kwargs: object) -> Image | list[Image]:
        """docker-py's pull: the image from its registry (tag or digest in `tag`, or in `repository`
        itself); with all_tags every tag of the repository, as a list. auth_config ({"username": ...,
        "password": ...}, or identitytoken, or auth) is used for this pull instead of stored credentials."""
        auth_config = kwargs.pop("auth_config", None)
        refuse_unknown("pull", kwargs)
        check_type("pull", "repository", repository, str)
        check_type("pull", "tag", tag, str)
        check_type("pull", "platform", platform, str)
        name = repository if not tag else f"{repository}{'@' if tag.startswith('sha256:') else ':'}{tag}"
        pulled = self.client.api.pull(name, platform=platform, all_tags=all_tags,
                                      auth_config=self.client._auth_config(name, auth_config))
        if all_tags:
            return [self.get(img.id) for img in pulled]
        return self.get(pulled[0].id)

    def push(self, repository: str, tag: str | None = None, stream: bool = False, decode: bool = False,
             **kwargs: object) -> str | Iterator:
        """docker-py's push: docker's progress JSON, as one string of lines, or (stream=True) line by line
        as it happens (bytes; dicts with decode=True). A failure is the last message ({"error": ...}),
        as the engine reports it to docker-py. auth_config as for pull."""
        auth_config = kwargs.pop("auth_config", None)
        refuse_unknown("push", kwargs)
        check_type("push", "repository", repository, str)
        check_type("push", "tag", tag, str)
        name = f"{repository}:{tag}" if tag else repository
        auth_config = self.client._auth_config(name, auth_config)  # a bad one fails here, not in the stream
        messages = _progress_of(lambda emit: self.client.api.push(name, progress=emit, auth_config=auth_config))
        if stream:
            return messages if decode else (_line(m) for m in messages)
        return "".join(_line(m).decode() for m in messages)

    def get_registry_data(self, name: str, auth_config: dict | None = None) -> RegistryData:
        """What the registry holds under `name` (its manifest's digest, the platforms it is for), without
        pulling it."""
        check_type("get_registry_data", "name", name, str)
        check_type("get_registry_data", "auth_config", auth_config, dict)
        found = self.client.api.distribution(name, auth_config=self.client._auth_config(name, auth_config))
        return RegistryData(name, found, self.client, self)

    def search(self, term: str, limit: int | None = None) -> list:
        raise APIError("cannot search: corral has no registry client yet")


def _line(msg: dict) -> bytes:
    import json

    return json.dumps(msg).encode() + b"\r\n"


def _progress_of(work) -> Iterator[dict]:  # noqa: ANN001 - work(emit) does the push
    """The messages `work` emits, as they come; its error, if any, as docker's last message
    {"errorDetail": {"message": ...}, "error": ...}, as the engine reports it to docker-py."""
    from corral.api import streamed
    from corral.errors import CorralError

    try:
        yield from streamed.messages(work)
    except CorralError as e:
        yield streamed.error_message(e)
