"""Docker's progress messages for pull and push: the JSON objects docker's API streams, built in one place.

`{"status": "Downloading", "progressDetail": {"current": 1200000, "total": 2300000},
"progress": "[=========>        ]  1.2MB/2.3MB", "id": "a3ed95caeb02"}`: the CLI draws them (cli/registry_cmds.py),
the Python API hands them to the caller (`images.push(stream=True, decode=True)`).
"""
from __future__ import annotations

import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    Emit = Callable[[dict], None]

WIDTH = 50


def human(size: float) -> str:
    """docker's go-units HumanSize: decimal units, four significant digits ("12.34MB", "512B")."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.4g}{units[i]}"


def bar(current: int, total: int) -> str:
    """docker's bar: `[====>     ]  12.3MB/45.6MB` (without a known total, the bytes alone)."""
    if total <= 0:
        return human(current)
    filled = min(WIDTH, int(WIDTH * current / total))
    return f"[{'=' * filled}>{' ' * (WIDTH - filled)}] {human(current):>8}/{human(total)}"


def status(text: str, ident: str = "") -> dict:
    msg: dict = {"status": text}
    if ident:
        msg["progressDetail"], msg["id"] = {}, ident
    return msg


def moving(text: str, ident: str, current: int, total: int) -> dict:
    return {"status": text, "progressDetail": {"current": current, "total": total},
            "progress": bar(current, total), "id": ident}


class Meter:
    """Byte counts of one blob reported at most ten times a second (and once at the end), so a fast
    transfer is not slowed by drawing it."""

    def __init__(self, emit: Emit, text: str, ident: str, total: int) -> None:
        self.emit, self.text, self.ident, self.total = emit, text, ident, total
        self.last = 0.0

    def update(self, current: int) -> None:
        now = time.monotonic()
        if now - self.last >= 0.1 or current >= self.total:
            self.last = now
            self.emit(moving(self.text, self.ident, current, self.total))


def locked(emit: Emit | None) -> Emit:
    """`emit` made safe to call from the download threads (or a no-op)."""
    if emit is None:
        return lambda msg: None
    lock = threading.Lock()

    def call(msg: dict) -> None:
        with lock:
            emit(msg)
    return call
