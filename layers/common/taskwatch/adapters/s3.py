"""S3 adapter: exported swagger and import reports."""

from __future__ import annotations

from typing import Any

from taskwatch.adapters.aws import aws_call, error_code


class S3ExportStore:
    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self._client = client

    def put(self, key: str, body: bytes, *, content_type: str, metadata: dict[str, str]) -> None:
        with aws_call("storing the export in S3"):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata)

    def exists(self, key: str, *, size: int) -> bool:
        """True when the object is already there with this size (a resumed step skips re-writing it)."""
        with aws_call("checking the export in S3"):
            try:
                head = self._client.head_object(Bucket=self.bucket, Key=key)
            except Exception as exc:
                if error_code(exc) in ("404", "NoSuchKey"):
                    return False
                raise
        return int(head.get("ContentLength", -1)) == size
