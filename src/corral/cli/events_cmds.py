"""`corral events`: the store's events journal, as docker's `events` prints it, following new ones live.

Lines as docker's CLI writes them (`2026-12-05T05:20:00.123456789Z container start ID (image=busybox,
name=web)`, in the local zone), `--format json` as the Engine API's JSON, or a Go template over
docker's events.Message (.Type, .Action, .Actor.ID, .Actor.Attributes, .Time, .TimeNano, .Scope and
the legacy .Status, .ID, .From). Without --until it runs until interrupted.
"""
from __future__ import annotations

import sys
import time

from corral.store.root import Store


class _Message:
    """A template's view of one event: docker's Go field names (the JSON keys are the wire's)."""

    def __init__(self, msg: dict) -> None:
        self.Status, self.ID, self.From = msg.get("status", ""), msg.get("id", ""), msg.get("from", "")
        self.Type, self.Action, self.Actor = msg.get("Type", ""), msg.get("Action", ""), msg.get("Actor", {})
        self.Scope, self.Time, self.TimeNano = msg.get("scope", ""), msg.get("time", 0), msg.get("timeNano", 0)


_Message.__name__ = "events.Message"  # as Go names the type in "can't evaluate field X in type events.Message"


def line(msg: dict) -> str:
    """docker's prettyPrintEvent: the time with nanoseconds in the local zone, type, action, actor ID, then
    the attributes sorted by key in parentheses."""
    t_ns = msg["timeNano"]
    local = time.localtime(t_ns // 1_000_000_000)
    offset, sign = abs(local.tm_gmtoff), "+" if local.tm_gmtoff > 0 else "-"
    zone = "Z" if offset == 0 else f"{sign}{offset // 3600:02d}:{offset % 3600 // 60:02d}"
    text = f"{time.strftime('%Y-%m-%dT%H:%M:%S', local)}.{t_ns % 1_000_000_000:09d}{zone} " \
           f"{msg['Type']} {msg['Action']} {msg['Actor']['ID']}"
    attrs = msg["Actor"]["Attributes"]
    if attrs:
        text += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return text


def events(o: dict, args: list[str]) -> int:
    from corral.api import events as journal
    from corral.api.filters import parse

    show = _printer(o["format"])
    if show is None:
        return 64
    wanted = journal.check_filters(parse(o["filter"]))
    for msg in journal.stream(Store(), o["since"], o["until"], wanted):
        sys.stdout.write(show(msg) + "\n")
        sys.stdout.flush()
    return 0


def _printer(spec: str | None):  # noqa: ANN202 - Callable[[dict], str], or None after reporting a bad template
    """How each event is written: docker's line, its JSON, or a template checked first on an empty
    message (docker's `Error parsing format: ...`, exit status 64, before any event)."""
    if not spec:
        return line
    if spec in ("json", "{{json .}}"):
        from corral import fastjson as json

        return json.dumps
    from corral.cli import template

    try:
        tmpl = template.Template(spec)
        tmpl.apply(_Message({"Actor": {"ID": "", "Attributes": {}}}))
    except template.TemplateError as e:
        print(f"Error parsing format: {e}", file=sys.stderr)
        return None
    return lambda msg: template.apply(tmpl, _Message(msg))
