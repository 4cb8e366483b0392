"""``Descriptor`` (a typed pointer to content) and ``Platform`` with containerd-style matching.

Must not do I/O: ``Platform.current()`` only asks ``uname``. Decoding from and
encoding to JSON lives in ``lamina.spec.codec``.

Platform normalisation follows containerd's ``platforms.Normalize``: ``x86_64``
is ``amd64``, ``aarch64`` is ``arm64``, arm64 ``v8`` is the default variant (so
``arm64`` == ``arm64/v8``), bare ``arm`` means ``arm/v7``, and amd64 ``v1`` is the
default. Matching (``match_rank``) follows containerd's ``platforms.Only``: an
exact platform first, then older variants of the same architecture, then the
32-bit sibling (amd64 runs 386, arm64 runs arm/v8 and older).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamina.digest import Digest

_ARCH_ALIASES = {
    "x86_64": "amd64", "x86-64": "amd64", "amd64": "amd64",
    "aarch64": "arm64", "arm64": "arm64",
    "i386": "386", "i486": "386", "i586": "386", "i686": "386", "386": "386",
    "armhf": "arm", "armel": "arm", "arm": "arm",
    "ppc64le": "ppc64le", "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
    "mips64": "mips64", "mips64el": "mips64le", "mips64le": "mips64le", "loongarch64": "loong64",
}
# Implied variant for arch aliases that carry one (Debian's armhf/armel, uname's armv7l …).
_ALIAS_VARIANT = {"armhf": "v7", "armel": "v6", "armv5l": "v5", "armv6l": "v6", "armv7l": "v7",
                  "armv8l": "v8"}
# The variant each architecture is normalised to when none (or the baseline) is given.
_DEFAULT_VARIANT = {"arm": "v7", "arm64": "v8", "amd64": "v1"}


def _arch_and_variant(arch: str, variant: str | None) -> tuple[str, str]:
    arch = arch.lower()
    if arch in _ALIAS_VARIANT:
        return "arm", variant or _ALIAS_VARIANT[arch]
    return _ARCH_ALIASES.get(arch, arch), variant or ""


def _normal_variant(arch: str, variant: str) -> str:
    variant = variant.lower()
    if variant and not variant.startswith("v") and variant[0].isdigit():
        variant = "v" + variant
    if arch == "arm64" and variant in ("v8.0", "v8"):
        return "v8"
    return variant or _DEFAULT_VARIANT.get(arch, "")


def _variant_number(variant: str) -> int | None:
    head = variant.removeprefix("v").split(".", 1)[0]
    return int(head) if head.isdigit() else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """An OCI platform (``os``/``architecture``/``variant``; ``os.version`` and ``os.features``)."""

    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = None
    os_features: Sequence[str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.os_features is not None and not isinstance(self.os_features, tuple):
            object.__setattr__(self, "os_features", tuple(self.os_features))

    def __hash__(self) -> int:
        return hash((self.architecture, self.os, self.variant, self.os_version))

    @classmethod
    def current(cls) -> Platform:
        """The platform of this machine, from ``uname`` (GOARCH names: amd64, arm64, arm/v7 …)."""
        arch, variant = _arch_and_variant(os.uname().machine or "amd64", None)
        if arch == "arm64":
            variant = "v8"
        return cls(architecture=arch, os=(os.uname().sysname or "linux").lower(), variant=variant or None)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse docker's ``--platform`` syntax ``os[/arch[/variant]]`` (``linux/arm64/v8``)."""
        parts = text.strip().split("/")
        if len(parts) == 1:
            return cls(os=parts[0].lower(), architecture=Platform.current().architecture)
        variant = parts[2] if len(parts) > 2 else None
        return cls(os=parts[0].lower(), architecture=parts[1], variant=variant)

    def normalized(self) -> Platform:
        """This platform with containerd's canonical os/architecture/variant spellings."""
        arch, variant = _arch_and_variant(self.architecture, self.variant)
        return Platform(architecture=arch, os=self.os.lower(), variant=_normal_variant(arch, variant) or None,
                        os_version=self.os_version, os_features=self.os_features, extra=self.extra)

    def match_rank(self, candidate: Platform) -> int | None:
        """How well ``candidate`` (an image's platform) runs where ``self`` is wanted.

        0 is an exact match after normalisation; larger numbers are fallbacks
        (older variants, then the 32-bit sibling architecture); ``None`` means
        it cannot run here. Pick the candidate with the smallest rank.
        """
        want, have = self.normalized(), candidate.normalized()
        if want.os != have.os:
            return None
        for rank, (arch, variant) in enumerate(_compatible(want.architecture, want.variant or "")):
            if have.architecture == arch and (have.variant or "") == variant:
                return rank
        return None

    def matches(self, candidate: Platform) -> bool:
        """True when an image built for ``candidate`` can run where ``self`` is wanted."""
        return self.match_rank(candidate) is not None

    def __str__(self) -> str:
        """Docker's ``os/arch[/variant]`` form."""
        tail = f"/{self.variant}" if self.variant else ""
        return f"{self.os}/{self.architecture}{tail}"


def _compatible(arch: str, variant: str) -> list[tuple[str, str]]:
    """Normalised (arch, variant) pairs that run on ``arch``/``variant``, best first."""
    number = _variant_number(variant)
    if arch == "amd64":
        older = [("amd64", f"v{n}") for n in range((number or 1) - 1, 0, -1)]
        return [(arch, variant), *older, ("386", "")]
    if arch == "arm" and number is not None:
        return [("arm", f"v{n}") for n in range(number, 4, -1)]
    if arch == "arm64":
        start = (number or 8) - (0 if "." in variant else 1)  # v8.2 still runs plain v8
        older = [("arm64", f"v{n}") for n in range(start, 7, -1)]
        return [(arch, variant), *older, *_compatible("arm", "v8")]
    return [(arch, variant)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    """A pointer to content: media type, digest and size, plus optional OCI fields.

    Equality compares every field except ``extra``; the hash uses only
    (media_type, digest, size) so descriptors can key dicts and sets.
    ``extra`` holds JSON members lamina does not model, so a decode/encode
    round trip keeps them.
    """

    media_type: str
    digest: Digest
    size: int
    urls: Sequence[str] | None = None
    annotations: Mapping[str, str] | None = None
    platform: Platform | None = None
    artifact_type: str | None = None
    data: bytes | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.urls is not None and not isinstance(self.urls, tuple):
            object.__setattr__(self, "urls", tuple(self.urls))

    def __hash__(self) -> int:
        return hash((self.media_type, self.digest, self.size))

    def annotation(self, key: str) -> str | None:
        return (self.annotations or {}).get(key)
