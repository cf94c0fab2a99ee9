"""Our APIG request signing against the SDK's own BasicCredentials, as the oracle: same headers, byte for byte."""

from __future__ import annotations

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from taskwatch.adapters.apig import _signed_headers
from taskwatch.domain.credentials import HuaweiCredentials

AK, SK, PROJECT = "QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", "0123456789abcdef0123456789abcdef"
PATH = f"/v2/{PROJECT}/apigw/instances/i1/async-tasks/t1"


@pytest.mark.parametrize("security_token", [None, "temporary-session-token"])
def test_our_signature_is_the_sdks(monkeypatch: pytest.MonkeyPatch, security_token: str | None) -> None:
    # Given one fixed signing time for both
    from huaweicloudsdkcore.signer import signer

    class Frozen(signer.datetime):  # type: ignore[misc]
        @classmethod
        def utcnow(cls) -> signer.datetime:
            return signer.datetime(2026, 11, 28, 10, 0, 0)

    monkeypatch.setattr(signer, "datetime", Frozen)
    # When the SDK signs the GET with BasicCredentials, and we sign it our way
    request = SdkRequest(
        method="GET",
        schema="https",
        host="apig.cn-north-4.myhuaweicloud.com",
        resource_path=PATH,
        query_params=[],
        header_params={"Content-Type": "application/json"},
        body="",
    )
    sdk = BasicCredentials(AK, SK, PROJECT)
    if security_token:
        sdk = sdk.with_security_token(security_token)
    expected = {str(k): str(v) for k, v in sdk.sign_request(request).header_params.items()}
    ours = _signed_headers(
        HuaweiCredentials(ak=AK, sk=SK, security_token=security_token),
        "https",
        "apig.cn-north-4.myhuaweicloud.com",
        PATH,
        PROJECT,
    )
    # Then every header is the same, the signature included
    assert ours == expected
    assert ours["Authorization"].startswith("SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC")
