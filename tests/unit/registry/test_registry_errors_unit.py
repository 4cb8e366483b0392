"""Distribution error codes and HTTP statuses map to lamina errors naming the reference."""

from __future__ import annotations

import json

import httpx
import pytest

from lamina.errors import (
    BlobNotFound,
    InvalidManifest,
    ManifestUnknown,
    RegistryAuthRequired,
    RegistryDenied,
    RegistryUnavailable,
)
from lamina.registry.errors import error_for, is_retryable, map_registry_errors


def body(code: str, message: str = "") -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


@pytest.mark.parametrize(("status", "code", "cls"), [
    (404, "MANIFEST_UNKNOWN", ManifestUnknown),
    (404, "NAME_UNKNOWN", ManifestUnknown),
    (404, "BLOB_UNKNOWN", BlobNotFound),
    (401, "UNAUTHORIZED", RegistryAuthRequired),
    (403, "DENIED", RegistryDenied),
    (429, "TOOMANYREQUESTS", RegistryUnavailable),
    (400, "MANIFEST_INVALID", InvalidManifest),
])
def test_codes(status, code, cls):
    err = error_for(status, body(code, "Some Detail"), reference="r.example/a/b:1", what="pull")
    assert isinstance(err, cls)
    assert "r.example/a/b:1" in str(err)


def test_manifest_unknown_names_reference():
    err = error_for(404, body("MANIFEST_UNKNOWN"), reference="127.0.0.1:5000/x/y:nope", what="pull")
    assert isinstance(err, ManifestUnknown)
    assert err.reference == "127.0.0.1:5000/x/y:nope"
    assert str(err).startswith("pull 127.0.0.1:5000/x/y:nope: manifest unknown")


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (502, True), (503, True), (429, True),
                                                    (400, False), (405, False)])
def test_statuses_without_body(status, retryable):
    err = error_for(status, b"<html>", reference="r/a", what="pull")
    assert isinstance(err, RegistryUnavailable)
    assert is_retryable(err) is retryable


def test_plain_404_with_digest_is_blob_not_found():
    err = error_for(404, b"", reference="r/a", what="fetch blob", digest="sha256:" + "a" * 64)
    assert isinstance(err, BlobNotFound) and err.digest == "sha256:" + "a" * 64


def test_httpx_exceptions_become_retryable_unavailable():
    with pytest.raises(RegistryUnavailable) as info, map_registry_errors("r/a", "pull"):
        raise httpx.ConnectError("refused")
    assert info.value.retryable
    with pytest.raises(RegistryUnavailable) as info, map_registry_errors("r/a", "pull"):
        raise httpx.ReadTimeout("slow")
    assert info.value.retryable
