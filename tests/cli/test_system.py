"""``system df`` figures against the bytes on disk, ``system check``/``--repair``, prune and start-up recovery."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest

from lamina.digest import Digest
from lamina.engine.config import EngineConfig
from lamina.engine.engine import Engine
from lamina.image import mutate
from lamina.reference import Reference
from lamina.spec.codec import canonical_json
from lamina.testing.cli import Lamina
from lamina.testing.trees import Dir, File, Spec, Whiteout, layer_tar

BASE: list[tuple[Spec, str]] = [
    ({"etc": Dir(), "etc/passwd": File(b"root:x:0:0::/root:/bin/sh\n" * 40), "bin": Dir(),
      "bin/tool": File(os.urandom(30_000), mode=0o755)}, "ADD rootfs.tar /"),
    ({"usr": Dir(), "usr/lib": Dir(), "usr/lib/libx.so": File(os.urandom(20_000))}, "RUN install libx"),
]


def open_engine(lamina: Lamina) -> Engine:
    return Engine(EngineConfig(root=lamina.root, storage_driver=lamina.driver or "auto"))


def make_image(engine: Engine, layers: Sequence[tuple[Spec, str]], tag: str | None) -> str:
    """An image from layer specs (bottom first) with one history entry per layer; returns its id."""
    stack = []
    created = mutate.timestamp(0)
    config = mutate.empty_config(created)
    for spec, created_by in layers:
        layer = engine.images.store_layer(io.BytesIO(layer_tar(spec)), stack[-1] if stack else None)
        stack.append(layer)
        config = mutate.append_layer(config, layer.diff_id, created=created, created_by=created_by)
    tags = [str(Reference.parse(tag))] if tag else []
    return str(engine.image_store.add(canonical_json(config), stack, tags=tags).id)


@pytest.fixture
def store(lamina: Lamina) -> Lamina:
    """base:1 (2 layers), app:1 and app:2 (base + one layer each), other:1 (unrelated), one dangling image."""
    with open_engine(lamina) as engine:
        make_image(engine, BASE, "base:1")
        make_image(engine, [*BASE, ({"app": File(os.urandom(5_000))}, "COPY app /app")], "app:1")
        make_image(engine, [*BASE, ({"app": File(os.urandom(7_000)), "etc/passwd": Whiteout()},
                                    "RUN rm /etc/passwd")], "app:2")
        make_image(engine, [({"other": File(os.urandom(3_000))}, "ADD other /")], "other:1")
        make_image(engine, [({"dangling": File(b"d" * 1234)}, "ADD d /")], None)
    return lamina


def _file_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISREG(st.st_mode):   # not overlay whiteouts (0:0 char devices) nor symlinks
                total += st.st_size
    return total


def test_df_figures_add_up_and_match_the_bytes_on_disk(store: Lamina):
    with open_engine(store) as engine:
        du = engine.system.df()
        layers = {str(layer.chain_id): layer for layer in engine.layers.all()}
        if engine.driver.name == "overlay":   # the layer's own files are its diff/ directory
            for layer in layers.values():
                assert layer.size == _file_bytes(engine.driver.home / "overlay" / layer.layer_id / "diff")
        by_tag = {Reference.parse(u.image.tags[0]).familiar() if u.image.tags else "<none>": u for u in du.images}
    base = len(b"root:x:0:0::/root:/bin/sh\n" * 40) + 30_000 + 20_000
    assert by_tag["base:1"].size == base and by_tag["base:1"].shared == base and by_tag["base:1"].unique == 0
    assert (by_tag["app:1"].size, by_tag["app:1"].shared, by_tag["app:1"].unique) == (base + 5_000, base, 5_000)
    assert by_tag["app:2"].unique == 7_000
    assert (by_tag["other:1"].shared, by_tag["<none>"].unique) == (0, 1234)
    # every layer counted once, shared ones too; the parts add up to the total
    assert du.images_total == sum(layer.size for layer in layers.values())
    assert du.images_total == base + 5_000 + 7_000 + 3_000 + 1234
    assert sum(u.unique for u in du.images) + du.images_shared == du.images_total
    assert du.images_reclaimable == du.images_total   # no container uses any image


def test_df_table_verbose_and_format(store: Lamina):
    lines = store.ok("system", "df").splitlines()
    assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split("  ")[0] for line in lines[1:]] == ["Images", "Containers", "Local Volumes", "Build Cache"]
    assert lines[1].split()[1:3] == ["5", "0"] and lines[1].endswith("(100%)")
    rows = [json.loads(x) for x in store.ok("system", "df", "--format", "json").splitlines()]
    assert [r["Type"] for r in rows] == ["Images", "Containers", "Local Volumes", "Build Cache"]
    assert store.ok("system", "df", "--format", "{{.Type}}={{.TotalCount}}").splitlines()[0] == "Images=5"
    verbose = store.ok("system", "df", "-v")
    assert "Images space usage:" in verbose and "Local Volumes space usage:" in verbose
    header = next(line for line in verbose.splitlines() if line.startswith("REPOSITORY"))
    assert "SHARED SIZE" in header and "UNIQUE SIZE" in header and "CONTAINERS" in header
    app1 = next(line.split() for line in verbose.splitlines() if line.split()[:2] == ["app", "1"])
    assert app1[-4:] == ["56kB", "51kB", "5kB", "0"]
    data = json.loads(store.ok("system", "df", "-v", "--format", "json"))
    assert {r["Repository"] for r in data["Images"]} == {"base", "app", "other", "<none>"}


def test_check_clean_store_exits_zero(store: Lamina):
    res = store("system", "check")
    assert res.code == 0, res.out + res.err
    assert "0 damaged, 0 orphaned" in res.out


def _blob_of(engine: Engine, tag: str) -> Path:
    image = engine.image_store.resolve(tag)
    top = engine.image_store.layer_stack(image)[-1]
    assert top.blob_digest is not None
    return engine.blobs.path(top.blob_digest)


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))


def test_bit_flip_in_a_blob_is_damage_and_repair_names_images_to_reload(store: Lamina):
    with open_engine(store) as engine:
        _flip(_blob_of(engine, "app:1"), 100)
    res = store("system", "check")
    assert res.code == 1
    assert "blob-corrupt" in res.out and "DAMAGE" in res.out
    res = store("analyze", "app:1")   # detected on read too
    assert res.code == 1 and "digest" in res.err.lower()
    res = store("system", "check", "--repair")
    assert res.code == 0, res.out
    assert "must be pulled or loaded again: app:1" in res.out
    assert "app" not in store.ok("images", "--format", "{{.Repository}}:{{.Tag}}").replace("app:2", "")
    assert store("system", "check").code == 0
    assert store.ok("analyze", "app:2", "--json")   # the sibling sharing the base survives intact


def test_bit_flip_in_a_layer_file_is_found_by_rehashing_against_the_diff_id(store: Lamina):
    with open_engine(store) as engine:
        top = engine.image_store.layer_stack(engine.image_store.resolve("other:1"))[-1]
        sub = "diff" if engine.driver.name == "overlay" else "fs"
        _flip(engine.driver.home / engine.driver.name / top.layer_id / sub / "other", 5)
    res = store("system", "check")
    assert res.code == 1 and "layer-content" in res.out and "/other content differs" in res.out
    assert store("system", "check", "--quick").code == 0   # --quick does not re-read layer files
    fixed = store("system", "check", "--repair")
    assert "other:1" in fixed.out and fixed.code == 0
    assert store("system", "check").code == 0


def test_orphans_are_reported_but_only_removed_with_repair(store: Lamina):
    with open_engine(store) as engine:
        home = engine.driver.home / engine.driver.name
        engine.driver.create("orphan0", None)
        (home / ".tmp-crashed-1234").mkdir()
        stray = engine.blobs.put_bytes(b"nobody needs me").digest
        (store.root / "trash" / "half-deleted").mkdir(parents=True)
    res = store("system", "check")
    assert res.code == 0, res.out
    for kind in ("driver-orphan", "driver-staging", "blob-unreferenced", "trash"):
        assert kind in res.out
    assert (home / "orphan0").exists() and (store.root / "oci" / "blobs" / "sha256" / stray.hex).exists()
    res = store("system", "check", "--repair")
    assert res.code == 0 and "repaired:" in res.out
    assert not (home / "orphan0").exists() and not (home / ".tmp-crashed-1234").exists()
    assert not (store.root / "oci" / "blobs" / "sha256" / stray.hex).exists()
    assert "0 damaged, 0 orphaned" in store.ok("system", "check")


def test_dangling_tag_is_damage(store: Lamina):
    conn = sqlite3.connect(store.root / "lamina.db")
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("INSERT INTO tags VALUES ('docker.io/library/ghost:1', 'sha256:" + "0" * 64 + "')")
    conn.commit()
    conn.close()
    res = store("system", "check")
    assert res.code == 1 and "name-dangling" in res.out
    assert store("system", "check", "--repair").code == 0
    assert store("system", "check").code == 0


def test_image_prune_dangling_then_all(store: Lamina):
    out = store.ok("image", "prune", "-f")
    assert out.startswith("Deleted Images:\ndeleted: sha256:")
    assert out.rstrip().splitlines()[-1].startswith("Total reclaimed space: ")
    assert len(store.ok("images", "-q").split()) == 4
    assert store.ok("image", "prune", "-f").strip() == "Total reclaimed space: 0B"
    out = store.ok("image", "prune", "-a", "-f")
    assert "untagged: app:1" in out and "untagged: base:1" in out
    assert store.ok("images", "-q").strip() == ""
    assert list((store.root / "oci" / "blobs" / "sha256").iterdir()) == []
    with open_engine(store) as engine:
        assert engine.layers.all() == []


def test_system_prune_reports_reclaimed_space(store: Lamina):
    from lamina.cli.humanize import human_size
    with open_engine(store) as engine:   # freed = the layer's files + its blobs (config, manifest, layer)
        dangling = next(i for i in engine.image_store.list() if not i.tags)
        rows = engine.db.query("SELECT digest FROM image_blobs WHERE image_id = ?", (str(dangling.id),))
        blob_bytes = sum(engine.blobs.stat(Digest.parse(r[0])) for r in rows)
    out = store.ok("system", "prune", "-f")
    assert out.startswith("Deleted Images:\ndeleted: sha256:")
    assert out.rstrip().splitlines()[-1] == f"Total reclaimed space: {human_size(1234 + blob_bytes)}"
    out = store.ok("system", "prune", "-a", "-f", "--volumes")
    assert "untagged: other:1" in out
    assert store("system", "check").code == 0
    res = store("system", "prune", input=b"n\n")   # answering no removes nothing
    assert res.code == 0 and "Are you sure you want to continue?" in res.out


def test_startup_recovery_removes_what_a_crashed_process_left(store: Lamina):
    with open_engine(store) as engine:
        home = engine.driver.home / engine.driver.name
        engine.driver.create("halfway", None)                 # ensure() died before its row
        engine.images.store_layer(io.BytesIO(layer_tar({"lonely": File(b"l" * 99)})))  # row, no image
        stray = engine.blobs.put_bytes(b"config of an image never added").digest
    (store.root / "sessions" / "4242-deadbeef").write_text("")   # the marker a SIGKILLed process leaves
    store.ok("images")                                           # any command recovers first
    assert not (store.root / "sessions" / "4242-deadbeef").exists()
    assert not (home / "halfway").exists()
    assert not (store.root / "oci" / "blobs" / "sha256" / stray.hex).exists()
    out = store.ok("system", "check")
    assert "0 damaged, 0 orphaned" in out
    assert len(store.ok("images", "-q").split()) == 5


def test_no_recovery_while_another_session_is_alive(store: Lamina):
    with open_engine(store) as engine:
        engine.driver.create("inflight", None)
        (store.root / "sessions" / "1-dead").write_text("")
        store.ok("images")   # another process: the gate is shared, recovery must wait
        assert (engine.driver.home / engine.driver.name / "inflight").exists()
        res = store("system", "check", "--repair")   # young orphans of a live process stay
        assert (engine.driver.home / engine.driver.name / "inflight").exists()
        assert res.code == 0
    store.ok("images")
    assert not (store.root / "sessions" / "1-dead").exists()


def test_missing_image_errors(store: Lamina):
    for args in (("analyze", "nope:1"), ("image", "diff", "nope:1", "base:1"), ("analyze", "--path", "/x", "nope")):
        res = store(*args)
        assert res.code == 1 and "no such image" in res.err
