"""RegistryClient against httpx.MockTransport: auth challenges, retries, error mapping, pagination."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from lamina.digest import Digest
from lamina.errors import DigestMismatch, ManifestUnknown, RegistryAuthRequired, RegistryUnavailable
from lamina.registry.auth import CredentialStore
from lamina.registry.client import RegistryClient, is_loopback, registry_host
from lamina.spec.mediatypes import OCI_MANIFEST

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
MANIFEST_DIGEST = Digest.of_bytes(MANIFEST)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(handler, domain="reg.example", **kw):
    sleeps = Sleeps()
    client = RegistryClient(domain, transport=httpx.MockTransport(handler), sleep=sleeps, **kw)
    return client, sleeps


def manifest_response(data=MANIFEST, digest=MANIFEST_DIGEST):
    return httpx.Response(200, content=data, headers={"Content-Type": OCI_MANIFEST,
                                                      "Docker-Content-Digest": str(digest)})


# ---------------------------------------------------------------- scheme
@pytest.mark.parametrize(("host", "loop"), [("localhost:5000", True), ("127.0.0.1", True),
                                            ("127.8.9.1:80", True), ("[::1]:5000", True), ("::1", True),
                                            ("reg.example", False), ("10.0.0.1:5000", False)])
def test_is_loopback(host, loop):
    assert is_loopback(host) is loop


def test_docker_hub_host():
    assert registry_host("docker.io") == "registry-1.docker.io"
    assert registry_host("quay.io") == "quay.io"


def test_loopback_uses_plain_http_and_others_https():
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, headers={"Docker-Distribution-API-Version": "registry/2.0"})
    for domain in ("127.0.0.1:5000", "reg.example"):
        client, _ = make_client(handler, domain)
        assert client.ping() == "registry/2.0"
    assert seen == ["http://127.0.0.1:5000/v2/", "https://reg.example/v2/"]


def test_plain_http_client_builds_a_verifying_transport_only_for_https(monkeypatch):
    from lamina.registry import _transport
    built: list[bool] = []

    def fake_transport(*, verify, limits):
        built.append(verify)
        return httpx.MockTransport(lambda request: httpx.Response(
            200, headers={"Docker-Distribution-API-Version": "registry/2.0", "X-Verify": str(verify)}))
    monkeypatch.setattr(_transport.httpx, "HTTPTransport", fake_transport)
    client = RegistryClient("127.0.0.1:5000")
    assert client.ping() == "registry/2.0"
    assert built == [False]  # plain http: no certificate bundle loaded
    transport = _transport.PlainFirstTransport(verify=True, limits=httpx.Limits())
    for _ in range(2):
        answer = transport.handle_request(httpx.Request("GET", "https://blobs.example/x"))
        assert answer.headers["X-Verify"] == "True"
    assert built == [False, False, True]  # built once, on the first https request, verifying
    transport.close()
    client.close()


def test_httpx_loads_without_its_command_line_client():
    import subprocess
    import sys
    code = ("import sys; from lamina.registry.client import load_httpx; load_httpx(); import httpx; "
            "print(httpx.Client.__name__, 'rich' in sys.modules, 'httpx._main' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["Client", "False", "False"]


def test_explicit_secure_loopback_uses_https():
    seen = []
    client, _ = make_client(lambda r: seen.append(r.url.scheme) or httpx.Response(200), "localhost:5000",
                            insecure=False)
    client.ping()
    assert seen == ["https"]


# ---------------------------------------------------------------- auth
class TokenRegistry:
    """A registry that wants a bearer token from a realm, which wants basic credentials."""

    def __init__(self, field="token", user="u", password="p"):
        self.field = field
        self.basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.token_requests = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            self.token_requests.append(request)
            if request.headers.get("Authorization") != self.basic:
                return httpx.Response(401)
            scopes = request.url.params.get_list("scope")
            return httpx.Response(200, json={self.field: "tok:" + " ".join(scopes), "expires_in": 300})
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer tok:repository:a/b:pull"):
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.example/t",'
                                                'service="reg.example",scope="repository:a/b:pull"'})
        return manifest_response()


@pytest.mark.parametrize("field", ["token", "access_token"])
def test_401_fetches_token_then_retries_and_caches_it(field):
    registry = TokenRegistry(field=field)
    client, _ = make_client(registry, credentials=CredentialStore.of("reg.example", "u", "p"))
    fetched = client.get_manifest("a/b", "latest")
    assert fetched.digest == MANIFEST_DIGEST and fetched.media_type == OCI_MANIFEST
    [token_req] = registry.token_requests
    assert token_req.url.params["service"] == "reg.example"
    assert token_req.url.params["scope"] == "repository:a/b:pull"
    client.get_manifest("a/b", "latest")
    assert len(registry.token_requests) == 1  # cached per scope


def test_push_token_covers_pull():
    registry = TokenRegistry()
    client, _ = make_client(registry, credentials=CredentialStore.of("reg.example", "u", "p"))

    def handler(request):
        if request.url.host == "auth.example" or not request.headers.get("Authorization"):
            return registry(request)
        return httpx.Response(201, headers={"Docker-Content-Digest": str(MANIFEST_DIGEST)})
    client._http._transport = httpx.MockTransport(handler)
    client.put_manifest("a/b", "v1", MANIFEST, OCI_MANIFEST)
    [token_req] = registry.token_requests
    assert token_req.url.params["scope"] == "repository:a/b:pull,push"
    assert client._auth.header(("repository:a/b:pull",)) is not None


def test_token_server_refusing_credentials_is_auth_required():
    registry = TokenRegistry(password="other")
    client, _ = make_client(registry, credentials=CredentialStore.of("reg.example", "u", "p"))
    with pytest.raises(RegistryAuthRequired):
        client.get_manifest("a/b", "latest")


def test_basic_challenge_without_credentials_is_auth_required():
    def handler(request):
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'},
                              json={"errors": [{"code": "UNAUTHORIZED", "message": "auth"}]})
    client, sleeps = make_client(handler)
    with pytest.raises(RegistryAuthRequired) as info:
        client.get_manifest("a/b", "v1")
    assert info.value.reference == "reg.example/a/b:v1"
    assert sleeps == []


# ---------------------------------------------------------------- retries
def test_429_is_retried_honouring_retry_after():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(429, headers={"Retry-After": "7"})
        return manifest_response()
    client, sleeps = make_client(handler)
    assert client.get_manifest("a/b", "latest").digest == MANIFEST_DIGEST
    assert sleeps == [7.0, 7.0]


def test_retry_after_is_capped():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "3600"})
        return manifest_response()
    client, sleeps = make_client(handler, retry_after_cap=2.5)
    client.get_manifest("a/b", "latest")
    assert sleeps == [2.5]


def test_5xx_retried_with_bounded_backoff_then_fails():
    client, sleeps = make_client(lambda r: httpx.Response(503), max_retries=4, backoff=1.0, backoff_cap=3.0)
    with pytest.raises(RegistryUnavailable) as info:
        client.get_manifest("a/b", "latest")
    assert info.value.retryable
    assert len(sleeps) == 4
    assert all(0 < s <= 3.0 for s in sleeps)
    assert sleeps[0] <= 1.0


def test_connection_errors_are_retried():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused")
        return manifest_response()
    client, sleeps = make_client(handler)
    client.get_manifest("a/b", "latest")
    assert len(sleeps) == 1


def test_other_4xx_are_not_retried():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]})
    client, sleeps = make_client(handler, domain="127.0.0.1:5000")
    with pytest.raises(ManifestUnknown) as info:
        client.get_manifest("x/y", "nope")
    assert info.value.reference == "127.0.0.1:5000/x/y:nope"
    assert "127.0.0.1:5000/x/y:nope" in str(info.value)
    assert len(calls) == 1 and sleeps == []


# ---------------------------------------------------------------- manifests and tags
def test_manifest_by_digest_is_verified():
    other = Digest.of_bytes(b"something else")
    client, _ = make_client(lambda r: manifest_response())
    with pytest.raises(DigestMismatch):
        client.get_manifest("a/b", str(other))


def test_manifest_header_digest_mismatch():
    client, _ = make_client(lambda r: manifest_response(digest=Digest.of_bytes(b"x")))
    with pytest.raises(DigestMismatch):
        client.get_manifest("a/b", "latest")


def test_media_type_sniffed_when_content_type_is_generic():
    def handler(request):
        return httpx.Response(200, content=MANIFEST, headers={"Content-Type": "application/json"})
    client, _ = make_client(handler)
    assert client.get_manifest("a/b", "latest").media_type == OCI_MANIFEST


def test_list_tags_follows_link_pagination():
    pages = {None: (["a", "b"], '</v2/x/y/tags/list?last=b&n=2>; rel="next"'),
             "b": (["c", "d"], '</v2/x/y/tags/list?last=d&n=2>; rel="next"'),
             "d": (["e"], None)}

    def handler(request):
        tags, link = pages[request.url.params.get("last")]
        headers = {"Link": link} if link else {}
        return httpx.Response(200, json={"name": "x/y", "tags": tags}, headers=headers)
    client, _ = make_client(handler)
    assert client.list_tags("x/y", page_size=2) == ["a", "b", "c", "d", "e"]


def test_upload_flow_urls_and_headers():
    seen = []
    digest = Digest.of_bytes(b"hello world")

    def handler(request):
        seen.append((request.method, request.url.path, dict(request.url.params), request.headers.get(
            "Content-Range"), request.content))
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": "/v2/a/b/blobs/uploads/u1?_state=s"})
        if request.method == "PATCH":
            return httpx.Response(202, headers={"Location": "/v2/a/b/blobs/uploads/u1?_state=t"})
        return httpx.Response(201)
    client, _ = make_client(handler)
    loc = client.start_upload("a/b")
    loc = client.upload_chunk("a/b", loc, [b"hello ", b"world"], offset=0, length=11)
    client.finish_upload("a/b", loc, digest)
    assert seen[1][:4] == ("PATCH", "/v2/a/b/blobs/uploads/u1", {"_state": "s"}, "0-10")
    assert seen[1][4] == b"hello world"
    assert seen[2][2] == {"_state": "t", "digest": str(digest)}


def test_mount_blob():
    def handler(request):
        assert request.url.params["from"] == "src/repo"
        return httpx.Response(201)
    client, _ = make_client(handler)
    assert client.mount_blob("a/b", MANIFEST_DIGEST, "src/repo") is True
