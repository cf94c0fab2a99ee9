"""Limits of the services we run on, and of the contract, by name (docs/contract.md says where each applies)."""

from __future__ import annotations

SQS_MAX_DELAY_SECONDS = 900  # SQS DelaySeconds: one hop of a re-poll never waits longer
MAX_WATCH_SECONDS = 7 * 24 * 3600  # the longest a watch may run, from its first poll
MAX_REQUEST_BYTES = 16 * 1024  # a webhook body
MAX_SOURCE_BYTES = 4096  # the CI context (`source`) as compact JSON
DYNAMODB_MAX_DEPTH = 32  # nesting levels DynamoDB stores in one attribute
SUBJECT_MAX_CHARS = 100  # SNS Subject
S3_METADATA_SOURCE_BYTES = 1500  # of S3's 2 KB of user metadata, what `source` may take
