"""Builder: Dockerfile text + context -> image, one stage and one step at a time, with the cache.

``Builder(backend, cache=..., progress=...).build(request)`` parses the Dockerfile, resolves the
stages the target needs (unused stages are skipped), loads base images, runs ONBUILD triggers of
a base, dispatches every instruction (``lamina.build.dispatch``) and stores the final image.

Layer steps (RUN, COPY, ADD, WORKDIR) go through ``layer_step``: the step's ``CacheKey`` chains
on the previous key; a hit is used only if its layer still exists and was built on the same parent
layer (so a rebuilt, different parent never picks up a stale child); a miss runs the work in a
fresh rw layer and records the result once the step finished. Metadata steps only extend the key
chain and add an ``empty_layer`` history row.

Reproducibility: every timestamp is the build epoch — ``SOURCE_DATE_EPOCH`` when given, else the
base image's ``created`` time (0 for ``FROM scratch``) — and layer tars clamp mtimes to it.

Must not import ``container``, ``driver`` or ``runtime``; everything runs through ``BuildBackend``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina._internal.logs import get_logger
from lamina.build import instructions as ins
from lamina.build.backend import BaseImage, BuildBackend, LayerRef
from lamina.build.cache import CacheHit, CacheKey, CacheStore, FileHasher
from lamina.build.context import SourceTree
from lamina.build.dispatch import (
    DISPATCH,
    StageState,
    Work,
    copy_display,
    layer_steps,
    new_image_config,
    onbuild_instructions,
)
from lamina.build.progress import Progress, Vertex
from lamina.build.record import BuildResult, export_vertex
from lamina.build.shell import BuildArgs, expand_instruction
from lamina.errors import BuildFailed, DockerfileError, LaminaError

__all__ = ["BuildRequest", "BuildResult", "Builder"]

log = get_logger(__name__)
LINK_ROOT = "link"   # the parent of a COPY --link step's cache key: none of the steps before it


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildRequest:
    """One ``lamina build``: Dockerfile text, context tree (None: no context) and docker's flags."""

    dockerfile: str
    dockerfile_name: str = "Dockerfile"
    context: SourceTree | None = None
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str | None] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = "default"
    cache_explain: bool = False
    epoch: int | None = None
    platform: str = "linux/amd64"


class Builder:
    """Runs one build at a time through ``backend``; ``cache`` None disables the on-disk cache."""

    def __init__(self, backend: BuildBackend, *, cache: CacheStore | None = None,
                 progress: Progress | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.progress = progress or Progress()
        self.hasher = FileHasher(cache)
        self.args = BuildArgs()
        self.file = "Dockerfile"
        self.escape = "\\"
        self.network = "default"
        self.request = BuildRequest(dockerfile="")
        self.stages: dict[int, StageState] = {}
        self.dockerfile: ins.Dockerfile | None = None
        self.counts = {"cached": 0, "built": 0}
        self.rebuilt: set[str] = set()
        self.step_vertices: set[int] = set()   # progress vertices of layer steps (a replay shows CACHED)

    # ------------------------------------------------------------ the build
    def build(self, request: BuildRequest) -> BuildResult:
        """Build and store the image; raises DockerfileError, BuildFailed, ImageNotFound, …"""
        self.request, self.file, self.network = request, request.dockerfile_name, request.network
        self.args = BuildArgs(request.build_args, target_platform=request.platform)
        df = self._parse(request)
        target = df.stage(request.target) if request.target else df.stages[-1]
        needed = self._needed(df, target)
        bases = self._load_bases(df, needed)
        if request.context is not None and self._uses_context(df, needed):
            self._context_vertices(request.context)
        for stage in needed:
            self.stages[stage.index] = self._build_stage(stage, bases.get(stage.index), len(needed) > 1)
        final = self.stages[target.index]
        image_id = self._export(final, request)
        self.hasher.save()
        warnings = tuple(self.args.unused_warnings())
        for text in warnings:
            self.progress.warning(text)
        return BuildResult(image_id=image_id, tags=request.tags, cached=self.counts["cached"],
                           built=self.counts["built"], warnings=warnings)

    def _parse(self, request: BuildRequest) -> ins.Dockerfile:
        vertex = self.progress.vertex(f"[internal] load build definition from {request.dockerfile_name}")
        vertex.status(f"transferring dockerfile: {len(request.dockerfile.encode())}B done")
        try:
            df = ins.parse_dockerfile(request.dockerfile, request.dockerfile_name)
            for arg in df.meta_args:
                arg = expand_instruction(arg, self.args.meta_env(), df.escape, df.file)
                self.args.add_meta(arg.name, arg.default)
        except DockerfileError as exc:
            vertex.error(str(exc))
            raise
        vertex.done()
        for warning in df.warnings:
            self.progress.warning(warning)
        self.dockerfile, self.escape = df, df.escape
        return df

    def _base_name(self, stage: ins.Stage) -> str:
        assert stage.from_ is not None
        return expand_instruction(stage.from_, self.args.meta_env(), self.escape, self.file).image

    def _stage_ref(self, df: ins.Dockerfile, name: str, before: int) -> ins.Stage | None:
        for stage in df.stages[:before]:
            if stage.name == name.lower() or str(stage.index) == name:
                return stage
        return None

    def _needed(self, df: ins.Dockerfile, target: ins.Stage) -> list[ins.Stage]:
        """The target and the stages it depends on (FROM, COPY --from, RUN --mount from), in order."""
        wanted: set[int] = set()
        todo = [target]
        while todo:
            stage = todo.pop()
            if stage.index in wanted:
                continue
            wanted.add(stage.index)
            for ref in self._stage_refs(stage):
                dep = self._stage_ref(df, ref, stage.index)
                if dep is not None:
                    todo.append(dep)
        return [s for s in df.stages if s.index in wanted]

    def _stage_refs(self, stage: ins.Stage) -> Iterator[str]:
        yield self._base_name(stage)
        env = self.args.meta_env()
        for instr in stage.instructions:
            if isinstance(instr, ins.Copy) and instr.from_:
                yield expand_instruction(instr, env, self.escape, self.file).from_ or ""
            if isinstance(instr, ins.Run):
                yield from (m.from_ for m in instr.mounts if m.from_)

    def _load_bases(self, df: ins.Dockerfile, needed: list[ins.Stage]) -> dict[int, BaseImage | None]:
        out: dict[int, BaseImage | None] = {}
        for stage in needed:
            name = self._base_name(stage)
            if name == "scratch" or self._stage_ref(df, name, stage.index) is not None:
                out[stage.index] = None
                continue
            vertex = self.progress.vertex(f"[internal] load metadata for {name}")
            try:
                out[stage.index] = self.backend.base_image(name)
            except LaminaError as exc:
                vertex.error(str(exc))
                raise
            vertex.done()
        return out

    def _uses_context(self, df: ins.Dockerfile, needed: list[ins.Stage]) -> bool:
        for stage in needed:
            for instr in stage.instructions:
                if isinstance(instr, ins.Copy) and not instr.from_ and instr.sources:
                    return True
                if isinstance(instr, ins.Add) or (isinstance(instr, ins.Run) and any(
                        m.type == "bind" and not m.from_ for m in instr.mounts)):
                    return True
        return False

    def _context_vertices(self, context: SourceTree) -> None:
        vertex = self.progress.vertex("[internal] load .dockerignore")
        count = len(context.matcher.patterns) if context.matcher else 0
        vertex.status(f"transferring context: {count} patterns done")
        vertex.done()
        vertex = self.progress.vertex("[internal] load build context")
        vertex.status("transferring context: done")
        vertex.done()

    # ------------------------------------------------------------ stages
    def _build_stage(self, stage: ins.Stage, base: BaseImage | None, multi: bool) -> StageState:
        self.args.enter_stage()
        state = self._start_stage(stage, base, multi)
        triggers = list(onbuild_instructions(list(state.config.get("OnBuild") or []), self.file))
        if triggers:
            state.config["OnBuild"] = None
            state.total += layer_steps(tuple(triggers))
        for instr in [*triggers, *stage.instructions]:
            DISPATCH[type(instr)](self, state, instr)
        return state

    def _start_stage(self, stage: ins.Stage, base: BaseImage | None, multi: bool) -> StageState:
        name = stage.name or f"stage-{stage.index}"
        label = f"{name} " if multi else ""
        total = 1 + layer_steps(stage.instructions)
        base_name = self._base_name(stage)
        parent = self._stage_ref(self.dockerfile, base_name, stage.index) if self.dockerfile else None
        if parent is not None:
            src = self.stages[parent.index]
            return StageState(name=name, label=label, image=json.loads(json.dumps(src.image)),
                              layers=list(src.layers), key=src.key, epoch=src.epoch, total=total)
        epoch = self._epoch(base)
        image = new_image_config(base, _scratch_config(epoch))
        inputs = {"image": base_name, "image_id": base.image_id if base else "scratch",
                  "platform": stage.platform or ""}
        key = CacheKey.make("", "FROM", inputs)
        state = StageState(name=name, label=label, image=image, layers=list(base.layers) if base else [],
                           key=key.digest, epoch=epoch, total=total)
        if base is not None:
            vertex = self.progress.vertex(f"[{label}1/{total}] FROM {base_name}")
            self._explain_new(state, vertex, key, {}, record_only=not self.request.cache_explain)
            vertex.done()
        elif self.cache is not None:
            self.cache.record(key, CacheHit(layer=None, parent_chain=""))
        return state

    def _epoch(self, base: BaseImage | None) -> int:
        if self.request.epoch is not None:
            return self.request.epoch
        created = (base.config.get("created") if base else None) or ""
        try:
            return int(dt.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return 0

    def _explain_new(self, state: StageState, vertex: Vertex | None, key: CacheKey,
                     details: Mapping[str, str], *, record_only: bool = False) -> None:
        """Record a step that makes no layer; explain it if its key is new and explaining is on."""
        if self.cache is None:
            return
        if not record_only and not self.cache.known(key.digest):
            text = self.cache.explain(key, details)
            if vertex is not None:
                vertex.explain(text)
        self.cache.record(key, CacheHit(layer=None, parent_chain=""), details)

    # ------------------------------------------------------------ StepHost
    def meta(self, state: StageState, instr: ins.Instruction, created_by: str) -> None:
        """A metadata instruction: extend the key chain and add an empty-layer history row."""
        key = CacheKey.make(state.key, type(instr).keyword, {"instruction": created_by})
        if self.cache is not None and self.request.cache_explain and not self.cache.known(key.digest):
            where = f"{self.file}:{instr.location[0]} {created_by}"
            state.pending_explain.append(f"{where}: {self.cache.explain(key, {})}")
        if self.cache is not None:
            self.cache.record(key, CacheHit(layer=None, parent_chain=""))
        state.key = key.digest
        self._history(state, None, created_by)

    def _history(self, state: StageState, layer: LayerRef | None, created_by: str) -> None:
        from lamina.image.mutate import append_layer, timestamp
        state.image = append_layer(state.image, _digest(layer.diff_id) if layer else None,
                                   created=timestamp(state.epoch), created_by=created_by)
        if layer is not None:
            state.layers.append(layer)

    def layer_step(self, state: StageState, instr: ins.Instruction, *, kind: str, created_by: str,
                   inputs: Mapping[str, str], details: Mapping[str, str], work: Work,
                   link: bool = False) -> None:
        """A step that may make a layer: serve it from the cache or run ``work`` in a rw layer."""
        state.step += 1
        vertex = self.progress.vertex(f"[{state.label}{state.step}/{state.total}] "
                                      f"{copy_display(instr.original)}")
        self.step_vertices.add(vertex.number)
        if link:
            self._linked_step(state, instr, vertex, kind, created_by, {**inputs, "link": "true"}, details, work)
            return
        key = CacheKey.make(state.key, kind, {**inputs, "instruction": created_by,
                                              "epoch": str(state.epoch)})
        layer, cached = self._cached_or_run(state, instr, vertex, key, details, work,
                                            parent_chain=state.top.chain_id if state.top else "")
        self._finish(state, key, layer, created_by)
        if not cached:
            vertex.done()

    def _cached_or_run(self, state: StageState, instr: ins.Instruction, vertex: Vertex, key: CacheKey,
                       details: Mapping[str, str], work: Work, *, parent_chain: str,
                       empty: bool = False) -> tuple[LayerRef | None, bool]:
        """The step's layer and whether it came from the cache; a run is recorded there."""
        hit = self._lookup(key, parent_chain)
        if hit is not None:
            vertex.cached()
            self.counts["cached"] += 1
            return hit.layer, True
        self._explain_miss(state, vertex, key, details)
        layer = self._run_work(state, instr, vertex, work, empty=empty)
        if self.cache is not None:
            self.cache.record(key, CacheHit(layer=layer, parent_chain=parent_chain), details)
        self.counts["built"] += 1
        self.rebuilt.add(key.digest)
        return layer, False

    def _linked_step(self, state: StageState, instr: ins.Instruction, vertex: Vertex, kind: str, created_by: str,
                     inputs: Mapping[str, str], details: Mapping[str, str], work: Work) -> None:
        """``COPY --link``: the layer is built on an empty tree and cached without the steps before it.

        So a changed base or an earlier rebuilt step does not rebuild it: its layer is stacked on
        whatever is below now (applied from its blob, no copy from the context). Later steps still
        key on everything before, the linked step included.
        """
        key = CacheKey.make(LINK_ROOT, kind, {**inputs, "instruction": created_by, "epoch": str(state.epoch)})
        layer, cached = self._cached_or_run(state, instr, vertex, key, details, work, parent_chain="", empty=True)
        stacked = self.backend.stack(layer, state.top) if layer is not None else None
        self._finish(state, CacheKey.make(state.key, "LINK", {"step": key.digest}), stacked, created_by)
        if not cached:
            vertex.done()

    def _lookup(self, key: CacheKey, parent_chain: str) -> CacheHit | None:
        if self.cache is None or self.request.no_cache:
            return None
        hit = self.cache.lookup(key)
        if hit is None or hit.parent_chain != parent_chain:
            return None
        if hit.layer is not None and not self.backend.layer_exists(hit.layer):
            return None
        return hit

    def _explain_miss(self, state: StageState, vertex: Vertex, key: CacheKey, details: Mapping[str, str]) -> None:
        if not self.request.cache_explain or self.cache is None:
            return
        if self.request.no_cache:
            vertex.explain("--no-cache was given")
        elif state.pending_explain:
            for text in state.pending_explain:
                vertex.explain(text)
        elif key.parent in self.rebuilt:
            vertex.explain("the previous step was rebuilt, so this step runs again")
        else:
            vertex.explain(self.cache.explain(key, details))
        state.pending_explain = []

    def _run_work(self, state: StageState, instr: ins.Instruction, vertex: Vertex, work: Work, *,
                  empty: bool = False) -> LayerRef | None:
        """Run *work* in a rw layer over the stage's top layer (over nothing with *empty*) and commit it."""
        try:
            with self.backend.open_layer(None if empty else state.top, epoch=state.epoch) as rw:
                work(rw, vertex)
                return rw.commit()
        except BuildFailed as exc:
            vertex.error(str(exc))
            raise BuildFailed(exc.message, step=vertex.name, status=exc.status, output=exc.output,
                              file=exc.file, location=exc.location, instruction=exc.instruction) from None
        except (DockerfileError, LaminaError, OSError) as exc:
            vertex.error(str(exc))
            raise self._step_error(instr, vertex, exc) from exc

    def _step_error(self, instr: ins.Instruction, vertex: Vertex, exc: Exception) -> LaminaError:
        if isinstance(exc, DockerfileError):
            return exc
        where = f"{self.file}:{instr.location[0]}"
        text = exc.message if isinstance(exc, LaminaError) else str(exc)
        return BuildFailed(f"{where}: {vertex.name}: {text}", step=vertex.name, file=self.file,
                           location=instr.location, instruction=instr.original.split("\n", 1)[0])

    def _finish(self, state: StageState, key: CacheKey, layer: LayerRef | None, created_by: str) -> None:
        state.key = key.digest
        self._history(state, layer, created_by)

    @contextmanager
    def source_tree(self, state: StageState, source: str | None, instr: ins.Instruction) -> Iterator[SourceTree]:
        """The tree a COPY reads: the context, a stage's result, or an image's rootfs."""
        if source is None:
            if self.request.context is None:
                raise DockerfileError("copy from the build context: no context was given", file=self.file,
                                      location=instr.location, instruction=instr.original.split("\n", 1)[0])
            yield self.request.context
            return
        label, view = self.stage_view(source, instr)
        with view as root:
            yield SourceTree(root, label)

    def stage_view(self, source: str, instr: ins.Instruction) -> tuple[str, AbstractContextManager[Path]]:
        """(cache identity, read-only view) of a stage by name/index, or of an image by name."""
        assert self.dockerfile is not None
        stage = self._stage_ref(self.dockerfile, source, len(self.dockerfile.stages))
        if stage is not None:
            if stage.index not in self.stages:
                raise DockerfileError(f"stage {source!r} is not built before it is used", file=self.file,
                                      location=instr.location)
            done = self.stages[stage.index]
            return done.key, self.backend.view(done.top)
        image = self.backend.base_image(source)
        return image.image_id, self.backend.view(image.top)

    def cache_mount_dir(self, cache_id: str) -> Path:
        return self.backend.cache_mount_dir(cache_id)

    def scratch_dir(self) -> Path:
        return self.backend.scratch_dir()

    def base_image(self, name: str) -> BaseImage:
        return self.backend.base_image(name)

    # ------------------------------------------------------------ export
    def _export(self, state: StageState, request: BuildRequest) -> str:
        from lamina.spec.canonical import canonical_json
        if request.labels:
            labels = dict(state.config.get("Labels") or {})
            labels.update(request.labels)
            state.config["Labels"] = labels
        image_id = self.backend.store_image(canonical_json(state.image), state.layers, request.tags)
        export_vertex(self.progress, image_id, request.tags)
        return image_id


def _scratch_config(epoch: int) -> dict[str, Any]:
    from lamina.image.mutate import empty_config, timestamp
    return empty_config(timestamp(epoch))


def _digest(text: str) -> Any:
    from lamina.digest import Digest
    return Digest.parse(text)
