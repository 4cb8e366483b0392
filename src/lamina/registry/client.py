"""OCI distribution protocol client over httpx: one registry domain, auth, retries.

Must not know about the blob store, images or progress: it moves bytes and
answers for one registry (pull/push orchestration lives in pull.py and push.py).
httpx is imported when a client is constructed, never at module import (CLI start-up).

Scheme: loopback registries (127.0.0.0/8, ::1, localhost) speak plain http with
no flag, as docker allows; others use https. ``insecure=True`` (the caller's
insecure-registries list) tries https without certificate checks, then plain http.
Retries: bounded exponential backoff with jitter on connection errors, 5xx and
429 (Retry-After honoured, capped); other 4xx are never retried.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Self

from lamina._internal.logs import get_logger
from lamina.digest import Digest
from lamina.errors import DigestMismatch, InvalidManifest, RegistryAuthRequired, RegistryUnavailable
from lamina.registry.auth import Authenticator, CredentialStore
from lamina.registry.errors import RETRYABLE_STATUS, map_registry_errors, raise_for_response
from lamina.spec.mediatypes import MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST

if TYPE_CHECKING:
    import httpx

log = get_logger(__name__)

DEFAULT_ACCEPT = MANIFEST_ACCEPT
MAX_MANIFEST = 4 << 20
USER_AGENT = "lamina/0.1"
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')

Content = bytes | Iterable[bytes] | None


class FetchedManifest(NamedTuple):
    """A manifest or index as served: raw bytes, media type and verified digest."""

    data: bytes
    media_type: str
    digest: Digest


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestInfo:
    """What HEAD on a manifest says (digest may be None when the registry does not tell)."""

    media_type: str
    digest: Digest | None
    size: int


def registry_host(domain: str) -> str:
    """The host:port to talk to for a reference domain (docker.io -> registry-1.docker.io)."""
    return "registry-1.docker.io" if domain in ("docker.io", "index.docker.io") else domain


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (with or without a port)."""
    name = host
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _retry_after(value: str | None, cap: float) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), cap)


def load_httpx() -> None:
    """Import httpx (once per process) without its command-line client.

    httpx's ``__init__`` imports ``httpx._main`` (rich, pygments: ~25 ms) whenever those are
    installed, as they are with lamina, and lamina never calls it. A ``None`` entry in
    ``sys.modules`` makes that one import fail the way httpx expects when they are missing;
    the entry is removed again afterwards.
    """
    if "httpx" not in sys.modules:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]
        try:
            import httpx  # noqa: F401
        finally:
            del sys.modules["httpx._main"]


class BlobStream:
    """An open blob GET: ``offset`` is where the body starts (non-zero only for an honoured Range)."""

    def __init__(self, response: httpx.Response, offset: int, reference: str) -> None:
        self._response = response
        self.offset = offset
        self.reference = reference
        length = response.headers.get("Content-Length")
        self.length = int(length) if length and length.isdigit() else None

    @property
    def accepts_ranges(self) -> bool:
        return self._response.headers.get("Accept-Ranges", "").lower() == "bytes" or self.offset > 0

    def iter_chunks(self) -> Iterator[bytes]:
        """The body (requested with identity encoding); drops surface as RegistryUnavailable(retryable)."""
        with map_registry_errors(self.reference, "fetch blob"):
            yield from self._response.iter_bytes()


class RegistryClient:
    """Speaks the distribution API to one registry domain; thread-safe (share across workers)."""

    def __init__(self, reference_domain: str, *, transport: httpx.BaseTransport | None = None,
                 credentials: CredentialStore | None = None, insecure: bool | None = None,
                 max_retries: int = 5, timeout: float = 60.0, backoff: float = 0.25,
                 backoff_cap: float = 8.0, retry_after_cap: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        load_httpx()
        import httpx

        self.domain = reference_domain
        self.host = registry_host(reference_domain)
        self.max_retries = max_retries
        self._backoff, self._backoff_cap, self._retry_after_cap = backoff, backoff_cap, retry_after_cap
        self._sleep = sleep
        self._auth = Authenticator(reference_domain, credentials)
        plain = insecure is not False and is_loopback(self.host)
        self._scheme: str | None = "http" if plain else (None if insecure else "https")
        self._scheme_lock = threading.Lock()
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
        if transport is None and plain:
            from lamina.registry._transport import PlainFirstTransport
            transport = PlainFirstTransport(verify=not insecure, limits=limits)
        self._http = httpx.Client(
            transport=transport, follow_redirects=True, verify=not insecure,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            headers={"User-Agent": USER_AGENT}, limits=limits)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ URLs and scopes
    @property
    def base_url(self) -> str:
        return f"{self._resolve_scheme()}://{self.host}"

    def _resolve_scheme(self) -> str:
        with self._scheme_lock:
            if self._scheme is None:
                self._scheme = self._probe_scheme()
            return self._scheme

    def _probe_scheme(self) -> str:
        import httpx

        try:
            self._http.get(f"https://{self.host}/v2/").close()
            return "https"
        except httpx.TransportError as exc:
            log.debug("insecure registry falls back to http host=%s error=%s", self.host, exc)
            return "http"

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _ref(self, repo: str, suffix: str = "") -> str:
        return f"{self.domain}/{repo}{suffix}"

    @staticmethod
    def pull_scope(repo: str) -> tuple[str, ...]:
        return (f"repository:{repo}:pull",)

    @staticmethod
    def push_scope(repo: str) -> tuple[str, ...]:
        return (f"repository:{repo}:pull,push",)

    # ------------------------------------------------------------ sending
    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = _retry_after(response.headers.get("Retry-After"), self._retry_after_cap)
            if after is not None:
                return after
        base = min(self._backoff_cap, self._backoff * (2.0 ** attempt))
        return base * (0.5 + random.random() / 2)

    def wait_before_retry(self, attempt: int) -> None:
        """Sleep the backoff for retry number ``attempt`` (0-based): exponential, capped, jittered."""
        self._sleep(self._delay(attempt, None))

    def _send(self, method: str, url: str, *, scopes: tuple[str, ...], reference: str, what: str,
              headers: dict[str, str] | None = None, content: Content = None, stream: bool = False,
              answer_challenge: bool = True) -> httpx.Response:
        """Send with auth and retries; returns the last response (errors are the caller's to map)."""
        replayable = content is None or isinstance(content, bytes)
        retries = self.max_retries if replayable else 0
        attempt = 0
        while True:
            try:
                resp = self._send_authed(method, url, scopes, reference, what, headers, content,
                                         stream, answer_challenge and replayable)
            except RegistryUnavailable as exc:
                if not exc.retryable or attempt >= retries:
                    raise
                delay = self._delay(attempt, None)
            else:
                if resp.status_code not in RETRYABLE_STATUS or attempt >= retries:
                    return resp
                delay = self._delay(attempt, resp)
                resp.close()
            log.debug("retrying method=%s url=%s attempt=%d delay=%.2f", method, url, attempt + 1, delay)
            self._sleep(delay)
            attempt += 1

    def _send_authed(self, method: str, url: str, scopes: tuple[str, ...], reference: str, what: str,
                     headers: dict[str, str] | None, content: Content, stream: bool,
                     answer_challenge: bool) -> httpx.Response:
        hdrs = dict(headers or {})
        tried = self._auth.header(scopes, self._http)
        if tried:
            hdrs["Authorization"] = tried
        resp = self._send_once(method, url, hdrs, content, stream, reference, what)
        challenge = resp.headers.get("WWW-Authenticate")
        if resp.status_code != 401 or not challenge or not answer_challenge:
            return resp
        answer = self._auth.answer(self._http, challenge, scopes, tried)
        if answer is None:
            return resp
        resp.close()
        hdrs["Authorization"] = answer
        return self._send_once(method, url, hdrs, content, stream, reference, what)

    def _send_once(self, method: str, url: str, headers: dict[str, str], content: Content,
                   stream: bool, reference: str, what: str) -> httpx.Response:
        with map_registry_errors(reference, what):
            request = self._http.build_request(method, url, headers=headers, content=content)
            return self._http.send(request, stream=stream)

    # ------------------------------------------------------------ base
    def ping(self, *, authenticate: bool = False) -> str:
        """GET /v2/: check this is a v2 registry; with ``authenticate`` the credentials must work."""
        resp = self._send("GET", self._url("/v2/"), scopes=(), reference=self.domain, what="ping",
                          answer_challenge=authenticate)
        version = str(resp.headers.get("Docker-Distribution-API-Version", "registry/2.0"))
        if resp.status_code == 401 and authenticate:
            raise RegistryAuthRequired(self.domain, f"login {self.domain}: unauthorized: "
                                                    "incorrect username or password")
        if resp.status_code != 401:
            raise_for_response(resp, reference=self.domain, what="ping")
        if not version.startswith("registry/2"):
            raise RegistryUnavailable(f"ping {self.domain}: not a v2 registry ({version})", retryable=False)
        return version

    def authorize(self, repo: str, *, push: bool = False) -> None:
        """Learn the registry's challenge and fetch a token for ``repo`` once, before parallel work.

        Without this, concurrent first requests would each get a 401 and fetch a token.
        A push token covers pulls too. Anonymous registries cost one GET /v2/.
        """
        scopes = self.push_scope(repo) if push else self.pull_scope(repo)
        if self._auth.header(scopes) is not None:
            return
        resp = self._send("GET", self._url("/v2/"), scopes=(), reference=self._ref(repo), what="authorize",
                          answer_challenge=False)
        challenge = resp.headers.get("WWW-Authenticate")
        if resp.status_code == 401 and challenge:
            self._auth.answer(self._http, challenge, scopes, None)

    # ------------------------------------------------------------ blobs
    def head_blob(self, repo: str, digest: Digest) -> int | None:
        """The blob's size when the repository has it, else None."""
        resp = self._send("HEAD", self._url(f"/v2/{repo}/blobs/{digest}"), scopes=self.pull_scope(repo),
                          reference=self._ref(repo), what="check blob")
        if resp.status_code == 404:
            return None
        raise_for_response(resp, reference=self._ref(repo), what="check blob", digest=str(digest))
        length = resp.headers.get("Content-Length", "")
        return int(length) if length.isdigit() else -1

    @contextmanager
    def get_blob_stream(self, repo: str, digest: Digest, *, offset: int = 0) -> Iterator[BlobStream]:
        """Open a blob GET (following redirects); ``offset`` asks for a Range resume.

        The yielded stream's ``offset`` is 0 when the registry ignored the Range.
        """
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        ref = self._ref(repo, f"@{digest}")
        resp = self._send("GET", self._url(f"/v2/{repo}/blobs/{digest}"), scopes=self.pull_scope(repo),
                          reference=ref, what="fetch blob", headers=headers, stream=True)
        try:
            raise_for_response(resp, reference=ref, what="fetch blob", digest=str(digest))
            start = offset if resp.status_code == 206 and self._range_start(resp) == offset else 0
            yield BlobStream(resp, start, ref)
        finally:
            resp.close()

    @staticmethod
    def _range_start(resp: httpx.Response) -> int | None:
        m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
        return int(m.group(1)) if m else None

    # ------------------------------------------------------------ manifests
    def get_manifest(self, repo: str, ref: str, accept: Iterable[str] = DEFAULT_ACCEPT) -> FetchedManifest:
        """GET a manifest by tag or digest; the digest is verified (by-digest) or computed."""
        reference = self._ref(repo, f"@{ref}" if ":" in ref else f":{ref}")
        resp = self._send("GET", self._url(f"/v2/{repo}/manifests/{ref}"), scopes=self.pull_scope(repo),
                          reference=reference, what="pull", headers={"Accept": ", ".join(accept)},
                          stream=True)
        try:
            raise_for_response(resp, reference=reference, what="pull")
            data = self._read_capped(resp, reference)
        finally:
            resp.close()
        digest = self._verify_manifest_digest(data, ref, resp.headers.get("Docker-Content-Digest"), reference)
        return FetchedManifest(data, self._media_type(resp, data), digest)

    @staticmethod
    def _read_capped(resp: httpx.Response, reference: str) -> bytes:
        chunks, total = [], 0
        with map_registry_errors(reference, "pull"):
            for chunk in resp.iter_bytes():
                total += len(chunk)
                if total > MAX_MANIFEST:
                    raise InvalidManifest(f"pull {reference}: manifest larger than {MAX_MANIFEST} bytes")
                chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _verify_manifest_digest(data: bytes, ref: str, header: str | None, reference: str) -> Digest:
        want = Digest.parse(ref) if ":" in ref else (Digest.parse(header) if header else None)
        algorithm = want.algorithm if want else "sha256"
        got = Digest.of_bytes(data, algorithm)
        if want is not None and got != want:
            raise DigestMismatch(str(want), str(got), what=f"manifest {reference}")
        return got

    @staticmethod
    def _media_type(resp: httpx.Response, data: bytes) -> str:
        header = str(resp.headers.get("Content-Type", "")).split(";")[0].strip()
        if header in DEFAULT_ACCEPT:
            return header
        try:
            doc = json.loads(data)
        except ValueError:
            return header
        sniffed = doc.get("mediaType") if isinstance(doc, dict) else None
        if isinstance(sniffed, str) and sniffed:
            return sniffed
        if isinstance(doc, dict) and "manifests" in doc:
            return OCI_INDEX
        return OCI_MANIFEST if isinstance(doc, dict) and "layers" in doc else header

    def head_manifest(self, repo: str, ref: str,
                      accept: Iterable[str] = DEFAULT_ACCEPT) -> ManifestInfo | None:
        reference = self._ref(repo, f"@{ref}" if ":" in ref else f":{ref}")
        resp = self._send("HEAD", self._url(f"/v2/{repo}/manifests/{ref}"), scopes=self.pull_scope(repo),
                          reference=reference, what="check manifest", headers={"Accept": ", ".join(accept)})
        if resp.status_code == 404:
            return None
        raise_for_response(resp, reference=reference, what="check manifest")
        header = resp.headers.get("Docker-Content-Digest")
        length = resp.headers.get("Content-Length", "")
        return ManifestInfo(media_type=resp.headers.get("Content-Type", "").split(";")[0],
                            digest=Digest.parse(header) if header else None,
                            size=int(length) if length.isdigit() else -1)

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> Digest:
        """PUT a manifest under a tag or digest; returns its digest (checked against the registry's)."""
        reference = self._ref(repo, f"@{ref}" if ":" in ref else f":{ref}")
        resp = self._send("PUT", self._url(f"/v2/{repo}/manifests/{ref}"), scopes=self.push_scope(repo),
                          reference=reference, what="push", headers={"Content-Type": media_type},
                          content=data)
        raise_for_response(resp, reference=reference, what="push")
        got = Digest.of_bytes(data)
        header = resp.headers.get("Docker-Content-Digest")
        if header and header.startswith("sha256:") and header != str(got):
            raise DigestMismatch(str(got), header, what=f"manifest {reference}")
        return got

    # ------------------------------------------------------------ uploads
    def _location(self, resp: httpx.Response, reference: str) -> str:
        location = resp.headers.get("Location")
        if not location:
            raise RegistryUnavailable(f"push {reference}: upload answer has no Location", retryable=False)
        return str(resp.request.url.join(location))

    def start_upload(self, repo: str) -> str:
        """POST a new upload session; returns its absolute location URL."""
        reference = self._ref(repo)
        resp = self._send("POST", self._url(f"/v2/{repo}/blobs/uploads/"), scopes=self.push_scope(repo),
                          reference=reference, what="push", headers={"Content-Length": "0"})
        raise_for_response(resp, reference=reference, what="push")
        return self._location(resp, reference)

    def upload_chunk(self, repo: str, location: str, content: bytes | Iterable[bytes], *,
                     offset: int, length: int) -> str:
        """PATCH ``length`` bytes at ``offset`` (streamed when ``content`` is an iterable); new location."""
        reference = self._ref(repo)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length)}
        if length:
            headers["Content-Range"] = f"{offset}-{offset + length - 1}"
        resp = self._send("PATCH", location, scopes=self.push_scope(repo), reference=reference,
                          what="push", headers=headers, content=content)
        raise_for_response(resp, reference=reference, what="push")
        return self._location(resp, reference)

    def finish_upload(self, repo: str, location: str, digest: Digest, *,
                      content: bytes | Iterable[bytes] = b"", length: int = 0) -> None:
        """PUT ?digest= closing the session (a monolithic upload when ``content`` is the whole blob)."""
        import httpx

        reference = self._ref(repo, f"@{digest}")
        url = str(httpx.URL(location).copy_merge_params({"digest": str(digest)}))
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length)}
        resp = self._send("PUT", url, scopes=self.push_scope(repo), reference=reference, what="push",
                          headers=headers, content=content)
        raise_for_response(resp, reference=reference, what="push", digest=str(digest))

    def cancel_upload(self, repo: str, location: str) -> None:
        """DELETE an upload session (best effort)."""
        try:
            self._send("DELETE", location, scopes=self.push_scope(repo), reference=self._ref(repo),
                       what="cancel upload").close()
        except RegistryUnavailable as exc:
            log.debug("cancel upload failed location=%s error=%s", location, exc)

    def mount_blob(self, repo: str, digest: Digest, from_repo: str) -> bool:
        """Cross-repository mount; True when mounted, False when the registry wants an upload."""
        reference = self._ref(repo, f"@{digest}")
        scopes = (*self.push_scope(repo), *self.pull_scope(from_repo))
        url = self._url(f"/v2/{repo}/blobs/uploads/?mount={digest}&from={from_repo}")
        resp = self._send("POST", url, scopes=scopes, reference=reference, what="mount blob",
                          headers={"Content-Length": "0"})
        if resp.status_code == 201:
            return True
        raise_for_response(resp, reference=reference, what="mount blob", digest=str(digest))
        if resp.status_code == 202 and resp.headers.get("Location"):
            self.cancel_upload(repo, self._location(resp, reference))
        return False

    # ------------------------------------------------------------ tags
    def list_tags(self, repo: str, *, page_size: int | None = None) -> list[str]:
        """All tags of ``repo``, following ``Link: <…>; rel="next"`` pagination."""
        reference = self._ref(repo)
        url: str | None = self._url(f"/v2/{repo}/tags/list" + (f"?n={page_size}" if page_size else ""))
        tags: list[str] = []
        while url:
            resp = self._send("GET", url, scopes=self.pull_scope(repo), reference=reference,
                              what="list tags")
            raise_for_response(resp, reference=reference, what="list tags")
            doc = resp.json()
            tags += [t for t in (doc.get("tags") or []) if isinstance(t, str)]
            m = _LINK_NEXT.search(resp.headers.get("Link", ""))
            url = str(resp.request.url.join(m.group(1))) if m else None
        return tags
