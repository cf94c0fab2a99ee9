"""Public AWS on-demand list prices (us-east-1, with their source and date) and the dollars of a set of calls."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

PRICES_SOURCE = (
    "aws.amazon.com/{sqs,lambda,dynamodb,s3,sns,secrets-manager,step-functions,api-gateway,cloudwatch,xray,kms}"
    "/pricing, us-east-1 on-demand list prices as published in 2025 (SQS to Step Functions taken from issue #6; "
    "API Gateway, CloudWatch, X-Ray and KMS added with the operations work; none re-fetched at run time: check "
    "them before quoting)"
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
WEBHOOK_MEMORY_GB = 0.25
HTTP_API_PER_REQUEST = 1.00 / 1e6  # HTTP API, first 300 M requests a month
XRAY_PER_TRACE = 5.00 / 1e6  # traces recorded (the first 100,000 a month are free)
LOGS_PER_GB_INGESTED = 0.50  # CloudWatch Logs, standard class
LOGS_PER_GB_MONTH_STORED = 0.03
KMS_PER_KEY_MONTH = 1.00  # a customer managed key (+$1 a month after each of its first two yearly rotations)
KMS_PER_REQUEST = 0.03 / 10000
SECRET_PER_MONTH = 0.40
ALARM_PER_METRIC_MONTH = 0.10  # standard resolution; a metric-math alarm is billed per metric it reads
DASHBOARD_PER_MONTH = 3.00  # beyond the 3 free dashboards (of up to 50 metrics each) of an account
CUSTOM_METRIC_PER_MONTH = 0.30  # per metric published every hour of the month (billed by the hour)
SECONDS_PER_MONTH = 30 * 24 * 3600
# Assumptions, not measured here (the bench has no real Lambda or HTTP API):
ESM_IDLE_POLLERS = 5  # Lambda's SQS event source starts with 5 concurrent long polls (20 s each) per queue
PLATFORM_LOG_BYTES = 450  # START, END and REPORT lines (with the X-Ray trace id) Lambda writes per invocation
ACCESS_LOG_BYTES = 330  # one HTTP API access-log line in template.yaml's format


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
        elif service == "kms":
            dollars["KMS"] += count * KMS_PER_REQUEST
    return dict(dollars)


def lambda_price(invocations: float, seconds: float, memory_gb: float = LAMBDA_MEMORY_GB) -> float:
    return invocations * LAMBDA_PER_REQUEST + seconds * memory_gb * LAMBDA_PER_GB_SECOND_ARM


def logs_price(total_bytes: float) -> float:
    return total_bytes / 1024**3 * LOGS_PER_GB_INGESTED
