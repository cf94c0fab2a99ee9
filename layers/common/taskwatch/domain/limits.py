"""Limits of the services we run on, and of the contract, by name (docs/contract.md says where each applies)."""

from __future__ import annotations

SQS_MAX_DELAY_SECONDS = 900  # SQS DelaySeconds: one hop of a re-poll never waits longer
MAX_WATCH_SECONDS = 7 * 24 * 3600  # the longest a watch may run, from its first poll
MAX_REQUEST_BYTES = 16 * 1024  # a webhook body
MAX_SOURCE_BYTES = 4096  # the CI context (`source`) as compact JSON
DYNAMODB_MAX_DEPTH = 32  # nesting levels DynamoDB stores in one attribute
SUBJECT_MAX_CHARS = 100  # SNS Subject
S3_METADATA_SOURCE_BYTES = 1500  # of S3's 2 KB of user metadata, what `source` may take
DYNAMODB_MAX_DIGITS = 38  # significant digits of a DynamoDB number
APIG_DEADLINE_SECONDS = 15.0  # one APIG exchange, connect to last byte; well inside the poller's timeout
APIG_MAX_BODY_BYTES = 64 * 1024 * 1024  # an APIG answer, once decoded
MAX_ANSWER_DEPTH = 64  # nesting levels accepted in an APIG answer (deeper cannot be an API definition's report)
DYNAMODB_MAX_ITEM_BYTES = 400 * 1024
SNS_MAX_MESSAGE_BYTES = 256 * 1024
