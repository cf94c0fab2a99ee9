"""OpenID Connect tokens of CI jobs (GitHub Actions, GitLab CI), verified with PyJWT.

Only issuers named in OIDC_TRUST are ever contacted: the token's own `iss` picks a configured rule
or the token is refused before any fetch. Keys come from the issuer's discovery document and are
cached while the function is warm; a token signed with a key id we do not know refreshes the key set
at most once a minute, so a flood of made-up key ids cannot flood the issuer. The rules follow PyPI's
Trusted Publishing: RS256/ES256 only, one exact audience, 60 s leeway on exp/iat/nbf, and every `jti`
used once (kept in the task table until the token expires).
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from taskwatch.domain.errors import DependencyError
from taskwatch.domain.identity import Caller, TrustRule, issuer_allowed
from taskwatch.domain.ports import TokenLedger
from taskwatch.domain.signatures import AuthFailed, Reason, Scheme

ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 60
KEYS_REFRESH_COOLDOWN_SECONDS = 60.0
KEYS_CACHE_SECONDS = 3600.0
FETCH_TIMEOUT_SECONDS = 3.0
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_TOKEN_BYTES = 8 * 1024
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # an issuer's documents are fetched from where the issuer says, never elsewhere


_opener = urllib.request.build_opener(_NoRedirects)


def fetch_json(url: str) -> Any:
    """GET a small JSON document from a trusted issuer (https, or http on loopback)."""
    if not issuer_allowed(url):
        raise DependencyError("an OIDC document URL is not https")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - checked above
    try:
        with _opener.open(request, timeout=FETCH_TIMEOUT_SECONDS) as answer:
            data = answer.read(MAX_DOCUMENT_BYTES + 1)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise DependencyError(f"the OIDC issuer could not be reached: {type(exc).__name__}") from exc
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DependencyError("an OIDC document is too large")
    try:
        return json.loads(data)
    except ValueError:
        raise DependencyError("an OIDC document is not JSON") from None


@dataclass
class _IssuerKeys:
    keys: dict[str, jwt.PyJWK]
    fetched_at: float


class JwksCache:
    """The signing keys of each trusted issuer, by key id."""

    def __init__(self, fetch: Callable[[str], Any] = fetch_json, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._issuers: dict[str, _IssuerKeys] = {}
        self.fetches = 0

    def key(self, issuer: str, kid: str) -> jwt.PyJWK | None:
        cached = self._issuers.get(issuer)
        now = self._clock()
        if (
            cached is None
            or now - cached.fetched_at > KEYS_CACHE_SECONDS
            or (kid not in cached.keys and now - cached.fetched_at >= KEYS_REFRESH_COOLDOWN_SECONDS)
        ):
            cached = self._load(issuer)
        return cached.keys.get(kid)

    def _load(self, issuer: str) -> _IssuerKeys:
        self.fetches += 1
        discovery = self._fetch(f"{issuer}/.well-known/openid-configuration")
        jwks_uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
        if not isinstance(jwks_uri, str):
            raise DependencyError("the OIDC discovery document names no jwks_uri")
        document = self._fetch(jwks_uri)
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            try:
                key = jwt.PyJWK.from_dict(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError):
                continue  # a key type we do not accept (or a broken entry) signs nothing here
            if key.algorithm_name in ALGORITHMS:
                keys[entry["kid"]] = key
        loaded = _IssuerKeys(keys, self._clock())
        self._issuers[issuer] = loaded
        return loaded


class OidcVerifier:
    """Turns a bearer token into the Caller it proves, or raises AuthFailed (scheme `oidc`)."""

    def __init__(self, rules: Sequence[TrustRule], ledger: TokenLedger, keys: JwksCache | None = None) -> None:
        self._rules = tuple(rules)
        self._ledger = ledger
        self._keys = keys or JwksCache()

    @property
    def enabled(self) -> bool:
        return bool(self._rules)

    def verify(self, token: str) -> Caller:
        if not self._rules:
            raise AuthFailed(Reason.REFUSED, Scheme.OIDC)
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthFailed(Reason.MALFORMED, Scheme.OIDC)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthFailed(Reason.MALFORMED, Scheme.OIDC) from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS or not isinstance(kid, str):
            raise AuthFailed(Reason.MALFORMED, Scheme.OIDC)
        issuer = unverified.get("iss")
        rules = [rule for rule in self._rules if isinstance(issuer, str) and rule.issuer == issuer.rstrip("/")]
        if not rules:
            raise AuthFailed(Reason.REFUSED, Scheme.OIDC)  # never fetch from an issuer nobody trusts
        audience = unverified.get("aud")
        if not isinstance(audience, str):
            raise AuthFailed(Reason.REFUSED, Scheme.OIDC)  # none, or several audiences
        rules = [rule for rule in rules if rule.audience == audience]
        if not rules:
            raise AuthFailed(Reason.REFUSED, Scheme.OIDC)
        key = self._keys.key(rules[0].issuer, kid)
        if key is None:
            raise AuthFailed(Reason.MISMATCH, Scheme.OIDC)
        claims = self._decode(token, key, str(algorithm), issuer=str(issuer), audience=audience)
        if not any(rule.accepts(claims) for rule in rules):
            raise AuthFailed(Reason.REFUSED, Scheme.OIDC)
        if not self._ledger.use_once(token_key(str(issuer), str(claims["jti"])), expires_at=float(claims["exp"])):
            raise AuthFailed(Reason.REFUSED, Scheme.OIDC)  # a replayed token
        return Caller.from_claims(rules[0].issuer, claims)

    @staticmethod
    def _decode(token: str, key: jwt.PyJWK, algorithm: str, *, issuer: str, audience: str) -> Mapping[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            raise AuthFailed(Reason.STALE, Scheme.OIDC) from None
        except jwt.InvalidSignatureError:
            raise AuthFailed(Reason.MISMATCH, Scheme.OIDC) from None
        except jwt.PyJWTError:
            raise AuthFailed(Reason.REFUSED, Scheme.OIDC) from None


def token_key(issuer: str, jti: str) -> str:
    """A bounded ledger key for (issuer, jti), whatever their length."""
    return hashlib.sha256(f"{issuer}\n{jti}".encode()).hexdigest()
