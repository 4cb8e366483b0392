"""Every file of the OCI image-spec conformance corpus is a test (see shared/conformance/README.md §3).

Examples and validation vectors must get their expected verdict from lamina's
decoders AND, as an independent cross-check, from the upstream JSON schemas
run through ``jsonschema`` (draft-04) plus the few non-schema checks upstream
performs in Go. Schemas are checked to be valid draft-04 and resolvable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from lamina.errors import InvalidManifest, UnsupportedDigest
from lamina.spec import codec
from lamina.spec import mediatypes as mt


def _corpus_root() -> Path:
    here = Path(__file__).resolve()
    for base in (here.parents[4], here.parents[3].parent):
        if (base / "shared" / "conformance").exists():
            return base / "shared" / "conformance" / "oci-image-spec"
    return here.parents[4] / "shared" / "conformance" / "oci-image-spec"


ROOT = _corpus_root()


def _files(sub: str) -> list[str]:
    if not (ROOT / sub).exists():
        return [f"{sub}/<missing>"]
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / sub).rglob("*.json"))


def _entries() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for index in ("examples/index.json", "validation-vectors/index.json"):
        if (ROOT / index).exists():
            out.update({e["file"]: e for e in json.loads((ROOT / index).read_text())})
    return out


ENTRIES = _entries()
DOCUMENTS = [f for f in _files("examples") + _files("validation-vectors") if Path(f).name != "index.json"]
ROUND_TRIPPABLE = [f for f in DOCUMENTS if ENTRIES.get(f, {}).get("expect") == "valid"
                   and ENTRIES[f]["mediaType"] != mt.OCI_LAYOUT_HEADER]
SCHEMAS = _files("schema")

DECODERS: dict[str, Callable[[bytes], object]] = {
    mt.OCI_DESCRIPTOR: codec.decode_descriptor,
    mt.OCI_MANIFEST: codec.decode_manifest,
    mt.OCI_INDEX: codec.decode_index,
    mt.OCI_CONFIG: codec.decode_config,
    mt.OCI_LAYOUT_HEADER: codec.decode_image_layout,
}
SCHEMA_FOR = {
    mt.OCI_DESCRIPTOR: "content-descriptor.json",
    mt.OCI_MANIFEST: "image-manifest-schema.json",
    mt.OCI_INDEX: "image-index-schema.json",
    mt.OCI_CONFIG: "config-schema.json",
    mt.OCI_LAYOUT_HEADER: "image-layout-schema.json",
}
# Extra ids each schema is reachable under (README §3 step 1), besides its file name and own "id".
ALIASES = {
    "config-schema.json": ["https://opencontainers.org/schema/image/config"],
    "content-descriptor.json": ["https://opencontainers.org/schema/descriptor",
                                "https://opencontainers.org/schema/image/content-descriptor.json"],
    "defs-descriptor.json": ["https://opencontainers.org/schema/image/descriptor/mediaType",
                             "https://opencontainers.org/schema/defs-descriptor.json",
                             "https://opencontainers.org/schema/image/defs-descriptor.json"],
    "defs.json": ["https://opencontainers.org/schema/defs.json",
                  "https://opencontainers.org/schema/image/defs.json",
                  "https://opencontainers.org/schema/image/descriptor/defs.json"],
    "image-index-schema.json": ["https://opencontainers.org/schema/image/index"],
    "image-layout-schema.json": ["https://opencontainers.org/schema/image/layout"],
    "image-manifest-schema.json": ["https://opencontainers.org/schema/image/manifest"],
}
# backwards_compatibility vectors: upstream swaps Docker media types for OCI ones before validating.
DOCKER_TO_OCI = [
    (mt.DOCKER_MANIFEST_LIST, mt.OCI_INDEX),
    (mt.DOCKER_MANIFEST, mt.OCI_MANIFEST),
    (mt.DOCKER_LAYER_GZIP, mt.OCI_LAYER_GZIP),
    (mt.DOCKER_CONFIG, mt.OCI_CONFIG),
]
REGISTERED_HEX = {"sha256": 64, "sha512": 128}


@pytest.fixture(scope="module")
def registry() -> Registry:
    resources = []
    for name, aliases in ALIASES.items():
        resource = DRAFT4.create_resource(json.loads((ROOT / "schema" / name).read_text()))
        resources += [(uri, resource) for uri in [name, *aliases]]
    return Registry().with_resources(resources)


def _schema_verdict(registry: Registry, media_type: str, raw: bytes) -> str:
    """upstream's validation: strict JSON decode, the Go-type checks, then the JSON schema."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return "invalid"
    if not _go_type_checks(media_type, doc):
        return "invalid"
    schema = json.loads((ROOT / "schema" / SCHEMA_FOR[media_type]).read_text())
    validator = Draft4Validator(schema, registry=registry)
    return "valid" if validator.is_valid(doc) else "invalid"


def _descriptors(media_type: str, doc: Any) -> list[Any]:
    if media_type == mt.OCI_DESCRIPTOR:
        return [doc]
    if media_type == mt.OCI_MANIFEST:
        return [doc.get("config"), *doc.get("layers", []), doc.get("subject")]
    if media_type == mt.OCI_INDEX:
        return [*doc.get("manifests", []), doc.get("subject")]
    return []


def _go_type_checks(media_type: str, doc: Any) -> bool:
    """The non-schema checks upstream performs (README §3 step 2), written independently of lamina."""
    if media_type == mt.OCI_CONFIG and isinstance(doc.get("config"), dict):
        env = doc["config"].get("Env") or []
        if any(isinstance(e, str) and not re.fullmatch(r"[^=]+=.*", e) for e in env):
            return False
    for desc in _descriptors(media_type, doc):
        if not isinstance(desc, dict):
            continue
        algorithm, _, encoded = str(desc.get("digest", "")).partition(":")
        want = REGISTERED_HEX.get(algorithm)
        if want and not re.fullmatch(rf"[a-f0-9]{{{want}}}", encoded):
            return False
        urls = [u for u in desc.get("urls", []) if isinstance(u, str)]
        if any(not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", u) for u in urls):
            return False
        if isinstance(desc.get("data"), str):
            try:
                base64.b64decode(desc["data"], validate=True)
            except binascii.Error:
                return False
    return True


def _oci_text(raw: bytes) -> bytes:
    for docker, oci in DOCKER_TO_OCI:
        raw = raw.replace(docker.encode(), oci.encode())
    return raw


def _lamina_verdict(media_type: str, raw: bytes) -> str:
    try:
        DECODERS[media_type](raw)
    except InvalidManifest:
        return "invalid"
    except UnsupportedDigest:
        # valid OCI, but an algorithm lamina cannot verify: it must still pass schema validation
        codec.validate_document(media_type, raw)
        return "valid-unsupported-digest"
    return "valid"


def _uses_unregistered_algorithm(raw: bytes) -> bool:
    digests = re.findall(rb'"digest"\s*:\s*"([^"]*)"', raw)
    return any(d.split(b":")[0].decode() not in REGISTERED_HEX for d in digests)


@pytest.mark.parametrize("rel", DOCUMENTS)
def test_document_verdict_matches_upstream(rel, conformance, registry):
    entry = ENTRIES.get(rel)
    assert entry is not None, f"{rel} is not listed in its index.json"
    media_type, expect = entry["mediaType"], entry["expect"]
    raw = (ROOT / rel).read_bytes()
    if "backwards_compatibility" in rel:
        assert f"sha256:{hashlib.sha256(raw).hexdigest()}" == entry["sha256_of_file_bytes"]
        assert _lamina_verdict(media_type, raw) == expect  # lamina reads the Docker original as is
        raw = _oci_text(raw)
    assert _schema_verdict(registry, media_type, raw) == expect, entry.get("comment")
    got = _lamina_verdict(media_type, raw)
    if got == "valid-unsupported-digest":
        assert expect == "valid" and _uses_unregistered_algorithm(raw)
    else:
        assert got == expect, entry.get("comment")
    if expect == "valid":
        codec.validate_document(media_type, raw)


@pytest.mark.parametrize("rel", ROUND_TRIPPABLE)
def test_valid_document_round_trips(rel, conformance):
    media_type = ENTRIES[rel]["mediaType"]
    raw = (ROOT / rel).read_bytes()
    try:
        value = DECODERS[media_type](raw)
    except UnsupportedDigest:
        pytest.skip("digest algorithm lamina cannot verify")
    original = _without_nulls(json.loads(raw))
    if media_type in (mt.OCI_MANIFEST, mt.OCI_INDEX):
        original.setdefault("mediaType", media_type)  # the decoder fills in an absent mediaType
    assert _without_nulls(codec.encode(value)) == original  # null and absent are the same value
    assert DECODERS[media_type](codec.to_json(value)) == value


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@pytest.mark.parametrize("rel", SCHEMAS)
def test_schema_is_valid_draft4_and_resolvable(rel, conformance, registry):
    schema = json.loads((ROOT / rel).read_text())
    if "$schema" in schema:
        assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    Draft4Validator.check_schema(schema)
    name = Path(rel).name
    assert name in ALIASES, f"schema {name} is not registered for $ref resolution"
    assert registry.resolver().lookup(name).contents == schema
    for uri in ALIASES[name]:
        assert registry.resolver().lookup(uri).contents == schema


@pytest.mark.parametrize("index", ["examples/index.json", "validation-vectors/index.json"])
def test_index_lists_every_document(index, conformance):
    listed = {e["file"] for e in json.loads((ROOT / index).read_text())}
    present = {d for d in DOCUMENTS if d.startswith(index.split("/")[0])}
    assert listed == present
    assert {e["expect"] for e in ENTRIES.values()} <= {"valid", "invalid"}
    assert {e["mediaType"] for e in ENTRIES.values()} <= set(DECODERS)
