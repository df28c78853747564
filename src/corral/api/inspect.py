"""Docker's generic inspect: one name looked up as a container, then an image, then a network (then a pod,
as podman's inspect also finds them).

`corral inspect NAME` does not say what NAME is; docker's order decides, and
`--type` (the `kind` here) narrows the lookup to one kind. The API server's
per-kind endpoints call the kind's own `inspect()`; this is the one place the
fallback order lives.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.host import Host

KINDS = ("container", "image", "network", "pod")


def inspect(host: Host, ref: str, kind: str | None = None, *, size: bool = False) -> dict:
    """The inspect dict of the first object named `ref` among the kinds looked at (all of them unless
    `kind` names one); NotFound("No such object: REF"), or "No such KIND: REF", when none has that name.
    size adds a container's SizeRw and SizeRootFs (`inspect -s`); other kinds ignore it, as docker's."""
    from corral.errors import InvalidArgument, NotFound

    if kind is not None and kind not in KINDS:
        raise InvalidArgument(f"invalid type {kind!r}: use container, image, network or pod")
    for each in (kind,) if kind else KINDS:
        try:
            found = getattr(host, each)(ref)
            return found.inspect(size=True) if size and each == "container" else found.inspect()
        except NotFound:
            continue
    raise NotFound(f"No such {kind}: {ref}" if kind else f"No such object: {ref}")
