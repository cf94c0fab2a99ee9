"""S3 adapter: exported swagger and import reports, each written once (a conditional PutObject)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskwatch.adapters.aws import aws_call, error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_ALREADY_STORED = ("PreconditionFailed", "412")


class S3ExportStore:
    def __init__(self, bucket: str, client: S3Client) -> None:
        self.bucket = bucket
        self._client = client

    def put(self, key: str, body: bytes, *, content_type: str, metadata: dict[str, str]) -> bool:
        """Write the object unless it exists (If-None-Match: *). False when it was already there: a retried
        or repeated write never adds a version to the (versioned) bucket, even when botocore's own retry
        re-sends a PutObject whose first answer was lost."""
        with aws_call("storing the export in S3"):
            try:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType=content_type,
                    Metadata=metadata,
                    IfNoneMatch="*",
                )
            except Exception as exc:
                if error_code(exc) in _ALREADY_STORED:
                    return False
                raise
        return True

    def get(self, key: str) -> bytes:
        """The object's bytes; KeyError when it is gone (a lifecycle rule, an operator)."""
        with aws_call("reading a stored export from S3"):
            try:
                answer = self._client.get_object(Bucket=self.bucket, Key=key)
            except Exception as exc:
                if error_code(exc) in ("NoSuchKey", "404"):
                    raise KeyError(key) from exc
                raise
            return bytes(answer["Body"].read())
