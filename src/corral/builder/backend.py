"""What a build needs from the engine under it: the store, and one container per RUN step.

Why a protocol: builder/ sits under api/ (docker-py's `client.images.build()` is an API verb,
so `Host.build()` drives a `Build`), and imports point downward only, so the builder must not
import api/. Everything else a build does (reading images and layers, writing layers,
registering images, the build cache) goes through image/ and store/, below both. The one
thing it cannot do from there is a RUN step: that needs a container created, started and
watched by the monitor, which is api/'s use-case. So the builder names here the little it
uses, and `Host` provides it as it is. This is BuildKit's seam: the Dockerfile frontend
hands its steps to a worker's executor and never calls the daemon. A test can hand a
`Build` a fake that records the steps.

Types only: builder.py imports this module under TYPE_CHECKING, so a build costs no import.
"""
from __future__ import annotations

from typing import Iterator, Protocol

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.store.root import Store


class StepOutput(Protocol):
    """A RUN step's output as it comes, (1 for stdout or 2 for stderr, bytes); exit_code once it ends."""

    exit_code: int | None

    def __iter__(self) -> Iterator[tuple[int, bytes]]: ...


class StepContainer(Protocol):
    """The container a RUN step runs in, created from the state the step starts from."""

    @property
    def short_id(self) -> str: ...

    def start(self, *, stream: bool) -> StepOutput:
        """Run the command; the builder always asks for stream=True (the output as it comes)."""

    def sandbox(self) -> tuple[str, list[str], set[str]]:
        """The upper dir, the image's layer dirs (top first), the mount points to leave out of a layer."""

    def remove(self, force: bool = False) -> None: ...


class Backend(Protocol):
    """The engine a build runs on (`corral.api.Host` is one)."""

    store: Store

    def image_for(self, ref: str, pull: str = "missing", progress=None,  # noqa: ANN001
                  registry_auths: dict[str, dict] | None = None) -> str:
        """The image ID `ref` names, pulled from its registry first when the store lacks it (or always),
        with the credentials registry_auths has for its registry."""

    def create_container(self, image: str, command: list[str] | None = None, *, entrypoint: list[str],
                         env: list[str], network: str, binds: list[str], user: str | None,
                         workdir: str | None, image_volumes: bool) -> StepContainer:
        """A created (not started) container from `image` with the step's options, as `Host` makes one;
        image_volumes=False: the image's VOLUMEs get no volume (a RUN step writes into the layer, as BuildKit)."""
