"""Webhook signatures: GitHub's `X-Hub-Signature-256` and Standard Webhooks (`webhook-*` headers).

Pure functions of (headers, raw body, keys, now). Every comparison is constant-time, and failures
carry only a reason class (`missing`, `malformed`, `stale`, `mismatch`), never signature material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum

from taskwatch.errors import TaskwatchError

GITHUB_HEADER = "x-hub-signature-256"
STANDARD_ID = "webhook-id"
STANDARD_TIMESTAMP = "webhook-timestamp"
STANDARD_SIGNATURE = "webhook-signature"
STANDARD_HEADERS = (STANDARD_ID, STANDARD_TIMESTAMP, STANDARD_SIGNATURE)
TOLERANCE_SECONDS = 300
KEY_PREFIX = "whsec_"

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAX_ID_LENGTH = 256


class Scheme(StrEnum):
    GITHUB = "github"
    STANDARD = "standard"


class Reason(StrEnum):
    MISSING = "missing"  # no signature headers of an accepted scheme
    MALFORMED = "malformed"  # headers present but not in the scheme's syntax
    STALE = "stale"  # Standard Webhooks timestamp outside the tolerance
    MISMATCH = "mismatch"  # well-formed, but no key produces the signature


class AuthFailed(TaskwatchError):
    """The request is not signed by a current key. `reason` and `scheme` are safe to log."""

    def __init__(self, reason: Reason, scheme: Scheme | None = None) -> None:
        super().__init__(f"{scheme or 'no scheme'}: {reason}")
        self.reason = reason
        self.scheme = scheme


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


# --- signing -------------------------------------------------------------------------------------------


def standard_key_bytes(key: str) -> bytes:
    """The HMAC key of Standard Webhooks: the base64-decoded part after `whsec_`."""
    encoded = key.removeprefix(KEY_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook key is not whsec_<base64>") from None


def standard_signature(key: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key_bytes(key), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_standard(key: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`."""
    return {
        STANDARD_ID: msg_id,
        STANDARD_TIMESTAMP: str(timestamp),
        STANDARD_SIGNATURE: standard_signature(key, msg_id, timestamp, body),
    }


def github_signature(key: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(utf-8 of the whole key string, body)>`, as GitHub sends it."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def sign_github(key: str, body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": github_signature(key, body)}


# --- verifying -----------------------------------------------------------------------------------------


def verify(
    headers: Mapping[str, str],
    body: bytes,
    keys: Iterable[str],
    *,
    now: float,
    schemes: Iterable[Scheme] = (Scheme.STANDARD, Scheme.GITHUB),
) -> Scheme:
    """Return the scheme that authenticated the request, or raise AuthFailed.

    Every accepted scheme whose headers are present is tried; one valid signature suffices. When all
    fail, the failure of the first scheme tried is reported.
    """
    lowered = lower_headers(headers)
    key_list = list(keys)
    first_failure: AuthFailed | None = None
    for scheme in schemes:
        try:
            if scheme is Scheme.STANDARD:
                if not any(name in lowered for name in STANDARD_HEADERS):
                    continue
                verify_standard(lowered, body, key_list, now=now)
            else:
                if GITHUB_HEADER not in lowered:
                    continue
                verify_github(lowered, body, key_list)
        except AuthFailed as failure:
            first_failure = first_failure or failure
            continue
        return scheme
    raise first_failure or AuthFailed(Reason.MISSING)


def verify_standard(
    headers: Mapping[str, str], body: bytes, keys: Iterable[str], *, now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    lowered = lower_headers(headers)
    msg_id = lowered.get(STANDARD_ID)
    timestamp = lowered.get(STANDARD_TIMESTAMP)
    signature_header = lowered.get(STANDARD_SIGNATURE)
    if msg_id is None or timestamp is None or signature_header is None:
        raise AuthFailed(Reason.MISSING, Scheme.STANDARD)
    timestamp = timestamp.strip()
    if not msg_id or len(msg_id) > _MAX_ID_LENGTH or not _TIMESTAMP.fullmatch(timestamp):
        raise AuthFailed(Reason.MALFORMED, Scheme.STANDARD)
    offered = _v1_signatures(signature_header)
    if not offered:
        raise AuthFailed(Reason.MALFORMED, Scheme.STANDARD)
    if abs(now - int(timestamp)) > tolerance:
        raise AuthFailed(Reason.STALE, Scheme.STANDARD)

    matched = False
    for key in keys:
        try:
            expected = standard_signature(key, msg_id, timestamp, body).encode()
        except ValueError:
            continue  # a key that is not whsec_<base64> cannot sign this scheme
        for candidate in offered:
            # No early exit: the time taken does not tell which candidate or key matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise AuthFailed(Reason.MISMATCH, Scheme.STANDARD)


def verify_github(headers: Mapping[str, str], body: bytes, keys: Iterable[str]) -> None:
    value = lower_headers(headers).get(GITHUB_HEADER)
    if value is None:
        raise AuthFailed(Reason.MISSING, Scheme.GITHUB)
    algorithm, _, digest = value.strip().partition("=")
    if algorithm != "sha256" or not _HEX_SHA256.fullmatch(digest):
        raise AuthFailed(Reason.MALFORMED, Scheme.GITHUB)
    offered = ("sha256=" + digest.lower()).encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(github_signature(key, body).encode(), offered)
    if not matched:
        raise AuthFailed(Reason.MISMATCH, Scheme.GITHUB)


def _v1_signatures(header: str) -> list[bytes]:
    """The `v1,<base64>` entries of a space-separated signature list (other versions are ignored)."""
    found = []
    for entry in header.split():
        version, comma, value = entry.partition(",")
        if version == "v1" and comma and value and value.isascii():
            found.append(("v1," + value).encode())
    return found
