"""Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`, `webhook-signature`).

The signed payload is the raw body of a POST and the request path of a GET (`/tasks/{task_id}`),
so a captured status read cannot be replayed against another task; the timestamp keeps any captured
request from being replayed after five minutes. Pure functions of (headers, payload, keys, now).
Every comparison is constant-time, and failures
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

from taskwatch.domain.errors import TaskwatchError

STANDARD_ID = "webhook-id"
STANDARD_TIMESTAMP = "webhook-timestamp"
STANDARD_SIGNATURE = "webhook-signature"
STANDARD_HEADERS = (STANDARD_ID, STANDARD_TIMESTAMP, STANDARD_SIGNATURE)
TOLERANCE_SECONDS = 300
KEY_PREFIX = "whsec_"

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAX_ID_LENGTH = 256


class Scheme(StrEnum):
    STANDARD = "standard"  # Standard Webhooks with the shared key: an operator
    OIDC = "oidc"  # a CI system's OpenID Connect token


class Reason(StrEnum):
    MISSING = "missing"  # no credentials of an accepted scheme
    MALFORMED = "malformed"  # headers present but not in the scheme's syntax
    STALE = "stale"  # timestamp outside the tolerance, or a token outside its lifetime
    MISMATCH = "mismatch"  # well-formed, but no key produces the signature
    REFUSED = "refused"  # a valid token that no trust rule accepts (or one already used)


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


# --- verifying -----------------------------------------------------------------------------------------


def verify(headers: Mapping[str, str], payload: bytes, keys: Iterable[str], *, now: float) -> None:
    """Raise AuthFailed unless one key signed `payload` with the request's Standard Webhooks headers."""
    verify_standard(headers, payload, keys, now=now)


def verify_standard(
    headers: Mapping[str, str],
    body: bytes,
    keys: Iterable[str],
    *,
    now: float,
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


def _v1_signatures(header: str) -> list[bytes]:
    """The `v1,<base64>` entries of a space-separated signature list (other versions are ignored)."""
    found = []
    for entry in header.split():
        version, comma, value = entry.partition(",")
        if version == "v1" and comma and value and value.isascii():
            found.append(("v1," + value).encode())
    return found
