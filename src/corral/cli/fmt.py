"""Human output: tables, "3 minutes ago", container status lines, as the docker CLI shows them."""
from __future__ import annotations

import sys
import time

from corral.timestamps import human_duration
from corral.timestamps import parse as parse_time


def local_rfc3339(seconds: float) -> str:
    """Go's time.RFC3339 of a Unix time in the local zone (2024-05-01T12:00:00+02:00, or ...Z in UTC)."""
    t = time.localtime(seconds)
    off = t.tm_gmtoff or 0
    zone = "Z" if off == 0 else f"{'+' if off > 0 else '-'}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + zone


def ago(text: str) -> str:
    return human_duration(time.time() - parse_time(text)) + " ago"


def status(c) -> str:  # noqa: ANN001 - a corral.api.Container
    return c.status_text


def ports(published: dict[str, list[dict[str, str]]]) -> str:
    """Docker's PORTS column: 0.0.0.0:8082->80/tcp, …"""
    return ", ".join(f"{b['HostIp']}:{b['HostPort']}->{key}" for key, bindings in published.items() for b in bindings)


def size(n: float) -> str:
    """Docker's units: powers of 1000, three significant digits (1.23MB, 512B)."""
    return _scaled(n, 1000, ("B", "kB", "MB", "GB", "TB"), 3)


def binary_size(n: float) -> str:
    """Docker's BytesSize: powers of 1024, four significant digits (1.953MiB, 23.54GiB, 0B)."""
    return _scaled(n, 1024, ("B", "KiB", "MiB", "GiB", "TiB"), 4)


def _scaled(n: float, base: int, units: tuple[str, ...], digits: int) -> str:
    for unit in units[:-1]:
        if n < base:
            return f"{n:.{digits}g}{unit}"
        n /= base
    return f"{n:.{digits}g}{units[-1]}"


def deleted(title: str, lines: list[str]) -> str:
    """A block of a prune's report as docker prints it (the title, a line each, a blank line), or ""."""
    return f"{title}\n" + "\n".join(lines) + "\n\n" if lines else ""


def deleted_images(found: list[dict[str, str]]) -> str:
    """docker's "Deleted Images:" block of a prune (untagged: NAME, deleted: ID lines), or ""."""
    return deleted("Deleted Images:", [f"untagged: {d['Untagged']}" if "Untagged" in d else f"deleted: {d['Deleted']}"
                                       for d in found])


def container_size(rw: int, rootfs: int) -> str:
    """docker's ps SIZE column: "12B (virtual 1.23MB)"."""
    return f"{size(rw)} (virtual {size(rootfs)})"


def table(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)


def tabwriter(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter as docker's tables use it (minwidth 10, padding 3, spaces): tab-terminated
    cells aligned in columns, each column block as wide as its widest cell plus the padding."""
    lines = [line.split("\t") for line in text.split("\n")]
    out = [[] for _ in lines]  # type: list[list[str]]

    def layout(first: int, end: int, column: int) -> None:
        line = first
        while line < end:
            if column >= len(lines[line]) - 1:
                line += 1
                continue
            block = line
            width = minwidth
            while line < end and column < len(lines[line]) - 1:
                width = max(width, len(lines[line][column]) + padding)
                line += 1
            for i in range(block, line):
                out[i].append(lines[i][column].ljust(width))
            layout(block, line, column + 1)

    layout(0, len(lines), 0)
    return "\n".join("".join(cells) + line[-1] for cells, line in zip(out, lines))


def render_rows(rows: list[dict], spec: str | None, columns: tuple[str, ...], headers: dict[str, str]) -> str:
    """The one way list commands print rows (dicts of docker's fields): the default table (`columns`,
    without the template engine), `--format table`, `--format json` (one object a line), or a Go
    template (with a `table ` prefix: aligned, under upper-case headers), each row on its own line."""
    if spec is None or spec.strip() == "table":
        lines = ["\t".join(headers.get(c, c.upper()) for c in columns)]
        lines += ["\t".join(str(r[c]() if callable(r[c]) else r[c]) for c in columns) for r in rows]
        return tabwriter("\n".join(lines) + "\n")
    from corral.cli import template

    table = spec.startswith("table")
    text = "{{json .}}" if spec.strip() == "json" else spec[5:] if table else spec
    text = text.strip(" ").replace("\\t", "\t").replace("\\n", "\n")  # docker's escapes in --format
    tmpl = template.parse(text)
    body = "".join(template.apply(tmpl, row) + "\n" for row in rows)
    if not table:
        return body
    header = tmpl.apply_partial(headers, template.HEADER_FUNCS)
    return tabwriter(header + "\n" + body)


def print_rows(rows: list[dict], spec: str | None, columns: tuple[str, ...], headers: dict[str, str]) -> None:
    import sys

    sys.stdout.write(render_rows(rows, spec, columns, headers))


class Row(dict):
    """One line of a list command: docker's fields by name (a callable value is computed only when a
    template asks for it), and docker's one field with an argument, `{{.Label "KEY"}}`."""

    def __init__(self, labels: dict[str, str] | None = None, **fields: object) -> None:
        super().__init__(fields)
        self.labels = labels or {}

    def Label(self, key: str) -> str:  # noqa: N802 - docker's field name
        return self.labels.get(key, "")


def labels(found: dict[str, str] | None) -> str:
    """docker's Labels field: k=v pairs joined with commas (sorted here, so the same every time)."""
    return ",".join(f"{k}={v}" for k, v in sorted((found or {}).items()))


def go_time(text: str) -> str:
    """A time as Go's Time.String() shows it in the local zone (docker's CreatedAt fields)."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(parse_time(text)))


def inspector(spec: str | None):  # noqa: ANN201 - a function of the found objects to the exit status
    """What inspect commands print, made before they look anything up (a bad template is reported
    first, as docker's): the objects as one JSON list, or with -f a Go template executed on each
    object, a newline after each. An object the template fails on is reported and the rest printed;
    the printer returns 1 when the template failed on any."""
    import sys

    if spec is None:
        def as_json(found: list[dict]) -> int:
            import json

            print(json.dumps(found, indent=4))
            return 0
        return as_json
    from corral.cli import template

    tmpl = template.parse(spec)

    def as_template(found: list[dict]) -> int:
        status = 0
        for obj in found:
            try:
                sys.stdout.write(template.apply(tmpl, obj) + "\n")
            except template.TemplateError as e:
                print(e, file=sys.stderr)
                status = 1
        return status
    return as_template


class Display:
    """Draws docker's progress messages (registry/progress.py) for pull and push, on stdout or stderr.

    On a terminal each layer keeps one line, redrawn in place as its status and bar change (docker's
    display); otherwise each status change is one plain line, and the byte counts are left out.
    """

    def __init__(self, stream=None, tty: bool | None = None) -> None:  # noqa: ANN001 - a text stream
        self.out = stream or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.lines: dict[str, int] = {}  # id → its line, counted from the first of the block
        self.last: dict[str, str] = {}

    def __call__(self, msg: dict) -> None:
        if "aux" in msg:  # data for the program (a push's digest), not for the display, as docker's
            return
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
