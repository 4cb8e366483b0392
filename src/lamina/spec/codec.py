"""Canonical JSON encoding and strict decoding of OCI / Docker schema2 documents into spec dataclasses.

Must not do I/O: it turns bytes into values and values into bytes.

Decoding checks what the OCI JSON schemas check (required members, JSON
types, media-type and digest grammar, int64 sizes, URIs, string maps,
platforms) plus what upstream's Go types enforce (padded base64 ``data``,
``KEY=value`` Env entries, lower-case hex for sha256/sha512). It also refuses
duplicate object keys and NaN (parser-differential defences). A malformed
document raises ``InvalidManifest`` whose ``field`` is the JSON path
(``layers[0].size``). A well-formed digest whose algorithm lamina cannot
verify (``sha256+b64:…``) is valid OCI but raises ``UnsupportedDigest``, and
only after the whole document passed validation. Docker schema1 raises
``UnsupportedMediaType``.

Members lamina does not model are kept in each value's ``extra`` so an
encode after a decode loses nothing. JSON ``null`` and an absent member are
the same value (``None``, omitted on encode), as in Go.

Canonical form (``canonical_json``): keys sorted, no insignificant spaces,
UTF-8, and Go's ``json.Marshal`` escaping of ``<``, ``>``, ``&``, U+2028 and
U+2029 as ``\\u003c`` etc. Go-built images (docker, containerd, buildkit)
carry these escapes, so lamina's documents read the same; the digest of a
document is always taken over the exact bytes produced here and stored.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

from lamina.digest import Digest
from lamina.errors import InvalidDigest, InvalidManifest, UnsupportedDigest, UnsupportedMediaType
from lamina.spec import mediatypes as mt
from lamina.spec.canonical import canonical_json as plain_canonical_json
from lamina.spec.descriptor import Descriptor, Platform
from lamina.spec.imageconfig import ContainerConfig, HealthConfig, History, ImageConfig, RootFS
from lamina.spec.manifest import Index, Manifest

Check = Callable[[Any, str], None]
T = TypeVar("T")

INT64_MAX = 2**63 - 1
DIGEST_PATTERN = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_REGISTERED_HEX_LEN = {"sha256": 64, "sha512": 128}  # OCI's registered algorithms; lower-case hex only
_LOWER_HEX = re.compile(r"[a-f0-9]+")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]*")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")

DESCRIPTOR_NAMES = {"media_type": "mediaType", "artifact_type": "artifactType", "digest": "digest",
                    "size": "size", "urls": "urls", "annotations": "annotations", "data": "data",
                    "platform": "platform"}
PLATFORM_NAMES = {"architecture": "architecture", "os": "os", "os_version": "os.version",
                  "os_features": "os.features", "variant": "variant"}
MANIFEST_NAMES = {"schema_version": "schemaVersion", "media_type": "mediaType",
                  "artifact_type": "artifactType", "config": "config", "layers": "layers",
                  "subject": "subject", "annotations": "annotations"}
INDEX_NAMES = {"schema_version": "schemaVersion", "media_type": "mediaType", "artifact_type": "artifactType",
               "manifests": "manifests", "subject": "subject", "annotations": "annotations"}
JSON_NAMES: dict[type, dict[str, str]] = {
    Descriptor: DESCRIPTOR_NAMES, Platform: PLATFORM_NAMES, Manifest: MANIFEST_NAMES, Index: INDEX_NAMES,
    ImageConfig: ImageConfig.JSON_NAMES, ContainerConfig: ContainerConfig.JSON_NAMES,
    HealthConfig: HealthConfig.JSON_NAMES, History: History.JSON_NAMES, RootFS: RootFS.JSON_NAMES,
}


class _Invalid(Exception):
    """Raised by checks; turned into InvalidManifest with the document kind by ``_validate``."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}")
        self.where = where


# ---------------------------------------------------------------- encoding
def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes (see module docstring); dataclasses are encoded first.

    Lone surrogates become U+FFFD, as Go does for invalid UTF-8.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = encode(obj)
    return plain_canonical_json(obj)


def to_json(obj: Any) -> bytes:
    """``canonical_json(encode(obj))`` for a spec dataclass."""
    return canonical_json(encode(obj))


def encode(obj: Any) -> dict[str, Any]:
    """A spec dataclass as its JSON object (``None`` members omitted, ``extra`` merged back)."""
    names = JSON_NAMES.get(type(obj))
    if names is None:
        raise TypeError(f"encode: not a spec value: {type(obj).__name__}")
    out: dict[str, Any] = dict(obj.extra)
    for attr, key in names.items():
        value = getattr(obj, attr)
        if value is not None:
            out[key] = _encode_value(value)
    return out


def _encode_value(value: Any) -> Any:
    if type(value) in JSON_NAMES:
        return encode(value)
    if isinstance(value, Digest):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [_encode_value(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _encode_value(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- checks (the schema, as code)
def _fail(where: str, detail: str) -> NoReturn:
    raise _Invalid(where, detail)


def _type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
             float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _string(pattern: re.Pattern[str] | None = None, what: str = "") -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, str):
            _fail(where, f"must be a string, got {_type_name(value)}")
        if pattern is not None and not pattern.fullmatch(value):
            _fail(where, f"{value!r} is not a valid {what}")
    return check


def _integer(low: int, high: int) -> Check:
    def check(value: Any, where: str) -> None:
        if type(value) is not int:
            _fail(where, f"must be an integer, got {_type_name(value)}")
        if not low <= value <= high:
            _fail(where, f"{value} is out of range [{low}, {high}]")
    return check


def _boolean(value: Any, where: str) -> None:
    if type(value) is not bool:
        _fail(where, f"must be a boolean, got {_type_name(value)}")


def _array(item: Check, min_items: int = 0) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, list):
            _fail(where, f"must be an array, got {_type_name(value)}")
        if len(value) < min_items:
            _fail(where, f"must have at least {min_items} item(s)")
        for i, element in enumerate(value):
            item(element, f"{where}[{i}]")
    return check


def _map(item: Check) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            _fail(where, f"must be an object, got {_type_name(value)}")
        for key, element in value.items():
            item(element, f"{where}.{key}")
    return check


def _object_value(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        _fail(where, f"must be an object, got {_type_name(value)}")


def _nullable(check: Check) -> Check:
    def nullable(value: Any, where: str) -> None:
        if value is not None:
            check(value, where)
    return nullable


def _object(fields: Mapping[str, tuple[bool, Check]]) -> Check:
    """Check a JSON object: required members present, known members well-typed, others ignored."""
    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            _fail(where, f"must be an object, got {_type_name(value)}")
        prefix = f"{where}." if where else ""
        for key, (required, member) in fields.items():
            if key in value:
                member(value[key], prefix + key)
            elif required:
                _fail(prefix + key, "is required")
    return check


def _digest(value: Any, where: str) -> None:
    _string(DIGEST_PATTERN, "digest")(value, where)
    algorithm, _, encoded = value.partition(":")
    want = _REGISTERED_HEX_LEN.get(algorithm)
    if want is not None and (len(encoded) != want or not _LOWER_HEX.fullmatch(encoded)):
        _fail(where, f"{algorithm} needs {want} lower-case hex digits")


def _base64(value: Any, where: str) -> None:
    _string()(value, where)
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        _fail(where, f"is not padded standard base64: {exc}")


def _env_entry(value: Any, where: str) -> None:
    _string()(value, where)
    if value.find("=") < 1:
        _fail(where, f"{value!r} is not KEY=value")


_MEDIA_TYPE = _string(re.compile(mt.MEDIA_TYPE_PATTERN), "media type (RFC 6838)")
_STRING = _string()
_STRINGS = _array(_STRING)
_STRING_MAP = _map(_STRING)
_OBJECT_MAP = _map(_object_value)
_DATE = _string(_DATE_TIME, "RFC 3339 date-time")
_PLATFORM = _object({
    "architecture": (True, _STRING), "os": (True, _STRING), "os.version": (False, _STRING),
    "os.features": (False, _STRINGS), "variant": (False, _STRING),
})
_DESCRIPTOR_FIELDS = _object({
    "mediaType": (True, _MEDIA_TYPE), "digest": (True, _digest), "size": (True, _integer(0, INT64_MAX)),
    "urls": (False, _array(_string(_URI, "URI"))), "annotations": (False, _STRING_MAP),
    "data": (False, _base64), "artifactType": (False, _MEDIA_TYPE), "platform": (False, _PLATFORM),
})
def _descriptor_check(value: Any, where: str) -> None:
    """The descriptor schema plus OCI's rule that embedded ``data`` matches ``size`` and ``digest``."""
    _DESCRIPTOR_FIELDS(value, where)
    if "data" not in value:
        return
    data = base64.b64decode(value["data"])
    prefix = f"{where}." if where else ""
    if len(data) != value["size"]:
        _fail(prefix + "data", f"holds {len(data)} bytes but size is {value['size']}")
    algorithm, _, encoded = value["digest"].partition(":")
    if algorithm in _REGISTERED_HEX_LEN and Digest.of_bytes(data, algorithm).hex != encoded:
        _fail(prefix + "data", "does not match digest")


DESCRIPTOR_CHECK = _descriptor_check


_SCHEMA_VERSION = _integer(2, 2)


def _manifest_check(lenient: bool) -> Check:
    return _object({
        "schemaVersion": (True, _SCHEMA_VERSION), "mediaType": (False, _MEDIA_TYPE),
        "artifactType": (False, _MEDIA_TYPE), "config": (True, DESCRIPTOR_CHECK),
        "layers": (True, _array(DESCRIPTOR_CHECK, min_items=0 if lenient else 1)),
        "subject": (False, DESCRIPTOR_CHECK), "annotations": (False, _STRING_MAP),
    })


def _index_check(lenient: bool) -> Check:
    manifests = _array(DESCRIPTOR_CHECK)
    return _object({
        "schemaVersion": (True, _SCHEMA_VERSION), "mediaType": (False, _MEDIA_TYPE),
        "artifactType": (False, _MEDIA_TYPE), "subject": (False, DESCRIPTOR_CHECK),
        "manifests": (True, _nullable(manifests) if lenient else manifests),
        "annotations": (False, _STRING_MAP),
    })


# Docker-only members (Healthcheck, OnBuild, Shell …) accept null: docker writes `"OnBuild": null`.
_DURATION = _integer(0, INT64_MAX)
_HEALTH = _object({"Test": (False, _nullable(_STRINGS)), "Interval": (False, _DURATION),
                   "Timeout": (False, _DURATION), "StartPeriod": (False, _DURATION),
                   "StartInterval": (False, _DURATION), "Retries": (False, _DURATION)})
_CONTAINER_CONFIG = _object({
    "User": (False, _STRING), "ExposedPorts": (False, _OBJECT_MAP),
    "Env": (False, _nullable(_array(_env_entry))),
    "Entrypoint": (False, _nullable(_STRINGS)), "Cmd": (False, _nullable(_STRINGS)),
    "Volumes": (False, _nullable(_OBJECT_MAP)), "WorkingDir": (False, _STRING),
    "Labels": (False, _nullable(_STRING_MAP)), "StopSignal": (False, _STRING),
    "ArgsEscaped": (False, _boolean),
    "Hostname": (False, _STRING), "Domainname": (False, _STRING), "Image": (False, _STRING),
    "AttachStdin": (False, _boolean), "AttachStdout": (False, _boolean), "AttachStderr": (False, _boolean),
    "Tty": (False, _boolean), "OpenStdin": (False, _boolean), "StdinOnce": (False, _boolean),
    "NetworkDisabled": (False, _boolean), "MacAddress": (False, _STRING),
    "Healthcheck": (False, _nullable(_HEALTH)), "OnBuild": (False, _nullable(_STRINGS)),
    "Shell": (False, _nullable(_STRINGS)), "StopTimeout": (False, _nullable(_integer(-(2**31), 2**31 - 1))),
})
_HISTORY = _object({"created": (False, _DATE), "author": (False, _STRING), "created_by": (False, _STRING),
                    "comment": (False, _STRING), "empty_layer": (False, _boolean)})
CONFIG_CHECK = _object({
    "created": (False, _DATE), "author": (False, _STRING), "architecture": (True, _STRING),
    "os": (True, _STRING), "variant": (False, _STRING), "os.version": (False, _STRING),
    "os.features": (False, _STRINGS), "config": (False, _nullable(_CONTAINER_CONFIG)),
    "rootfs": (True, _object({"diff_ids": (True, _array(_digest)),
                              "type": (True, _string(re.compile("layers"), "rootfs type"))})),
    "history": (False, _array(_HISTORY)),
})
LAYOUT_CHECK = _object({"imageLayoutVersion": (True, _string(re.compile(r"1\.0\.0"), "layout version"))})


# ---------------------------------------------------------------- decoding
Source = bytes | str | Mapping[str, Any]


def decode_descriptor(data: Source) -> Descriptor:
    """Decode one content descriptor (``application/vnd.oci.descriptor.v1+json``)."""
    obj = _load(data, "descriptor")
    _validate(DESCRIPTOR_CHECK, obj, "descriptor")
    return _descriptor(obj, "")


def decode_manifest(data: Source, expected_media_type: str | None = None, *,
                    lenient: bool = False) -> Manifest:
    """Decode an image manifest (OCI or Docker schema2).

    ``expected_media_type`` is what the caller was told (a ``Content-Type``,
    a parent descriptor); when it is a manifest/index type and the document
    declares another, that is an ``InvalidManifest``. Generic types such as
    ``application/json`` are ignored. A document without ``mediaType`` gets
    the expected type, else the OCI one. ``lenient`` accepts an empty
    ``layers`` list (docker 25.0.0's ``docker save`` wrote such manifests).
    Raises InvalidManifest, UnsupportedMediaType (schema1, not a manifest),
    UnsupportedDigest.
    """
    obj = _load(data, "manifest")
    media_type = _media_type(obj, expected_media_type, "manifest", mt.OCI_MANIFEST)
    _validate(_manifest_check(lenient), obj, "manifest")
    _expect_kind(media_type, mt.is_manifest, "manifest")
    return _build(Manifest, obj, MANIFEST_NAMES, media_type=lambda _: media_type,
                  config=lambda d: _descriptor(d, "config."),
                  layers=lambda ds: [_descriptor(d, f"layers[{i}].") for i, d in enumerate(ds)],
                  subject=lambda d: _descriptor(d, "subject."))


def decode_index(data: Source, expected_media_type: str | None = None, *, lenient: bool = False) -> Index:
    """Decode an image index / Docker manifest list; see ``decode_manifest`` for the rules.

    ``lenient`` accepts ``"manifests": null`` (docker 25's ``docker save`` of digest references).
    """
    obj = _load(data, "index")
    media_type = _media_type(obj, expected_media_type, "index", mt.OCI_INDEX)
    _validate(_index_check(lenient), obj, "index")
    _expect_kind(media_type, mt.is_index, "index")
    if obj.get("manifests") is None:
        obj = {**obj, "manifests": []}
    return _build(Index, obj, INDEX_NAMES, media_type=lambda _: media_type,
                  manifests=lambda ds: [_descriptor(d, f"manifests[{i}].") for i, d in enumerate(ds)],
                  subject=lambda d: _descriptor(d, "subject."))


def decode_manifest_or_index(data: Source, media_type: str | None = None, *,
                             lenient: bool = False) -> Manifest | Index:
    """Decode whichever the document is, judged by its ``mediaType``, then ``media_type``, then shape."""
    obj = _load(data, "manifest")
    declared = obj.get("mediaType")
    kind = declared if isinstance(declared, str) else _base_type(media_type)
    if mt.is_index(kind or "") or (not mt.is_manifest(kind or "") and "manifests" in obj):
        return decode_index(obj, media_type, lenient=lenient)
    return decode_manifest(obj, media_type, lenient=lenient)


def decode_config(data: Source) -> ImageConfig:
    """Decode an image config (OCI ``config.v1`` or Docker ``container.image.v1``)."""
    obj = _load(data, "config")
    _validate(CONFIG_CHECK, obj, "config")
    return _build(ImageConfig, obj, ImageConfig.JSON_NAMES, config=_container_config,
                  rootfs=lambda d: _build(RootFS, d, RootFS.JSON_NAMES, diff_ids=_diff_ids),
                  history=lambda hs: [_build(History, h, History.JSON_NAMES) for h in hs])


def decode_image_layout(data: Source) -> str:
    """Decode an ``oci-layout`` file; returns its ``imageLayoutVersion`` (only ``1.0.0`` exists)."""
    obj = _load(data, "oci-layout")
    _validate(LAYOUT_CHECK, obj, "oci-layout")
    return str(obj["imageLayoutVersion"])


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _load(data: Source, kind: str) -> dict[str, Any]:
    if isinstance(data, Mapping):
        return dict(data)
    try:
        obj = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidManifest(f"decode {kind}: invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidManifest(f"decode {kind}: must be a JSON object, got {_type_name(obj)}")
    return obj


def _validate(check: Check, obj: dict[str, Any], kind: str) -> None:
    try:
        check(obj, "")
    except _Invalid as exc:
        raise InvalidManifest(f"decode {kind}: {exc}", field=exc.where) from None


def _base_type(media_type: str | None) -> str | None:
    """``application/x; charset=utf-8`` → ``application/x`` (HTTP Content-Type parameters dropped)."""
    return media_type.split(";", 1)[0].strip() if media_type else None


def _media_type(obj: dict[str, Any], expected: str | None, kind: str, default: str) -> str:
    declared = obj.get("mediaType")
    want = _base_type(expected)
    version = obj.get("schemaVersion")
    if (type(version) is int and version == 1) or mt.is_schema1(str(declared)) or mt.is_schema1(want or ""):
        schema1 = declared if isinstance(declared, str) else want or mt.DOCKER_SCHEMA1_MANIFEST
        raise UnsupportedMediaType(schema1, f"decode {kind}: docker schema1 manifests are not supported")
    if want is not None and not (mt.is_manifest(want) or mt.is_index(want)):
        want = None
    if isinstance(declared, str) and want is not None and declared != want:
        raise InvalidManifest(f"decode {kind}: mediaType {declared} does not match the expected {want}",
                              field="mediaType")
    return declared if isinstance(declared, str) else (want or default)


def _expect_kind(media_type: str, predicate: Callable[[str], bool], kind: str) -> None:
    if not predicate(media_type):
        raise UnsupportedMediaType(media_type,
                                   f"decode {kind}: {media_type} is not an image {kind} media type")


def _extra(obj: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    known = set(names.values())
    return {k: v for k, v in obj.items() if k not in known}


def _build(cls: Callable[..., T], obj: Mapping[str, Any], names: Mapping[str, str],
           **convert: Callable[[Any], Any]) -> T:
    """Construct ``cls`` from a validated object: JSON names → attributes, nulls → None."""
    kwargs: dict[str, Any] = {}
    for attr, key in names.items():
        value = obj.get(key)
        if attr in convert and (value is not None or attr == "media_type"):
            value = convert[attr](value)
        if value is not None:
            kwargs[attr] = value
    return cls(**kwargs, extra=_extra(obj, names))


def _digest_value(text: str, where: str) -> Digest:
    try:
        return Digest.parse(text)
    except InvalidDigest:  # validated already, so only the algorithm can be unknown here
        raise UnsupportedDigest(text, field=where.rstrip(".") or None) from None


def _descriptor(obj: Mapping[str, Any], where: str) -> Descriptor:
    return _build(Descriptor, obj, DESCRIPTOR_NAMES,
                  digest=lambda text: _digest_value(text, f"{where}digest"),
                  data=base64.b64decode,
                  platform=lambda p: _build(Platform, p, PLATFORM_NAMES))


def _diff_ids(items: list[str]) -> list[Digest]:
    return [_digest_value(text, f"rootfs.diff_ids[{i}]") for i, text in enumerate(items)]


def _container_config(obj: Mapping[str, Any]) -> ContainerConfig:
    return _build(ContainerConfig, obj, ContainerConfig.JSON_NAMES,
                  healthcheck=lambda h: _build(HealthConfig, h, HealthConfig.JSON_NAMES))


_DOCUMENT_CHECKS: dict[str, Callable[[], Check]] = {
    mt.OCI_DESCRIPTOR: lambda: DESCRIPTOR_CHECK,
    mt.OCI_MANIFEST: lambda: _manifest_check(False), mt.DOCKER_MANIFEST: lambda: _manifest_check(False),
    mt.OCI_INDEX: lambda: _index_check(False), mt.DOCKER_MANIFEST_LIST: lambda: _index_check(False),
    mt.OCI_CONFIG: lambda: CONFIG_CHECK, mt.DOCKER_CONFIG: lambda: CONFIG_CHECK,
    mt.OCI_LAYOUT_HEADER: lambda: LAYOUT_CHECK,
}


def validate_document(media_type: str, data: Source) -> None:
    """Check a document against the OCI schema for ``media_type`` without building values.

    Unlike the decoders this accepts digests with algorithms lamina cannot
    verify (they are valid OCI). Raises InvalidManifest, or
    UnsupportedMediaType for a media type with no schema.
    """
    make = _DOCUMENT_CHECKS.get(media_type)
    if make is None:
        raise UnsupportedMediaType(media_type, f"validate document: no schema for {media_type}")
    _validate(make(), _load(data, "document"), "document")
