"""Reading Kubernetes YAML as hostile input, and writing it.

A file handed to `kube play` may come from anywhere, so it is read with PyYAML's safe loader and
three more guards: a size bound checked before parsing (a Kubernetes object is at most about
1.5 MiB, etcd's limit, so MAX_BYTES leaves room for many), no anchors or aliases (a "billion laughs"
document is a few hundred bytes that expand to gigabytes when walked; Kubernetes files do not need
them), and no duplicate mapping keys (which PyYAML would resolve silently to the last one, where
kubectl refuses them). Too deep a nesting ends PyYAML's recursion: that too is one line.
"""
from __future__ import annotations

import yaml

from corral.errors import InvalidArgument

MAX_BYTES = 16 << 20


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing aliases and duplicate keys."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(f"line {event.start_mark.line + 1}: YAML alias *{event.anchor}: anchors and aliases "
                           "are not accepted (a guard against alias bombs); write the values out")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise _Refused(f"line {key_node.start_mark.line + 1}: a mapping key must be a plain value") from None
            if duplicate:
                raise _Refused(f"line {key_node.start_mark.line + 1}: key {key!r} appears twice in one mapping")
        return super().construct_mapping(node, deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)


class _Refused(Exception):
    pass


def read(path: str, limit: int = MAX_BYTES) -> str:
    """The text of `path` (`-`: stdin), refused past `limit` bytes before any of it is parsed."""
    import sys

    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
    except OSError as e:
        raise InvalidArgument(f"cannot read {path}: {e.strerror}") from None
    if len(data) > limit:
        raise InvalidArgument(f"{path} is larger than {limit >> 20} MiB: that is no Kubernetes file corral plays "
                              "(an object is at most about 1.5 MiB); split it")
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise InvalidArgument(f"{path} is not UTF-8 text (byte {e.start}): give a Kubernetes YAML file") from None


def load_all(text: str, source: str) -> list[dict]:
    """The documents of `text` (empty ones dropped), each a mapping; one clear line for anything else."""
    if len(text.encode()) > MAX_BYTES:
        raise InvalidArgument(f"{source} is larger than {MAX_BYTES >> 20} MiB: split it")
    try:
        docs = list(yaml.load_all(text, Loader=_Loader))  # noqa: S506 - _Loader is a SafeLoader
    except _Refused as e:
        raise InvalidArgument(f"{source}: {e}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise InvalidArgument(f"{source}:{where}: not valid YAML: {_line(e.problem or e.context)}") from None
    except yaml.YAMLError as e:  # the reader's: a character YAML does not allow
        raise InvalidArgument(f"{source}: not valid YAML: {_line(str(e).split(' in ')[0])}") from None
    except RecursionError:
        raise InvalidArgument(f"{source}: nested too deeply to be a Kubernetes object") from None
    found = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise InvalidArgument(f"{source}: document {i + 1} is a {type(doc).__name__}, not a Kubernetes object "
                                  "(a mapping with apiVersion and kind)")
        found.append(doc)
    if not found:
        raise InvalidArgument(f"{source}: no Kubernetes object in it")
    return found


def _line(text: object) -> str:
    return " ".join(str(text).split())


class _Dumper(yaml.SafeDumper):
    """The safe dumper, writing a value used twice twice: never an anchor and alias, which the reader
    above refuses (and kubectl users do not expect)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def dump_all(docs: list[dict], header: str = "") -> str:
    """The documents as one YAML stream, keys in the order given (apiVersion, kind, metadata, spec)."""
    body = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False, explicit_start=True)
    return header + body
