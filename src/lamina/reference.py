"""Image references (``docker.io/library/busybox:latest@sha256:…``): parsing, normalisation, forms.

Must not do I/O (no DNS, no registry calls): it is pure string grammar.

The grammar and the normalisation are docker's (``distribution/reference``,
``ParseNormalizedNamed`` then ``TagNameOnly``)::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain "/"] path-component ["/" path-component]*
    domain           := host [":" port]        host: DNS name, IPv4, or [IPv6]
    path-component   := [a-z0-9]+ (separator [a-z0-9]+)*   separator: . _ __ -+
    tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest           := algorithm ":" hex     (lamina verifies sha256 / sha512 only)

A first component is a domain only if it contains ``.`` or ``:``, is
``localhost``, or has upper-case letters; otherwise the domain is
``docker.io`` and single names get ``library/``. ``index.docker.io`` means
``docker.io``. A name with neither tag nor digest gets ``:latest``.
"""

from __future__ import annotations

import re

from lamina._internal.records import Record, record
from lamina.digest import Digest, is_lower_hex
from lamina.errors import InvalidDigest, InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255
_INPUT_MAX = 1024  # well above any valid reference; bounds regex work on hostile input

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

# The whole grammar in one pattern, for diagnosing a refused reference only: parsing splits the text
# and matches the parts, because compiling this pattern costs ~0.5 ms of every command's start-up.
_REFERENCE = rf"((?:{_DOMAIN}/)?{_REMOTE})(?::({_TAG}))?(?:@({_DIGEST}))?"
DOMAIN_RE = re.compile(_DOMAIN, re.ASCII)
PATH_RE = re.compile(_REMOTE, re.ASCII)
TAG_RE = re.compile(_TAG, re.ASCII)


def looks_like_id(text: str) -> bool:
    """True for a full or abbreviated image id: 1–64 lower-case hex, optionally ``sha256:``-prefixed.

    This is lexical only: ``cafe`` is both a valid name and an id prefix.
    Resolve a name first and fall back to an id prefix, as docker does.
    """
    hexpart = text.removeprefix("sha256:")
    return len(hexpart) <= 64 and is_lower_hex(hexpart)


@record
class Reference(Record):
    """A normalised image reference; ``str()`` is the full form ``docker.io/library/busybox:latest``.

    ``tag`` and ``digest`` may both be set (``name:tag@sha256:…``); then the
    digest is what identifies content and the tag is informational.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    def __post_init__(self) -> None:
        if not DOMAIN_RE.fullmatch(self.domain) or not PATH_RE.fullmatch(self.path):
            raise InvalidReference(f"{self.domain}/{self.path}", "invalid repository name")
        if len(self.path) > NAME_MAX:
            raise InvalidReference(f"{self.domain}/{self.path}",
                                   f"repository name must not be more than {NAME_MAX} characters")
        if self.tag is not None and not TAG_RE.fullmatch(self.tag):
            raise InvalidReference(f"{self.domain}/{self.path}:{self.tag}", _TAG_REASON)

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and normalise as ``docker pull`` does; a bare name gets ``:latest``.

        Raises InvalidReference with a reason (upper case, 64-hex ids, bad tag,
        too long, unsupported digest …).
        """
        ref = _parse_normalized(text)
        if ref.tag is None and ref.digest is None:
            return ref.with_tag(DEFAULT_TAG)
        return ref

    @property
    def repository(self) -> str:
        """``domain/path``, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def name(self) -> str:
        """docker's familiar name: ``busybox``, ``user/app``, ``localhost:5000/a/b``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.repository
        short = self.path.removeprefix(OFFICIAL_PREFIX)
        return short if "/" not in short else self.path

    @property
    def remote_path(self) -> str:
        """The repository path used in registry API URLs (``library/busybox``)."""
        return self.path

    @property
    def registry_host(self) -> str:
        """Host[:port] to contact: Docker Hub's API lives at ``registry-1.docker.io``."""
        return DOCKER_HUB_API_HOST if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def is_loopback(self) -> bool:
        """True for registries on localhost, 127.0.0.0/8 or ::1 (any port): plain HTTP is allowed there."""
        host = _host_of(self.domain)
        if host == "localhost":
            return True
        try:
            import ipaddress
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def familiar(self) -> str:
        """docker's short form: ``busybox:latest``, ``localhost:5000/a/b:t``, ``busybox@sha256:…``."""
        return self.name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        """The same repository (and digest, if any) with ``tag``; raises InvalidReference."""
        return Reference(domain=self.domain, path=self.path, tag=tag, digest=self.digest)

    def with_digest(self, digest: Digest) -> Reference:
        return Reference(domain=self.domain, path=self.path, tag=self.tag, digest=digest)

    def without_tag(self) -> Reference:
        return Reference(domain=self.domain, path=self.path, digest=self.digest)

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    def __str__(self) -> str:
        return self.repository + self._suffix()


_TAG_REASON = "invalid tag format: up to 128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"


def _host_of(domain: str) -> str:
    if domain.startswith("["):
        return domain[1:domain.index("]")]
    return domain.rsplit(":", 1)[0] if ":" in domain else domain


def _split_docker_domain(name: str) -> tuple[str, str]:
    """docker's splitDockerDomain: (domain, remainder) with docker.io / library/ defaults."""
    first, sep, rest = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    if first == LEGACY_DEFAULT_DOMAIN:
        first = DEFAULT_DOMAIN
    if first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        domain, remainder = first, rest
    else:
        domain, remainder = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def _parse_normalized(text: str) -> Reference:
    if not text:
        raise InvalidReference(text, "repository name must have at least one component")
    if len(text) > _INPUT_MAX:
        raise InvalidReference(text[:64] + "…", "reference is too long")
    if len(text) == 64 and is_lower_hex(text):
        raise InvalidReference(text, "cannot specify 64-byte hexadecimal strings as a repository name")
    domain, remainder = _split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidReference(text, f"repository name ({remote}) must be lowercase")
    name, at, digest = remainder.partition("@")
    path, colon, tag = name.partition(":")   # the domain is split off: a ':' left starts the tag
    if not (PATH_RE.fullmatch(path) and (not colon or TAG_RE.fullmatch(tag))
            and (not at or re.fullmatch(_DIGEST, digest, re.ASCII))):
        raise InvalidReference(text, _diagnose(f"{domain}/{remainder}", remainder))
    if not DOMAIN_RE.fullmatch(domain):
        # docker would take a valid path component as a path with an empty domain ("a_b.c/x"); no registry has it
        reason = f"invalid registry domain {domain!r}" if PATH_RE.fullmatch(domain) else \
            _diagnose(f"{domain}/{remainder}", remainder)
        raise InvalidReference(text, reason)
    if len(path) > NAME_MAX:
        raise InvalidReference(text, f"repository name must not be more than {NAME_MAX} characters")
    return Reference(domain=domain, path=path, tag=tag if colon else None,
                     digest=_parse_digest(text, digest) if at else None)


def _parse_digest(text: str, value: str) -> Digest:
    try:
        return Digest.parse(value)
    except InvalidDigest as exc:
        raise InvalidReference(text, f"invalid digest: {exc.reason}") from None


def _diagnose(full: str, remainder: str) -> str:
    """A specific reason for a reference the grammar refused."""
    if full.lower() != full and re.fullmatch(_REFERENCE, full.lower(), re.ASCII):
        return "repository name must be lowercase"
    name, at, digest = remainder.partition("@")
    if at and not re.fullmatch(_DIGEST, digest, re.ASCII):
        return "invalid digest format"
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        tag = last.split(":", 1)[1]
        if not TAG_RE.fullmatch(tag):
            return _TAG_REASON
    if any(c.isspace() for c in remainder):
        return "invalid reference format: contains whitespace"
    return "invalid reference format"
