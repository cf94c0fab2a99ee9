"""Static checks of what operators get from template.yaml: alarms on each failure mode, the dashboard and
the saved Logs Insights queries.

Each alarm is checked for its metric (or metric math), threshold and action; README.md's runbook names
every alarm, so a new alarm cannot be added without saying what to do when it fires.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTIFY = [{"Ref": "NotifyTopic"}]
POLLER_SERVICE = [{"Name": "service", "Value": "taskwatch-poller"}]
OUTCOMES = ("succeeded", "partial_failure", "failed", "not_found", "unauthorized", "timed_out", "error")
PSEUDO_PARAMETERS = {"AWS::Region", "AWS::StackName", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix"}


# ------------------------------------------------------------------ helpers


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: res["Properties"]
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::CloudWatch::Alarm"
    }


def alarm(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    resource = template["Resources"][logical_id]
    assert resource["Type"] == "AWS::CloudWatch::Alarm"
    properties: dict[str, Any] = resource["Properties"]
    return properties


def math_metrics(properties: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The metric-math entries of an alarm, by Id."""
    return {entry["Id"]: entry for entry in properties["Metrics"]}


def metric_of(entry: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
    metric = entry["MetricStat"]["Metric"]
    return metric["Namespace"], metric["MetricName"], metric.get("Dimensions", [])


def assert_pages(properties: dict[str, Any]) -> None:
    """Notifies the topic when it fires and when it clears, and does not fire on a quiet metric."""
    assert properties["AlarmActions"] == NOTIFY
    assert properties["OKActions"] == NOTIFY
    assert properties.get("ActionsEnabled", True) is True
    assert properties["TreatMissingData"] == "notBreaching"


def substitute(text: str, template: dict[str, Any], values: dict[str, str]) -> str:
    """A Fn::Sub string with every ${Name} / ${Name.Attr} replaced; each must name a parameter, a resource or a
    pseudo parameter of the template."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        logical_id = name.split(".")[0]
        assert (
            name in PSEUDO_PARAMETERS or logical_id in template["Resources"] or logical_id in template["Parameters"]
        ), f"${{{name}}} names nothing in the template"
        return values.get(name, f"<{name}>")

    return re.sub(r"\$\{([A-Za-z0-9:.]+)\}", replace, text)


@pytest.fixture(scope="module")
def dashboard(template: dict[str, Any]) -> dict[str, Any]:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # ${PollMaxDelaySeconds} stands for a JSON number in the body.
    parsed: dict[str, Any] = json.loads(substitute(body, template, {"PollMaxDelaySeconds": "300"}))
    return parsed


def metric_rows(dashboard: dict[str, Any]) -> list[list[Any]]:
    return [row for w in dashboard["widgets"] if w["type"] == "metric" for row in w["properties"]["metrics"]]


def row_matches(row: list[Any], namespace: str, name: str, *dimensions: Any) -> bool:
    names = [part for part in row if not isinstance(part, dict)]
    return names[:2] == [namespace, name] and list(dimensions) == names[2:]


# ------------------------------------------------------------------ alarms


def test_unauthorized_outcome_pages_on_the_first_one(template: dict[str, Any]) -> None:
    # Given the alarm on the poller's Outcome_unauthorized metric
    properties = alarm(template, "UnauthorizedOutcomeAlarm")
    # Then it reads the metric the way Powertools' EMF writes it (namespace, "service" dimension)
    assert properties["Namespace"] == "ApigTaskwatch"
    assert properties["MetricName"] == "Outcome_unauthorized"
    assert properties["Dimensions"] == POLLER_SERVICE
    # And fires on any one such outcome in 5 minutes, notifying the topic
    assert properties["Statistic"] == "Sum" and properties["Period"] == 300
    assert properties["Threshold"] == 0 and properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert_pages(properties)


def test_metric_names_and_service_match_the_handlers(template: dict[str, Any]) -> None:
    # Given the service name and namespace the poller's Metrics object is built with
    source = (REPO_ROOT / "functions" / "poller" / "app.py").read_text()
    entrypoint = (REPO_ROOT / "layers" / "common" / "taskwatch" / "entrypoints" / "poller.py").read_text()
    # Then the alarms' namespace and service dimension are those, and the metrics alarmed are emitted
    assert 'Metrics(namespace="ApigTaskwatch", service="taskwatch-poller")' in source
    assert 'f"Outcome_{result.outcome.value}"' in entrypoint
    assert 'name="InvalidMessages"' in entrypoint


def test_poller_errors_and_throttles_page(template: dict[str, Any]) -> None:
    for logical_id, metric_name, minutes in (
        ("PollerErrorsAlarm", "Errors", 3),
        ("PollerThrottlesAlarm", "Throttles", 10),
    ):
        # Given the alarm on the poller's Lambda metric
        properties = alarm(template, logical_id)
        # Then it watches that function's metric and fires on any sustained non-zero sum
        assert properties["Namespace"] == "AWS/Lambda" and properties["MetricName"] == metric_name
        assert properties["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "PollerFunction"}}]
        assert properties["Statistic"] == "Sum"
        assert properties["Threshold"] == 0 and properties["ComparisonOperator"] == "GreaterThanThreshold"
        assert properties["Period"] * properties["EvaluationPeriods"] == minutes * 60
        assert_pages(properties)


def test_poll_queue_age_is_alarmed_beyond_the_largest_delay(template: dict[str, Any]) -> None:
    # Given the queue-age alarm
    properties = alarm(template, "PollQueueAgeAlarm")
    entries = math_metrics(properties)
    # Then it reads the poll queue's oldest message age ...
    assert metric_of(entries["age"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["TaskQueue", "QueueName"]}}],
    )
    assert entries["age"]["MetricStat"]["Stat"] == "Maximum"
    # ... minus the largest delay a poll message is sent with (the PollMaxDelaySeconds parameter) ...
    assert entries["overdue"]["Expression"] == {"Fn::Sub": "age - ${PollMaxDelaySeconds}"}
    assert entries["overdue"]["ReturnData"] is True and entries["age"]["ReturnData"] is False
    # ... and fires when that margin passes 10 minutes (more than a 180 s visibility timeout) for 5 minutes
    visibility = template["Resources"]["TaskQueue"]["Properties"]["VisibilityTimeout"]
    assert properties["Threshold"] == 600 > visibility
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["EvaluationPeriods"] == properties["DatapointsToAlarm"] == 5
    assert_pages(properties)


def test_dead_letter_queue_pages_on_any_message(template: dict[str, Any]) -> None:
    # Given the DLQ alarm
    properties = alarm(template, "DeadLetterQueueAlarm")
    # Then it fires on one visible message in the stack's DLQ and notifies the topic
    assert properties["Namespace"] == "AWS/SQS"
    assert properties["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert properties["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["TaskDeadLetterQueue", "QueueName"]}}
    ]
    assert properties["Statistic"] == "Maximum"
    assert properties["Threshold"] == 0 and properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert_pages(properties)


def test_invalid_messages_have_an_alarm_that_never_notifies(template: dict[str, Any]) -> None:
    # Given the alarm on the poller's InvalidMessages metric
    properties = alarm(template, "InvalidMessagesAlarm")
    # Then it counts dead-lettered invalid messages over an hour ...
    assert properties["Namespace"] == "ApigTaskwatch" and properties["MetricName"] == "InvalidMessages"
    assert properties["Dimensions"] == POLLER_SERVICE
    assert properties["Statistic"] == "Sum" and properties["Period"] == 3600
    assert properties["Threshold"] == 0 and properties["ComparisonOperator"] == "GreaterThanThreshold"
    # ... and has no actions: invalid input does not page anyone
    assert properties["ActionsEnabled"] is False
    assert not {"AlarmActions", "OKActions", "InsufficientDataActions"} & set(properties)


@pytest.mark.parametrize(
    ("logical_id", "numerator"),
    [
        ("WebhookServerErrorsAlarm", ("AWS/ApiGateway", "5xx")),
        ("WebhookThrottledAlarm", ("ApigTaskwatch", "WebhookThrottled")),
    ],
)
def test_webhook_error_rates_page_above_five_percent(
    template: dict[str, Any], logical_id: str, numerator: tuple[str, str]
) -> None:
    # Given a webhook rate alarm
    properties = alarm(template, logical_id)
    entries = math_metrics(properties)
    counted_id = next(i for i, e in entries.items() if "MetricStat" in e and metric_of(e)[:2] == numerator)
    # Then the rate divides that count by the HTTP API's request count, both summed over 5 minutes ...
    api = [{"Name": "ApiId", "Value": {"Ref": "WebhookApi"}}]
    assert metric_of(entries["requests"]) == ("AWS/ApiGateway", "Count", api)
    for entry in (entries[counted_id], entries["requests"]):
        assert entry["MetricStat"]["Stat"] == "Sum" and entry["MetricStat"]["Period"] == 300
        assert entry["ReturnData"] is False
    if numerator[0] == "AWS/ApiGateway":
        assert metric_of(entries[counted_id])[2] == api
    # ... needs at least two such answers (one blip does not page) ...
    expression = entries["rate"]["Expression"]
    assert expression == (f"IF(FILL({counted_id}, 0) >= 2, 100 * FILL({counted_id}, 0) / FILL(requests, 1), 0)")
    assert entries["rate"]["ReturnData"] is True
    # ... and pages at 5 % of the requests
    assert properties["Threshold"] == 5
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert_pages(properties)


def test_throttled_requests_are_counted_from_the_access_log(template: dict[str, Any]) -> None:
    # Given the metric filter behind WebhookThrottled
    metric_filter = template["Resources"]["WebhookThrottledMetricFilter"]["Properties"]
    access_log_format = template["Resources"]["WebhookApi"]["Properties"]["AccessLogSettings"]["Format"]
    # Then it counts the access log's 429 lines (the status is logged as a JSON string)
    assert metric_filter["LogGroupName"] == {"Ref": "WebhookApiAccessLogGroup"}
    assert metric_filter["FilterPattern"] == '{ $.status = "429" }'
    assert '"status":"$context.status"' in access_log_format
    (transformation,) = metric_filter["MetricTransformations"]
    assert transformation == {
        "MetricNamespace": "ApigTaskwatch",
        "MetricName": "WebhookThrottled",
        "MetricValue": "1",
        "Unit": "Count",
    }


def test_invalid_input_to_the_webhook_does_not_page(template: dict[str, Any]) -> None:
    # Given every alarm
    for name, properties in alarms(template).items():
        watched = [properties.get("MetricName")] + [
            e["MetricStat"]["Metric"]["MetricName"] for e in properties.get("Metrics", []) if "MetricStat" in e
        ]
        # Then none watches the 4xx answers that bad signatures, bodies and routes earn
        assert "4xx" not in watched, name
        assert not {"InvalidRequests", "AuthFailures", "ConflictingSubmissions"} & set(watched), name


def test_every_alarm_has_a_runbook_entry(template: dict[str, Any]) -> None:
    # Given README.md's "Operating it" section
    readme = (REPO_ROOT / "README.md").read_text()
    runbook = readme[readme.index("\n## Operating it") :]
    # Then each alarm of the template is named there
    missing = sorted(name for name in alarms(template) if f"`{name}`" not in runbook)
    assert not missing, f"alarms without a runbook entry: {missing}"


# ------------------------------------------------------------------ dashboard


def test_dashboard_shows_polls_outcomes_and_detection_lag(dashboard: dict[str, Any]) -> None:
    rows = metric_rows(dashboard)
    # Then polls and every outcome kind are there, with the poller's service dimension
    assert any(row_matches(r, "ApigTaskwatch", "Polls", "service", "taskwatch-poller") for r in rows)
    for outcome in OUTCOMES:
        assert any(row_matches(r, "ApigTaskwatch", f"Outcome_{outcome}", "service", "taskwatch-poller") for r in rows)
    # And the detection lag as p50 and p95
    lag_stats = {
        part["stat"]
        for r in rows
        if row_matches(r, "ApigTaskwatch", "DetectionLag", "service", "taskwatch-poller")
        for part in r
        if isinstance(part, dict) and "stat" in part
    }
    assert lag_stats == {"p50", "p95"}


def test_dashboard_shows_the_queue_the_webhook_and_cold_starts(dashboard: dict[str, Any]) -> None:
    rows = metric_rows(dashboard)
    queue = ("QueueName", "<TaskQueue.QueueName>")
    # Then queue depth and age of the poll queue, and the DLQ's depth ...
    for name in (
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateAgeOfOldestMessage",
    ):
        assert any(row_matches(r, "AWS/SQS", name, *queue) for r in rows), name
    assert any(
        row_matches(r, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "<TaskDeadLetterQueue.QueueName>")
        for r in rows
    )
    # ... webhook requests and errors ...
    for name in ("Count", "4xx", "5xx"):
        assert any(row_matches(r, "AWS/ApiGateway", name, "ApiId", "<WebhookApi>") for r in rows), name
    assert any(row_matches(r, "ApigTaskwatch", "WebhookThrottled") for r in rows)
    # ... and cold starts from the REPORT lines of both functions' log groups
    (logs,) = [w["properties"] for w in dashboard["widgets"] if w["type"] == "log"]
    assert "SOURCE '<PollerLogGroup>'" in logs["query"] and "SOURCE '<WebhookLogGroup>'" in logs["query"]
    assert "@initDuration" in logs["query"] and '@type = "REPORT"' in logs["query"]


def test_dashboard_lists_every_alarm(template: dict[str, Any], dashboard: dict[str, Any]) -> None:
    # Given the dashboard's alarm widget
    (widget,) = [w["properties"] for w in dashboard["widgets"] if w["type"] == "alarm"]
    # Then it shows every alarm of the stack
    assert sorted(widget["alarms"]) == sorted(f"<{name}.Arn>" for name in alarms(template))


def test_dashboard_widgets_fit_the_grid(dashboard: dict[str, Any]) -> None:
    # Given the widgets' positions: CloudWatch's grid is 24 units wide
    cells: set[tuple[int, int]] = set()
    for widget in dashboard["widgets"]:
        assert widget["x"] + widget["width"] <= 24
        area = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        # Then no two widgets overlap
        assert not cells & area, widget["properties"]["title"]
        cells |= area


# ------------------------------------------------------------------ saved queries


def query_definitions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: res["Properties"]
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Logs::QueryDefinition"
    }


def test_saved_queries_cover_a_task_failures_and_slow_tasks(template: dict[str, Any]) -> None:
    queries = query_definitions(template)
    # Given the three saved queries
    assert set(queries) == {"TaskHistoryQuery", "RecentFailuresQuery", "SlowTasksQuery"}
    both = [{"Ref": "PollerLogGroup"}, {"Ref": "WebhookLogGroup"}]
    # Then one task's history reads both functions' logs, by task_id, oldest first
    history = queries["TaskHistoryQuery"]
    assert history["LogGroupNames"] == both
    assert re.search(r'filter task_id = "REPLACE_WITH_TASK_ID"', history["QueryString"])
    assert "sort @timestamp asc" in history["QueryString"]
    # And recent failures read both, by level and by failed outcome, newest first
    failures = queries["RecentFailuresQuery"]
    assert failures["LogGroupNames"] == both
    assert '"ERROR"' in failures["QueryString"] and '"unauthorized"' in failures["QueryString"]
    assert "sort @timestamp desc" in failures["QueryString"]
    # And slow tasks group the poller's poll lines by task
    slow = queries["SlowTasksQuery"]
    assert slow["LogGroupNames"] == [{"Ref": "PollerLogGroup"}]
    assert "by task_id" in slow["QueryString"] and "sort polls desc" in slow["QueryString"]
    # And all are filed under the stack's name
    for properties in queries.values():
        assert properties["Name"]["Fn::Sub"].startswith("${AWS::StackName}/")


def test_saved_queries_use_messages_the_poller_logs(template: dict[str, Any]) -> None:
    # Given the poller's per-record log messages
    entrypoint = (REPO_ROOT / "layers" / "common" / "taskwatch" / "entrypoints" / "poller.py").read_text()
    slow = query_definitions(template)["SlowTasksQuery"]["QueryString"]
    # Then the messages the slow-task query counts are the ones logged for each poll
    for message in re.findall(r'"(task still running|task finished)"', slow):
        assert f'"{message}"' in entrypoint
    assert "task still running" in slow and "task finished" in slow
