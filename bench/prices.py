"""Public AWS on-demand list prices (us-east-1, with their source and date) and the dollars of a set of calls."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

PRICES_SOURCE = (
    "aws.amazon.com/{sqs,lambda,dynamodb,s3,sns,secrets-manager,step-functions}/pricing, us-east-1 on-demand list "
    "prices as published in 2025 (taken from issue #6; not re-fetched at run time)"
)
SQS_PER_REQUEST = 0.40 / 1e6  # standard queue, per request (each 64 KB chunk of payload)
LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_PER_GB_SECOND_ARM = 0.0000133334  # arm64, first pricing tier
LAMBDA_MEMORY_GB = 0.5
DDB_PER_WRU = 0.625 / 1e6  # on-demand write request unit (1 per KB written)
DDB_PER_RRU = 0.125 / 1e6  # on-demand read request unit (1 per 4 KB, strongly consistent)
S3_PER_PUT = 0.005 / 1000
SNS_PER_PUBLISH = 0.50 / 1e6
SFN_PER_TRANSITION = 0.025 / 1000  # Step Functions Standard
SFN_TRANSITIONS_PER_POLL = 3  # job-poller pattern: Wait -> GetStatus (Task) -> Choice
ASSUMED_APIG_RTT = 0.150  # seconds a poll waits on APIG across clouds (assumption, not measured)


def price_of(calls: Counter[tuple[str, str, str]], item_kb: int) -> dict[str, float]:
    """Dollars for the given AWS calls, by service."""
    dollars: dict[str, float] = defaultdict(float)
    for (_, service, operation), count in calls.items():
        if service == "sqs":
            dollars["SQS"] += count * SQS_PER_REQUEST
        elif service == "dynamodb" and operation in ("UpdateItem", "PutItem", "DeleteItem"):
            dollars["DynamoDB"] += count * item_kb * DDB_PER_WRU
        elif service == "dynamodb":
            dollars["DynamoDB"] += count * math.ceil(item_kb / 4) * DDB_PER_RRU
        elif service == "s3" and operation in ("PutObject", "CopyObject", "ListObjectsV2"):
            dollars["S3"] += count * S3_PER_PUT
        elif service == "sns" and operation == "Publish":
            dollars["SNS"] += count * SNS_PER_PUBLISH
        elif service == "secretsmanager":
            dollars["Secrets Manager"] += count * 0.05 / 10000
    return dict(dollars)


def lambda_price(invocations: int, seconds: float) -> float:
    return invocations * LAMBDA_PER_REQUEST + seconds * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND_ARM
