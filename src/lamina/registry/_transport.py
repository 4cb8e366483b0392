"""The HTTP transport of a registry client that speaks plain http (a loopback registry).

Plain http needs no TLS, but httpx builds a certificate-verifying SSL context (parsing the whole
CA bundle, ~20-30 ms) for every transport it creates. This transport sends ``http://`` requests
through a transport whose SSL context is never used, and builds the verifying one only when a
request leaves for ``https://`` (a registry redirecting blobs to TLS storage): same checks, paid
only when needed. Imported only once httpx is (client construction); must not retry, authenticate
or rewrite requests: it only picks the transport.
"""

from __future__ import annotations

import threading

import httpx


class PlainFirstTransport(httpx.BaseTransport):
    """``http://`` through an unverified-context transport; ``https://`` through a verifying one, built lazily."""

    def __init__(self, *, verify: bool, limits: httpx.Limits) -> None:
        self._plain = httpx.HTTPTransport(verify=False, limits=limits)  # no TLS is ever spoken on it
        self._verify, self._limits = verify, limits
        self._tls: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            return self._plain.handle_request(request)
        return self._secure().handle_request(request)

    def _secure(self) -> httpx.HTTPTransport:
        with self._lock:
            if self._tls is None:
                self._tls = httpx.HTTPTransport(verify=self._verify, limits=self._limits)
            return self._tls

    def close(self) -> None:
        self._plain.close()
        with self._lock:
            if self._tls is not None:
                self._tls.close()
