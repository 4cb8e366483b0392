"""Registry authentication: WWW-Authenticate challenges, bearer tokens, docker-style credentials.

Must not read environment variables or guess file locations: the caller passes the
config.json path. Must not send credentials anywhere but the registry host and the
token realm its challenge names. httpx is imported lazily (CLI start-up path).

Credentials live in docker's ``config.json`` form::

    {"auths": {"127.0.0.1:5000": {"auth": base64("user:password")}}}
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lamina._internal.fsops import atomic_write
from lamina._internal.logs import get_logger
from lamina.errors import InvalidArgument, RegistryAuthRequired, RegistryDenied, RegistryUnavailable
from lamina.registry.errors import error_for, map_registry_errors

if TYPE_CHECKING:
    import httpx

log = get_logger(__name__)

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_KEY)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PARAM = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*")
_BARE_VALUE = re.compile(r"[^,\s]+")
DEFAULT_TOKEN_TTL = 60.0


# ---------------------------------------------------------------- challenges
@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """One WWW-Authenticate challenge: ``scheme`` lower-cased, ``params`` keys lower-cased."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def _read_value(text: str, pos: int) -> tuple[str, int]:
    if pos < len(text) and text[pos] == '"':
        out, pos = [], pos + 1
        while pos < len(text) and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < len(text):
                pos += 1
            out.append(text[pos])
            pos += 1
        return "".join(out), pos + 1
    m = _BARE_VALUE.match(text, pos)  # lenient: realms are often sent unquoted
    return (m.group(0), m.end()) if m else ("", pos)


def _skip(text: str, pos: int, chars: str = " \t,") -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def parse_challenges(header: str) -> list[Challenge]:
    """Parse ``Bearer realm="…",service="…",scope="a:b:pull,push", Basic realm="x"`` into challenges."""
    challenges: list[Challenge] = []
    pos = _skip(header, 0)
    while pos < len(header):
        m = _TOKEN.match(header, pos)
        if m is None:
            break
        scheme, pos = m.group(0).lower(), _skip(header, m.end(), " \t")
        params: dict[str, str] = {}
        while pos < len(header):
            pm = _PARAM.match(header, pos)
            if pm is None:
                break
            value, pos = _read_value(header, pm.end())
            params[pm.group(1).lower()] = value
            pos = _skip(header, pos)
        challenges.append(Challenge(scheme=scheme, params=params))
        pos = _skip(header, pos)
    return challenges


# ---------------------------------------------------------------- credentials
@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def config_key(domain: str) -> str:
    """The ``auths`` key docker uses for a registry domain (Docker Hub has its legacy URL)."""
    return DOCKER_HUB_KEY if domain in _HUB_ALIASES else domain


def _normalise_key(key: str) -> str:
    if key == DOCKER_HUB_KEY:
        return key
    host = re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]
    return config_key(host)


def _decode_entry(entry: object) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return Credentials(user, password) if sep else None
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return Credentials(entry["username"], entry["password"])
    return None


class CredentialStore:
    """Credentials by registry domain, read from (and written to) a docker config.json path.

    ``path=None`` is an in-memory store (``CredentialStore.of(domain, user, password)``).
    Credential helpers (``credsStore``) are not supported and are ignored.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._memory: dict[str, Credentials] = {}

    @classmethod
    def of(cls, domain: str, username: str, password: str) -> CredentialStore:
        store = cls(None)
        store._memory[config_key(domain)] = Credentials(username, password)
        return store

    def _load(self) -> dict[str, object]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            doc = json.loads(self.path.read_bytes() or b"{}")
        except ValueError as exc:
            raise InvalidArgument(f"read credentials {self.path}: invalid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise InvalidArgument(f"read credentials {self.path}: not a JSON object")
        return doc

    def get(self, domain: str) -> Credentials | None:
        key = config_key(domain)
        if key in self._memory:
            return self._memory[key]
        auths = self._load().get("auths")
        if not isinstance(auths, dict):
            return None
        for k, entry in auths.items():
            if _normalise_key(str(k)) == key:
                return _decode_entry(entry)
        return None

    def set(self, domain: str, creds: Credentials) -> None:
        self._memory.pop(config_key(domain), None)
        self._rewrite(domain, {"auth": base64.b64encode(
            f"{creds.username}:{creds.password}".encode()).decode("ascii")})

    def erase(self, domain: str) -> bool:
        """Remove the entry; True when there was one."""
        had = self._memory.pop(config_key(domain), None) is not None
        return self._rewrite(domain, None) or had

    def _rewrite(self, domain: str, entry: dict[str, str] | None) -> bool:
        if self.path is None:
            return False
        doc = self._load()
        auths = doc.get("auths")
        auths = dict(auths) if isinstance(auths, dict) else {}
        key = config_key(domain)
        stale = [k for k in auths if _normalise_key(str(k)) == key]
        for k in stale:
            del auths[k]
        if entry is not None:
            auths[key] = entry
        doc["auths"] = auths
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, (json.dumps(doc, indent="\t") + "\n").encode(), mode=0o600)
        return bool(stale)


# ---------------------------------------------------------------- authenticator
@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires: float


def scope_covers(have: str, want: str) -> bool:
    """True when the token scope ``have`` grants everything in ``want`` (same resource)."""
    h_type, _, h_rest = have.partition(":")
    w_type, _, w_rest = want.partition(":")
    h_name, _, h_actions = h_rest.rpartition(":")
    w_name, _, w_actions = w_rest.rpartition(":")
    if (h_type, h_name) != (w_type, w_name):
        return False
    return set(w_actions.split(",")) <= set(h_actions.split(","))


class Authenticator:
    """Per-host auth state: the last challenge, basic credentials, bearer tokens cached per scope."""

    def __init__(self, domain: str, credentials: CredentialStore | None,
                 now: Callable[[], float] | None = None) -> None:
        self.domain = domain
        self._credentials = credentials
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self._lock = threading.Lock()
        self._fetch_lock = threading.Lock()  # one token fetch at a time: concurrent askers reuse it
        self._now = now or time.monotonic

    def _creds(self) -> Credentials | None:
        return self._credentials.get(self.domain) if self._credentials else None

    def header(self, scopes: tuple[str, ...], http: httpx.Client | None = None) -> str | None:
        """The Authorization header to send for ``scopes``, if the registry's challenge is known.

        With ``http``, a missing or expired bearer token is fetched now (so a streamed upload,
        which cannot be replayed after a 401, still goes out with a valid token).
        """
        with self._lock:
            challenge = self._challenge
            if challenge is None:
                return None
            if challenge.scheme == "basic":
                creds = self._creds()
                return creds.basic_header() if creds else None
            token = self._cached(scopes)
        if token is None and http is not None and scopes:
            token = self._token_for(http, challenge, scopes, None)
        return f"Bearer {token}" if token else None

    def _cached(self, scopes: tuple[str, ...]) -> str | None:
        now = self._now()
        for have, tok in self._tokens.items():
            if tok.expires > now and all(any(scope_covers(h, w) for h in have) for w in scopes):
                return tok.value
        return None

    def answer(self, http: httpx.Client, www_authenticate: str, scopes: tuple[str, ...],
               tried: str | None) -> str | None:
        """Answer a 401's challenge: a new Authorization header, or None when retrying is pointless."""
        chosen = self._pick(parse_challenges(www_authenticate))
        if chosen is None:
            return None
        with self._lock:
            self._challenge = chosen
        if chosen.scheme == "basic":
            creds = self._creds()
            value = creds.basic_header() if creds else None
        else:
            value = "Bearer " + self._token_for(http, chosen, scopes, tried)
        return value if value != tried else None

    def _token_for(self, http: httpx.Client, challenge: Challenge, scopes: tuple[str, ...],
                   tried: str | None) -> str:
        with self._fetch_lock:
            with self._lock:
                cached = self._cached(scopes)
            if cached is not None and f"Bearer {cached}" != tried:
                return cached  # another thread fetched it while we waited
            return self.fetch_token(http, challenge, scopes)

    @staticmethod
    def _pick(challenges: list[Challenge]) -> Challenge | None:
        for scheme in ("bearer", "basic"):
            for c in challenges:
                if c.scheme == scheme:
                    return c
        return None

    def fetch_token(self, http: httpx.Client, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        """GET the realm with service+scope (basic creds if any); caches the token per scope."""
        realm = challenge.realm
        if not realm:
            raise RegistryUnavailable(f"authenticate {self.domain}: bearer challenge has no realm",
                                      retryable=False)
        params: list[tuple[str, str | int | float | bool | None]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        params += [("scope", s) for s in scopes]
        creds = self._creds()
        headers = {"Authorization": creds.basic_header()} if creds else {}
        if creds:
            params.append(("account", creds.username))
        with map_registry_errors(self.domain, "authenticate"):
            resp = http.get(realm, params=params, headers=headers)
        token, ttl = self._parse_token(resp)
        with self._lock:
            self._tokens[scopes] = _Token(token, self._now() + max(ttl - 5.0, 1.0))
        log.debug("fetched token domain=%s scopes=%s ttl=%s", self.domain, scopes, ttl)
        return token

    def _parse_token(self, resp: httpx.Response) -> tuple[str, float]:
        if resp.status_code in (401, 403):
            cls = RegistryAuthRequired if resp.status_code == 401 else RegistryDenied
            raise cls(self.domain, f"authenticate {self.domain}: token server refused the credentials")
        if not resp.is_success:
            raise error_for(resp.status_code, resp.content, reference=self.domain, what="authenticate")
        try:
            doc = resp.json()
        except ValueError as exc:
            raise RegistryUnavailable(f"authenticate {self.domain}: token answer is not JSON",
                                      retryable=False) from exc
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryUnavailable(f"authenticate {self.domain}: token answer has no token",
                                      retryable=False)
        ttl = doc.get("expires_in")
        return token, float(ttl) if isinstance(ttl, int | float) and ttl > 0 else DEFAULT_TOKEN_TTL


# ---------------------------------------------------------------- login / logout
def login(domain: str, username: str, password: str, config_path: str | Path, *,
          transport: httpx.BaseTransport | None = None, insecure: bool | None = None) -> None:
    """Verify the credentials against the registry (GET /v2/ with them), then store them."""
    from lamina.registry.client import RegistryClient

    trial = CredentialStore.of(domain, username, password)
    with RegistryClient(domain, transport=transport, credentials=trial, insecure=insecure) as client:
        try:
            client.ping(authenticate=True)
        except RegistryAuthRequired as exc:
            raise RegistryAuthRequired(domain, f"login {domain}: unauthorized: "
                                               "incorrect username or password") from exc
    CredentialStore(config_path).set(domain, Credentials(username, password))
    log.debug("stored credentials domain=%s user=%s", domain, username)


def logout(domain: str, config_path: str | Path) -> bool:
    """Forget the stored credentials for ``domain``; True when there were some."""
    return CredentialStore(config_path).erase(domain)
