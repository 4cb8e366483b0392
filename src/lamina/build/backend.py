"""BuildBackend: everything the builder needs from the engine, as a Protocol plus plain values.

The builder (``lamina.build.builder``) drives Dockerfile steps through this seam only: it never
touches a storage driver, a runtime or the image store itself. ``lamina.engine.build`` implements
it with the driver + crun; ``lamina.testing.build.FakeBuildBackend`` with plain directories.

Must not import ``container``, ``driver`` or ``runtime`` (ARCHITECTURE §2).

Contract:

* ``base_image(name)`` raises ``ImageNotFound``; the returned config is the full image config dict.
* ``open_layer(parent, epoch=)`` yields an ``RwLayer`` whose ``rootfs`` is the writable merged view on
  ``parent``'s chain; leaving the ``with`` block removes it unless ``commit()`` took it over (and
  removes it on error too, so a failed build leaves no rw layer, mount or bundle behind).
* ``RwLayer.commit()`` returns the stored layer, or ``None`` when nothing changed (BuildKit then
  records an ``empty_layer`` history row instead of an empty layer).
* ``view(layer)`` yields a read-only path of a layer chain (``None``: an empty tree).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = ["BaseImage", "BindMount", "BuildBackend", "LayerRef", "ProcessSpec", "RwLayer"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRef:
    """A stored read-only layer: its ChainID (identity) and DiffID."""

    chain_id: str
    diff_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseImage:
    """A FROM image: ``image_id`` (config digest), its config dict and its layers, bottom first."""

    image_id: str
    config: dict[str, Any]
    layers: tuple[LayerRef, ...]

    @property
    def top(self) -> LayerRef | None:
        return self.layers[-1] if self.layers else None


@dataclass(frozen=True, slots=True, kw_only=True)
class BindMount:
    """A mount for one RUN step: a host directory (bind/cache) or a tmpfs (``source`` None)."""

    kind: Literal["bind", "tmpfs"]
    target: str
    source: Path | None = None
    readonly: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSpec:
    """What one RUN executes: argv, ``K=V`` env, cwd, user (``""`` = root), network and mounts."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str = "/"
    user: str = ""
    network: Literal["default", "none", "host"] = "default"
    mounts: tuple[BindMount, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)


OutputSink = Callable[[bytes], None]


class RwLayer(Protocol):
    """A writable layer for one step (RUN, COPY/ADD, WORKDIR).

    Optional capability (looked up with ``getattr``): ``new_dir(path, uid, gid) -> Path | None``
    makes the image directory ``path`` (missing in the parent) somewhere writes reach the layer
    without the merged view, or returns None; ``lamina.build.dispatch`` then copies into it.
    """

    @property
    def rootfs(self) -> Path:
        """The writable merged view of the layer on its parents."""
        ...

    def run(self, spec: ProcessSpec, output: OutputSink) -> int:
        """Run the process in ``rootfs``; stream its stdout+stderr chunks to ``output``; exit code."""
        ...

    def commit(self) -> LayerRef | None:
        """Store the changes as a layer (deterministic tar at the build epoch); None if unchanged."""
        ...


class BuildBackend(Protocol):
    """The engine services a build uses."""

    def base_image(self, name: str) -> BaseImage: ...
    def image_exists(self, image_id: str) -> bool: ...
    def layer_exists(self, layer: LayerRef) -> bool: ...
    def open_layer(self, parent: LayerRef | None, *, epoch: int) -> AbstractContextManager[RwLayer]: ...
    def view(self, layer: LayerRef | None) -> AbstractContextManager[Path]: ...
    def cache_mount_dir(self, cache_id: str) -> Path: ...
    def scratch_dir(self) -> Path: ...
    def stack(self, layer: LayerRef, parent: LayerRef | None) -> LayerRef: ...
    def store_image(self, config_bytes: bytes, layers: Sequence[LayerRef], tags: Sequence[str]) -> str: ...

