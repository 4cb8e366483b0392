"""lamina.registry: the OCI distribution client (protocol, auth, pull into and push from the BlobStore).

Must not touch drivers, the layer store or the image store. Names are loaded lazily
so that importing this package does not import httpx (CLI start-up time).

    from lamina.registry import RegistryClient, pull, push
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "RegistryClient": "client", "FetchedManifest": "client", "ManifestInfo": "client",
    "registry_host": "client", "is_loopback": "client",
    "CredentialStore": "auth", "Credentials": "auth", "login": "auth", "logout": "auth",
    "map_registry_errors": "errors",
    "pull": "pull", "pull_all_tags": "pull", "pull_target": "pull", "PullResult": "pull",
    "push": "push", "push_target": "push", "PushResult": "push", "PushOptions": "push",
    "ProgressEvent": "transfer",
}
__all__ = ["CredentialStore", "Credentials", "FetchedManifest", "ManifestInfo", "ProgressEvent",
    "PullResult", "PushOptions", "PushResult", "RegistryClient", "is_loopback", "login", "logout",
    "map_registry_errors", "pull", "pull_all_tags", "pull_target", "push", "push_target",
    "registry_host"]

if TYPE_CHECKING:
    from lamina.registry.auth import Credentials, CredentialStore, login, logout
    from lamina.registry.client import (
        FetchedManifest,
        ManifestInfo,
        RegistryClient,
        is_loopback,
        registry_host,
    )
    from lamina.registry.errors import map_registry_errors
    from lamina.registry.pull import PullResult, pull, pull_all_tags, pull_target
    from lamina.registry.push import PushOptions, PushResult, push, push_target
    from lamina.registry.transfer import ProgressEvent


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lamina.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lamina.registry.{module}"), name)
