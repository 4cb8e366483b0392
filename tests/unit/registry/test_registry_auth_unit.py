"""Challenge parsing, credential files, scope coverage, login/logout against a mock registry."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from lamina.errors import RegistryAuthRequired
from lamina.registry.auth import (
    DOCKER_HUB_KEY,
    Credentials,
    CredentialStore,
    login,
    logout,
    parse_challenges,
    scope_covers,
)


def test_parse_bearer_challenge_with_commas_in_scope():
    [c] = parse_challenges('Bearer realm="https://auth.example/token",service="reg.example",'
                           'scope="repository:samalba/my-app:pull,push"')
    assert c.scheme == "bearer"
    assert c.realm == "https://auth.example/token"
    assert c.params["service"] == "reg.example"
    assert c.params["scope"] == "repository:samalba/my-app:pull,push"


def test_parse_several_challenges_and_unquoted_values():
    cs = parse_challenges('Basic realm="registry", Bearer realm=https://t.example/x, service=svc')
    assert [c.scheme for c in cs] == ["basic", "bearer"]
    assert cs[0].realm == "registry"
    assert cs[1].params == {"realm": "https://t.example/x", "service": "svc"}


def test_parse_escaped_quote_and_case():
    [c] = parse_challenges('BEARER Realm="a\\"b"')
    assert c.scheme == "bearer" and c.realm == 'a"b'


def test_parse_empty():
    assert parse_challenges("") == []


@pytest.mark.parametrize(("have", "want", "ok"), [
    ("repository:a/b:pull,push", "repository:a/b:pull", True),
    ("repository:a/b:pull", "repository:a/b:pull,push", False),
    ("repository:a/b:pull", "repository:a/c:pull", False),
    ("repository:a/b:*", "repository:a/b:*", True),
])
def test_scope_covers(have, want, ok):
    assert scope_covers(have, want) is ok


def test_credential_store_reads_docker_config(tmp_path):
    path = tmp_path / "config.json"
    auth = base64.b64encode(b"alice:pa:ss").decode()
    path.write_text(json.dumps({"auths": {"https://reg.example:5000/v1/": {"auth": auth},
                                          DOCKER_HUB_KEY: {"auth": base64.b64encode(b"bob:x").decode()}},
                                "credsStore": "desktop"}))
    store = CredentialStore(path)
    assert store.get("reg.example:5000") == Credentials("alice", "pa:ss")
    assert store.get("docker.io") == Credentials("bob", "x")
    assert store.get("other.example") is None


def test_credential_store_set_erase_keeps_other_keys(tmp_path):
    path = tmp_path / "cfg" / "config.json"
    store = CredentialStore(path)
    store.set("127.0.0.1:5000", Credentials("u", "p"))
    doc = json.loads(path.read_text())
    doc["psFormat"] = "x"
    path.write_text(json.dumps(doc))
    store.set("docker.io", Credentials("h", "q"))
    doc = json.loads(path.read_text())
    assert doc["psFormat"] == "x"
    assert base64.b64decode(doc["auths"]["127.0.0.1:5000"]["auth"]) == b"u:p"
    assert DOCKER_HUB_KEY in doc["auths"]
    assert (path.stat().st_mode & 0o777) == 0o600
    assert store.erase("127.0.0.1:5000") is True
    assert store.erase("127.0.0.1:5000") is False
    assert store.get("docker.io") == Credentials("h", "q")


def _basic_registry(user: str, password: str):
    good = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") == good:
            return httpx.Response(200, json={})
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
    return httpx.MockTransport(handler)


def test_login_verifies_then_stores(tmp_path):
    path = tmp_path / "config.json"
    login("127.0.0.1:5000", "u", "p", path, transport=_basic_registry("u", "p"))
    assert CredentialStore(path).get("127.0.0.1:5000") == Credentials("u", "p")
    assert logout("127.0.0.1:5000", path) is True
    assert CredentialStore(path).get("127.0.0.1:5000") is None


def test_login_with_wrong_password_stores_nothing(tmp_path):
    path = tmp_path / "config.json"
    with pytest.raises(RegistryAuthRequired) as info:
        login("127.0.0.1:5000", "u", "wrong", path, transport=_basic_registry("u", "p"))
    assert "127.0.0.1:5000" in str(info.value)
    assert not path.exists()
