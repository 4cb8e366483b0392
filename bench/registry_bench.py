"""Registry transfer benchmark: lamina push/pull vs skopeo on a loopback docker-registry, and peak RSS.

Usage:  .venv/bin/python bench/registry_bench.py [--reps 3] [--layer-mb 70] [--rss-gib 1] [--skip-rss]

1. A ~70 MB gzip layer image (random file in a tar, gzip level 1) is built once in a BlobStore
   that is also an OCI layout (index.json names tag ``v1``).
2. For each rep, a fresh registry: ``lamina push`` (a subprocess: interpreter + imports + push)
   then ``skopeo copy oci:… docker://…`` to another repo; then ``lamina pull`` into an empty store
   and ``skopeo copy docker://… oci:<empty dir>``. Wall times; medians printed.
3. W1-like image (4 gzip layers, ~73 MB: the busybox base tar, a few small files, 2000 small files +
   64 MiB random, one small file), pushed once by skopeo; then the full CLI ``lamina --root <empty>
   pull`` (process start, download, decompress, diffID check, extraction, image registration), median
   of ``--cli-reps`` (5), each into a brand-new root.
4. Peak RSS (VmHWM of each child process) of a lamina push and a pull of a 1 GiB layer, and of
   a 256 MiB layer, to show it is flat in layer size.
Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from lamina.store.blobs import BlobStore
from lamina.testing.registry import start_registry

PY = sys.executable
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
from lamina.registry.client import RegistryClient
from lamina.registry.pull import pull_target
from lamina.registry.push import push_target
from lamina.store.blobs import BlobStore
mode, host, repo, store = sys.argv[1:5]
blobs = BlobStore(store)
with RegistryClient(host) as client:
    if mode == "push":
        manifest = open(sys.argv[5], "rb").read()
        push_target(client, repo, "v1", blobs, manifest, "application/vnd.oci.image.manifest.v1+json")
    else:
        pull_target(client, repo, "v1", blobs)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"inner": time.perf_counter() - t0, "hwm_kib": int(hwm)}))
"""


def make_layer_blob(blobs: BlobStore, size: int, *, gzip_it: bool) -> tuple[str, int, str]:
    """Return (digest, size, diff_id) of a layer with ``size`` random bytes; streamed, never whole in RAM
    except for the gzip case (which builds the ~70 MB tar in memory once, outside any measurement)."""
    if gzip_it:
        from isal import igzip

        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo("big.bin")
            info.size = size
            tar.addfile(info, io.BytesIO(os.urandom(size)))
        data = raw.getvalue()
        del raw
        diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
        info_blob = blobs.put_bytes(igzip.compress(data, compresslevel=1, mtime=0))
        del data
        return str(info_blob.digest), info_blob.size, diff_id
    with blobs.writer() as w:
        chunk = os.urandom(1 << 20)
        for i in range(size >> 20):
            w.write(chunk[:-8] + i.to_bytes(8, "big"))
        done = w.commit()
    return str(done.digest), done.size, str(done.digest)


def make_image(root: Path, layer_size: int, *, gzip_it: bool) -> tuple[BlobStore, Path]:
    blobs = BlobStore(root)
    digest, size, diff_id = make_layer_blob(blobs, layer_size, gzip_it=gzip_it)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    cfg = blobs.put_bytes(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": str(cfg.digest), "size": cfg.size},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": digest, "size": size}]}).encode()
    m = blobs.put_bytes(manifest)
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": str(m.digest), "size": m.size,
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
    path = root.parent / f"{root.name}.manifest.json"
    path.write_bytes(manifest)
    return blobs, path


def run_child(args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, inner seconds, peak RSS KiB) of one child process.

    Peak RSS is the child's own VmHWM (reset at exec); wait4's ru_maxrss would include the
    parent's RSS copied at fork."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, _ = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed: {err[-2000:]}")
    doc = json.loads(out)
    return wall, doc["inner"], doc["hwm_kib"]


def lamina(mode: str, host: str, repo: str, store: Path,
           manifest: Path | None = None) -> tuple[float, float, int]:
    args = [PY, "-c", CHILD, mode, host, repo, str(store)] + ([str(manifest)] if manifest else [])
    return run_child(args)


def skopeo(src: str, dst: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", src, dst],
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def bench_speed(work: Path, reps: int, layer_mb: int) -> dict[str, list[float]]:
    _, manifest = make_image(work / "src", layer_mb << 20, gzip_it=True)
    layer_size = sum(p.stat().st_size for p in (work / "src" / "blobs" / "sha256").iterdir())
    print(f"image: {layer_size / 1e6:.1f} MB of blobs", flush=True)
    results: dict[str, list[float]] = {k: [] for k in ("lamina push", "lamina push (in-process part)",
                                                        "skopeo push", "lamina pull",
                                                        "lamina pull (in-process part)", "skopeo pull")}
    for rep in range(reps):
        reg = start_registry(work / f"reg{rep}")
        try:
            wall, inner, _ = lamina("push", reg.host, "bench/lamina", work / "src", manifest)
            results["lamina push"].append(wall)
            results["lamina push (in-process part)"].append(inner)
            results["skopeo push"].append(skopeo(f"oci:{work / 'src'}:v1",
                                                 f"docker://{reg.host}/bench/skopeo:v1"))
            dest = work / f"pull{rep}"
            wall, inner, _ = lamina("pull", reg.host, "bench/lamina", dest)
            results["lamina pull"].append(wall)
            results["lamina pull (in-process part)"].append(inner)
            results["skopeo pull"].append(skopeo(f"docker://{reg.host}/bench/skopeo:v1",
                                                 f"oci:{work / f'skopeo-pull{rep}'}:v1"))
            shutil.rmtree(dest)
            shutil.rmtree(work / f"skopeo-pull{rep}")
        finally:
            reg.stop()
            shutil.rmtree(work / f"reg{rep}", ignore_errors=True)
    shutil.rmtree(work / "src")
    return results


BASE_TAR = Path("/var/tmp/anchors/bbase.tar")
W1_SEED = 20261124


def _tar_of(files: list[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 946684800, 0o644
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def w1_layer_tars() -> list[bytes]:
    """Four uncompressed layer tars shaped like the W1 image (deterministic content)."""
    import random

    rng = random.Random(W1_SEED)
    base = BASE_TAR.read_bytes() if BASE_TAR.is_file() else _tar_of(
        [(f"bin/f{i}", rng.randbytes(8192)) for i in range(256)])
    gen = _tar_of([(f"app/gen/f{i}.txt", f"generated {i}\n".encode()) for i in range(1, 6)])
    small = [(f"app/data/small/{i:04d}.bin", rng.randbytes(rng.randint(1024, 4096))) for i in range(2000)]
    big = random.Random(W1_SEED + 1).randbytes(64 << 20)
    data = _tar_of([*small, ("app/data/big.bin", big)])
    tail = _tar_of([("app/count.txt", b"2000\n"), ("app/sum.txt", b"x  /app/data/small/0000.bin\n")])
    return [base, gen, data, tail]


def make_w1_image(root: Path) -> int:
    """An OCI layout at *root* holding the W1-like image as tag ``v1``; returns its blob bytes."""
    from isal import igzip

    blobs = BlobStore(root)
    layers, diff_ids = [], []
    for tar in w1_layer_tars():
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        info = blobs.put_bytes(igzip.compress(tar, compresslevel=1, mtime=0))
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": str(info.digest), "size": info.size})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cfg = blobs.put_bytes(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": str(cfg.digest), "size": cfg.size},
                           "layers": layers}).encode()
    m = blobs.put_bytes(manifest)
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": str(m.digest), "size": m.size,
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
    return sum(int(layer["size"]) for layer in layers)


def bench_cli_pull(work: Path, reps: int, driver: str) -> list[float]:
    """Wall seconds of ``lamina --root <new> pull <W1-like image>`` (the whole CLI), one per rep."""
    size = make_w1_image(work / "w1-src")
    print(f"W1-like image: {size / 1e6:.1f} MB of gzip layers", flush=True)
    reg = start_registry(work / "w1-reg")
    times = []
    try:
        skopeo(f"oci:{work / 'w1-src'}:v1", f"docker://{reg.host}/bench/w1:v1")
        lamina_bin = str(Path(PY).parent / "lamina")
        for rep in range(reps):
            root = work / f"w1-root{rep}"
            t0 = time.perf_counter()
            subprocess.run([lamina_bin, "--root", str(root), "--storage-driver", driver, "pull", "-q",
                            f"{reg.host}/bench/w1:v1"], check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
            shutil.rmtree(root)
    finally:
        reg.stop()
        shutil.rmtree(work / "w1-reg", ignore_errors=True)
        shutil.rmtree(work / "w1-src", ignore_errors=True)
    return times


def bench_rss(work: Path, size: int) -> tuple[int, int]:
    _, manifest = make_image(work / "rss-src", size, gzip_it=False)
    reg = start_registry(work / "rss-reg")
    try:
        _, _, push_rss = lamina("push", reg.host, "bench/rss", work / "rss-src", manifest)
        _, _, pull_rss = lamina("pull", reg.host, "bench/rss", work / "rss-pull")
    finally:
        reg.stop()
        for d in ("rss-src", "rss-reg", "rss-pull"):
            shutil.rmtree(work / d, ignore_errors=True)
    return push_rss, pull_rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--layer-mb", type=int, default=70)
    parser.add_argument("--rss-gib", type=float, default=1.0)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--cli-reps", type=int, default=5)
    parser.add_argument("--driver", default="auto", help="storage driver for the CLI pull")
    parser.add_argument("--only-cli", action="store_true", help="only the W1-like CLI pull")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-regbench-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        cli = bench_cli_pull(work, args.cli_reps, args.driver)
        print(f"{'lamina pull CLI, W1-like, ' + args.driver:34} {statistics.median(cli):9.3f}  "
              f"{' '.join(f'{v:.3f}' for v in cli)}   (docker pull W4: 1.9-2.3 s)", flush=True)
        if args.only_cli:
            return
        results = bench_speed(work, args.reps, args.layer_mb)
        print(f"\n{'what':34} {'median s':>9}  runs")
        for name, values in results.items():
            print(f"{name:34} {statistics.median(values):9.3f}  {' '.join(f'{v:.3f}' for v in values)}")
        push_ratio = statistics.median(results["lamina push"]) / statistics.median(results["skopeo push"])
        pull_ratio = statistics.median(results["lamina pull"]) / statistics.median(results["skopeo pull"])
        print(f"push lamina/skopeo = {push_ratio:.2f}x   pull lamina/skopeo = {pull_ratio:.2f}x")
        if not args.skip_rss:
            for size in (256 << 20, int(args.rss_gib * (1 << 30))):
                push_rss, pull_rss = bench_rss(work, size)
                print(f"peak RSS, {size >> 20} MiB layer: push {push_rss / 1024:.1f} MiB, "
                      f"pull {pull_rss / 1024:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
