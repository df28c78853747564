"""Docker's events: recorded where things happen, by every corral process, and read back in order.

There is no daemon to see every change, so each process that makes one (the
CLI, the store's monitor, `corral serve`, a script on the Python API) records
it itself, through `record`, into the store's journal (store/events.py); the
readers (`corral events`, Client.events, GET /events) follow that journal.
`record` is on the paths of run and exec: it imports nothing at load, and
costs one small transaction of the store's database.

The shape is moby's events.Message: Type, Action, Actor{ID, Attributes},
scope "local", time and timeNano, and for container and image events the
legacy status, id and from that the docker CLI and older clients still read.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from corral.store.events import EventRecord
    from corral.store.root import Store

FILTER_KEYS = ("config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "pod",
               "scope", "secret", "service", "type", "volume")
"""The keys of docker's events filters (the swarm ones match nothing here: corral has no swarm events)."""

POLL_SECONDS = 0.05
"""How often a follower reads the journal for events of other processes (see `follow`)."""


def record(store: Store, type: str, action: str, actor_id: str,  # noqa: A002 - docker's field name
           attributes: Mapping[str, object] | None = None) -> None:
    """Record one event: `type` container|image|network|volume (docker's Type) or pod (podman's), `action`
    docker's Action (create, start, die, "exec_start: sh -c ls", ...), the actor's ID, its attributes (values are
    written as strings, as docker's are). The one function every corral process records through; call it
    once the change is done (after its transaction: it opens its own).

    Never raises: the change it reports has happened already, and a journal that cannot be written
    (a read-only or full store) must not turn a done change into a reported failure."""
    try:
        from corral.store import events as journal

        journal.append(store, type, action, actor_id, {str(k): str(v) for k, v in (attributes or {}).items()})
    except Exception:  # noqa: BLE001, S110 - see the docstring
        pass


def record_container(store: Store, action: str, container: object,
                     attributes: Mapping[str, object] | None = None) -> None:
    """A container event with docker's attributes: the container's labels, image (as given to create)
    and name, then `attributes`. `container` is its full ID, its store record or a Container."""
    try:
        if isinstance(container, str):
            from corral.store import containers

            found = containers.get(store, container)
            if found is None:
                return
            container = found
        labels = container.options.get("labels") if isinstance(container.options, dict) else \
            container.options.labels  # a record's options are a dict, a Container's a ContainerOptions
        given = dict(labels or {}, image=container.image_ref, name=container.name)
    except Exception:  # noqa: BLE001 - as record: an event must not fail what it reports
        return
    record(store, "container", action, container.id, dict(given, **(attributes or {})))


def record_network(store: Store, action: str, network: object, container_id: str | None = None) -> None:
    """A network event with docker's attributes: the switch's name and type (its driver, bridge), and the
    container for connect and disconnect. `network` is a switch record or a Network (id and name)."""
    given = {"name": network.name, "type": "bridge"}
    if container_id is not None:
        given["container"] = container_id
    record(store, "network", action, network.id, given)


def record_pod(store: Store, action: str, pod: object) -> None:
    """A pod event (podman's type "pod": create, start, stop, kill, pause, unpause, remove) with the pod's
    name. `pod` is an api/pod.py Pod (id and name)."""
    record(store, "pod", action, pod.id, {"name": pod.name})


def record_mounts(store: Store, action: str, cid: str, mounts: Sequence[dict]) -> None:
    """A volume mount (or unmount) event for each volume among a container's mounts (its recorded
    options' "mounts"), with docker's attributes: driver and container, and for mount destination,
    read/write and propagation."""
    for m in mounts:
        if m.get("type") == "volume":
            given = {"driver": "local", "container": cid}
            if action == "mount":
                given.update({"destination": m["target"], "read/write": "false" if m.get("readonly") else "true",
                              "propagation": m.get("propagation") or ""})
            record(store, "volume", action, m["source"], given)


# reading ----------------------------------------------------------------------------------------------

def message(rec: EventRecord) -> dict:
    """docker's events.Message of a journal row, keys in docker's order (its JSON, and --format json)."""
    seconds = rec.time_ns // 1_000_000_000
    actor = {"ID": rec.actor, "Attributes": rec.attributes}
    if rec.type == "container":
        legacy = {"status": rec.action, "id": rec.actor, "from": rec.attributes.get("image", "")}
        if not legacy["from"]:
            del legacy["from"]  # omitempty, as docker's
    elif rec.type == "image":
        legacy = {"status": rec.action, "id": rec.actor}
    else:
        legacy = {}
    return dict(legacy, Type=rec.type, Action=rec.action, Actor=actor, scope="local", time=seconds,
                timeNano=rec.time_ns)


def check_filters(filters: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The filters as key → list of values (docker-py also sends a bare string or a dict of values);
    a key docker's events do not take is docker's error `invalid filter 'KEY'`."""
    from corral.errors import InvalidArgument

    found: dict[str, list[str]] = {}
    for key, values in filters.items():
        if key not in FILTER_KEYS:
            raise InvalidArgument(f"invalid filter '{key}'")
        if isinstance(values, bool):
            values = ["true" if values else "false"]  # docker-py's convert_filters
        if isinstance(values, str):
            values = [values]
        elif isinstance(values, dict):  # the Engine API's older {"value": true} form
            values = [v for v, on in values.items() if on]
        found[key] = [str(v) for v in values]
    return found


def matches(filters: Mapping[str, Sequence[str]], msg: dict) -> bool:
    """moby's events Filter.Include: keys AND, values of a key OR; container=, network=, volume=...
    match the actor's ID or name by prefix; image= the image named (with or without its tag);
    label= every one present in the attributes; event= exactly, or by prefix for exec_create,
    exec_start and health_status (whose actions carry the command or the status after a colon)."""
    kind, action, actor, attrs = msg["Type"], msg["Action"], msg["Actor"]["ID"], msg["Actor"]["Attributes"]

    def exact(key: str, *texts: str) -> bool:
        values = filters.get(key)
        return not values or any(v in texts for v in values)

    def fuzzy(key: str, *texts: str) -> bool:
        values = filters.get(key)
        return not values or any(t.startswith(v) for v in values for t in texts)

    events = filters.get("event") or ()
    if any(v in ("health_status", "exec_create", "exec_start") for v in events):
        if not fuzzy("event", action):
            return False
    elif not exact("event", action):
        return False
    if not exact("type", kind) or not exact("scope", "local"):
        return False
    for named in ("config", "container", "daemon", "network", "node", "plugin", "pod", "secret", "service", "volume"):
        if named in filters and not (kind == named and fuzzy(named, actor, attrs.get("name", ""))):
            return False
    if "image" in filters:
        name = attrs.get("name" if kind == "image" else "image", "")
        if not exact("image", actor, name, _untagged(actor), _untagged(name)):
            return False
    for spec in filters.get("label", ()):
        key, sep, value = spec.partition("=")
        if key not in attrs or (sep and attrs[key] != value):
            return False
    return True


def _untagged(ref: str) -> str:
    """moby's stripTag: the familiar name without its tag (docker.io/library/busybox:1 → busybox)."""
    if not ref or ref.startswith("sha256:"):
        return ref
    from corral.image.reference import normalize

    familiar = normalize(ref)
    if "@" in familiar:
        return familiar.split("@", 1)[0]
    return familiar.rsplit(":", 1)[0]


def bound(value: object, flag: str) -> int | None:
    """A since/until bound in nanoseconds since the epoch: docker's forms as text (RFC 3339, Unix seconds
    with a fraction, a duration back from now such as 10m), Unix seconds as a number, or a datetime
    (docker-py's); None when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 1_000_000_000)
    if isinstance(value, str):
        from corral.timestamps import docker_time

        return docker_time(value)
    if hasattr(value, "timestamp"):
        return int(value.timestamp() * 1_000_000_000)  # a datetime: naive ones in local time, as docker-py
    from corral.errors import InvalidArgument

    raise InvalidArgument(f"invalid {flag} value {value!r}: give a time, Unix seconds or a duration")


def window(since: object, until: object) -> tuple[int | None, int | None]:
    """The since and until bounds (bound()) in nanoseconds; docker's error when until is before since."""
    from corral.errors import InvalidArgument

    since_ns, until_ns = bound(since, "since"), bound(until, "until")
    if since_ns is not None and until_ns is not None and until_ns < since_ns:
        raise InvalidArgument(f"`since` time ({since}) cannot be after `until` time ({until})")
    return since_ns, until_ns


def stream(store: Store, since: object = None, until: object = None,
           filters: Mapping[str, Sequence[str]] | None = None,
           stopped: Callable[[], bool] | None = None) -> Iterator[dict]:
    """docker's GET /events: the recorded events from `since` (up to `until`), then, unless `until` has
    passed, new ones as they are recorded, until `until` or until stopped() is true. Without since and
    until, only new ones. Each is a message(); filters as docker's (check_filters)."""
    import time

    from corral.store import events as journal

    wanted = check_filters(filters or {})
    since_ns, until_ns = window(since, until)
    top = journal.last_seq(store)  # the backlog is what was recorded before now; with neither bound, nothing
    seq = 0 if since_ns is not None or until_ns is not None else top
    while seq < top:
        rows = journal.after(store, seq, since_ns, until_ns)
        for rec in rows:
            seq = rec.seq
            if seq > top:
                break
            msg = message(rec)
            if matches(wanted, msg):
                yield msg
        if not rows:
            break
    if until_ns is not None and until_ns <= time.time_ns():
        return
    for rec in follow(store, top, stopped or (lambda: False), until_ns):
        msg = message(rec)
        if matches(wanted, msg):
            yield msg


def follow(store: Store, seq: int, stopped: Callable[[], bool], until_ns: int | None = None) -> Iterator[EventRecord]:
    """The journal's rows past `seq` as other processes append them, until stopped() or `until_ns`.

    Polls: one read of the journal's newest rows every POLL_SECONDS. Measured (/tmp scripts, 20
    events from another process, 10 s idle) against inotify on the store's directory: polling costs
    an idle follower 0.4 % of one core, and an event reaches it in 25 ms (median; 55 ms at worst);
    inotify costs nothing idle and 0.4 ms, but it wakes on SQLite's write to its log before the
    commit is visible (one wake-up was missed: 132 ms), so it would need a file that `record` touches
    after each commit, one syscall more on every run and exec. `logs -f` follows its file by polling too.
    """
    import time

    from corral.store import events as journal

    while not stopped():
        rows = journal.after(store, seq, None, until_ns)
        for rec in rows:
            seq = rec.seq
            yield rec
        if until_ns is not None and time.time_ns() > until_ns:
            return
        if not rows:
            time.sleep(POLL_SECONDS)
