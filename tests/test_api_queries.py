"""corral.api.filters and corral.api.inspect: pure logic, on stand-ins for Host and its objects (no store)."""
from __future__ import annotations

import sys

import pytest

from conftest import SRC

sys.path.insert(0, SRC)

from corral.api import filters  # noqa: E402
from corral.api.inspect import inspect  # noqa: E402
from corral.errors import InvalidArgument, NotFound  # noqa: E402

pytestmark = pytest.mark.unit


class FakeImage:
    def __init__(self, ident: str, tags: list[str], created: str, labels: dict[str, str] | None = None) -> None:
        self.id, self.tags, self.created = ident, tags, created
        self.config = {"config": {"Labels": labels}} if labels is not None else {}

    def inspect(self) -> dict:
        return {"Id": self.id}


class FakeHost:
    """Host's lookups: by name or ID, NotFound otherwise; images() newest first, as Host's."""

    def __init__(self, containers: tuple[str, ...] = (), images: list[FakeImage] | None = None,
                 networks: tuple[str, ...] = ()) -> None:
        self._containers, self._images, self._networks = containers, images or [], networks

    def images(self, all: bool = False) -> list[FakeImage]:  # noqa: A002
        return self._images if all else [i for i in self._images if i.tags or i.id != "cache"]

    def image(self, ref: str) -> FakeImage:
        for img in self._images:
            if ref == img.id or ref in img.tags or f"{ref}:latest" in img.tags:
                return img
        raise NotFound(f"No such image: {ref}")

    def container(self, ref: str) -> FakeImage:
        if ref not in self._containers:
            raise NotFound(f"No such container: {ref}")
        return FakeImage(f"container {ref}", [], "")

    def network(self, ref: str) -> FakeImage:
        if ref not in self._networks:
            raise NotFound(f"No such network: {ref}")
        return FakeImage(f"network {ref}", [], "")

    def pod(self, ref: str) -> FakeImage:
        if ref != "apod":
            raise NotFound(f"no pod with name or ID {ref} found: no such pod")
        return FakeImage(f"pod {ref}", [], "")


IMAGES = [
    FakeImage("app2", ["reg.example:5000/team/app:2"], "2026-03-01T00:00:00Z", {"tier": "web"}),
    FakeImage("app1", ["team/app:1", "team/app:stable"], "2026-02-01T00:00:00Z", {"tier": "db", "x": ""}),
    FakeImage("none", [], "2026-01-15T00:00:00Z"),
    FakeImage("cache", [], "2026-01-10T00:00:00Z"),
    FakeImage("base", ["busybox:latest"], "2026-01-01T00:00:00Z", {}),
]


def _ids(*flags: str, name: str | None = None, all: bool = False) -> list[str]:  # noqa: A002
    found = filters.images(FakeHost(images=IMAGES), name=name, all=all, filters=filters.parse(list(flags)))
    return [img.id for img in found]


def test_filter_flags_become_the_engine_api_mapping():
    assert filters.parse(["label=a=b", "dangling=true", "label=c"]) == {"label": ["a=b", "c"], "dangling": ["true"]}
    assert filters.parse([]) == {}
    with pytest.raises(InvalidArgument, match=r"bad format of filter \(expected name=value\): dangling"):
        filters.parse(["dangling"])


def test_image_filters():
    assert _ids() == ["app2", "app1", "none", "base"]
    assert _ids(all=True) == ["app2", "app1", "none", "cache", "base"]
    assert _ids("dangling=true") == ["none"] and _ids("dangling=1", all=True) == ["none", "cache"]
    assert _ids("dangling=false") == ["app2", "app1", "base"]
    assert _ids("reference=team/app:*") == ["app1"]  # the whole tag
    assert _ids("reference=*/app") == ["app1"] and _ids("reference=*/*/app") == ["app2"]  # `*` stops at /
    assert _ids("reference=*app") == [] and _ids("reference=app:2") == []  # docker's path.Match, no last part
    assert _ids("label=tier") == ["app2", "app1"] and _ids("label=tier=db") == ["app1"]
    assert _ids("label=x") == ["app1"] and _ids("label=nope") == []
    assert _ids("before=team/app:1") == ["none", "base"] and _ids("since=busybox") == ["app2", "app1", "none"]
    assert _ids("since=busybox", "label=tier", "before=app2") == ["app1"]  # every filter must match
    assert _ids("reference=busybox", "reference=team/*") == ["app1", "base"]  # the values of one key OR
    assert _ids("label=tier", "label=x") == ["app1"]  # but every label must hold, as docker's
    assert _ids("label!=tier") == ["none", "base"] and _ids("until=2026-01-20") == ["none", "base"]
    assert _ids(name="team/app") == ["app1"] and _ids(name="busybox") == ["base"] and _ids(name="app") == []


def test_bad_image_filters_fail_before_listing():
    with pytest.raises(InvalidArgument, match="^invalid filter 'color'$"):
        _ids("color=red")
    with pytest.raises(InvalidArgument, match="^invalid filter 'dangling=maybe'$"):
        _ids("dangling=maybe")
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        _ids("reference=busy[")
    with pytest.raises(NotFound, match="No such image: nosuch"):
        _ids("before=nosuch")


def test_generic_inspect_tries_container_then_image_then_network():
    host = FakeHost(containers=("web", "both"), images=[FakeImage("both", ["both:latest"], ""),
                                                        FakeImage("img", ["img:latest"], "")],
                    networks=("lab", "img"))
    assert inspect(host, "web") == {"Id": "container web"}
    assert inspect(host, "both") == {"Id": "container both"}  # a container before an image of that name
    assert inspect(host, "img") == {"Id": "img"}  # an image before a network
    assert inspect(host, "lab") == {"Id": "network lab"}
    assert inspect(host, "both", "image") == {"Id": "both"}
    assert inspect(host, "img", "network") == {"Id": "network img"}
    assert inspect(host, "apod") == {"Id": "pod apod"} and inspect(host, "apod", "pod") == {"Id": "pod apod"}
    for ref, kind in (("nosuch", None), ("lab", "container"), ("web", "image"), ("web", "network")):
        with pytest.raises(NotFound, match=f"^No such {kind or 'object'}: {ref}$"):
            inspect(host, ref, kind)
    with pytest.raises(InvalidArgument, match="invalid type 'volume': use container, image, network or pod"):
        inspect(host, "web", "volume")


# the pure matching of docker's filters -------------------------------------------------------------------

def test_reference_is_gos_path_match_on_the_tag_then_the_repository():
    m = filters.reference_matches
    assert m("busybox", "busybox:latest") and m("busybox:latest", "busybox:latest") and m("busy*", "busybox:1")
    assert m("team/*", "team/app:1") and not m("*", "team/app:1") and not m("app", "team/app:1")
    assert m("busybox:?", "busybox:1") and not m("busybox:?", "busybox:12")
    assert m("busybox:[0-9]*", "busybox:12") and not m("busybox:[^0-9]*", "busybox:12")
    assert m(r"a\*b", "a*b:latest") and not m(r"a\*b", "axb:latest")
    assert m("reg.example:5000/team/app", "reg.example:5000/team/app:2")  # a registry's port is no tag


def test_labels_must_all_hold_and_label_bang_must_not():
    labels = {"tier": "web", "x": ""}
    assert filters.labels_match({}, labels)
    assert filters.labels_match({"label": ["tier", "tier=web", "x="]}, labels)
    assert not filters.labels_match({"label": ["tier", "tier=db"]}, labels)
    assert not filters.labels_match({"label!": ["tier=web"]}, labels)
    assert filters.labels_match({"label!": ["tier=db", "nope"]}, labels)


def test_boolean_filters_and_docker_errors():
    assert filters.boolean({}, "dangling") is None
    assert filters.boolean({"dangling": ["true", "1"]}, "dangling") is True
    assert filters.boolean({"dangling": ["FALSE"]}, "dangling") is False
    for bad in (["true", "false"], ["yes"]):
        with pytest.raises(InvalidArgument, match="^invalid filter 'dangling="):
            filters.boolean({"dangling": bad}, "dangling")
    with pytest.raises(InvalidArgument, match="^invalid filter 'foo'$"):
        filters.validate({"status": ["x"], "foo": ["1"]}, filters.CONTAINER_KEYS)


def test_until_takes_go_durations_unix_seconds_and_rfc3339():
    import time

    now = time.time()
    assert abs(filters.timestamp("10m") - (now - 600)) < 5
    assert abs(filters.timestamp("1h30m") - (now - 5400)) < 5 and abs(filters.timestamp("1.5h") - (now - 5400)) < 5
    assert abs(filters.timestamp("300ms") - now) < 5
    assert filters.timestamp("1700000000") == 1700000000 and filters.timestamp("1700000000.5") == 1700000000.5
    assert filters.timestamp("2024-01-02T03:04:05Z") == 1704164645
    assert filters.timestamp("2024-01-02T03:04:05+01:00") == 1704164645 - 3600
    for bad in ("yesterday", "10x", "1h-", ""):
        with pytest.raises(InvalidArgument, match=f"invalid filter 'until={bad}'"):
            filters.timestamp(bad)
    assert filters.created_before({"until": ["2024-01-02T00:00:00Z"]}, "2024-01-01T00:00:00.000000000Z")
    assert not filters.created_before({"until": ["2024-01-02T00:00:00Z"]}, "2024-01-03T00:00:00.000000000Z")


def test_name_and_id_match_as_mobys_regular_expressions():
    assert filters.regex_match(["web"], "myweb1") and filters.regex_match(["^/web$"], "web", "/web")
    assert not filters.regex_match(["^web$"], "web1") and filters.regex_match(["a.c"], "xabcx")
    with pytest.raises(InvalidArgument, match="invalid filter value"):
        filters.regex_match(["("], "x")


class FakeContainer:
    def __init__(self, ident: str, name: str, status: str, created: str, image: str = "img", code: int | None = None,
                 labels: dict | None = None, nets: dict | None = None, paused: bool = False,
                 mounts: list | None = None, health: str = "none") -> None:
        from types import SimpleNamespace

        self.id, self.name, self._status, self.created, self.image_id = ident, name, status, created, image
        self.exit_code, self.started_at = code, (created if status != "created" else None)
        self.options = SimpleNamespace(labels=labels or {}, network="none" if not nets else "lab",
                                       mounts=mounts or [], binds=[])
        self.networks, self.paused, self.health = nets or {}, paused, health

    @property
    def status(self) -> str:
        return self._status


class FakeContainerHost(FakeHost):
    def __init__(self, cs: list[FakeContainer]) -> None:
        super().__init__(images=[])
        self.cs = cs

    def containers(self, all: bool = False) -> list[FakeContainer]:  # noqa: A002
        return self.cs if all else [c for c in self.cs if c.status == "running"]

    def container(self, ref: str) -> FakeContainer:
        return next(c for c in self.cs if ref in (c.id, c.name))


CONTAINERS = [
    FakeContainer("c4aa", "paused1", "running", "2026-04-01T00:00:00Z", paused=True),
    FakeContainer("c3bb", "web", "running", "2026-03-01T00:00:00Z", labels={"tier": "web"},
                  nets={"lab": {"NetworkID": "feed01"}}, health="healthy"),
    FakeContainer("c2cc", "done", "exited", "2026-02-01T00:00:00Z", code=3,
                  mounts=[{"type": "volume", "source": "data", "target": "/var/db"}]),
    FakeContainer("c1dd", "new", "created", "2026-01-01T00:00:00Z"),
]


def _names(*flags: str, all: bool = False, limit: int = -1) -> list[str]:  # noqa: A002
    found = filters.containers(FakeContainerHost(CONTAINERS), all=all, filters=filters.parse(list(flags)),
                               limit=limit)
    return [c.name for c in found]


def test_container_filters():
    assert _names() == ["paused1", "web"] and _names(all=True) == ["paused1", "web", "done", "new"]
    assert _names("status=exited") == ["done"]  # a status filter lists stopped ones without -a
    assert _names("status=running") == ["web"] and _names("status=paused") == ["paused1"]
    assert _names("status=created", "status=exited") == ["done", "new"]  # values of one key OR
    assert _names("exited=3", all=True) == ["done"] and _names("exited=0", all=True) == []
    assert _names("name=w", all=True) == ["web", "new"] and _names("name=^/web$") == ["web"]
    assert _names("id=c2", all=True) == ["done"] and _names("label=tier=web", "name=web") == ["web"]
    assert _names("label=tier=db") == [] and _names("network=lab") == ["web"] and _names("network=feed") == ["web"]
    assert _names("network=other") == [] and _names("before=web", all=True) == ["done", "new"]
    assert _names("since=done", all=True) == ["paused1", "web"] and _names("since=new", "before=web", all=True) == \
        ["done"]
    assert _names("health=none") == ["paused1"] and _names("health=healthy") == ["web"]
    assert _names("health=starting", "health=healthy") == ["web"] and _names("health=unhealthy") == []
    assert _names("volume=data", all=True) == ["done"] and _names("volume=/var/db", all=True) == ["done"]
    assert _names("volume=data") == [] and _names("volume=/var", all=True) == []
    assert _names(limit=2) == ["paused1", "web"] and _names(limit=1, all=False) == ["paused1"]
    assert _names("status=exited", "status=created", limit=1) == ["done"]  # the limit counts what passes
    for flag, message in (("status=sleeping", "^invalid filter 'status=sleeping'$"),
                          ("health=ok", "^Unrecognised filter value for health: ok$"),
                          ("exited=x", "^invalid filter 'exited=x'"), ("color=red", "^invalid filter 'color'$")):
        with pytest.raises(InvalidArgument, match=message):
            _names(flag)


class FakeNetwork:
    def __init__(self, name: str, ident: str, labels: dict, users: int, default: bool = False) -> None:
        self.name, self.id, self.labels, self.users, self.is_default = name, ident, labels, users, default

    def endpoints(self) -> list:
        return [("c", "10.0.0.2", [])] * self.users


def test_network_filters():
    nets = [FakeNetwork("bridge", "aa11", {}, 0, default=True), FakeNetwork("lab", "bb22", {"env": "t"}, 1),
            FakeNetwork("idle", "cc33", {}, 0)]

    def names(*flags: str) -> list[str]:
        keep = filters.network_filter(filters.parse(list(flags)))
        return [n.name for n in nets if keep(n)]

    assert names() == ["bridge", "lab", "idle"] and names("dangling=true") == ["idle"]
    assert names("dangling=false") == ["bridge", "lab"] and names("type=builtin") == ["bridge"]
    assert names("type=custom") == ["lab", "idle"] and names("label=env=t") == ["lab"]
    assert names("name=lab", "name=idle") == ["lab", "idle"] and names("id=bb") == ["lab"]
    assert names("driver=bridge", "scope=local") == ["bridge", "lab", "idle"] and names("driver=macvlan") == []
    with pytest.raises(InvalidArgument, match="^invalid filter 'type=other'$"):
        names("type=other")
    with pytest.raises(InvalidArgument, match="^invalid filter 'until'$"):
        names("until=1h")
