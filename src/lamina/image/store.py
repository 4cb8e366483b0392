"""ImageStore: images by ID (the config digest), their tags and repo digests.

Must not talk HTTP or run containers. Config and manifest bytes live in the blob store;
sqlite holds the index. Adding an image is one transaction (image row, its layer references,
tags moved from any image that held them), after every blob it names is stored.

Name resolution follows docker: a full or abbreviated image ID (``sha256:abc…``, ``abc1``),
a reference with a tag (``busybox`` → ``docker.io/library/busybox:latest``), or a reference
with a digest (``busybox@sha256:…``, matched against repo digests).
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable, Sequence

from lamina._internal.records import Record, record
from lamina.digest import Digest
from lamina.errors import ImageInUse, ImageNotFound, InvalidArgument, InvalidManifest
from lamina.reference import Reference, looks_like_id
from lamina.spec import mediatypes as mt

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

    from lamina.image.layers import Layer, LayerStore
    from lamina.image.metadata import MetadataDB
    from lamina.store.blobs import BlobStore

@record
class Image(Record):
    """A stored image: its id (config digest), manifest, top layer, size and names."""

    id: Digest
    manifest_digest: Digest
    manifest_media_type: str
    top_chain: Digest | None
    created: str | None
    size: int
    added: float
    tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()

    @property
    def short_id(self) -> str:
        return self.id.short


class ImageStore:
    """Images, tags and repo digests over sqlite + the blob store + the layer store."""

    def __init__(self, db: MetadataDB, blobs: BlobStore, layers: LayerStore) -> None:
        self.db = db
        self.blobs = blobs
        self.layers = layers

    # ------------------------------------------------------------ reading
    def _image(self, row: sqlite3.Row) -> Image:
        tags = tuple(r[0] for r in self.db.query(
            "SELECT name FROM tags WHERE image_id = ? ORDER BY name", (row["id"],)))
        digests = tuple(r[0] for r in self.db.query(
            "SELECT name FROM repo_digests WHERE image_id = ? ORDER BY name", (row["id"],)))
        return Image(
            id=Digest.parse(row["id"]), manifest_digest=Digest.parse(row["manifest_digest"]),
            manifest_media_type=row["manifest_media_type"],
            top_chain=Digest.parse(row["top_chain"]) if row["top_chain"] else None,
            created=row["created"], size=row["size"], added=row["added"], tags=tags, repo_digests=digests)

    def get(self, image_id: Digest) -> Image:
        row = self.db.one("SELECT * FROM images WHERE id = ?", (str(image_id),))
        if row is None:
            raise ImageNotFound(str(image_id))
        return self._image(row)

    def list(self) -> builtins.list[Image]:
        rows = self.db.query("SELECT * FROM images ORDER BY added DESC, id")
        return [self._image(r) for r in rows]

    def config_bytes(self, image: Image) -> bytes:
        return self.blobs.read_bytes(image.id)

    def config(self, image: Image) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.config_bytes(image))
        return data

    def manifest(self, image: Image) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.blobs.read_bytes(image.manifest_digest))
        return data

    def layer_stack(self, image: Image) -> builtins.list[Layer]:
        rows = self.db.query(
            "SELECT l.* FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id"
            " WHERE il.image_id = ? ORDER BY il.position", (str(image.id),))
        from lamina.image.layers import Layer
        return [Layer.from_row(r) for r in rows]

    # ------------------------------------------------------------ resolving names
    def resolve(self, name: str) -> Image:
        """Find an image by ID, ID prefix, tag or digest reference; ImageNotFound names *name*."""
        if looks_like_id(name):
            found = self._by_id_prefix(name.removeprefix("sha256:"))
            if found is not None:
                return found
            if name.startswith("sha256:"):
                raise ImageNotFound(name)
        ref = Reference.parse(name)
        if ref.digest is not None:
            row = self.db.one("SELECT image_id FROM repo_digests WHERE name = ?",
                              (f"{ref.repository}@{ref.digest}",))
            if row is None:
                row = self.db.one("SELECT id AS image_id FROM images WHERE manifest_digest = ? OR id = ?",
                                  (str(ref.digest), str(ref.digest)))
        else:
            row = self.db.one("SELECT image_id FROM tags WHERE name = ?", (str(ref),))
        if row is None:
            raise ImageNotFound(name)
        return self.get(Digest.parse(row["image_id"]))

    def _by_id_prefix(self, prefix: str) -> Image | None:
        rows = self.db.query("SELECT * FROM images WHERE id LIKE ? LIMIT 2", (f"sha256:{prefix}%",))
        if len(rows) > 1:
            raise InvalidArgument(f"image id prefix {prefix!r} is ambiguous", reference=prefix)
        return self._image(rows[0]) if rows else None

    # ------------------------------------------------------------ writing
    def build_manifest(self, config_bytes: bytes, layers: Sequence[Layer]) -> bytes:
        """An OCI manifest for a config and layer stack whose blobs are in the store."""
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of_bytes(config_bytes)),
                       "size": len(config_bytes)},
            "layers": [{"mediaType": layer.media_type or mt.OCI_LAYER_GZIP,
                        "digest": str(layer.blob_digest), "size": layer.blob_size} for layer in layers],
        }
        from lamina.spec.canonical import canonical_json  # writing only: not on the run path
        return canonical_json(manifest)

    def add(self, config_bytes: bytes, layers: Sequence[Layer], *, tags: Sequence[str] = (),
            manifest_bytes: bytes | None = None, manifest_media_type: str = mt.OCI_MANIFEST,
            repo_digest: str | None = None) -> Image:
        """Store an image whose layers are registered; idempotent; moves *tags* to it."""
        image_id = self.blobs.put_bytes(config_bytes).digest
        if manifest_bytes is None:
            manifest_bytes = self.build_manifest(config_bytes, layers)
        manifest_digest = self.blobs.put_bytes(manifest_bytes).digest
        config = json.loads(config_bytes)
        size = sum(layer.size for layer in layers)
        with self.db.transaction() as cur:
            exists = cur.execute("SELECT 1 FROM images WHERE id = ?", (str(image_id),)).fetchone()
            if not exists:
                cur.execute("INSERT INTO images VALUES (?,?,?,?,?,?,?)", (
                    str(image_id), str(manifest_digest), manifest_media_type,
                    str(layers[-1].chain_id) if layers else None, config.get("created"), size, time.time()))
                cur.executemany("INSERT INTO image_layers VALUES (?,?,?)", [
                    (str(image_id), i, str(layer.chain_id)) for i, layer in enumerate(layers)])
                cur.executemany("INSERT OR IGNORE INTO image_blobs VALUES (?,?)", [
                    (str(image_id), d) for d in _manifest_blobs(manifest_bytes)])
            for tag in tags:
                cur.execute("INSERT OR REPLACE INTO tags VALUES (?,?)", (tag, str(image_id)))
            if repo_digest:
                cur.execute("INSERT OR REPLACE INTO repo_digests VALUES (?,?)", (repo_digest, str(image_id)))
        return self.get(image_id)

    def ensure_layers(self, config_bytes: bytes, layer_blobs: Sequence[tuple[Digest, int, str]],
                      created: builtins.list[Layer]) -> builtins.list[Layer]:
        """Register the layer blobs (bottom first) against the config's diff_ids; verified.

        Layers this call newly registers are appended to *created*, so a caller whose later
        step fails can release exactly those. Raises InvalidManifest when the counts differ.
        """
        from lamina.image.layers import next_chain_id
        diff_ids = config_diff_ids(config_bytes, len(layer_blobs))
        layers: builtins.list[Layer] = []
        for diff_id, (digest, size, media) in zip(diff_ids, layer_blobs, strict=True):
            parent = layers[-1] if layers else None
            layer = self.layers.find(next_chain_id(parent, diff_id))
            if layer is None:
                layer = self.layers.ensure(diff_id, parent, digest, size, media)
                created.append(layer)
            layers.append(layer)
        return layers

    def tag(self, image: Image, name: str) -> str:
        """Point the full reference *name* (a tag, not a digest) at *image*; returns the full name."""
        ref = Reference.parse(name)
        if ref.digest is not None:
            raise InvalidArgument(f"tag {name}: refusing to create a tag with a digest reference",
                                  reference=name)
        full = str(ref)
        with self.db.transaction() as cur:
            cur.execute("INSERT OR REPLACE INTO tags VALUES (?,?)", (full, str(image.id)))
        return full

    def untag(self, name: str) -> bool:
        full = str(Reference.parse(name))
        with self.db.transaction() as cur:
            return cur.execute("DELETE FROM tags WHERE name = ?", (full,)).rowcount > 0

    def remove(self, name: str, *, force: bool = False,
               in_use: Callable[[Image], str | None] = lambda _: None) -> builtins.list[str]:
        """docker rmi semantics; returns the "Untagged: …" / "Deleted: …" lines.

        By tag: untag, and delete the image when that was its last name. By ID: refuse when the
        image has several tags (unless *force*). An image a container uses is never deleted;
        with *force* its tags are removed. Raises ImageNotFound, ImageInUse.
        """
        image = self.resolve(name)
        by_tag = not looks_like_id(name) and Reference.parse(name).digest is None
        user = in_use(image)
        if by_tag and (len(image.tags) > 1 or (user and force)):
            self.untag(name)
            return [f"Untagged: {Reference.parse(name).familiar()}"]
        if user:
            raise ImageInUse(image.short_id, f"image is being used by container {user}")
        if not by_tag and len(image.tags) > 1 and not force:
            raise ImageInUse(image.short_id, "image is referenced in multiple repositories (use -f)")
        events = [f"Untagged: {Reference.parse(t).familiar()}" for t in image.tags]
        events += [f"Untagged: {d}" for d in image.repo_digests]
        return events + self.delete(image)

    def delete(self, image: Image) -> builtins.list[str]:
        """Remove the image record, then its layers and blobs that nothing else references."""
        manifest = self.manifest(image)
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM images WHERE id = ?", (str(image.id),))
        events = [f"Deleted: {image.id}"]
        for layer in self.layers.release(image.top_chain):
            events.append(f"Deleted: {layer.chain_id}")
        self._drop_unreferenced_blobs(image, manifest)
        return events

    def _drop_unreferenced_blobs(self, image: Image, manifest: dict[str, Any]) -> None:
        candidates = {str(image.id), str(image.manifest_digest)}
        candidates.update(layer["digest"] for layer in manifest.get("layers", []))
        for digest in sorted(candidates):
            if not self.blob_referenced(digest):
                self.blobs.delete(Digest.parse(digest))

    def blob_referenced(self, digest: str) -> bool:
        row = self.db.one(
            "SELECT EXISTS(SELECT 1 FROM image_blobs WHERE digest = ?)"
            " OR EXISTS(SELECT 1 FROM layers WHERE blob_digest = ?)", (digest, digest))
        return bool(row and row[0])


def _manifest_blobs(manifest_bytes: bytes) -> list[str]:
    """The manifest's own digest, its config and its layers: the blobs an image holds."""
    manifest = json.loads(manifest_bytes)
    digests = [str(Digest.of_bytes(manifest_bytes)), manifest["config"]["digest"]]
    return digests + [layer["digest"] for layer in manifest.get("layers", [])]


def config_diff_ids(config_bytes: bytes, layer_count: int) -> list[Digest]:
    """The config's rootfs.diff_ids, checked against the manifest's layer count."""
    try:
        config = json.loads(config_bytes)
        diff_ids = [Digest.parse(d) for d in config["rootfs"]["diff_ids"] or []]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidManifest(f"read image config {Digest.of_bytes(config_bytes)}: no valid rootfs.diff_ids",
                              digest=str(Digest.of_bytes(config_bytes))) from exc
    if len(diff_ids) != layer_count:
        raise InvalidManifest(f"image config {Digest.of_bytes(config_bytes)} lists {len(diff_ids)} diff_ids "
                              f"but the manifest has {layer_count} layers", digest=str(Digest.of_bytes(config_bytes)))
    return diff_ids
