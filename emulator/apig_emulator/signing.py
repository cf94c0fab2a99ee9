"""Verification of Huawei Cloud's SDK-HMAC-SHA256 request signatures.

The algorithm (as huaweicloudsdkcore's ``Signer`` produces it):

    CanonicalRequest = METHOD "\n" CanonicalURI "\n" CanonicalQueryString "\n"
                       CanonicalHeaders "\n" SignedHeaders "\n" HexPayloadHash
    StringToSign     = "SDK-HMAC-SHA256" "\n" X-Sdk-Date "\n" hex(sha256(CanonicalRequest))
    Signature        = hex(HMAC-SHA256(SK, StringToSign))

CanonicalHeaders already ends with a newline, so there is an empty line before SignedHeaders.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_SECONDS = 15 * 60

_AUTH_RE = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=(?P<ak>[^,\s]+),\s*SignedHeaders=(?P<sh>[^,\s]+),\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


class SignatureError(Exception):
    """The request's signature is missing, malformed or does not verify."""


@dataclass(frozen=True)
class ParsedAuthorization:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization:
    match = _AUTH_RE.match(value.strip())
    if match is None:
        raise SignatureError("malformed Authorization header")
    signed = tuple(match.group("sh").split(";"))
    if any(not h or h != h.lower() for h in signed):
        raise SignatureError("malformed SignedHeaders")
    return ParsedAuthorization(match.group("ak"), signed, match.group("sig").lower())


def _encode(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """Each segment of the unquoted path is re-encoded; a trailing slash is always present."""
    encoded = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    if not encoded.endswith("/"):
        encoded += "/"
    return encoded


def canonical_query(query: str) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)


def payload_hash(body: bytes, content_sha256_header: str | None) -> str:
    if not body:
        return EMPTY_SHA256
    if content_sha256_header == UNSIGNED_PAYLOAD:
        return UNSIGNED_PAYLOAD
    actual = hashlib.sha256(body).hexdigest()
    if content_sha256_header is not None and not hmac.compare_digest(content_sha256_header.lower(), actual):
        raise SignatureError("X-Sdk-Content-Sha256 does not match the body")
    return actual


def canonical_request(
    method: str,
    path: str,
    query: str,
    *,
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    body: bytes,
) -> str:
    """``headers`` maps lower-case names to the values as sent."""
    signed = list(signed_headers)
    lines = []
    for name in signed:
        if name not in headers:
            raise SignatureError(f"signed header {name!r} is missing from the request")
        lines.append(f"{name}:{headers[name].strip()}\n")
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            "".join(lines),
            ";".join(signed),
            payload_hash(body, headers.get("x-sdk-content-sha256")),
        ]
    )


def string_to_sign(sdk_date: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def sign(secret_key: str, text: str) -> str:
    return hmac.new(secret_key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_sdk_date(value: str) -> float:
    try:
        return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise SignatureError("malformed X-Sdk-Date") from exc


def verify(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, str],
    now: float,
) -> ParsedAuthorization:
    """Check an SDK-HMAC-SHA256 request; ``headers`` keys are lower-case.

    Returns the parsed Authorization on success, raises :class:`SignatureError` otherwise.
    """
    auth_value = headers.get("authorization")
    if not auth_value:
        raise SignatureError("missing Authorization header")
    auth = parse_authorization(auth_value)
    for required in ("host", "x-sdk-date"):
        if required not in auth.signed_headers:
            raise SignatureError(f"{required} must be a signed header")
    sdk_date = headers.get("x-sdk-date")
    if not sdk_date:
        raise SignatureError("missing X-Sdk-Date header")
    if abs(now - parse_sdk_date(sdk_date.strip())) > MAX_SKEW_SECONDS:
        raise SignatureError("X-Sdk-Date is more than 15 minutes away from the server time")
    secret = secrets.get(auth.access_key)
    if secret is None:
        raise SignatureError("unknown access key")
    canonical = canonical_request(method, path, query, headers=headers, signed_headers=auth.signed_headers, body=body)
    expected = sign(secret, string_to_sign(sdk_date.strip(), canonical))
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureError("signature does not match")
    return auth
