#!/usr/bin/env python3
"""Benchmark ``system df`` and ``analyze`` on a store of 50 images sharing layers: time and peak memory.

    python bench/df_bench.py [--images 50] [--files 400] [--driver copy] [--dir DIR]

The store: 3 base layers of --files small files each, then per image 2 layers of its own
(one of them overwrites and deletes base files, so analyze finds waste). Times are medians of 3
runs, in-process through ``Engine.system``; peak memory is tracemalloc's (Python heap) per call.
It then doubles --files to show how each figure scales with file count. Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from lamina.engine.config import EngineConfig
from lamina.engine.engine import Engine
from lamina.image import mutate
from lamina.reference import Reference
from lamina.spec.codec import canonical_json
from lamina.testing.trees import File, Whiteout, layer_tar


def build_store(root: Path, driver: str, images: int, files: int) -> None:
    engine = Engine(EngineConfig(root=root, storage_driver=driver))
    created = mutate.timestamp(0)
    base = []
    config = mutate.empty_config(created)
    for b in range(3):
        spec = {f"base{b}/f{i}": File(os.urandom(512)) for i in range(files)}
        layer = engine.images.store_layer(io.BytesIO(layer_tar(spec)), base[-1] if base else None)
        base.append(layer)
        config = mutate.append_layer(config, layer.diff_id, created=created, created_by=f"ADD base{b}")
    for n in range(images):
        own = {f"app{n}/f{i}": File(os.urandom(256)) for i in range(files // 4)}
        fix = {f"base0/f{i}": File(os.urandom(600)) for i in range(files // 10)}
        fix |= {f"base1/f{i}": Whiteout() for i in range(files // 10)}
        stack, cfg = list(base), dict(config)
        for spec, by in ((own, f"COPY app{n}"), (fix, "RUN patch && rm")):
            layer = engine.images.store_layer(io.BytesIO(layer_tar(spec)), stack[-1])
            stack.append(layer)
            cfg = mutate.append_layer(cfg, layer.diff_id, created=created, created_by=by)
        engine.image_store.add(canonical_json(cfg), stack, tags=[str(Reference.parse(f"img{n}:1"))])
    engine.close()


def measure(fn: Callable[[], object], runs: int = 3) -> tuple[float, int]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak


def run(root: Path, driver: str, images: int, files: int) -> None:
    start = time.perf_counter()
    build_store(root, driver, images, files)
    setup = time.perf_counter() - start
    engine = Engine(EngineConfig(root=root, storage_driver=driver))
    du = engine.system.df()
    layers = len(engine.layers.all())
    df_t, df_m = measure(engine.system.df)
    an_t, an_m = measure(lambda: engine.system.analyze("img0:1"))
    _, analysis = engine.system.analyze("img0:1")
    entries = sum(len(r.changes) for r in analysis.layers)
    engine.close()
    print(f"{images} images, {layers} layers, {files} files/base layer, {entries} entries in img0 "
          f"(built in {setup:.1f}s; total {du.images_total / 1e6:.1f} MB, shared {du.images_shared / 1e6:.1f} MB)")
    print(f"  system df : {df_t * 1000:8.1f} ms   peak {df_m / 1e6:6.2f} MB")
    print(f"  analyze   : {an_t * 1000:8.1f} ms   peak {an_m / 1e6:6.2f} MB   "
          f"(efficiency {analysis.efficiency:.3f}, wasted {analysis.wasted_bytes} B)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--driver", default="copy")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for scale in (1, 2):
            run(Path(tmp) / f"root{scale}", args.driver, args.images, args.files * scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
