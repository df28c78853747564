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
    assert _ids("reference=*app") == ["app2", "app1"]  # the repository, registry and all
    assert _ids("reference=app:2") == ["app2"]  # the last path part
    assert _ids("label=tier") == ["app2", "app1"] and _ids("label=tier=db") == ["app1"]
    assert _ids("label=x") == ["app1"] and _ids("label=nope") == []
    assert _ids("before=team/app:1") == ["none", "base"] and _ids("since=busybox") == ["app2", "app1", "none"]
    assert _ids("since=busybox", "label=tier", "before=app2") == ["app1"]  # every filter must match
    assert _ids("reference=*app", "reference=team/*") == ["app1"]  # every value too
    assert _ids(name="team/app") == ["app1"] and _ids(name="busybox") == ["base"] and _ids(name="app") == []


def test_bad_image_filters_fail_before_listing():
    with pytest.raises(InvalidArgument, match="invalid filter 'color': use dangling, reference, label, before or"):
        _ids("color=red")
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
    for ref, kind in (("nosuch", None), ("lab", "container"), ("web", "image"), ("web", "network")):
        with pytest.raises(NotFound, match=f"^No such object: {ref}$"):
            inspect(host, ref, kind)
    with pytest.raises(InvalidArgument, match="invalid type 'volume': use container, image or network"):
        inspect(host, "web", "volume")
