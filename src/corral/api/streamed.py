"""Work that reports progress through a callback (pull, push), turned into an iterator of its messages.

A pull calls `emit(msg)` from its download threads as it goes; a caller that streams the messages on
(docker-py's `images.push(stream=True)`, the API server's pull and push answers) wants them one by one
as they come, and the work's error where it iterates, after the last message: so the API server can
still answer with a status code when the work failed before saying anything (dockerd does the same),
and in the stream once it has. A consumer that stops iterating (a client that hung up) stops the work
at its next message, as dockerd cancels a pull whose client went away.
"""
from __future__ import annotations

import queue
import threading

from corral.errors import CorralError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    Work = Callable[[Callable[[dict], None]], object]


class Abandoned(CorralError):
    """The messages' reader went away: the work stops."""


def messages(work: Work) -> Iterator[dict]:
    """Run work(emit) in a thread; yield each message it emits, then raise its error if it failed."""
    box: queue.Queue = queue.Queue()
    end = object()
    stopped = threading.Event()
    failure: list[BaseException] = []

    def emit(msg: dict) -> None:
        if stopped.is_set():
            raise Abandoned("stopped: nobody reads its progress any more")
        box.put(msg)

    def run() -> None:
        try:
            work(emit)
        except BaseException as e:  # noqa: BLE001 - raised again in the iterating thread
            failure.append(e)
        finally:
            box.put(end)

    threading.Thread(target=run, name="progress", daemon=True).start()
    try:
        while (msg := box.get()) is not end:
            yield msg
    finally:
        stopped.set()
    if failure:
        raise failure[0]


def error_message(e: BaseException) -> dict:
    """docker's in-band error: errorDetail for the docker CLI (it fails only on that), error for docker-py."""
    return {"errorDetail": {"message": str(e)}, "error": str(e)}
