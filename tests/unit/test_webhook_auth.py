from __future__ import annotations

import base64

import pytest

from taskwatch.webhook_auth import (
    AuthFailed,
    Reason,
    Scheme,
    sign_github,
    sign_standard,
    standard_signature,
    verify,
    verify_github,
    verify_standard,
)

KEY = "whsec_" + base64.b64encode(b"k" * 32).decode()
PREVIOUS_KEY = "whsec_" + base64.b64encode(b"p" * 32).decode()
OTHER_KEY = "whsec_" + base64.b64encode(b"x" * 32).decode()
BODY = b'{"project_id":"p1","instance_id":"i1","task_id":"t1"}'
NOW = 1_767_225_600


def failure(excinfo: pytest.ExceptionInfo[AuthFailed]) -> tuple[Reason, Scheme | None]:
    return excinfo.value.reason, excinfo.value.scheme


# --- the published vector --------------------------------------------------------------------------------


def test_standard_webhooks_published_example_is_reproduced_and_accepted() -> None:
    # Given the Standard Webhooks specification's example
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id, timestamp, body = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    # When it is signed, Then the signature is the published one
    assert standard_signature(secret, msg_id, timestamp, body) == expected
    # And a request carrying it verifies at that time
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": expected}
    assert verify(headers, body, [secret], now=timestamp) is Scheme.STANDARD


# --- good requests ---------------------------------------------------------------------------------------


def test_good_standard_signature_is_accepted() -> None:
    headers = sign_standard(KEY, "msg_1", NOW, BODY)
    assert verify(headers, BODY, [KEY], now=NOW) is Scheme.STANDARD


def test_good_github_signature_is_accepted() -> None:
    headers = sign_github(KEY, BODY)
    assert verify(headers, BODY, [KEY], now=NOW) is Scheme.GITHUB


def test_github_key_is_the_whole_secret_string() -> None:
    # GitHub signs with the UTF-8 bytes of the secret as typed, prefix included
    import hashlib
    import hmac

    digest = hmac.new(KEY.encode(), BODY, hashlib.sha256).hexdigest()
    verify_github({"X-Hub-Signature-256": f"sha256={digest.upper()}"}, BODY, [KEY])


def test_header_names_are_case_insensitive() -> None:
    headers = {name.upper(): value for name, value in sign_standard(KEY, "msg_1", NOW, BODY).items()}
    assert verify(headers, BODY, [KEY], now=NOW) is Scheme.STANDARD
    assert verify({"x-HUB-signature-256": sign_github(KEY, BODY)["X-Hub-Signature-256"]}, BODY, [KEY], now=NOW)


def test_timestamp_at_the_edge_of_the_window_is_accepted() -> None:
    headers = sign_standard(KEY, "msg_1", NOW - 300, BODY)
    assert verify(headers, BODY, [KEY], now=NOW) is Scheme.STANDARD


def test_one_good_signature_among_several_suffices() -> None:
    good = standard_signature(KEY, "msg_1", NOW, BODY)
    wrong = standard_signature(OTHER_KEY, "msg_1", NOW, BODY)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(NOW),
        "webhook-signature": f"v1a,ignored-asymmetric {wrong} {good}",
    }
    assert verify(headers, BODY, [KEY], now=NOW) is Scheme.STANDARD


def test_rotation_previous_key_is_still_accepted() -> None:
    # Given the key was rotated, and CI still signs with the previous one
    headers = sign_standard(PREVIOUS_KEY, "msg_1", NOW, BODY)
    # Then both the current and the previous versions are tried
    assert verify(headers, BODY, [KEY, PREVIOUS_KEY], now=NOW) is Scheme.STANDARD
    assert verify(sign_github(PREVIOUS_KEY, BODY), BODY, [KEY, PREVIOUS_KEY], now=NOW) is Scheme.GITHUB


# --- rejected requests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["standard", "github"])
def test_wrong_key_is_rejected(scheme: str) -> None:
    headers = sign_standard(OTHER_KEY, "msg_1", NOW, BODY) if scheme == "standard" else sign_github(OTHER_KEY, BODY)
    with pytest.raises(AuthFailed) as excinfo:
        verify(headers, BODY, [KEY], now=NOW)
    assert failure(excinfo) == (Reason.MISMATCH, Scheme(scheme))


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400])
def test_stale_timestamp_is_rejected_in_both_directions(offset: int) -> None:
    headers = sign_standard(KEY, "msg_1", NOW + offset, BODY)
    with pytest.raises(AuthFailed) as excinfo:
        verify(headers, BODY, [KEY], now=NOW)
    assert failure(excinfo) == (Reason.STALE, Scheme.STANDARD)


@pytest.mark.parametrize("scheme", ["standard", "github"])
def test_tampered_body_is_rejected(scheme: str) -> None:
    headers = sign_standard(KEY, "msg_1", NOW, BODY) if scheme == "standard" else sign_github(KEY, BODY)
    with pytest.raises(AuthFailed) as excinfo:
        verify(headers, BODY.replace(b"t1", b"t2"), [KEY], now=NOW)
    assert excinfo.value.reason is Reason.MISMATCH


def test_signature_bound_to_the_message_id() -> None:
    headers = {**sign_standard(KEY, "msg_1", NOW, BODY), "webhook-id": "msg_2"}
    with pytest.raises(AuthFailed) as excinfo:
        verify(headers, BODY, [KEY], now=NOW)
    assert excinfo.value.reason is Reason.MISMATCH


def test_no_signature_headers_is_missing() -> None:
    with pytest.raises(AuthFailed) as excinfo:
        verify({"content-type": "application/json"}, BODY, [KEY], now=NOW)
    assert failure(excinfo) == (Reason.MISSING, None)


@pytest.mark.parametrize("dropped", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_incomplete_standard_headers_are_missing(dropped: str) -> None:
    headers = sign_standard(KEY, "msg_1", NOW, BODY)
    del headers[dropped]
    with pytest.raises(AuthFailed) as excinfo:
        verify_standard(headers, BODY, [KEY], now=NOW)
    assert failure(excinfo) == (Reason.MISSING, Scheme.STANDARD)


@pytest.mark.parametrize(
    "change",
    [
        {"webhook-timestamp": "soon"},
        {"webhook-timestamp": "-1767225600"},
        {"webhook-timestamp": "1.7e9"},
        {"webhook-signature": "v2,abc"},
        {"webhook-signature": "v1,"},
        {"webhook-signature": "g0hM9SsE+OTPJTGt"},
        {"webhook-signature": ""},
        {"webhook-id": ""},
        {"webhook-signature": "v1,é"},
    ],
)
def test_malformed_standard_headers_are_rejected(change: dict[str, str]) -> None:
    headers = {**sign_standard(KEY, "msg_1", NOW, BODY), **change}
    with pytest.raises(AuthFailed) as excinfo:
        verify(headers, BODY, [KEY], now=NOW)
    assert failure(excinfo) == (Reason.MALFORMED, Scheme.STANDARD)


@pytest.mark.parametrize("value", ["sha1=" + "0" * 40, "sha256=xyz", "sha256=", "0" * 64, "sha256=" + "0" * 63])
def test_malformed_github_header_is_rejected(value: str) -> None:
    with pytest.raises(AuthFailed) as excinfo:
        verify({"X-Hub-Signature-256": value}, BODY, [KEY], now=NOW)
    assert failure(excinfo) == (Reason.MALFORMED, Scheme.GITHUB)


def test_github_scheme_not_accepted_where_only_standard_is() -> None:
    # Given a GitHub-style signature on a request that requires Standard Webhooks (status reads)
    with pytest.raises(AuthFailed) as excinfo:
        verify(sign_github(KEY, b""), b"", [KEY], now=NOW, schemes=[Scheme.STANDARD])
    # Then it counts as missing the required signature
    assert excinfo.value.reason is Reason.MISSING


def test_a_bad_standard_signature_does_not_hide_a_good_github_one() -> None:
    headers = {**sign_standard(OTHER_KEY, "msg_1", NOW, BODY), **sign_github(KEY, BODY)}
    assert verify(headers, BODY, [KEY], now=NOW) is Scheme.GITHUB


def test_a_key_that_is_not_base64_signs_nothing_in_standard_form() -> None:
    # Given a misconfigured secret (no whsec_ base64), a Standard signature cannot match it
    headers = sign_standard(KEY, "msg_1", NOW, BODY)
    with pytest.raises(AuthFailed) as excinfo:
        verify(headers, BODY, ["whsec_not base64!"], now=NOW)
    assert excinfo.value.reason is Reason.MISMATCH


def test_failure_message_carries_no_signature_material() -> None:
    headers = sign_standard(OTHER_KEY, "msg_1", NOW, BODY)
    with pytest.raises(AuthFailed) as excinfo:
        verify(headers, BODY, [KEY], now=NOW)
    text = str(excinfo.value)
    assert headers["webhook-signature"][3:] not in text and KEY not in text
