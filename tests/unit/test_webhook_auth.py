from __future__ import annotations

import base64

import pytest

from taskwatch.domain.signatures import (
    AuthFailed,
    Reason,
    Scheme,
    sign_standard,
    standard_signature,
    verify,
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
    verify(headers, body, [secret], now=timestamp)


# --- good requests ---------------------------------------------------------------------------------------


def test_good_standard_signature_is_accepted() -> None:
    headers = sign_standard(KEY, "msg_1", NOW, BODY)
    verify(headers, BODY, [KEY], now=NOW)


def test_header_names_are_case_insensitive() -> None:
    headers = {name.upper(): value for name, value in sign_standard(KEY, "msg_1", NOW, BODY).items()}
    verify(headers, BODY, [KEY], now=NOW)


def test_timestamp_at_the_edge_of_the_window_is_accepted() -> None:
    headers = sign_standard(KEY, "msg_1", NOW - 300, BODY)
    verify(headers, BODY, [KEY], now=NOW)


def test_one_good_signature_among_several_suffices() -> None:
    good = standard_signature(KEY, "msg_1", NOW, BODY)
    wrong = standard_signature(OTHER_KEY, "msg_1", NOW, BODY)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(NOW),
        "webhook-signature": f"v1a,ignored-asymmetric {wrong} {good}",
    }
    verify(headers, BODY, [KEY], now=NOW)


def test_rotation_previous_key_is_still_accepted() -> None:
    # Given the key was rotated, and CI still signs with the previous one
    headers = sign_standard(PREVIOUS_KEY, "msg_1", NOW, BODY)
    # Then both the current and the previous versions are tried
    verify(headers, BODY, [KEY, PREVIOUS_KEY], now=NOW)


# --- rejected requests -----------------------------------------------------------------------------------


def test_wrong_key_is_rejected() -> None:
    headers = sign_standard(OTHER_KEY, "msg_1", NOW, BODY)
    with pytest.raises(AuthFailed) as excinfo:
        verify(headers, BODY, [KEY], now=NOW)
    assert failure(excinfo) == (Reason.MISMATCH, Scheme.STANDARD)


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400])
def test_stale_timestamp_is_rejected_in_both_directions(offset: int) -> None:
    headers = sign_standard(KEY, "msg_1", NOW + offset, BODY)
    with pytest.raises(AuthFailed) as excinfo:
        verify(headers, BODY, [KEY], now=NOW)
    assert failure(excinfo) == (Reason.STALE, Scheme.STANDARD)


def test_tampered_body_is_rejected() -> None:
    headers = sign_standard(KEY, "msg_1", NOW, BODY)
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
    assert failure(excinfo) == (Reason.MISSING, Scheme.STANDARD)


def test_an_untimed_github_style_signature_is_not_accepted() -> None:
    # Given a request signed the GitHub way (no timestamp: it could be replayed forever)
    import hashlib
    import hmac

    digest = hmac.new(KEY.encode(), BODY, hashlib.sha256).hexdigest()
    # When it is verified, Then it counts as carrying no accepted signature at all
    with pytest.raises(AuthFailed) as excinfo:
        verify({"X-Hub-Signature-256": f"sha256={digest}"}, BODY, [KEY], now=NOW)
    assert excinfo.value.reason is Reason.MISSING


def test_a_status_read_signed_for_one_task_does_not_verify_for_another() -> None:
    # Given a GET signed over its path
    headers = sign_standard(KEY, "msg_1", NOW, b"/tasks/A")
    verify(headers, b"/tasks/A", [KEY], now=NOW)
    # When the same headers are replayed against another task, Then they are refused
    with pytest.raises(AuthFailed) as excinfo:
        verify(headers, b"/tasks/B", [KEY], now=NOW)
    assert excinfo.value.reason is Reason.MISMATCH


# --- the Standard Webhooks library as the oracle --------------------------------------------------------


def test_what_the_standard_webhooks_library_signs_we_accept() -> None:
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook

    signature = Webhook(KEY).sign("msg_lib", datetime.fromtimestamp(NOW, UTC), BODY.decode())
    headers = {"webhook-id": "msg_lib", "webhook-timestamp": str(NOW), "webhook-signature": signature}
    verify(headers, BODY, [KEY], now=NOW)


def test_what_we_sign_the_standard_webhooks_library_accepts() -> None:
    from unittest import mock

    from standardwebhooks.webhooks import Webhook

    headers = sign_standard(KEY, "msg_ours", NOW, BODY)
    with mock.patch("standardwebhooks.webhooks.datetime") as clock:  # the library reads the wall clock
        from datetime import UTC, datetime

        clock.now.return_value = datetime.fromtimestamp(NOW, UTC)
        clock.fromtimestamp.side_effect = lambda ts, tz=None: datetime.fromtimestamp(ts, tz)
        assert Webhook(KEY).verify(BODY.decode(), headers) is not None


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
