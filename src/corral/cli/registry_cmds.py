"""Registry verbs: pull (push, login and logout join it), with docker's progress display.

On a terminal each layer keeps one line, redrawn in place as its status and bar change (docker's
display); otherwise each status change is one plain line, and the byte counts are left out.
"""
from __future__ import annotations

import sys

from corral.api import Host


class Display:
    """Draws docker's progress messages (registry/progress.py) on stdout."""

    def __init__(self, stream=None, tty: bool | None = None) -> None:  # noqa: ANN001 - a text stream
        self.out = stream or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.lines: dict[str, int] = {}  # id → its line, counted from the first of the block
        self.last: dict[str, str] = {}

    def __call__(self, msg: dict) -> None:
        ident, text = msg.get("id", ""), msg.get("status", "")
        if not ident:
            self.lines.clear()
            self.out.write(text + "\n")
        elif not self.tty:
            if self.last.get(ident) != text:
                self.last[ident] = text
                self.out.write(f"{ident}: {text}\n")
        else:
            line = f"{ident}: {text} {msg.get('progress', '')}".rstrip()
            if ident not in self.lines:
                self.lines[ident] = len(self.lines)
                self.out.write(line + "\n")
            else:
                up = len(self.lines) - self.lines[ident]
                self.out.write(f"\x1b[{up}A\r\x1b[2K{line}\x1b[{up}B\r")
        self.out.flush()


def pull(o: dict, args: list[str]) -> int:
    from corral.image.reference import parse

    show = (lambda msg: None) if o["quiet"] else Display()
    images = Host().pull(args[0], platform=o["platform"], all_tags=o["all_tags"], progress=show)
    ref = parse(args[0])
    if o["quiet"]:
        print(ref.familiar if not o["all_tags"] else ref.repository)
    else:
        print(_full_name(ref) if not o["all_tags"] else ref.repository)
    return 0 if images or o["all_tags"] else 1


def _full_name(ref) -> str:  # noqa: ANN001 - a Reference
    """The name docker prints last: with the registry host when one was given."""
    base = f"{ref.domain}/{ref.path}" if ref.domain else ref.repository
    return base + (f"@{ref.digest}" if ref.digest and not ref.tag else f":{ref.tag or 'latest'}")
