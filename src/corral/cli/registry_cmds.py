"""Registry verbs: pull and push, with docker's progress display (fmt.Display)."""
from __future__ import annotations

from corral.api import Host
from corral.cli.fmt import Display


def pull(o: dict, args: list[str]) -> int:
    from corral.image.reference import parse

    show = (lambda msg: None) if o["quiet"] else Display()
    images = Host().pull(args[0], platform=o["platform"], all_tags=o["all_tags"], progress=show)
    if args[0].startswith("oci:"):  # an image layout: the name the image took here, or its ID
        from corral.registry.layout import local_name, split

        name = local_name(split(args[0])[1])
        for img in images:
            print(name if name in img.tags else img.tags[0] if img.tags and not name else img.id)
        return 0
    ref = parse(args[0])
    if o["quiet"]:
        print(ref.familiar if not o["all_tags"] else ref.repository)
    else:
        print(_full_name(ref) if not o["all_tags"] else ref.repository)
    return 0 if images or o["all_tags"] else 1


def push(o: dict, args: list[str]) -> int:
    show = (lambda msg: None) if o["quiet"] else Display()
    pushed = Host().push(args[0], args[1] if len(args) > 1 else None, all_tags=o["all_tags"], progress=show,
                         format=o["format"] or "oci")
    if o["quiet"]:
        for tag, digest in pushed:
            print(f"{tag}: digest: {digest}")
    return 0


def _full_name(ref) -> str:  # noqa: ANN001 - a Reference
    """The name docker prints last: with the registry host when one was given."""
    base = f"{ref.domain}/{ref.path}" if ref.domain else ref.repository
    return base + (f"@{ref.digest}" if ref.digest and not ref.tag else f":{ref.tag or 'latest'}")
