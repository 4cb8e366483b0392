"""Basic (htpasswd) and bearer (our token server) auth against the real registry; login/logout."""

from __future__ import annotations

import pytest

from lamina.errors import RegistryAuthRequired
from lamina.registry.auth import Credentials, CredentialStore, login, logout
from lamina.registry.pull import pull_target
from lamina.registry.push import push_target
from lamina.store.blobs import BlobStore
from lamina.testing.registry import PASSWORD, USERNAME, client_for, environment_ok, make_image

pytest_plugins = ["registry_fixtures"]
needs_registry = pytest.mark.skipif(environment_ok() is not None, reason=str(environment_ok()))
pytestmark = [needs_registry, pytest.mark.network]


@pytest.mark.parametrize("which", ["basic", "bearer"])
def test_push_pull_with_credentials(which, basic_registry, bearer_registry, blob_store, repo, tmp_path):
    reg = basic_registry if which == "basic" else bearer_registry
    image = make_image(blob_store)
    before = reg.token_server.requests if reg.token_server else 0
    with client_for(reg.host, user=USERNAME, password=PASSWORD) as client:
        push_target(client, repo, "v1", blob_store, image.manifest, image.media_type)
        fresh = BlobStore(tmp_path / "fresh")
        pulled = pull_target(client, repo, "v1", fresh)
    assert pulled.manifest_digest == image.digest
    if reg.token_server:
        # one token for pull,push covers the whole push and the pull (cached per scope)
        assert reg.token_server.requests - before <= 2


@pytest.mark.parametrize("which", ["basic", "bearer"])
def test_without_credentials_is_auth_required(which, basic_registry, bearer_registry, repo, tmp_path):
    reg = basic_registry if which == "basic" else bearer_registry
    with client_for(reg.host) as client, pytest.raises(RegistryAuthRequired) as info:
        pull_target(client, repo, "v1", BlobStore(tmp_path / "fresh"))
    assert repo in str(info.value)


@pytest.mark.parametrize("which", ["basic", "bearer"])
def test_login_logout(which, basic_registry, bearer_registry, tmp_path):
    reg = basic_registry if which == "basic" else bearer_registry
    config = tmp_path / "docker" / "config.json"
    with pytest.raises(RegistryAuthRequired):
        login(reg.host, USERNAME, "wrong", config)
    assert not config.exists()
    login(reg.host, USERNAME, PASSWORD, config)
    assert CredentialStore(config).get(reg.host) == Credentials(USERNAME, PASSWORD)
    with client_for(reg.host, credentials=CredentialStore(config)) as client:
        assert client.ping(authenticate=True).startswith("registry/2")
    assert logout(reg.host, config) is True
    assert CredentialStore(config).get(reg.host) is None


def test_stored_credentials_are_used(bearer_registry, blob_store, repo, tmp_path):
    config = tmp_path / "config.json"
    login(bearer_registry.host, USERNAME, PASSWORD, config)
    image = make_image(blob_store)
    with client_for(bearer_registry.host, credentials=CredentialStore(config)) as client:
        result = push_target(client, repo, "v1", blob_store, image.manifest, image.media_type)
    assert result.digest == image.digest
