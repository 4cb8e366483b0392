"""FakeBuildBackend: a BuildBackend over plain directories, for unit tests of the builder.

Each stored layer is a full copy of its tree under ``<home>/layers/<chain hex>``; a rw layer is a
copy of its parent's tree. ``commit`` compares the trees (content, mode, type, link target) and
returns None when nothing changed. RUN is simulated by ``run_handler`` (default: a tiny
interpreter for ``echo X > f``, ``touch``, ``mkdir -p``, ``rm``, ``exit N``, ``true``, ``false``
joined by ``&&``, ``;`` or newlines; output of ``echo`` without redirection is streamed).

Must not be imported by lamina itself; needs no root.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.build.backend import BaseImage, LayerRef, ProcessSpec
from lamina.errors import ImageNotFound

RunHandler = Callable[[ProcessSpec, Path, Callable[[bytes], None]], int]


@dataclass
class StoredImage:
    image_id: str
    config: dict[str, Any]
    layers: tuple[LayerRef, ...]
    tags: list[str] = field(default_factory=list)


def _tree_digest(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if path.is_symlink():
                out[rel] = "l:" + os.readlink(path)
            elif path.is_dir():
                out[rel] = f"d:{st.st_mode:o}:{st.st_uid}:{st.st_gid}"
            else:
                out[rel] = f"f:{st.st_mode:o}:{st.st_uid}:{st.st_gid}:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _copy_tree(src: Path | None, dst: Path) -> None:
    if src is None:
        dst.mkdir(parents=True)
    else:
        shutil.copytree(src, dst, symlinks=True)


class FakeRwLayer:
    def __init__(self, backend: FakeBuildBackend, parent: LayerRef | None) -> None:
        self.backend = backend
        self.parent = parent
        self.rootfs = backend.home / "rw" / uuid.uuid4().hex
        _copy_tree(backend.layer_dir(parent), self.rootfs)
        self.committed = False

    def run(self, spec: ProcessSpec, output: Callable[[bytes], None]) -> int:
        self.backend.runs.append(spec)
        return self.backend.run_handler(spec, self.rootfs, output)

    def commit(self) -> LayerRef | None:
        parent_dir = self.backend.layer_dir(self.parent)
        before = _tree_digest(parent_dir) if parent_dir is not None else {}
        after = _tree_digest(self.rootfs)
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        removed = sorted(k for k in before if k not in after)
        if not changed and not removed:
            return None
        diff_id = "sha256:" + hashlib.sha256(json.dumps([changed, removed], sort_keys=True).encode()).hexdigest()
        chain = diff_id if self.parent is None else "sha256:" + hashlib.sha256(
            f"{self.parent.chain_id} {diff_id}".encode()).hexdigest()
        layer = LayerRef(chain_id=chain, diff_id=diff_id)
        target = self.backend.layer_dir(layer)
        assert target is not None
        if not target.exists():
            os.rename(self.rootfs, target)
        self.committed = True
        self.backend.commits += 1
        return layer


class FakeBuildBackend:
    """Directories as layers; images in memory; RUN simulated by ``run_handler``."""

    def __init__(self, home: Path | None = None, run_handler: RunHandler | None = None) -> None:
        self.home = Path(home or tempfile.mkdtemp(prefix="fake-build-"))
        (self.home / "layers").mkdir(parents=True, exist_ok=True)
        (self.home / "rw").mkdir(exist_ok=True)
        self.run_handler: RunHandler = run_handler or simulate
        self.images: dict[str, StoredImage] = {}
        self.tags: dict[str, str] = {}
        self.runs: list[ProcessSpec] = []
        self.commits = 0
        self.open_layers = 0

    # ------------------------------------------------------------ seeding
    def add_image(self, name: str, files: Mapping[str, str | bytes], *, config: dict[str, Any] | None = None,
                  created: str = "2000-01-01T00:00:00Z") -> str:
        """A base image with one layer holding ``files`` (path -> content; a path ending "/" is a dir)."""
        rw = FakeRwLayer(self, None)
        for path, data in files.items():
            target = rw.rootfs / path.lstrip("/")
            if path.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.encode() if isinstance(data, str) else data)
        layer = rw.commit()
        assert layer is not None
        cfg: dict[str, Any] = {"architecture": "amd64", "os": "linux", "created": created,
               "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
               "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
               "history": [{"created": created, "created_by": f"fake {name}"}]}
        if config:
            cfg["config"].update(config)
        return self.store_image(json.dumps(cfg, sort_keys=True).encode(), [layer], [name])

    def layer_dir(self, layer: LayerRef | None) -> Path | None:
        return None if layer is None else self.home / "layers" / layer.chain_id.removeprefix("sha256:")

    # ------------------------------------------------------------ BuildBackend
    def base_image(self, name: str) -> BaseImage:
        image_id = self.tags.get(name) or (name if name in self.images else None)
        if image_id is None:
            raise ImageNotFound(name)
        image = self.images[image_id]
        return BaseImage(image_id=image.image_id, config=json.loads(json.dumps(image.config)), layers=image.layers)

    def image_exists(self, image_id: str) -> bool:
        return image_id in self.images

    def layer_exists(self, layer: LayerRef) -> bool:
        path = self.layer_dir(layer)
        return path is not None and path.exists()

    @contextmanager
    def open_layer(self, parent: LayerRef | None, *, epoch: int = 0) -> Iterator[FakeRwLayer]:
        rw = FakeRwLayer(self, parent)
        self.open_layers += 1
        try:
            yield rw
        finally:
            self.open_layers -= 1
            if rw.rootfs.exists():
                shutil.rmtree(rw.rootfs)

    @contextmanager
    def view(self, layer: LayerRef | None) -> Iterator[Path]:
        path = self.layer_dir(layer)
        if path is None:
            empty = Path(tempfile.mkdtemp(dir=self.home))
            try:
                yield empty
            finally:
                shutil.rmtree(empty)
            return
        yield path

    def stack(self, layer: LayerRef, parent: LayerRef | None) -> LayerRef:
        if parent is None:
            return layer
        chain = "sha256:" + hashlib.sha256(f"{parent.chain_id} {layer.diff_id}".encode()).hexdigest()
        stacked = LayerRef(chain_id=chain, diff_id=layer.diff_id)
        target, below, above = self.layer_dir(stacked), self.layer_dir(parent), self.layer_dir(layer)
        assert target is not None and above is not None
        if not target.exists():
            work = self.home / "rw" / uuid.uuid4().hex
            _copy_tree(below, work)
            shutil.copytree(above, work, symlinks=True, dirs_exist_ok=True)
            os.rename(work, target)
        return stacked

    def scratch_dir(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.home))

    def cache_mount_dir(self, cache_id: str) -> Path:
        path = self.home / "cache-mounts" / hashlib.sha256(cache_id.encode()).hexdigest()[:16]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def store_image(self, config_bytes: bytes, layers: Sequence[LayerRef], tags: Sequence[str]) -> str:
        image_id = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        self.images[image_id] = StoredImage(image_id, json.loads(config_bytes), tuple(layers), list(tags))
        for tag in tags:
            self.tags[tag] = image_id
        return image_id

    def config(self, name: str) -> dict[str, Any]:
        return self.images[self.tags.get(name, name)].config


def simulate(spec: ProcessSpec, rootfs: Path, output: Callable[[bytes], None]) -> int:
    """Interpret a tiny shell subset (see the module docstring); returns the exit status."""
    script = spec.args[-1] if spec.args[:2] == ("/bin/sh", "-c") else " ".join(spec.args)
    for raw in script.replace("&&", "\n").replace(";", "\n").splitlines():
        words = shlex.split(raw)
        if not words:
            continue
        code = _simulate_one(words, rootfs, spec, output)
        if code:
            return code
    return 0


def _inside(rootfs: Path, spec: ProcessSpec, path: str) -> Path:
    full = path if path.startswith("/") else f"{spec.cwd.rstrip('/')}/{path}"
    return rootfs / full.lstrip("/")


def _simulate_one(words: list[str], rootfs: Path, spec: ProcessSpec, output: Callable[[bytes], None]) -> int:
    cmd, rest = words[0], words[1:]
    if cmd == "exit":
        return int(rest[0]) if rest else 0
    if cmd in ("true", ":"):
        return 0
    if cmd == "false":
        return 1
    if cmd == "echo":
        if ">" in rest:
            i = rest.index(">")
            _inside(rootfs, spec, rest[i + 1]).write_text(" ".join(rest[:i]) + "\n")
        else:
            output((" ".join(rest) + "\n").encode())
        return 0
    if cmd == "touch":
        for path in rest:
            _inside(rootfs, spec, path).touch()
        return 0
    if cmd == "mkdir":
        for path in (p for p in rest if not p.startswith("-")):
            _inside(rootfs, spec, path).mkdir(parents=True, exist_ok=True)
        return 0
    if cmd == "rm":
        for path in (p for p in rest if not p.startswith("-")):
            target = _inside(rootfs, spec, path)
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        return 0
    if cmd == "env":
        output(("\n".join(spec.env) + "\n").encode())
        return 0
    output(f"sh: {cmd}: not found\n".encode())
    return 127
