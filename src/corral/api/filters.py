"""Docker's list and prune filters (`ps`, `images`, `network ls`, the prunes; later the Engine API's `filters`).

The CLI's repeated `-f key=value` flags and the Engine API's `filters` JSON
(`{"key": ["value", ...]}`) are the same thing in two spellings: `parse` turns
the first into the second, and a listing takes the mapping. So a filter key is
added once, here, and every front end has it.

Docker's rules, kept here: different keys AND; the values of one key OR
(`-f name=a -f name=b` lists both), except `label` (and `label!`), where every
value must hold (moby's MatchKVList), and `before`/`since`, which narrow to the
oldest/newest pivot given. A key the listing does not know is docker's error,
`invalid filter 'KEY'`, raised before anything is listed.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Mapping, Sequence

    from corral.api.container import Container
    from corral.api.host import Host
    from corral.api.image import Image
    from corral.api.network import Network
    from corral.api.pod import Pod
    from corral.api.volume import Volume

    Filters = Mapping[str, Sequence[str]]

IMAGE_KEYS = ("before", "dangling", "label", "label!", "reference", "since", "until")
CONTAINER_KEYS = ("ancestor", "before", "exited", "health", "id", "label", "name", "network", "pod", "since",
                  "status", "volume")
NETWORK_KEYS = ("dangling", "driver", "id", "label", "name", "scope", "type")
VOLUME_KEYS = ("dangling", "driver", "label", "label!", "name")
POD_KEYS = ("ctr-ids", "ctr-names", "ctr-number", "ctr-status", "id", "label", "name", "network", "status", "until")
"""podman's `pod ps --filter` keys."""
POD_STATUSES = ("created", "running", "degraded", "paused", "exited", "stopped", "dead", "error")
VOLUME_PRUNE_KEYS = ("all", "label", "label!")
PRUNE_KEYS = ("label", "label!", "until")
"""What container, network and system prune take; image prune takes `dangling` too."""
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTH = ("starting", "healthy", "unhealthy", "none")
BUILTIN_NETWORKS = ("bridge", "host", "none")


def parse(items: list[str]) -> dict[str, list[str]]:
    """`--filter key=value` flags as the Engine API's filters mapping: each key's values in the order given."""
    from corral.errors import InvalidArgument

    found: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")  # `label!=k` is the key `label!`, as docker reads it
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        found.setdefault(key, []).append(value)
    return found


def validate(filters: Filters, accepted: Sequence[str]) -> None:
    """Docker's error for a key the listing does not take."""
    from corral.errors import InvalidArgument

    for key in filters:
        if key not in accepted:
            raise InvalidArgument(f"invalid filter '{key}'")


def boolean(filters: Filters, key: str) -> bool | None:
    """A key holding true or false (moby's GetBoolOrDefault): None when absent; an error when a value is
    neither, or the values disagree."""
    from corral.errors import InvalidArgument

    values = {v.lower() for v in filters.get(key, ())}
    if not values:
        return None
    truth = {v in ("1", "true") for v in values if v in ("1", "true", "0", "false")}
    if len(truth) != 1 or len(values - {"1", "true", "0", "false"}):
        raise InvalidArgument(f"invalid filter '{key}={','.join(filters[key])}'")
    return truth.pop()


def labels_match(filters: Filters, labels: Mapping[str, str]) -> bool:
    """`label=KEY` / `label=KEY=VALUE`: every one present; `label!=KEY[=VALUE]`: none of them present."""
    def has(spec: str) -> bool:
        k, sep, v = spec.partition("=")
        return k in labels and (not sep or labels[k] == v)

    return all(has(s) for s in filters.get("label", ())) and not any(has(s) for s in filters.get("label!", ()))


def regex_match(values: Sequence[str], *texts: str) -> bool:
    """moby's Filters.Match: a value equal to one of the texts, or a regular expression found in one."""
    if any(v in texts for v in values):
        return True
    import re  # only once a name or ID filter is given: ps loads no re without one

    from corral.errors import InvalidArgument

    for v in values:
        try:
            pattern = re.compile(v)
        except re.error as e:
            raise InvalidArgument(f"invalid filter value {v!r}: {e}") from None
        if any(pattern.search(t) for t in texts):
            return True
    return False


def timestamp(value: str, key: str = "until") -> float:
    """Seconds since the epoch of a filter's time, as docker reads `until=`/`since=` (and `logs --since`,
    `events --since`: one reader, timestamps.docker_time): a Go duration back from now (10m, 1h30m,
    1.5h), Unix seconds (1700000000, 1700000000.5), or an RFC 3339 date or time (2024-01-02,
    2024-01-02T15:04:05Z; local time without a zone)."""
    from corral.errors import InvalidArgument
    from corral.timestamps import docker_time

    try:
        return docker_time(value) / 1e9
    except InvalidArgument:
        raise InvalidArgument(f"invalid filter '{key}={value}': give a time (RFC 3339 or Unix seconds) "
                              "or a duration back from now (10m, 1h30m)") from None


def created_before(filters: Filters, created: str) -> bool:
    """`until=`: made before that time (every value, when given more than once)."""
    from corral.timestamps import parse as parse_time

    when = parse_time(created)
    return all(when < timestamp(v) for v in filters.get("until", ()))


# images ------------------------------------------------------------------------------------------------

def images(host: Host, *, name: str | None = None, all: bool = False,  # noqa: A002 - docker-py's name
           filters: Filters | None = None) -> list[Image]:
    """The images `corral images [REPOSITORY[:TAG]] [-f ...]` lists, newest first."""
    return [img for img, _ in image_rows(host, name=name, all=all, filters=filters)]


def image_rows(host: Host, *, name: str | None = None, all: bool = False,  # noqa: A002 - docker's flag
               filters: Filters | None = None) -> list[tuple[Image, list[str]]]:
    """Each image `images` lists with the tags it shows: only those the reference filter matches (docker
    shows `busybox:1` alone for `images busybox:1`), none for a dangling image. `name` is the listing's
    REPOSITORY[:TAG] argument, which docker adds to the reference filter. A bad filter fails first."""
    wanted = dict(filters or {})
    if name:
        wanted["reference"] = [*wanted.get("reference", ()), name]
    keep = image_filter(host, wanted)
    refs = wanted.get("reference", ())
    rows = []
    for img in host.images(all=all):
        if keep(img):
            tags = img.tags
            rows.append((img, [t for t in tags if any(reference_matches(p, t) for p in refs)] if refs else tags))
    return rows


def image_filter(host: Host, filters: Filters) -> Callable[[Image], bool]:
    """A predicate on images: dangling=, reference= (docker's glob on the tag or the repository), label=,
    label!=, before= and since= (an image, compared by creation time), until= (a time)."""
    validate(filters, IMAGE_KEYS)
    dangling = boolean(filters, "dangling")
    refs = filters.get("reference", ())
    for p in refs:
        _glob(p)  # a bad pattern fails before anything is listed
    before = min((host.image(v).created for v in filters.get("before", ())), default=None)
    since = max((host.image(v).created for v in filters.get("since", ())), default=None)
    for v in filters.get("until", ()):
        timestamp(v)

    def keep(img: Image) -> bool:
        tags = img.tags
        if dangling is not None and (not tags) != dangling:
            return False
        if refs and not any(reference_matches(p, t) for p in refs for t in tags):
            return False
        if before is not None and not _earlier(img.created, before):
            return False
        if since is not None and not _earlier(since, img.created):
            return False
        return labels_match(filters, _labels(img)) and created_before(filters, img.created)
    return keep


def reference_matches(pattern: str, tag: str) -> bool:
    """Docker's reference filter (distribution's FamiliarMatch): Go's path.Match of the pattern against the
    familiar `repo:tag` and, failing that, against the repository alone. `*` stops at `/`."""
    matches = _glob(pattern)
    return matches(tag) or matches(tag.rsplit(":", 1)[0] if "/" not in tag.rsplit(":", 1)[-1] else tag)


def _glob(pattern: str) -> Callable[[str], bool]:
    """Go's path.Match as a predicate: `*` any run of non-/ characters, `?` one, `[a-z]`/`[^…]` classes,
    `\\` escapes; a malformed pattern is docker's error."""
    import re

    from corral.errors import InvalidArgument

    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        i += 1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i >= len(pattern):
                raise InvalidArgument(f"syntax error in pattern: {pattern}")
            out.append(re.escape(pattern[i]))
            i += 1
        elif c == "[":
            end = i + (pattern[i:i + 1] == "^")
            body = []
            j = end
            while j < len(pattern) and pattern[j] != "]":
                if pattern[j] == "\\" and j + 1 < len(pattern):
                    j += 1
                body.append(re.escape(pattern[j]) if pattern[j] != "-" else "-")
                j += 1
            if j >= len(pattern) or not body:
                raise InvalidArgument(f"syntax error in pattern: {pattern}")
            out.append("[" + ("^" if end > i else "") + "".join(body) + "]")
            i = j + 1
        else:
            out.append(re.escape(c))
    compiled = re.compile("".join(out))
    return lambda text: compiled.fullmatch(text) is not None


def _earlier(a: str, b: str) -> bool:
    from corral.timestamps import parse as parse_time

    return parse_time(a) < parse_time(b)


def _labels(img: Image) -> dict[str, str]:
    return img.config.get("config", {}).get("Labels") or {}


# containers --------------------------------------------------------------------------------------------

def containers(host: Host, *, all: bool = False, filters: Filters | None = None,  # noqa: A002 - docker's flag
               limit: int = -1) -> list[Container]:
    """The containers `ps` lists, newest first: running ones, or every one with all=True, a status
    filter (as docker: `-f status=exited` needs no -a) or a limit (`-n N`, `-l`: the N last created, in
    any state); those that pass every filter; at most `limit` of them when it is above 0."""
    wanted = filters or {}
    keep = container_filter(host, wanted)
    every = all or bool(wanted.get("status")) or limit > 0
    found = []
    for c in host.containers(all=every):
        if keep(c):
            found.append(c)
            if 0 < limit <= len(found):
                break
    return found


def container_filter(host: Host, filters: Filters) -> Callable[[Container], bool]:
    """A predicate on containers for docker's ps filters. Values are checked (a bad status, exit code or
    health is an error) and names looked up (before=, since=) before any container is read."""
    from corral.errors import InvalidArgument

    validate(filters, CONTAINER_KEYS)
    for v in filters.get("status", ()):
        if v not in STATUSES:
            raise InvalidArgument(f"invalid filter 'status={v}'")
    for v in filters.get("health", ()):
        if v not in HEALTH:
            raise InvalidArgument(f"Unrecognised filter value for health: {v}")
    try:
        exited = {int(v) for v in filters.get("exited", ())}
    except ValueError:
        raise InvalidArgument(f"invalid filter 'exited={','.join(filters['exited'])}': give exit codes") from None
    before = min((host.container(v).created for v in filters.get("before", ())), default=None)
    since = max((host.container(v).created for v in filters.get("since", ())), default=None)
    ancestors = _with_descendants(host, filters.get("ancestor", ())) if "ancestor" in filters else None
    tests: list[Callable[[Container], bool]] = []
    if "status" in filters:
        tests.append(lambda c: ("paused" if c.paused else c.status) in filters["status"])
    if "id" in filters:
        tests.append(lambda c: regex_match(filters["id"], c.id))
    if "name" in filters:
        tests.append(lambda c: regex_match(filters["name"], c.name, "/" + c.name))
    if "label" in filters or "label!" in filters:
        tests.append(lambda c: labels_match(filters, c.options.labels))
    if ancestors is not None:
        tests.append(lambda c: c.image_id in ancestors)
    if exited:
        tests.append(lambda c: c.status == "exited" and c.started_at is not None and c.exit_code in exited)
    if "network" in filters:
        tests.append(lambda c: _on_network(c, filters["network"]))
    if before is not None:
        tests.append(lambda c: c.created < before)
    if since is not None:
        tests.append(lambda c: c.created > since)
    if "health" in filters:  # "none" for a container without a health check
        tests.append(lambda c: c.health in filters["health"])
    if "pod" in filters:  # podman's: a pod's name or ID (prefix)
        pods = _pods_named(host, filters["pod"])
        tests.append(lambda c: c.pod_id in pods)
    if "volume" in filters:  # docker's: a volume's name or a mount's destination (or a bind's source)
        wanted_mounts = set(filters["volume"])
        tests.append(lambda c: any(wanted_mounts & {m["source"], m["target"]} for m in c.options.mounts) or
                     any(wanted_mounts & set(b.split(":")[:2]) for b in c.options.binds))
    return lambda c: all(t(c) for t in tests)


def _with_descendants(host: Host, refs: Sequence[str]) -> set[str]:
    """IDs of the images named and of every image built on one of them (its layers start with theirs),
    as docker's ancestor filter matches children too; a name of no image matches nothing, as docker's."""
    from corral.errors import NotFound

    roots = []
    for ref in refs:
        try:
            roots.append(host.image(ref))
        except NotFound:
            continue
    found = {img.id for img in roots}
    if roots:
        chains = [img.layers for img in roots]
        for img in host.images(all=True):
            layers = img.layers
            if any(chain and layers[:len(chain)] == chain for chain in chains):
                found.add(img.id)
    return found


def _on_network(c: Container, values: Sequence[str]) -> bool:
    """moby's network filter: a switch's name, or a prefix of its ID; host and none by their mode."""
    nets = c.networks
    names = set(nets) | ({c.options.network} if c.options.network in BUILTIN_NETWORKS else set())
    return any(v in names or any(n["NetworkID"].startswith(v) for n in nets.values()) for v in values)


def _pods_named(host: Host, refs: Sequence[str]) -> set[str]:
    """IDs of the pods named (a name of no pod matches nothing, as podman's)."""
    from corral.errors import CorralError

    found = set()
    for ref in refs:
        try:
            found.add(host.pod(ref).id)
        except CorralError:
            continue
    return found


# pods --------------------------------------------------------------------------------------------------

def pod_filter(filters: Filters) -> Callable[[Pod], bool]:
    """A predicate on pods for podman's `pod ps` filters: id= and name= (regular expressions, as podman's),
    label=, status= (the pod's state), network=, until=, and on its containers ctr-names=, ctr-ids=
    (prefixes), ctr-status= and ctr-number= (how many it has, the infra container counted)."""
    from corral.errors import InvalidArgument

    validate(filters, POD_KEYS)
    for v in [*filters.get("status", ()), *filters.get("ctr-status", ())]:
        if v.lower() not in POD_STATUSES:
            raise InvalidArgument(f"invalid filter 'status={v}': give one of {', '.join(POD_STATUSES)}")
    for v in filters.get("ctr-number", ()):
        if not v.isdecimal():
            raise InvalidArgument(f"invalid filter 'ctr-number={v}': give a number")
    for v in filters.get("until", ()):
        timestamp(v)
    tests: list[Callable[[Pod], bool]] = []
    if "id" in filters:
        tests.append(lambda p: regex_match(filters["id"], p.id))
    if "name" in filters:
        tests.append(lambda p: regex_match(filters["name"], p.name))
    if "label" in filters:
        tests.append(lambda p: labels_match(filters, p.labels))
    if "status" in filters:
        tests.append(lambda p: p.status.lower() in {v.lower() for v in filters["status"]})
    if "network" in filters:
        tests.append(lambda p: any(v in p.networks() for v in filters["network"]))
    if "until" in filters:
        tests.append(lambda p: created_before(filters, p.created))
    if "ctr-names" in filters:
        tests.append(lambda p: any(c.name in filters["ctr-names"] for c in p.containers()))
    if "ctr-ids" in filters:
        tests.append(lambda p: any(c.id.startswith(v) for c in p.containers() for v in filters["ctr-ids"]))
    if "ctr-status" in filters:
        tests.append(lambda p: any(c.status in filters["ctr-status"] for c in p.containers()))
    if "ctr-number" in filters:
        tests.append(lambda p: str(len(p.containers())) in filters["ctr-number"])
    return lambda p: all(t(p) for t in tests)


# networks ----------------------------------------------------------------------------------------------

def networks(host: Host, filters: Filters | None = None) -> list[Network]:
    """The switches `network ls` lists that pass every filter."""
    keep = network_filter(filters or {})
    return [n for n in host.networks() if keep(n)]


def network_filter(filters: Filters) -> Callable[[Network], bool]:
    """A predicate on networks: driver=, id= and name= (moby's regex match), label=, scope=,
    type=custom|builtin, dangling= (no container on it, and not a builtin one)."""
    from corral.errors import InvalidArgument

    validate(filters, NETWORK_KEYS)
    for v in filters.get("type", ()):
        if v not in ("custom", "builtin"):
            raise InvalidArgument(f"invalid filter 'type={v}'")
    dangling = boolean(filters, "dangling")

    def builtin(n: Network) -> bool:
        return n.name in BUILTIN_NETWORKS or bool(getattr(n, "is_default", False))

    def keep(n: Network) -> bool:
        if "driver" in filters and getattr(n, "driver", "bridge") not in filters["driver"]:
            return False
        if "scope" in filters and getattr(n, "scope", "local") not in filters["scope"]:
            return False
        if "type" in filters and ("builtin" if builtin(n) else "custom") not in filters["type"]:
            return False
        if "id" in filters and not regex_match(filters["id"], n.id):
            return False
        if "name" in filters and not regex_match(filters["name"], n.name):
            return False
        if dangling is not None and (not builtin(n) and not n.endpoints()) != dangling:
            return False
        return labels_match(filters, n.labels or {})
    return keep


# volumes -----------------------------------------------------------------------------------------------

def volumes(host: Host, filters: Filters) -> list[Volume]:
    """The volumes `volume ls` lists that pass every filter: dangling= (no container mounts it), driver=,
    label=/label!=, name= (moby's regex match)."""
    from corral.api.volume import Volume, users
    from corral.store import volumes as records

    validate(filters, VOLUME_KEYS)
    dangling = boolean(filters, "dangling")
    used = users(host) if dangling is not None else {}

    def keep(v: Volume) -> bool:
        if "driver" in filters and v.driver not in filters["driver"]:
            return False
        if "name" in filters and not regex_match(filters["name"], v.name):
            return False
        if dangling is not None and (v.name not in used) != dangling:
            return False
        return labels_match(filters, v.labels)
    return [v for v in (Volume(host, r) for r in records.by_name(host.store)) if keep(v)]
