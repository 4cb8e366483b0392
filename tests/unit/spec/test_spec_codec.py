"""Canonical JSON, strict decoding (errors name the field), media-type rules and encode round trips."""

from __future__ import annotations

import json

import pytest

from lamina.digest import Digest
from lamina.errors import InvalidManifest, NotSupported, UnsupportedDigest, UnsupportedMediaType
from lamina.spec import codec
from lamina.spec import mediatypes as mt
from lamina.spec.descriptor import Descriptor, Platform
from lamina.spec.imageconfig import ContainerConfig, HealthConfig, History, ImageConfig, RootFS
from lamina.spec.manifest import Index, Manifest

HEX = "a" * 64
DIG = f"sha256:{HEX}"
CONFIG_DESC = {"mediaType": mt.OCI_CONFIG, "digest": DIG, "size": 10}
LAYER_DESC = {"mediaType": mt.OCI_LAYER_GZIP, "digest": "sha256:" + "b" * 64, "size": 20}


def manifest_doc(**over):
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": CONFIG_DESC, "layers": [LAYER_DESC]}
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not ...}


def raw(doc) -> bytes:
    return json.dumps(doc).encode()


# ---------------------------------------------------------------- canonical JSON
def test_canonical_json_sorted_compact_utf8():
    out = codec.canonical_json({"b": 1, "a": {"d": [1, 2], "c": "é"}})
    assert out == '{"a":{"c":"é","d":[1,2]},"b":1}'.encode()


def test_canonical_json_escapes_like_go():
    out = codec.canonical_json({"cmd": "a && b < c > d \u2028\u2029"})
    assert out == b'{"cmd":"a \\u0026\\u0026 b \\u003c c \\u003e d \\u2028\\u2029"}'
    assert json.loads(out) == {"cmd": "a && b < c > d \u2028\u2029"}


def test_canonical_json_controls_and_surrogates():
    assert codec.canonical_json(["\x01\n\t\"\\"]) == b'["\\u0001\\n\\t\\"\\\\"]'
    assert codec.canonical_json(["\ud800"]) == '["\ufffd"]'.encode()


def test_canonical_json_rejects_nan():
    with pytest.raises(ValueError):
        codec.canonical_json({"x": float("nan")})


def test_canonical_json_is_deterministic_for_dataclasses():
    m = codec.decode_manifest(raw(manifest_doc()))
    assert codec.canonical_json(m) == codec.to_json(m)
    assert codec.to_json(m) == codec.to_json(codec.decode_manifest(codec.to_json(m)))
    assert Digest.of_bytes(codec.to_json(m)) == Digest.of_bytes(codec.to_json(m))


# ---------------------------------------------------------------- manifest decoding
def test_decode_manifest_builds_values():
    m = codec.decode_manifest(raw(manifest_doc(annotations={"k": "v"}, extra_member={"x": 1})))
    assert isinstance(m, Manifest)
    assert m.config.digest == Digest.parse(DIG) and m.config.size == 10
    assert [layer.media_type for layer in m.layers] == [mt.OCI_LAYER_GZIP]
    assert isinstance(m.layers, tuple)
    assert m.annotations == {"k": "v"}
    assert m.extra == {"extra_member": {"x": 1}}
    assert codec.encode(m)["extra_member"] == {"x": 1}


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d.pop("config"), "config"),
    (lambda d: d.pop("layers"), "layers"),
    (lambda d: d.pop("schemaVersion"), "schemaVersion"),
    (lambda d: d.update(schemaVersion=3), "schemaVersion"),
    (lambda d: d.update(schemaVersion="2"), "schemaVersion"),
    (lambda d: d.update(schemaVersion=True), "schemaVersion"),
    (lambda d: d.update(layers=[]), "layers"),
    (lambda d: d.update(layers={}), "layers"),
    (lambda d: d.update(mediaType="not a type"), "mediaType"),
    (lambda d: d.update(config={**CONFIG_DESC, "size": -1}), "config.size"),
    (lambda d: d.update(config={**CONFIG_DESC, "size": 2**63}), "config.size"),
    (lambda d: d.update(config={**CONFIG_DESC, "size": 1.0}), "config.size"),
    (lambda d: d.update(config={**CONFIG_DESC, "digest": "sha256:abc"}), "config.digest"),
    (lambda d: d.update(layers=[LAYER_DESC, {**LAYER_DESC, "urls": ["no scheme"]}]), "layers[1].urls[0]"),
    (lambda d: d.update(layers=[{**LAYER_DESC, "annotations": {"k": 1}}]), "layers[0].annotations.k"),
    (lambda d: d.update(layers=[{**LAYER_DESC, "platform": {"os": "linux"}}]),
     "layers[0].platform.architecture"),
    (lambda d: d.update(subject="x"), "subject"),
    (lambda d: d.update(annotations=[]), "annotations"),
    (lambda d: d.update(artifactType="bad"), "artifactType"),
])
def test_decode_manifest_names_the_bad_field(mutate, field):
    doc = manifest_doc()
    mutate(doc)
    with pytest.raises(InvalidManifest) as info:
        codec.decode_manifest(raw(doc))
    assert info.value.field == field
    assert str(info.value).startswith("decode manifest: ")


@pytest.mark.parametrize("text", [
    b"", b"not json", b"[]", b"null", b'"x"', b'{"schemaVersion": NaN}',
    b'{"schemaVersion": 2, "schemaVersion": 2}', b"\xff\xfe",
])
def test_decode_rejects_non_objects_duplicates_and_nan(text):
    with pytest.raises(InvalidManifest):
        codec.decode_manifest(text)


def test_embedded_data_must_match_size_and_digest():
    data = {"mediaType": "text/plain", "digest": str(Digest.of_bytes(b"hi")), "size": 2, "data": "aGk="}
    assert codec.decode_descriptor(raw(data)).data == b"hi"
    with pytest.raises(InvalidManifest, match="size"):
        codec.decode_descriptor(raw({**data, "size": 3}))
    with pytest.raises(InvalidManifest, match="digest") as info:
        codec.decode_descriptor(raw({**data, "data": "aG8="}))
    assert info.value.field == "data"


def test_unsupported_digest_is_not_supported_and_only_after_validation():
    odd = {**CONFIG_DESC, "digest": "sha256+b64:" + "c" * 43}
    with pytest.raises(UnsupportedDigest) as info:
        codec.decode_manifest(raw(manifest_doc(config=odd)))
    assert isinstance(info.value, NotSupported)
    assert info.value.field == "config.digest"
    # an invalid layer later in the document wins over the unsupported config digest
    bad_layer = {**LAYER_DESC, "digest": "sha256+foo+-b:abc"}
    with pytest.raises(InvalidManifest):
        codec.decode_manifest(raw(manifest_doc(config=odd, layers=[bad_layer])))


# ---------------------------------------------------------------- media-type rules
@pytest.mark.parametrize("doc", [
    {"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []},
    {"schemaVersion": 2, "mediaType": mt.DOCKER_SCHEMA1_SIGNED},
])
def test_schema1_is_unsupported(doc):
    with pytest.raises(UnsupportedMediaType) as info:
        codec.decode_manifest(raw(doc))
    assert "schema1" in str(info.value)
    with pytest.raises(UnsupportedMediaType):
        codec.decode_manifest_or_index(raw(doc))


def test_schema1_by_content_type():
    with pytest.raises(UnsupportedMediaType):
        codec.decode_manifest(raw(manifest_doc(mediaType=...)), mt.DOCKER_SCHEMA1_SIGNED)


def test_absent_media_type_is_filled_from_expected_or_default():
    doc = manifest_doc(mediaType=...)
    assert codec.decode_manifest(raw(doc)).media_type == mt.OCI_MANIFEST
    assert codec.decode_manifest(raw(doc), mt.DOCKER_MANIFEST).media_type == mt.DOCKER_MANIFEST
    assert codec.decode_manifest(raw(doc), "application/json").media_type == mt.OCI_MANIFEST
    assert codec.decode_manifest(raw(doc), f"{mt.DOCKER_MANIFEST}; charset=utf-8").is_docker


def test_declared_and_expected_media_type_must_agree():
    with pytest.raises(InvalidManifest) as info:
        codec.decode_manifest(raw(manifest_doc()), mt.DOCKER_MANIFEST)
    assert info.value.field == "mediaType"
    assert codec.decode_manifest(raw(manifest_doc()), mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST


def test_manifest_decoder_refuses_other_kinds():
    with pytest.raises(UnsupportedMediaType):
        codec.decode_manifest(raw(manifest_doc(mediaType="application/vnd.example+json")))
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    with pytest.raises((UnsupportedMediaType, InvalidManifest)):
        codec.decode_manifest(raw(index))
    with pytest.raises(UnsupportedMediaType):
        codec.decode_index(raw({**index, "mediaType": mt.OCI_MANIFEST}))


def test_lenient_accepts_docker25_quirks():
    with pytest.raises(InvalidManifest):
        codec.decode_manifest(raw(manifest_doc(layers=[])))
    assert codec.decode_manifest(raw(manifest_doc(layers=[])), lenient=True).layers == ()
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": None}
    with pytest.raises(InvalidManifest):
        codec.decode_index(raw(index))
    assert codec.decode_index(raw(index), lenient=True).manifests == ()


@pytest.mark.parametrize(("doc", "media_type", "kind"), [
    (manifest_doc(), None, Manifest),
    (manifest_doc(mediaType=...), None, Manifest),
    ({"schemaVersion": 2, "manifests": []}, None, Index),
    ({"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST, "manifests": []}, None, Index),
    ({"schemaVersion": 2, "manifests": []}, mt.OCI_INDEX, Index),
    (manifest_doc(mediaType=...), mt.DOCKER_MANIFEST, Manifest),
])
def test_decode_manifest_or_index(doc, media_type, kind):
    assert isinstance(codec.decode_manifest_or_index(raw(doc), media_type), kind)


# ---------------------------------------------------------------- index and platform
def test_index_select_prefers_exact_platform_and_skips_attestations():
    def entry(arch, variant=None, **annotations):
        plat = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
        out = {"mediaType": mt.OCI_MANIFEST, "digest": DIG, "size": 1, "platform": plat}
        return {**out, "annotations": annotations} if annotations else out
    attestation = {"vnd.docker.reference.type": "attestation-manifest"}
    doc = {"schemaVersion": 2, "manifests": [
        entry("unknown"), entry("arm", "v7"), entry("arm64", "v8"), entry("amd64"),
        entry("amd64", **attestation),
    ]}
    index = codec.decode_index(raw(doc))
    assert index.select(Platform(architecture="amd64", os="linux")) is index.manifests[3]
    assert index.select(Platform(architecture="arm64", os="linux")) is index.manifests[2]
    assert index.select(Platform(architecture="arm", os="linux", variant="v6")) is None
    assert index.select(Platform(architecture="s390x", os="linux")) is None
    assert len(index.platforms()) == 5


def test_platform_round_trip_keeps_os_fields_and_unknowns():
    plat = {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1",
            "os.features": ["win32k"], "variant": "v2", "x-extra": True}
    desc = {**CONFIG_DESC, "platform": plat}
    d = codec.decode_descriptor(raw(desc))
    assert d.platform == Platform(architecture="amd64", os="windows", os_version="10.0.17763.1",
                                  os_features=("win32k",), variant="v2")
    assert codec.encode(d) == desc


# ---------------------------------------------------------------- config
CONFIG = {
    "created": "2024-01-02T03:04:05.123456789Z", "architecture": "amd64", "os": "linux",
    "config": {"User": "1000:1000", "Env": ["PATH=/bin", "A=b=c"], "Cmd": ["sh"], "Entrypoint": None,
               "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}}, "WorkingDir": "/w",
               "Labels": {"a": "b"}, "StopSignal": "SIGTERM", "ArgsEscaped": True, "OnBuild": None,
               "Shell": ["/bin/bash", "-c"], "Hostname": "", "Domainname": "", "StopTimeout": 5,
               "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3}},
    "rootfs": {"type": "layers", "diff_ids": [DIG]},
    "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "RUN x # buildkit", "comment": "c"},
                {"created_by": "ENV A=b", "empty_layer": True}],
    "container_config": {"Cmd": ["x"]}, "docker_version": "24.0.0",
}


def test_decode_config():
    c = codec.decode_config(raw(CONFIG))
    assert isinstance(c, ImageConfig)
    assert c.created == "2024-01-02T03:04:05.123456789Z"  # nanoseconds kept verbatim
    assert c.diff_ids == (Digest.parse(DIG),)
    assert isinstance(c.config, ContainerConfig)
    assert c.config.env == ("PATH=/bin", "A=b=c")
    assert c.config.env_map() == {"PATH": "/bin", "A": "b=c"}
    assert c.config.entrypoint is None and c.config.on_build is None
    assert c.config.healthcheck == HealthConfig(test=("CMD", "true"), interval=30_000_000_000, retries=3)
    assert c.history is not None and c.history[1] == History(created_by="ENV A=b", empty_layer=True)
    assert c.extra == {"container_config": {"Cmd": ["x"]}, "docker_version": "24.0.0"}
    expected = json.loads(raw(CONFIG))
    del expected["config"]["Entrypoint"], expected["config"]["OnBuild"]
    assert codec.encode(c) == expected


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda c: c.pop("rootfs"), "rootfs"),
    (lambda c: c.pop("architecture"), "architecture"),
    (lambda c: c.update(rootfs={"type": "layers"}), "rootfs.diff_ids"),
    (lambda c: c.update(rootfs={"type": "tarball", "diff_ids": []}), "rootfs.type"),
    (lambda c: c.update(rootfs={"type": "layers", "diff_ids": ["sha256:zz"]}), "rootfs.diff_ids[0]"),
    (lambda c: c.update(created="yesterday"), "created"),
    (lambda c: c.update(history=[{"empty_layer": "yes"}]), "history[0].empty_layer"),
    (lambda c: c["config"].update(Env=["NOVALUE"]), "config.Env[0]"),
    (lambda c: c["config"].update(Env=["=x"]), "config.Env[0]"),
    (lambda c: c["config"].update(Cmd="sh"), "config.Cmd"),
    (lambda c: c["config"].update(Volumes=["/a"]), "config.Volumes"),
    (lambda c: c["config"].update(ExposedPorts={"80/tcp": "x"}), "config.ExposedPorts.80/tcp"),
    (lambda c: c["config"].update(Labels={"a": 1}), "config.Labels.a"),
    (lambda c: c["config"].update(Healthcheck={"Retries": "3"}), "config.Healthcheck.Retries"),
    (lambda c: c["config"].update(Tty="no"), "config.Tty"),
])
def test_decode_config_names_the_bad_field(mutate, field):
    doc = json.loads(raw(CONFIG))
    mutate(doc)
    with pytest.raises(InvalidManifest) as info:
        codec.decode_config(raw(doc))
    assert info.value.field == field


def test_docker_nulls_are_accepted():
    doc = json.loads(raw(CONFIG))
    doc["config"].update(Env=None, Cmd=None, Labels=None, Volumes=None, Healthcheck=None, Shell=None)
    doc["config"] = doc["config"]
    c = codec.decode_config(raw(doc))
    assert c.config is not None and c.config.env is None and c.config.labels is None
    assert codec.decode_config(raw({**doc, "config": None})).container_config == ContainerConfig()


# ---------------------------------------------------------------- encoding constructed values
def test_encode_constructed_manifest_and_config():
    layer = Descriptor(media_type=mt.OCI_LAYER_ZSTD, digest=Digest.parse(DIG), size=5)
    config = Descriptor(media_type=mt.OCI_CONFIG, digest=Digest.parse(DIG), size=2)
    m = Manifest(config=config, layers=[layer])
    assert codec.encode(m) == {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                               "config": {"mediaType": mt.OCI_CONFIG, "digest": DIG, "size": 2},
                               "layers": [{"mediaType": mt.OCI_LAYER_ZSTD, "digest": DIG, "size": 5}]}
    assert codec.decode_manifest(codec.to_json(m)) == m
    cfg = ImageConfig(architecture="arm64", os="linux", variant="v8",
                      rootfs=RootFS(diff_ids=[Digest.parse(DIG)]),
                      config=ContainerConfig(env=["A=1"], cmd=["sh"]),
                      history=[History(created_by="x")])
    assert codec.decode_config(codec.to_json(cfg)) == cfg
    assert b'"diff_ids":["' + DIG.encode() in codec.to_json(cfg)


def test_encode_rejects_foreign_objects():
    with pytest.raises(TypeError):
        codec.encode({"a": 1})


def test_data_is_base64_encoded():
    d = Descriptor(media_type="text/plain", digest=Digest.of_bytes(b"hi"), size=2, data=b"hi")
    assert codec.encode(d)["data"] == "aGk="
    assert codec.decode_descriptor(codec.to_json(d)) == d


def test_decoders_accept_mappings_and_str():
    assert codec.decode_descriptor(CONFIG_DESC).size == 10
    assert codec.decode_descriptor(json.dumps(CONFIG_DESC)).size == 10


def test_image_layout():
    assert codec.decode_image_layout(b'{"imageLayoutVersion": "1.0.0"}') == "1.0.0"
    for bad in (b'{"imageLayoutVersion": "2.0.0"}', b"{}", b'{"imageLayoutVersion": 1}'):
        with pytest.raises(InvalidManifest):
            codec.decode_image_layout(bad)


def test_validate_document():
    codec.validate_document(mt.OCI_DESCRIPTOR, raw({**CONFIG_DESC, "digest": "sha256+b64:abc"}))
    with pytest.raises(InvalidManifest):
        codec.validate_document(mt.OCI_DESCRIPTOR, raw({**CONFIG_DESC, "size": "1"}))
    with pytest.raises(UnsupportedMediaType):
        codec.validate_document("text/plain", b"{}")
