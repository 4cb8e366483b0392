"""Test registries on loopback: Debian's ``docker-registry``, a bearer token server, a fault proxy.

Must not be imported by lamina itself, and must not listen anywhere but 127.0.0.1.

- ``start_registry(workdir, auth=...)`` runs ``/usr/bin/docker-registry serve`` with
  filesystem storage under ``workdir`` on a free port and waits until ``/v2/`` answers.
  ``auth="basic"`` writes a bcrypt htpasswd file (the ``bcrypt`` package);
  ``auth="bearer"`` starts a ``TokenServer`` and points the registry's ``auth: token:``
  at it (key + self-signed certificate and RS256 signatures by the ``openssl`` CLI).
- ``FaultProxy(upstream)`` is a threaded HTTP proxy that forwards to the registry and
  can, per rule, answer 500/429 (with Retry-After), drop the connection mid-body,
  truncate a body (consistent Content-Length) or flip a byte, and records requests.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.digest import Digest
from lamina.registry.auth import CredentialStore
from lamina.registry.client import RegistryClient
from lamina.store.blobs import BlobStore

REGISTRY_BINARY = "/usr/bin/docker-registry"
SERVICE = "lamina-test-registry"
ISSUER = "lamina-test-issuer"
USERNAME = "lamina"
PASSWORD = "s3cret-pass"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------- token server
class TokenServer:
    """A threaded bearer token server on 127.0.0.1 issuing RS256 JWTs the registry trusts.

    ``users`` maps user -> password. Anonymous callers get ``pull`` only when
    ``anonymous_pull``; authenticated users get the actions they ask for. Wrong
    credentials get 401. ``requests`` counts token requests (for cache tests).
    """

    def __init__(self, workdir: Path, users: dict[str, str] | None = None, *,
                 anonymous_pull: bool = False, access_token_field: bool = False) -> None:
        self.workdir = workdir
        self.users = users if users is not None else {USERNAME: PASSWORD}
        self.anonymous_pull = anonymous_pull
        self.access_token_field = access_token_field
        self.requests = 0
        self.key = workdir / "token.key"
        self.cert = workdir / "token.crt"
        self._make_key()
        self.kid = self._key_id()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _make_key(self) -> None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
                        "-out", str(self.cert), "-days", "2", "-subj", "/CN=lamina-test-token"],
                       check=True, capture_output=True)

    def _key_id(self) -> str:
        """libtrust's key id: base32 of the first 240 bits of sha256(DER SubjectPublicKeyInfo)."""
        der = subprocess.run(["openssl", "pkey", "-in", str(self.key), "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
        return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                             input=signing_input.encode(), check=True, capture_output=True).stdout
        return f"{signing_input}.{_b64url(sig)}"

    def grant(self, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            allowed = wanted if user else [a for a in wanted if a == "pull" and self.anonymous_pull]
            if kind == "repository" and allowed:
                access.append({"type": "repository", "name": name, "actions": allowed})
        return access

    def issue(self, user: str | None, scopes: list[str]) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user or "", "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": secrets.token_hex(8), "access": self.grant(user, scopes)}
        token = self.sign(claims)
        key = "access_token" if self.access_token_field else "token"
        return {key: token, "expires_in": 300, "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _authenticate(self, header: str | None) -> tuple[bool, str | None]:
        if not header:
            return True, None
        if not header.startswith("Basic "):
            return False, None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return self.users.get(user) == password, user

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                ok, user = server._authenticate(self.headers.get("Authorization"))
                body = json.dumps(server.issue(user, query.get("scope", [])) if ok
                                  else {"errors": [{"code": "UNAUTHORIZED"}]}).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# ---------------------------------------------------------------- the registry process
@dataclass
class RegistryProcess:
    """A running docker-registry; ``host`` is ``127.0.0.1:<port>``."""

    host: str
    workdir: Path
    process: subprocess.Popen[bytes]
    auth: str = "none"
    username: str | None = None
    password: str | None = None
    token_server: TokenServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def storage(self) -> Path:
        return self.workdir / "storage"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.token_server is not None:
            self.token_server.close()

    def log(self) -> str:
        return (self.workdir / "registry.log").read_text(errors="replace")


def _config(workdir: Path, port: int, auth_section: str) -> str:
    return f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {workdir / "storage"}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: lamina-test-secret
{auth_section}"""


def _htpasswd(workdir: Path, user: str, password: str) -> Path:
    import bcrypt

    path = workdir / "htpasswd"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    path.write_text(f"{user}:{hashed}\n")
    return path


def _auth_section(workdir: Path, auth: str, token_server: TokenServer | None) -> str:
    if auth == "basic":
        path = _htpasswd(workdir, USERNAME, PASSWORD)
        return f"auth:\n  htpasswd:\n    realm: lamina-basic\n    path: {path}\n"
    if auth == "bearer":
        assert token_server is not None
        return (f"auth:\n  token:\n    realm: {token_server.realm}\n    service: {SERVICE}\n"
                f"    issuer: {ISSUER}\n    rootcertbundle: {token_server.cert}\n")
    return ""


def start_registry(workdir: Path, *, auth: str = "none", anonymous_pull: bool = False,
                   timeout: float = 20.0) -> RegistryProcess:
    """Start docker-registry under ``workdir`` with ``auth`` "none", "basic" or "bearer"; wait for /v2/."""
    binary = shutil.which("docker-registry") or REGISTRY_BINARY
    workdir.mkdir(parents=True, exist_ok=True)
    token_server = TokenServer(workdir, anonymous_pull=anonymous_pull) if auth == "bearer" else None
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(_config(workdir, port, _auth_section(workdir, auth, token_server)))
    with open(workdir / "registry.log", "wb") as logf:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    reg = RegistryProcess(host=f"127.0.0.1:{port}", workdir=workdir, process=proc, auth=auth,
                          username=USERNAME if auth != "none" else None,
                          password=PASSWORD if auth != "none" else None, token_server=token_server)
    try:
        _wait_ready(reg, timeout)
    except BaseException:
        reg.stop()
        raise
    return reg


def _wait_ready(reg: RegistryProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reg.process.poll() is not None:
            raise RuntimeError(f"docker-registry exited early: {reg.log()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{reg.url}/v2/", timeout=1):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer on {reg.host}: {reg.log()[-2000:]}")


@contextlib.contextmanager
def running_registry(workdir: Path, **kwargs: Any) -> Iterator[RegistryProcess]:
    reg = start_registry(workdir, **kwargs)
    try:
        yield reg
    finally:
        reg.stop()


# ---------------------------------------------------------------- fault proxy
@dataclass
class Fault:
    """One fault: applied to the next ``times`` requests whose method and path match.

    ``kind``: "status" (answer ``status``, e.g. 500 or 429 with ``retry_after``),
    "drop" (forward headers then close after ``after_bytes`` of the body),
    "truncate" (send only ``after_bytes`` with a matching Content-Length),
    "flip" (invert one byte of the body at ``after_bytes``), "ignore_range" (strip Range).
    """

    kind: str
    path_contains: str = ""
    method: str = "GET"
    times: int = 1
    status: int = 500
    retry_after: str | None = None
    after_bytes: int = 0


@dataclass
class RecordedRequest:
    method: str
    path: str
    range: str | None
    fault: str | None


@dataclass
class FaultProxy:
    """A threaded loopback HTTP proxy in front of ``upstream`` (``host:port``) that injects faults."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path_contains in path:
                    fault.times -= 1
                    return fault
        return None

    def record(self, method: str, path: str, rng: str | None, fault: Fault | None) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, rng, fault.kind if fault else None))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    """Forwards one request to the upstream registry, applying the proxy's next matching fault."""

    proxy: FaultProxy
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        fault = self.proxy.take(self.command, self.path)
        self.proxy.record(self.command, self.path, self.headers.get("Range"), fault)
        body = self._read_body()
        if fault is not None and fault.kind == "status":
            self._answer_status(fault)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
        if fault is not None and fault.kind == "ignore_range":
            headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        conn = http.client.HTTPConnection(self.proxy.upstream, timeout=60)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            self._relay(conn.getresponse(), fault)
        finally:
            conn.close()

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _answer_status(self, fault: Fault) -> None:
        payload = json.dumps({"errors": [{"code": "TOOMANYREQUESTS" if fault.status == 429 else
                                          "UNKNOWN", "message": "injected fault"}]}).encode()
        self.send_response(fault.status)
        if fault.retry_after is not None:
            self.send_header("Retry-After", fault.retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _relay(self, resp: http.client.HTTPResponse, fault: Fault | None) -> None:
        data = resp.read() if self.command != "HEAD" else b""
        length = resp.getheader("Content-Length")
        kind = fault.kind if fault is not None else None
        cut = fault.after_bytes if fault is not None else 0
        if kind == "truncate":
            data = data[:cut]
        if kind == "flip" and len(data) > cut:
            data = data[:cut] + bytes([data[cut] ^ 0xFF]) + data[cut + 1:]
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP_HEADERS and k.lower() != "content-length":
                self.send_header(k, v)
        shown = length if self.command == "HEAD" and length else str(len(data))
        self.send_header("Content-Length", shown)
        if kind == "drop":
            self.send_header("Connection", "close")
        self.end_headers()
        if kind == "drop":
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _proxy_handler(proxy: FaultProxy) -> type[http.server.BaseHTTPRequestHandler]:
    return type("ProxyHandler", (_ProxyHandler,), {"proxy": proxy})


# ---------------------------------------------------------------- clients and synthetic images
class RecordingSleep(list[float]):
    """A ``sleep`` for clients in tests: records the delays, never sleeps."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(host: str, *, user: str | None = None, password: str | None = None,
               **kwargs: object) -> RegistryClient:
    creds = CredentialStore.of(host, user, password) if user and password else None
    kwargs.setdefault("sleep", RecordingSleep())
    kwargs.setdefault("credentials", creds)
    return RegistryClient(host, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- synthetic images
@dataclass(frozen=True)
class SyntheticImage:
    manifest: bytes
    media_type: str
    config: Digest
    layers: tuple[Digest, ...]

    @property
    def digest(self) -> Digest:
        return Digest.of_bytes(self.manifest)


def _layer(files: dict[str, bytes]) -> tuple[bytes, Digest]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), Digest.of_bytes(tar_bytes)


def make_image(blobs: BlobStore, *, layers: int = 2, layer_bytes: int = 4096,
               seed: str | None = None) -> SyntheticImage:
    """Config + ``layers`` gzip layers of random content, stored in ``blobs``; OCI manifest bytes."""
    seed = seed or secrets.token_hex(8)
    layer_descs, diff_ids, digests = [], [], []
    for i in range(layers):
        payload = secrets.token_bytes(layer_bytes)
        blob, diff_id = _layer({f"layer{i}/{seed}.bin": payload, f"layer{i}/name": seed.encode()})
        info = blobs.put_bytes(blob)
        digests.append(info.digest)
        diff_ids.append(str(diff_id))
        layer_descs.append({"mediaType": OCI_LAYER_GZIP, "digest": str(info.digest), "size": info.size})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created_by": f"lamina test {seed}"}]}, sort_keys=True).encode()
    cfg = blobs.put_bytes(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": str(cfg.digest), "size": cfg.size},
                           "layers": layer_descs}, indent=2).encode()
    return SyntheticImage(manifest, OCI_MANIFEST, cfg.digest, tuple(digests))


def environment_ok() -> str | None:
    """None when the registry fixtures can run here, else why not (a pytest skip reason)."""
    if not (shutil.which("docker-registry") or os.path.exists(REGISTRY_BINARY)):
        return "needs docker-registry (apt-get install docker-registry)"
    if not shutil.which("openssl"):
        return "needs the openssl CLI for the bearer token server"
    return None
