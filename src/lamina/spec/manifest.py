"""``Manifest`` (one image: config + layers) and ``Index`` (a list of manifests), OCI and Docker schema2.

Must not do I/O or JSON: decoding and encoding live in ``lamina.spec.codec``.

``media_type`` is always set: when a document omits it (allowed by OCI),
the decoder fills in the type it was asked for or the OCI default.
Sequences are stored as tuples so the values stay immutable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamina.spec import mediatypes
from lamina.spec.descriptor import Descriptor, Platform

# buildx stores provenance/SBOM attestations in an index as "unknown/unknown" manifests.
ATTESTATION_REF_TYPE = "vnd.docker.reference.type"


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """An image manifest: the config descriptor and the ordered layer descriptors (base first)."""

    config: Descriptor
    layers: Sequence[Descriptor]
    media_type: str = mediatypes.OCI_MANIFEST
    schema_version: int = 2
    subject: Descriptor | None = None
    annotations: Mapping[str, str] | None = None
    artifact_type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.layers, tuple):
            object.__setattr__(self, "layers", tuple(self.layers))

    @property
    def is_docker(self) -> bool:
        return self.media_type == mediatypes.DOCKER_MANIFEST


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    """An image index (OCI) or manifest list (Docker): manifests for several platforms."""

    manifests: Sequence[Descriptor]
    media_type: str = mediatypes.OCI_INDEX
    schema_version: int = 2
    subject: Descriptor | None = None
    annotations: Mapping[str, str] | None = None
    artifact_type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.manifests, tuple):
            object.__setattr__(self, "manifests", tuple(self.manifests))

    def select(self, want: Platform) -> Descriptor | None:
        """The manifest that best runs on ``want`` (see ``Platform.match_rank``), or None.

        Entries without a platform and attestation manifests are skipped; on a
        tie the first entry wins, as in containerd.
        """
        best: tuple[int, Descriptor] | None = None
        for desc in self.manifests:
            if desc.platform is None or desc.annotation(ATTESTATION_REF_TYPE) is not None:
                continue
            rank = want.match_rank(desc.platform)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, desc)
        return best[1] if best else None

    def platforms(self) -> list[Platform]:
        return [d.platform for d in self.manifests if d.platform is not None]
