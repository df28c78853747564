"""Image endpoints: list, inspect, history, tag, delete, save/load, import, commit, prune, search (empty),
pull, push and registry lookups, and the legacy builder's POST /build."""
from __future__ import annotations

from corral.errors import BuildError, CorralError, InvalidArgument
from corral.server.http import ClientGone, Connection, Request
from corral.server.routes import route

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from corral.api.streamed import Work


@route("POST", "/images/create")
def create(req: Request, conn: Connection, client: object) -> None:
    """Pull (fromImage, tag: a tag or a digest; neither here nor in fromImage: every tag, as dockerd) or
    import a root filesystem tarball sent as the body (fromSrc=-). Progress as docker's JSON lines."""
    image, source, platform = req.arg("fromImage") or "", req.arg("fromSrc") or "", req.arg("platform") or None
    if image:
        image, tag = image.removesuffix(":"), req.arg("tag") or ""  # `pull -a` may send "name:"
        name = f"{image}{'@' if tag.startswith('sha256:') else ':'}{tag}" if tag else image
        every = not tag and "@" not in image and ":" not in image.rsplit("/", 1)[-1]  # a bare repository
        auth = req.registry_auth()
        progress(conn, lambda emit: client.api.pull(name, platform=platform, all_tags=every, progress=emit,
                                                    auth_config=auth))
    elif source == "-":
        for key in ("message", "changes", "platform"):
            if any(req.args(key)):
                raise InvalidArgument(f"import: {key}: corral does not support it yet")
        repo, tag = req.arg("repo") or "", req.arg("tag") or ""
        imported = client.api.import_image(req.stream(), f"{repo}:{tag}" if repo and tag else repo or None)
        conn.stream("application/json").json({"status": imported.id})
        conn.end()
    elif source:
        raise InvalidArgument(f"fromSrc={source}: corral imports only a tarball sent as the request body "
                              "(fromSrc=-, `docker import FILE`): fetch the URL yourself and send the file")
    else:
        raise InvalidArgument("give fromImage (to pull) or fromSrc (to import)")


@route("POST", "/images/{name}/push")
def push(req: Request, conn: Connection, client: object, name: str) -> None:
    """The image's tag (no tag: every local tag of the repository, as dockerd) to its registry; progress
    as docker's JSON lines, the last of each tag an aux {Tag, Digest, Size}."""
    if req.arg("platform"):
        raise InvalidArgument("push: platform: corral pushes the image it has (one platform)")
    tag = req.arg("tag") or ""
    auth = req.registry_auth()
    ref = f"{name}:{tag}" if tag else name
    progress(conn, lambda emit: client.api.push(ref, all_tags=not tag, progress=emit, auth_config=auth))


@route("GET", "/distribution/{name}/json")
def distribution(req: Request, conn: Connection, client: object, name: str) -> None:
    conn.json(client.api.distribution(name, auth_config=req.registry_auth()))


def progress(conn: Connection, work: Work) -> None:
    """work(emit)'s messages as a JSON stream. An error before the first message is a status code and a
    JSON body (404 for an image the registry does not have); after it, an in-band error line: the head
    is out. Both as dockerd (image_routes.go: output.Flushed())."""
    from corral.api import streamed

    messages = streamed.messages(work)
    out = None
    try:
        for msg in messages:
            if out is None:
                out = conn.stream("application/json")
            out.json(msg)
    except ClientGone:
        messages.close()  # the work stops at its next message
        raise
    except CorralError as e:
        if out is None:
            raise
        out.json(streamed.error_message(e))
    if out is None:
        out = conn.stream("application/json")
    conn.end()


def _summary(img: object, users: dict[str, int]) -> dict:
    """docker's ImageSummary of an engine Image."""
    from corral.timestamps import parse

    found = img.inspect()
    return {"Id": img.id, "ParentId": "", "RepoTags": found["RepoTags"], "RepoDigests": found["RepoDigests"],
            "Created": int(parse(found["Created"])), "Size": found["Size"], "SharedSize": -1,
            "Labels": (found.get("Config") or {}).get("Labels") or {}, "Containers": users.get(img.id, 0)}


@route("GET", "/images/json")
def listing(req: Request, conn: Connection, client: object) -> None:
    from corral.api import filters

    images = filters.images(client.api, all=req.flag("all"), filters=req.filters())
    users: dict[str, int] = {}
    for c in client.api.containers(all=True):
        users[c.image_id] = users.get(c.image_id, 0) + 1
    conn.json([_summary(img, users) for img in images])


@route("GET", "/images/{name}/json")
def inspect(req: Request, conn: Connection, client: object, name: str) -> None:
    conn.json(client.api.image(name).inspect())


@route("GET", "/images/{name}/history")
def history(req: Request, conn: Connection, client: object, name: str) -> None:
    conn.json(client.api.image(name).history())


@route("POST", "/images/{name}/tag")
def tag(req: Request, conn: Connection, client: object, name: str) -> None:
    repo = req.arg("repo")
    if not repo:
        raise InvalidArgument("repository name (repo) is required")
    client.api.image(name).tag(repo, req.arg("tag") or None)
    conn.respond(201)


@route("DELETE", "/images/{name}")
def remove(req: Request, conn: Connection, client: object, name: str) -> None:
    if req.flag("noprune"):
        raise InvalidArgument("noprune: corral deletes an image's unused layers with it")
    conn.json([{kind: what} for kind, what in client.api.remove_image(name, force=req.flag("force"))])


@route("GET", "/images/get")
def save(req: Request, conn: Connection, client: object) -> None:
    names = [n for value in req.args("names") for n in value.split(",") if n]
    if not names:
        raise InvalidArgument("no image names given (names=)")
    for ref in names:
        client.api.image(ref)  # a missing one is a 404 before the archive starts
    out = conn.stream("application/x-tar")
    client.api.save(names, out)
    conn.end()


@route("GET", "/images/{name}/get")
def save_one(req: Request, conn: Connection, client: object, name: str) -> None:
    client.api.image(name)
    out = conn.stream("application/x-tar")
    client.api.save([name], out)
    conn.end()


@route("POST", "/images/load")
def load(req: Request, conn: Connection, client: object) -> None:
    """docker-py and the CLI read exactly "Loaded image: NAME" / "Loaded image ID: ID" lines."""
    loaded = client.api.load(req.stream())
    out = conn.stream("application/json")
    for img in loaded:
        for name in img.loaded_tags:
            out.json({"stream": f"Loaded image: {_familiar(name)}\n"})
        if not img.loaded_tags:
            out.json({"stream": f"Loaded image ID: {img.id}\n"})
    conn.end()


def _familiar(name: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


@route("POST", "/commit")
def commit(req: Request, conn: Connection, client: object) -> None:
    ref = req.arg("container")
    if not ref:
        raise InvalidArgument("no container given (container=)")
    body = req.json()
    if body:  # docker's ContainerConfig to merge: corral takes Dockerfile instructions (changes=) instead
        raise InvalidArgument("commit: a config body is not supported: give changes= (Dockerfile instructions)")
    repo = req.arg("repo") or None
    image = client.api.container(ref).commit(repo, req.arg("tag") or None, author=req.arg("author") or "",
                                             message=req.arg("comment") or "", changes=req.args("changes"),
                                             pause=req.flag("pause", True))
    conn.json({"Id": image.id}, 201)


@route("POST", "/images/prune")
def prune(req: Request, conn: Connection, client: object) -> None:
    done = client.api.prune_images(filters=req.filters())
    conn.json({"ImagesDeleted": done["ImagesDeleted"] or None, "SpaceReclaimed": done["SpaceReclaimed"]})


@route("POST", "/build/prune")
def prune_build(req: Request, conn: Connection, client: object) -> None:
    conn.json(client.api.prune_build_cache(all=req.flag("all"), filters=req.filters()))


@route("GET", "/images/search")
def search(req: Request, conn: Connection, client: object) -> None:
    """No registry to search yet: an empty list, so tools that search first go on."""
    conn.json([])


_BUILD_REFUSED = ("remote", "squash", "extrahosts", "isolation", "cpusetcpus", "cpushares",
                  "cpuquota", "cpuperiod", "memory", "memswap", "shmsize", "ulimits", "outputs", "platform",
                  "cachefrom")
"""Refused when given: cachefrom names images whose layers docker's builder would reuse as cache; corral's cache
knows only the steps its own store ran (keys chained from the context's content), so it would be ignored."""


@route("POST", "/build")
def build(req: Request, conn: Connection, client: object) -> None:
    """The legacy builder's stream: {"stream": ...} lines, {"aux": {"ID": ...}}, errors as errorDetail and
    error (the CLI fails on the first, docker-py on the second). pull=1 pulls every base; X-Registry-Config
    holds the credentials for their registries (registry → AuthConfig, from the CLI's config.json)."""
    # rm=0 (docker-py's default) would keep intermediate containers: corral's builder leaves none either way
    for key in _BUILD_REFUSED:
        if req.arg(key) not in (None, "", "0", "[]", "{}", "null", "-1"):
            raise InvalidArgument(f"build: {key}: corral does not support it yet")
    tags = [t for t in req.args("t") if t]
    events = client.api.build_from_tar(
        req.stream(), tags=tags or None, buildargs=req.json_arg("buildargs") or None,
        dockerfile=req.arg("dockerfile") or None, target=req.arg("target") or None, nocache=req.flag("nocache"),
        labels=req.json_arg("labels") or None, network=req.arg("networkmode") or "bridge", quiet=req.flag("q"),
        pull=req.flag("pull"), registry_auths=req.registry_auth("X-Registry-Config"))
    out = None
    try:
        for event in _quiet(events) if req.flag("q") else events:
            if out is None:
                out = conn.stream("application/json")
            out.json(event)
    except (BuildError, CorralError) as e:
        if out is None:
            if not isinstance(e, BuildError):
                raise
            out = conn.stream("application/json")
        out.json({"errorDetail": {"code": 1, "message": str(e)}, "error": str(e)})
    if out is None:
        conn.stream("application/json")
    conn.end()


def _quiet(events: Iterator[dict]) -> Iterator[dict]:
    """q=1 as dockerd answers it: the image ID as the only text (the CLI prints the stream as it comes);
    the steps' text only when the build fails, before its error."""
    held = []
    try:
        for event in events:
            if "stream" in event:
                held.append(event)
                continue
            yield event
            if "aux" in event:
                yield {"stream": event["aux"]["ID"] + "\n"}
    except CorralError:
        yield from held
        raise
