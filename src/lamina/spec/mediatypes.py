"""OCI and Docker schema2 media-type constants and predicates over them.

Must not do I/O or parse documents: it only classifies media-type strings.

Docker schema1 types are listed only so that decoders can recognise and
refuse them (lamina does not support schema1).
"""

from __future__ import annotations

import re

# ---------------------------------------------------------------- OCI image-spec
OCI_DESCRIPTOR = "application/vnd.oci.descriptor.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

# ---------------------------------------------------------------- Docker schema2
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"

# ---------------------------------------------------------------- Docker schema1 (refused)
DOCKER_SCHEMA1_MANIFEST = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED})
NONDISTRIBUTABLE_TYPES = frozenset({
    OCI_LAYER_NONDISTRIBUTABLE, OCI_LAYER_NONDISTRIBUTABLE_GZIP, OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
    DOCKER_FOREIGN_LAYER, DOCKER_FOREIGN_LAYER_GZIP,
})
LAYER_TYPES = frozenset({
    OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_LAYER_ZSTD,
}) | NONDISTRIBUTABLE_TYPES

# What a registry client sends in ``Accept`` when resolving a tag: images and indexes, both schemas.
MANIFEST_ACCEPT = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)

# RFC 6838 restricted names, as the OCI schema's defs-descriptor.json writes them (127 chars each side).
MEDIA_TYPE_PATTERN = (   # compiled where used: compiling costs start-up
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal
    Compression = Literal["gzip", "zstd", "none"]


def is_valid(media_type: str) -> bool:
    """True when ``media_type`` is ``type/subtype`` per RFC 6838 (parameters are not allowed)."""
    return re.fullmatch(MEDIA_TYPE_PATTERN, media_type) is not None


def is_layer(media_type: str) -> bool:
    return media_type in LAYER_TYPES


def is_index(media_type: str) -> bool:
    return media_type in INDEX_TYPES


def is_manifest(media_type: str) -> bool:
    return media_type in MANIFEST_TYPES


def is_config(media_type: str) -> bool:
    return media_type in CONFIG_TYPES


def is_schema1(media_type: str) -> bool:
    return media_type in SCHEMA1_TYPES


def is_nondistributable(media_type: str) -> bool:
    """Foreign / non-distributable layers: never pushed, fetched from their ``urls`` if at all."""
    return media_type in NONDISTRIBUTABLE_TYPES


def is_docker(media_type: str) -> bool:
    return media_type.startswith("application/vnd.docker.")


def compression_of(media_type: str) -> Compression:
    """The compression a layer media type declares: ``"gzip"``, ``"zstd"`` or ``"none"``.

    Works for OCI (``+gzip``/``+zstd``) and Docker (``.tar.gzip``) spellings;
    any other media type reports ``"none"``.
    """
    if media_type.endswith(("+gzip", ".gzip")):
        return "gzip"
    if media_type.endswith(("+zstd", ".zstd")):
        return "zstd"
    return "none"


def layer_type(compression: Compression, *, docker: bool = False) -> str:
    """The layer media type for ``compression`` (OCI unless ``docker``; Docker has no zstd type)."""
    if docker:
        return {"gzip": DOCKER_LAYER_GZIP, "zstd": DOCKER_LAYER_ZSTD, "none": DOCKER_LAYER}[compression]
    return {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER}[compression]
