"""DynamoDB adapter: task records in TASK_TABLE (partition key `pk`, TTL `expires_at`).

Every write is one conditional UpdateItem/PutItem; the conditions are the fences described in
watcher.py. A lost condition returns the record as it was (ReturnValuesOnConditionCheckFailure),
so deciding what a duplicate should do costs no extra read.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from taskwatch.adapters.aws import aws_call, error_code
from taskwatch.domain.identity import Caller
from taskwatch.domain.model import PollMessage
from taskwatch.domain.records import (
    FIRST_POLL_TOLERANCE,
    RETENTION_SECONDS,
    Baseline,
    BaselineScope,
    ClaimResult,
    Decision,
    Fenced,
    TaskRecord,
    WatchStatus,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_CONDITION_FAILED = "ConditionalCheckFailedException"
_RECORD_FIELDS = {f.name for f in fields(TaskRecord)}


def task_key(task_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"task#{task_id}"}}


class DynamoTaskRecords:
    def __init__(self, table: str, client: DynamoDBClient) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._table = table
        self._client = client
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    # --- the poller's fences ------------------------------------------------------------------------------

    def claim(
        self,
        message: PollMessage,
        *,
        claim_id: str,
        now: float,
        lease_until: float,
        next_poll_at: float,
        first_poll_at: float,
        deadline: float,
    ) -> ClaimResult:
        values = {
            ":task_id": message.task_id,
            ":project_id": message.project_id,
            ":instance_id": message.instance_id,
            ":region": message.region,
            ":expected_type": message.expected_type,
            ":source": message.source,
            ":group_id": message.group_id,
            ":env_id": message.env_id,
            ":callback_url": message.callback_url,
            ":polling": "polling",
            ":queued": "queued",
            ":attempts": message.attempt + 1,
            ":prev": message.attempt,
            ":claim_id": claim_id,
            ":lease_until": _num(lease_until),
            ":next_poll_at": _num(next_poll_at),
            ":first_poll_at": _num(first_poll_at),
            ":now": _num(now),
            ":via": "queue",
            ":expires_at": int(deadline + RETENTION_SECONDS),
        }
        update = (
            "SET task_id = :task_id, "
            "#region = if_not_exists(#region, :region), expected_type = if_not_exists(expected_type, :expected_type), "
            "#source = if_not_exists(#source, :source), #status = :polling, attempts = :attempts, "
            "group_id = if_not_exists(group_id, :group_id), env_id = if_not_exists(env_id, :env_id), "
            "callback_url = if_not_exists(callback_url, :callback_url), "
            "claim_id = :claim_id, lease_until = :lease_until, next_poll_at = :next_poll_at, "
            "first_poll_at = if_not_exists(first_poll_at, :first_poll_at), "
            "project_id = if_not_exists(project_id, :project_id), "
            "instance_id = if_not_exists(instance_id, :instance_id), "
            "first_seen_at = if_not_exists(first_seen_at, :now), updated_at = :now, "
            "submitted_via = if_not_exists(submitted_via, :via), expires_at = :expires_at"
        )
        # The watch's identity never changes, and a successor's first-poll time is the record's own (to the
        # millisecond the record keeps): a forged message can neither take over another project's watch
        # nor move its deadline. Only a first poll (attempt 0) may create the record.
        condition = (
            "attempts = :prev AND #status IN (:queued, :polling) AND project_id = :project_id "
            "AND instance_id = :instance_id AND (attribute_not_exists(first_poll_at) OR first_poll_at BETWEEN "
            ":first_poll_low AND :first_poll_high)"
        )
        if message.attempt == 0:
            condition = f"attribute_not_exists(pk) OR ({condition})"
        values[":first_poll_low"] = _num(first_poll_at - FIRST_POLL_TOLERANCE)
        values[":first_poll_high"] = _num(first_poll_at + FIRST_POLL_TOLERANCE)
        names = {"#status": "status", "#region": "region", "#source": "source"}
        # The won claim returns the record as written (its caller, for the notification): no extra read.
        return self._conditional_update(message.task_id, update, condition, names, values, return_new=True)

    def take_over(self, task_id: str, *, claim_id: str, now: float, lease_until: float) -> bool:
        result = self._conditional_update(
            task_id,
            "SET lease_until = :lease_until, updated_at = :now",
            "claim_id = :claim_id AND lease_until <= :now",
            {},
            {":claim_id": claim_id, ":now": _num(now), ":lease_until": _num(lease_until)},
        )
        return result.won

    def finish(self, task_id: str, *, claim_id: str, now: float, decision: Decision, notified: bool) -> None:
        self._fenced_update(
            task_id,
            "SET #status = :outcome, outcome = :outcome, task_type = :task_type, error_code = :error_code, "
            "error_msg = :error_msg, failures = :failures, #export = :export, report = :report, "
            "callback = :callback, drift = :drift, "
            "notified = :notified, finished_at = :now, updated_at = :now, expires_at = :expires_at "
            "REMOVE next_poll_at",
            {
                ":claim_id": claim_id,
                ":outcome": decision.outcome.value,
                ":task_type": decision.task_type,
                ":error_code": decision.error_code,
                ":error_msg": decision.error_msg,
                ":failures": decision.failures,
                ":export": decision.export,
                ":report": decision.report,
                ":callback": decision.callback,
                ":drift": decision.drift,
                ":notified": notified,
                ":now": _num(now),
                ":expires_at": int(now + RETENTION_SECONDS),
            },
            names={"#status": "status", "#export": "export"},
        )

    def release(self, task_id: str, *, claim_id: str, now: float) -> None:
        self._fenced_update(
            task_id,
            "SET lease_until = :zero, updated_at = :now REMOVE next_poll_at",
            {":claim_id": claim_id, ":zero": 0, ":now": _num(now)},
        )

    def mark_notified(self, task_id: str, *, claim_id: str, now: float) -> None:
        self._fenced_update(
            task_id,
            "SET notified = :true, updated_at = :now",
            {":claim_id": claim_id, ":true": True, ":now": _num(now)},
        )

    # --- callbacks ----------------------------------------------------------------------------------------

    def claim_callback(self, task_id: str, *, attempt: int, claim_id: str, now: float) -> bool:
        result = self._conditional_update(
            task_id,
            "SET callback.attempts = :next, callback.claim_id = :claim_id, updated_at = :now",
            "callback.#status = :pending AND (callback.attempts = :attempt "
            "OR (callback.attempts = :next AND callback.claim_id = :claim_id))",
            {"#status": "status"},
            {
                ":pending": "pending",
                ":attempt": attempt,
                ":next": attempt + 1,
                ":claim_id": claim_id,
                ":now": _num(now),
            },
        )
        return result.won

    def record_callback(self, task_id: str, *, claim_id: str, state: dict[str, Any], now: float) -> None:
        result = self._conditional_update(
            task_id,
            "SET callback = :state, updated_at = :now",
            "callback.claim_id = :claim_id",
            {},
            {":state": {**state, "claim_id": claim_id}, ":claim_id": claim_id, ":now": _num(now)},
        )
        if not result.won:
            raise Fenced(task_id)

    # --- reads and the webhook's entry -----------------------------------------------------------------

    def get(self, task_id: str) -> TaskRecord | None:
        with aws_call("reading the task record"):
            item = self._client.get_item(TableName=self._table, Key=task_key(task_id), ConsistentRead=True).get("Item")
        return self._record(item) if item else None

    def create_queued(self, message: PollMessage, *, now: float, caller: Caller | None = None) -> ClaimResult:
        record = {
            "task_id": message.task_id,
            "project_id": message.project_id,
            "instance_id": message.instance_id,
            "region": message.region,
            "expected_type": message.expected_type,
            "source": message.source,
            "status": "queued",
            "attempts": 0,
            "first_seen_at": _num(now),
            "updated_at": _num(now),
            "submitted_via": "webhook",
            "caller": caller.as_dict() if caller else None,
            "group_id": message.group_id,
            "env_id": message.env_id,
            "callback_url": message.callback_url,
            "notified": False,
            "expires_at": int(now + (message.max_wait_seconds or 604_800) + RETENTION_SECONDS),
        }
        item = {
            **task_key(message.task_id),
            **{k: self._serializer.serialize(_dynamo_value(v)) for k, v in record.items()},
        }
        with aws_call("recording the task"):
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except Exception as exc:
                if error_code(exc) != _CONDITION_FAILED:
                    raise
                return ClaimResult(False, self._old_record(exc, message.task_id))
        return ClaimResult(True, None)

    # --- plumbing ----------------------------------------------------------------------------------------

    def _fenced_update(
        self, task_id: str, update: str, values: dict[str, Any], names: dict[str, str] | None = None
    ) -> None:
        if not self._conditional_update(task_id, update, "claim_id = :claim_id", names or {}, values).won:
            raise Fenced(task_id)

    def _conditional_update(
        self,
        task_id: str,
        update: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
        *,
        return_new: bool = False,
    ) -> ClaimResult:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": task_key(task_id),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {k: self._serializer.serialize(_dynamo_value(v)) for k, v in values.items()},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            request["ExpressionAttributeNames"] = names
        if return_new:
            request["ReturnValues"] = "ALL_NEW"
        with aws_call("writing the task record"):
            try:
                answer = self._client.update_item(**request)
            except Exception as exc:
                if error_code(exc) != _CONDITION_FAILED:
                    raise
                return ClaimResult(False, self._old_record(exc, task_id))
        written = answer.get("Attributes") if return_new else None
        return ClaimResult(True, self._record(written) if written else None)

    def _old_record(self, exc: BaseException, task_id: str) -> TaskRecord | None:
        item = getattr(exc, "response", {}).get("Item")
        if item:
            return self._record(item)
        # Older emulators do not return the item with the failed condition: read it instead.
        return self.get(task_id)

    def _record(self, item: dict[str, Any]) -> TaskRecord:
        data = {k: _plain(self._deserializer.deserialize(v)) for k, v in item.items() if k in _RECORD_FIELDS}
        data["failures"] = data.get("failures") or []
        data["notified"] = bool(data.get("notified"))
        data["lease_until"] = float(data.get("lease_until") or 0.0)
        data["attempts"] = int(data.get("attempts") or 0)
        data["status"] = WatchStatus(data["status"])
        return TaskRecord(**data)


def _num(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


def _dynamo_value(value: Any) -> Any:
    """CI's `source` may hold JSON numbers with a fraction; boto3 refuses floats, DynamoDB takes Decimals."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo_value(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class DynamoTokenLedger:
    """Used OIDC token ids, one item each in the task table, gone (TTL) once the token has expired."""

    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self._table = table
        self._client = client

    def use_once(self, token_key: str, *, expires_at: float) -> bool:
        with aws_call("recording a used token"):
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={"pk": {"S": f"token#{token_key}"}, "expires_at": {"N": str(int(expires_at) + 120)}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except Exception as exc:
                if error_code(exc) != _CONDITION_FAILED:
                    raise
                return False
        return True


class DynamoBaselines:
    """Each scope's newest successful export, one item in the task table, moved forward only (a newer
    export's first poll, then its task id, orders the moves), so duplicate and out-of-order deliveries
    can never make an older export the baseline."""

    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self._table = table
        self._client = client

    @staticmethod
    def _key(scope: BaselineScope) -> dict[str, Any]:
        return {"pk": {"S": f"baseline#{scope.instance_id}#{scope.group_id}#{scope.env_id}"}}

    def get(self, scope: BaselineScope) -> Baseline | None:
        with aws_call("reading the export baseline"):
            item = self._client.get_item(TableName=self._table, Key=self._key(scope), ConsistentRead=True).get("Item")
        if not item:
            return None
        text = {name: value.get("S") for name, value in item.items()}
        return Baseline(
            task_id=str(text["task_id"]),
            key=str(text["export_key"]),
            order=float(item["order"]["N"]),
            previous_task_id=text.get("previous_task_id"),
            previous_key=text.get("previous_key"),
        )

    def advance(self, scope: BaselineScope, baseline: Baseline) -> bool:
        item = {
            **self._key(scope),
            "task_id": {"S": baseline.task_id},
            "export_key": {"S": baseline.key},
            "order": {"N": str(_num(baseline.order))},
        }
        if baseline.previous_task_id and baseline.previous_key:
            item["previous_task_id"] = {"S": baseline.previous_task_id}
            item["previous_key"] = {"S": baseline.previous_key}
        with aws_call("moving the export baseline"):
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression=(
                        "attribute_not_exists(pk) OR #order < :order OR (#order = :order AND task_id < :task_id)"
                    ),
                    ExpressionAttributeNames={"#order": "order"},
                    ExpressionAttributeValues={":order": item["order"], ":task_id": item["task_id"]},
                )
            except Exception as exc:
                if error_code(exc) != _CONDITION_FAILED:
                    raise
                return False
        return True
