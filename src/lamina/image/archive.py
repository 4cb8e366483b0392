"""``save``/``load``: docker-archive (which is also an OCI layout, as docker 25+ writes it),
oci-archive and OCI layout directories.

Must not talk HTTP or run containers; it moves blobs between archives and the blob store.

Save writes the stored blobs as they are (compressed layers keep their digests, so the image
ID and manifest digest survive a round trip), plus ``manifest.json`` and ``repositories`` for
docker-archive. Entries are written in a fixed order with fixed metadata, so saving the same
images twice gives the same bytes.

Load streams the tar once: ``blobs/<alg>/<hex>`` entries go into the blob store verified
against their names; legacy layer files (``<id>/layer.tar``, ``<diffid>.tar``) are hashed
on the way in; small JSON files are kept in memory. Layers are then registered through the
LayerStore, which checks every diffID against the config. Anything added by a load that
fails is released again, so a failed load leaves no visible image or layer.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol

from lamina._internal.logs import get_logger
from lamina.digest import Digest
from lamina.errors import DigestMismatch, InvalidArchive, LaminaError, UnsupportedMediaType
from lamina.reference import Reference
from lamina.spec import mediatypes as mt
from lamina.spec.canonical import canonical_json

if TYPE_CHECKING:
    from lamina.image.layers import Layer
    from lamina.image.store import Image, ImageStore

log = get_logger(__name__)

_BLOB_NAME = re.compile(r"^blobs/(sha256|sha512)/([a-f0-9]+)$")
_JSON_LIMIT = 32 << 20
_FIXED_MTIME = 0
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"


@dataclass(frozen=True, slots=True)
class SaveItem:
    """One image to save and the names it is saved under (full references)."""

    image: Image
    names: tuple[str, ...]


# ---------------------------------------------------------------- save
class _Sink(Protocol):
    def add_bytes(self, name: str, data: bytes) -> None: ...
    def add_blob(self, name: str, stream: BinaryIO, size: int) -> None: ...
    def add_dir(self, name: str) -> None: ...


class TarSink:
    """Writes archive entries into a tar stream with fixed metadata."""

    def __init__(self, out: BinaryIO) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115 - closed by close()

    def _info(self, name: str, size: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.type, info.mtime = size, kind, _FIXED_MTIME
        info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        return info

    def add_dir(self, name: str) -> None:
        self.tar.addfile(self._info(name, 0, tarfile.DIRTYPE))

    def add_bytes(self, name: str, data: bytes) -> None:
        self.tar.addfile(self._info(name, len(data)), io.BytesIO(data))

    def add_blob(self, name: str, stream: BinaryIO, size: int) -> None:
        self.tar.addfile(self._info(name, size), stream)

    def close(self) -> None:
        self.tar.close()


class DirSink:
    """Writes archive entries as files under a directory (an OCI layout)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add_dir(self, name: str) -> None:
        (self.root / name).mkdir(parents=True, exist_ok=True)

    def add_bytes(self, name: str, data: bytes) -> None:
        from lamina._internal.fsops import atomic_write
        atomic_write(self.root / name, data)

    def add_blob(self, name: str, stream: BinaryIO, size: int) -> None:
        import shutil

        from lamina._internal.fsops import atomic_writer
        target = self.root / name
        if target.exists() and target.stat().st_size == size:
            return
        with atomic_writer(target) as f:
            shutil.copyfileobj(stream, f, 1 << 20)


def save(store: ImageStore, items: list[SaveItem], sink: _Sink, *, docker: bool = True) -> None:
    """Write *items* into *sink*: OCI layout files, plus manifest.json/repositories when *docker*."""
    index: list[dict[str, Any]] = []
    manifest_json: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    blobs: dict[str, int] = {}
    for item in items:
        manifest = store.manifest(item.image)
        mdesc = {"mediaType": item.image.manifest_media_type, "digest": str(item.image.manifest_digest),
                 "size": store.blobs.stat(item.image.manifest_digest)}
        for name in item.names or (None,):
            index.append(_index_entry(mdesc, name))
        for desc in [mdesc, manifest["config"], *manifest.get("layers", [])]:
            blobs[desc["digest"]] = desc["size"]
        layer_files = [_blob_name(d["digest"]) for d in manifest.get("layers", [])]
        manifest_json.append({"Config": _blob_name(manifest["config"]["digest"]),
                              "RepoTags": [Reference.parse(n).familiar() for n in item.names] or None,
                              "Layers": layer_files})
        top = item.image.top_chain.hex if item.image.top_chain else ""
        for name in item.names:
            ref = Reference.parse(name)
            repo, _, tag = ref.familiar().rpartition(":")
            repositories.setdefault(repo, {})[tag] = top
    sink.add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    for d in ("blobs", "blobs/sha256"):
        sink.add_dir(d)
    for digest, size in sorted(blobs.items()):
        with store.blobs.open(Digest.parse(digest), size) as reader:
            sink.add_blob(_blob_name(digest), reader, size)  # type: ignore[arg-type]
    sink.add_bytes("index.json", canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                                 "manifests": index}))
    if docker:
        sink.add_bytes("manifest.json", json.dumps(manifest_json, separators=(",", ":")).encode())
        if repositories:
            sink.add_bytes("repositories", json.dumps(repositories, separators=(",", ":")).encode())


def _blob_name(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return f"blobs/{algo}/{hexpart}"


def _index_entry(mdesc: dict[str, Any], name: str | None) -> dict[str, Any]:
    entry = dict(mdesc)
    if name:
        ref = Reference.parse(name)
        entry["annotations"] = {NAME_ANNOTATION: str(ref), REF_ANNOTATION: ref.tag or "latest"}
    return entry


# ---------------------------------------------------------------- load
@dataclass
class _Staged:
    """What a load has read so far: blob names → digests, small files, symlinks."""

    files: dict[str, Digest] = field(default_factory=dict)
    small: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    added_blobs: list[Digest] = field(default_factory=list)

    def digest_of(self, name: str) -> Digest:
        name = posixpath.normpath(name)
        for _ in range(8):
            if name in self.links:
                name = self.links[name]
        if name in self.files:
            return self.files[name]
        m = _BLOB_NAME.match(name)
        if m and name in self.small:
            return Digest(m.group(1), m.group(2))
        raise InvalidArchive(f"load: archive names {name!r} but does not contain it")

    def read(self, name: str, store: ImageStore) -> bytes:
        name = posixpath.normpath(name)
        if name in self.small:
            return self.small[name]
        return store.blobs.read_bytes(self.digest_of(name))


@dataclass(frozen=True, slots=True)
class LoadedImage:
    image: Image
    names: tuple[str, ...]


def load(store: ImageStore, source: BinaryIO | Path) -> list[LoadedImage]:
    """Load every image in a docker-archive, oci-archive (tar, optionally compressed) or OCI layout dir.

    Raises InvalidArchive, DigestMismatch/SizeMismatch, UnsupportedMediaType; on error nothing
    the load added stays visible.
    """
    staged = _Staged()
    created: list[Layer] = []
    try:
        if isinstance(source, Path):
            _stage_dir(store, source, staged)
        else:
            _stage_tar(store, source, staged)
        return _register(store, staged, created)
    except BaseException:
        _rollback(store, staged, created)
        raise


def _stage_tar(store: ImageStore, source: BinaryIO, staged: _Staged) -> None:
    from lamina.layer.compression import open_decompressed
    try:
        with tarfile.open(fileobj=open_decompressed(source), mode="r|") as tar:
            for member in tar:
                _stage_member(store, tar, member, staged)
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidArchive(f"load: not a valid tar archive: {exc}") from exc


def _safe_name(name: str) -> str:
    clean = posixpath.normpath(name.lstrip("./") if name.startswith("./") else name)
    if clean.startswith(("/", "..")) or "\0" in clean:
        raise InvalidArchive(f"load: archive entry {name!r} escapes the archive")
    return clean


def _stage_member(store: ImageStore, tar: tarfile.TarFile, member: tarfile.TarInfo, staged: _Staged) -> None:
    name = _safe_name(member.name)
    if member.issym() or member.islnk():
        target = member.linkname if member.islnk() else posixpath.join(posixpath.dirname(name),
                                                                         member.linkname)
        staged.links[name] = _safe_name(target)
        return
    if not member.isfile():
        return
    stream = tar.extractfile(member)
    if stream is None:
        return
    _stage_file(store, name, stream, member.size, staged)


def _stage_file(store: ImageStore, name: str, stream: IO[bytes], size: int, staged: _Staged) -> None:
    m = _BLOB_NAME.match(name)
    if m is None and size <= _JSON_LIMIT and (name.endswith(".json") or name in ("repositories", "oci-layout")):
        staged.small[name] = stream.read()
        return
    expected = Digest(m.group(1), m.group(2)) if m else None
    existed = expected is not None and store.blobs.exists(expected)
    info = store.blobs.put(stream, expected=expected, size=size)
    if not existed:
        staged.added_blobs.append(info.digest)
    staged.files[name] = info.digest


def _stage_dir(store: ImageStore, root: Path, staged: _Staged) -> None:
    if not root.is_dir():
        raise InvalidArchive(f"load: {root} is not a directory", path=str(root))
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink() or not path.is_file():
            continue
        with open(path, "rb") as f:
            _stage_file(store, rel, f, path.stat().st_size, staged)


def _register(store: ImageStore, staged: _Staged, created: list[Layer]) -> list[LoadedImage]:
    # index.json first: it keeps the original manifests (and so their digests) of archives
    # that are both (lamina's and docker 25+'s); older docker and podman archives have only manifest.json
    if "index.json" in staged.small:
        entries = list(_oci_entries(store, staged))
    elif "manifest.json" in staged.small:
        entries = list(_docker_entries(store, staged))
    else:
        raise InvalidArchive("load: archive has neither manifest.json nor index.json")
    if not entries:
        raise InvalidArchive("load: archive contains no images")
    loaded = []
    for config_bytes, layer_blobs, names, manifest in entries:
        layers = store.ensure_layers(config_bytes, layer_blobs, created)
        if manifest is None:
            manifest = _manifest_for(config_bytes, layer_blobs)
        image = store.add(config_bytes, layers, tags=list(names), manifest_bytes=manifest)
        loaded.append(LoadedImage(image, tuple(names)))
    return loaded


def _manifest_for(config_bytes: bytes, layer_blobs: list[tuple[Digest, int, str]]) -> bytes:
    return canonical_json({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of_bytes(config_bytes)),
                   "size": len(config_bytes)},
        "layers": [{"mediaType": media, "digest": str(d), "size": s} for d, s, media in layer_blobs]})


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArchive(f"load: {what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidArchive(f"load: {what} is not a JSON object")
    return value


def _sniff_media(store: ImageStore, digest: Digest) -> str:
    from lamina.layer.compression import sniff
    with open(store.blobs.path(digest), "rb") as f:
        kind = sniff(f.read(8))
    return {"gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD}.get(kind, mt.OCI_LAYER)


_Entry = tuple[bytes, list[tuple[Digest, int, str]], list[str], bytes | None]


def _docker_entries(store: ImageStore, staged: _Staged) -> Iterator[_Entry]:
    try:
        manifest = json.loads(staged.small["manifest.json"])
    except ValueError as exc:
        raise InvalidArchive(f"load: manifest.json is not valid JSON: {exc}") from exc
    if not isinstance(manifest, list):
        raise InvalidArchive("load: manifest.json is not a list")
    for entry in manifest:
        config_name = entry.get("Config")
        if not isinstance(config_name, str):
            raise InvalidArchive("load: manifest.json entry without Config")
        config_bytes = staged.read(config_name, store)
        _check_config_name(config_name, config_bytes)
        layers = []
        for name in entry.get("Layers") or []:
            digest = staged.digest_of(name)
            layers.append((digest, store.blobs.stat(digest), _sniff_media(store, digest)))
        names = [str(Reference.parse(t)) for t in entry.get("RepoTags") or []]
        yield config_bytes, layers, names, None


def _check_config_name(name: str, data: bytes) -> None:
    """Legacy archives name the config ``<hex>.json``: that hex must be its digest."""
    base = posixpath.basename(name)
    if re.fullmatch(r"[a-f0-9]{64}\.json", base):
        actual = Digest.of_bytes(data)
        if actual.hex != base[:-5]:
            raise DigestMismatch(f"sha256:{base[:-5]}", str(actual), what=f"config {name}")


def _oci_entries(store: ImageStore, staged: _Staged) -> Iterator[_Entry]:
    from lamina.spec.descriptor import Platform
    index = _json(staged.small["index.json"], "index.json")
    for desc in index.get("manifests") or []:
        yield from _oci_manifest(store, desc, _names(desc), Platform.current())


def _names(desc: dict[str, Any]) -> list[str]:
    ann = desc.get("annotations") or {}
    for candidate in (ann.get(NAME_ANNOTATION), ann.get(REF_ANNOTATION)):
        if candidate and ("/" in candidate or ":" in candidate):
            try:
                return [str(Reference.parse(candidate))]
            except LaminaError:
                continue
    return []


def _oci_manifest(store: ImageStore, desc: dict[str, Any], names: list[str],
                  platform: Any) -> Iterator[_Entry]:
    media = desc.get("mediaType", "")
    digest = Digest.parse(desc["digest"])
    data = store.blobs.read_bytes(digest, desc.get("size"))
    doc = _json(data, f"manifest {digest}")
    media = media or doc.get("mediaType", "")
    if mt.is_index(media):
        chosen = _pick_platform(doc.get("manifests") or [], platform, str(digest))
        yield from _oci_manifest(store, chosen, names, platform)
        return
    if not mt.is_manifest(media):
        raise UnsupportedMediaType(media, f"load: {digest} has unsupported media type {media!r}")
    config = doc["config"]
    config_bytes = store.blobs.read_bytes(Digest.parse(config["digest"]), config.get("size"))
    layers = [(Digest.parse(layer["digest"]), int(layer["size"]), layer["mediaType"])
              for layer in doc.get("layers") or []]
    yield config_bytes, layers, names, data


def _pick_platform(manifests: list[dict[str, Any]], platform: Any, where: str) -> dict[str, Any]:
    from lamina.errors import UnsupportedPlatform
    from lamina.spec.descriptor import Platform
    for m in manifests:
        p = m.get("platform")
        if p and platform.matches(Platform(architecture=p.get("architecture", ""), os=p.get("os", ""),
                                           variant=p.get("variant"))):
            return m
    if len(manifests) == 1:
        return manifests[0]
    raise UnsupportedPlatform(f"load: index {where} has no manifest for {platform}")


def _rollback(store: ImageStore, staged: _Staged, created: Iterable[Layer]) -> None:
    for layer in reversed(list(created)):
        try:
            store.layers.release(layer.chain_id)
        except LaminaError as exc:  # pragma: no cover - best effort cleanup
            log.warning("load rollback: release %s: %s", layer.chain_id, exc)
    for digest in staged.added_blobs:
        if not store.blob_referenced(str(digest)):
            store.blobs.delete(digest)


def open_source(path: str) -> BinaryIO | Path:
    """A directory is an OCI layout; anything else is read as a (possibly compressed) tar."""
    p = Path(path)
    if p.is_dir():
        return p
    if not p.exists():
        from lamina.errors import PathNotFound
        raise PathNotFound(path, f"load {path}: no such file or directory")
    return open(p, "rb")


