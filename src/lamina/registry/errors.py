"""Translate registry answers and httpx failures into lamina.errors at the protocol seam.

Must not retry, sleep or log: it only decides what an HTTP status, a distribution
error body (``{"errors": [{"code": ..., "message": ...}]}``) or a transport
exception *means*. The client decides whether to retry using ``is_retryable``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from lamina.errors import (
    BlobNotFound,
    DigestMismatch,
    InvalidManifest,
    LaminaError,
    ManifestUnknown,
    RegistryAuthRequired,
    RegistryDenied,
    RegistryUnavailable,
    UnsupportedMediaType,
)

if TYPE_CHECKING:
    import httpx

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_ERROR_BODY = 64 * 1024


def distribution_codes(body: bytes) -> list[tuple[str, str]]:
    """The (code, message) pairs of a distribution error body; empty when it is not one."""
    try:
        doc = json.loads(body[:MAX_ERROR_BODY])
    except (ValueError, UnicodeDecodeError):
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return []
    return [(str(e.get("code", "")).upper(), str(e.get("message", "")))
            for e in errors if isinstance(e, dict)]


def _by_code(code: str, detail: str, reference: str, what: str, digest: str | None) -> LaminaError | None:
    suffix = f": {detail}" if detail else ""
    if code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"):
        return ManifestUnknown(reference, f"{what} {reference}: manifest unknown{suffix}")
    if code == "BLOB_UNKNOWN":
        return BlobNotFound(digest or reference, f"{what} {reference}: blob unknown: {digest or ''}".rstrip())
    if code == "UNAUTHORIZED":
        return RegistryAuthRequired(reference, f"{what} {reference}: authentication required{suffix}")
    if code == "DENIED":
        return RegistryDenied(reference, f"{what} {reference}: access denied{suffix}")
    if code == "TOOMANYREQUESTS":
        return RegistryUnavailable(f"{what} {reference}: too many requests{suffix}", retryable=True)
    if code in ("DIGEST_INVALID", "SIZE_INVALID"):
        return DigestMismatch(digest or "?", "registry rejected the content", what=f"{what} {reference}")
    if code in ("MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNVERIFIED", "TAG_INVALID"):
        return InvalidManifest(f"{what} {reference}: {code.lower()}{suffix}", digest=digest)
    if code == "UNSUPPORTED":
        return UnsupportedMediaType("?", f"{what} {reference}: registry does not support this{suffix}")
    return None


def _by_status(status: int, reference: str, what: str, digest: str | None) -> LaminaError:
    if status == 401:
        return RegistryAuthRequired(reference, f"{what} {reference}: authentication required")
    if status == 403:
        return RegistryDenied(reference, f"{what} {reference}: access denied")
    if status == 404:
        if digest:
            return BlobNotFound(digest, f"{what} {reference}: blob unknown: {digest}")
        return ManifestUnknown(reference, f"{what} {reference}: manifest unknown")
    if status == 415:
        return UnsupportedMediaType("?", f"{what} {reference}: unsupported media type")
    retryable = status in RETRYABLE_STATUS
    return RegistryUnavailable(f"{what} {reference}: registry answered HTTP {status}", retryable=retryable)


def error_for(status: int, body: bytes, *, reference: str, what: str,
              digest: str | None = None) -> LaminaError:
    """The lamina error for a failed registry answer (status + already-read body)."""
    for code, message in distribution_codes(body):
        if status >= 500 and code not in ("TOOMANYREQUESTS",):
            break
        err = _by_code(code, message.lower(), reference, what, digest)
        if err is not None:
            return err
    return _by_status(status, reference, what, digest)


def raise_for_response(response: httpx.Response, *, reference: str, what: str,
                       digest: str | None = None) -> None:
    """Raise the mapped error when ``response`` is not a success (2xx); reads a capped body."""
    if response.is_success:
        return
    import httpx

    try:
        body = response.read()[:MAX_ERROR_BODY]
    except httpx.HTTPError:  # the body of a failed answer is best effort
        body = b""
    raise error_for(response.status_code, body, reference=reference, what=what, digest=digest)


def is_retryable(exc: BaseException) -> bool:
    """True for errors worth another attempt: transport drops, 5xx, 429."""
    return isinstance(exc, RegistryUnavailable) and exc.retryable


@contextmanager
def map_registry_errors(reference: str, what: str) -> Iterator[None]:
    """Translate httpx exceptions raised inside the block into RegistryUnavailable."""
    import httpx

    try:
        yield
    except httpx.TimeoutException as exc:
        raise RegistryUnavailable(f"{what} {reference}: timed out: {exc}", retryable=True) from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise RegistryUnavailable(f"{what} {reference}: connection failed: {exc}", retryable=True) from exc
    except httpx.TooManyRedirects as exc:
        raise RegistryUnavailable(f"{what} {reference}: too many redirects", retryable=False) from exc
    except httpx.HTTPError as exc:
        raise RegistryUnavailable(f"{what} {reference}: {exc}", retryable=False) from exc
