"""Docker's list filters (`corral images --filter`, and later the Engine API's `filters`), in one place.

The CLI's repeated `-f key=value` flags and the Engine API's `filters` JSON
(`{"key": ["value", ...]}`) are the same thing in two spellings: `parse` turns
the first into the second, and a listing takes the mapping. So a filter key is
added once, here, and every front end has it. An image passes when it matches
every value of every key given.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Mapping, Sequence

    from corral.api.host import Host
    from corral.api.image import Image

IMAGE_KEYS = ("dangling", "reference", "label", "before", "since")


def parse(items: list[str]) -> dict[str, list[str]]:
    """`--filter key=value` flags as the Engine API's filters mapping: each key's values in the order given."""
    from corral.errors import InvalidArgument

    found: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        found.setdefault(key, []).append(value)
    return found


def images(host: Host, *, name: str | None = None, all: bool = False,  # noqa: A002 - docker-py's name
           filters: Mapping[str, Sequence[str]] | None = None) -> list[Image]:
    """The images `corral images [REPOSITORY] [-f ...]` lists, newest first: those with a tag in the
    repository `name` (when given) that pass every filter. A bad filter fails before anything is read."""
    wanted = image_filter(host, filters or {})
    return [img for img in host.images(all=all)
            if (name is None or any(t.rpartition(":")[0] == name for t in img.tags)) and wanted(img)]


def image_filter(host: Host, filters: Mapping[str, Sequence[str]]) -> Callable[[Image], bool]:
    """A predicate on images: dangling=, reference= (a glob on the name, the repository or its last
    path part), label=KEY[=VALUE], before= and since= (an image, compared by creation time)."""
    tests = [_image_test(host, key, value) for key, values in filters.items() for value in values]
    return lambda img: all(t(img) for t in tests)


def _image_test(host: Host, key: str, value: str) -> Callable[[Image], bool]:
    from corral.errors import InvalidArgument

    if key == "dangling":
        want = value.lower() in ("1", "true")
        return lambda img: (not img.tags) == want
    if key == "reference":
        return lambda img: any(_reference_matches(t, value) for t in img.tags)
    if key == "label":
        k, _, v = value.partition("=")

        def labelled(img: Image) -> bool:
            labels = _labels(img)
            return k in labels and (not v or labels[k] == v)
        return labelled
    if key in ("before", "since"):
        pivot = host.image(value).created
        return (lambda img: img.created < pivot) if key == "before" else (lambda img: img.created > pivot)
    raise InvalidArgument(f"invalid filter {key!r}: use dangling, reference, label, before or since")


def _reference_matches(tag: str, pattern: str) -> bool:
    import fnmatch

    return (fnmatch.fnmatch(tag, pattern) or fnmatch.fnmatch(tag.rsplit(":", 1)[0], pattern)
            or fnmatch.fnmatch(tag.rsplit("/", 1)[-1], pattern))


def _labels(img: Image) -> dict[str, str]:
    return img.config.get("config", {}).get("Labels") or {}
