"""Static checks of template.yaml: the SQS contract, docs/contract.md's environment, storage and IAM hygiene.

Each test reads as Given (the template) / When (we look at one aspect) / Then (what must hold).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

SPEC_POLLER_ENV = {
    "TASK_QUEUE_URL",
    "EXPORT_BUCKET",
    "EXPORT_PREFIX",
    "NOTIFY_TOPIC_ARN",
    "NOTIFY_ON_SUCCESS",
    "TASK_TABLE",
    "HUAWEI_CREDENTIALS_SECRET_ID",
    "APIG_ENDPOINT",
    "HUAWEI_REGION",
    "POLL_MIN_DELAY_SECONDS",
    "POLL_MAX_DELAY_SECONDS",
    "POLL_MAX_WAIT_SECONDS",
    "NOTIFY_ON_DRIFT",
    "CALLBACK_ALLOWED_HOSTS",
    "WEBHOOK_SECRET_ID",
}
SPEC_WEBHOOK_ENV = {
    "TASK_QUEUE_URL",
    "TASK_TABLE",
    "WEBHOOK_SECRET_ID",
    "HUAWEI_REGION",
    "POLL_MAX_WAIT_SECONDS",
    "OIDC_TRUST",
    "CALLBACK_ALLOWED_HOSTS",
}
POWERTOOLS_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"}
ALL_SPEC_ENV = SPEC_POLLER_ENV | SPEC_WEBHOOK_ENV
SECRET_ID_ENV = {"HUAWEI_CREDENTIALS_SECRET_ID": "HuaweiCredentialsSecret", "WEBHOOK_SECRET_ID": "WebhookSecret"}
OPTIONAL_PARAMETERS = {"OIDC_TRUST": "OidcTrust", "CALLBACK_ALLOWED_HOSTS": "CallbackAllowedHosts"}
# Actions AWS offers no resource-level permissions for; "*" is the only possible Resource.
RESOURCE_STAR_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
ARN_FROM_REF_TYPES = {
    # Resource types whose Ref returns an ARN (the others must use GetAtt .Arn in IAM statements).
    "AWS::SNS::Topic",
    "AWS::SecretsManager::Secret",
}


# ------------------------------------------------------------------ helpers


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def function_env(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    function = template["Resources"][logical_id]["Properties"]
    own_env = function.get("Environment", {}).get("Variables", {})
    return {**globals_env, **own_env}


def function_setting(template: dict[str, Any], logical_id: str, key: str) -> Any:
    own = template["Resources"][logical_id]["Properties"]
    return own.get(key, template.get("Globals", {}).get("Function", {}).get(key))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(template: dict[str, Any], role_id: str) -> Iterator[dict[str, Any]]:
    role = template["Resources"][role_id]
    assert role["Type"] == "AWS::IAM::Role"
    for policy in role["Properties"].get("Policies", []):
        yield from as_list(policy["PolicyDocument"]["Statement"])


def function_role_ids(template: dict[str, Any]) -> dict[str, str]:
    roles = {}
    for name, res in resources_of_type(template, "AWS::Serverless::Function").items():
        role = res["Properties"].get("Role")
        assert role == {"Fn::GetAtt": [role["Fn::GetAtt"][0], "Arn"]}, f"{name} must use a role of this stack"
        roles[name] = role["Fn::GetAtt"][0]
    return roles


def poller_queue_event(template: dict[str, Any]) -> dict[str, Any]:
    events = template["Resources"]["PollerFunction"]["Properties"]["Events"]
    sqs_events: list[dict[str, Any]] = [e["Properties"] for e in events.values() if e["Type"] == "SQS"]
    assert len(sqs_events) == 1
    return sqs_events[0]


def refers_to_stack_resource(value: Any, template: dict[str, Any]) -> bool:
    """True when an IAM Resource is !Ref / !GetAtt x.Arn / !Sub "${X...}..." of a resource of this stack."""
    resources = template["Resources"]
    if isinstance(value, dict) and set(value) == {"Ref"}:
        target = resources.get(value["Ref"])
        return target is not None and target["Type"] in ARN_FROM_REF_TYPES
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        return logical_id in resources and attribute == "Arn"
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        match = re.match(r"^\$\{([A-Za-z0-9]+)(\.Arn)?\}", value["Fn::Sub"])
        if not match or match.group(1) not in resources:
            return False
        return bool(match.group(2)) or resources[match.group(1)]["Type"] in ARN_FROM_REF_TYPES
    return False


# ------------------------------------------------------------------ SQS


def test_poll_queue_visibility_covers_six_poller_timeouts(template: dict[str, Any]) -> None:
    # Given the poller's timeout and the poll queue
    timeout = function_setting(template, "PollerFunction", "Timeout")
    queue = template["Resources"]["TaskQueue"]["Properties"]
    # When the event source uses the queue
    queue_ref = poller_queue_event(template)["Queue"]
    # Then it is that queue, and its visibility timeout is at least 6x the function timeout
    assert queue_ref == {"Fn::GetAtt": ["TaskQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * timeout


def test_poll_queue_dead_letters_after_a_few_receives(template: dict[str, Any]) -> None:
    # Given the poll queue
    redrive = template["Resources"]["TaskQueue"]["Properties"]["RedrivePolicy"]
    # When a message keeps failing
    # Then it lands in the stack's DLQ after at least 3 receives
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["TaskDeadLetterQueue", "Arn"]}
    assert 3 <= redrive["maxReceiveCount"] <= 10


def test_dead_letter_queue_keeps_messages_fourteen_days(template: dict[str, Any]) -> None:
    # Given the DLQ
    dlq = template["Resources"]["TaskDeadLetterQueue"]["Properties"]
    # Then it keeps messages for SQS's maximum, 14 days, and the poll queue keeps them for days too
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert template["Resources"]["TaskQueue"]["Properties"]["MessageRetentionPeriod"] >= 24 * 3600


def test_queues_are_encrypted_and_tls_only(template: dict[str, Any]) -> None:
    # Given both queues
    for name in ("TaskQueue", "TaskDeadLetterQueue"):
        queue = template["Resources"][name]["Properties"]
        # Then each is encrypted at rest
        assert queue.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue
    # And a queue policy denies non-TLS access to both
    policy = template["Resources"]["QueuesTlsOnlyPolicy"]["Properties"]
    assert {"Ref": "TaskQueue"} in policy["Queues"] and {"Ref": "TaskDeadLetterQueue"} in policy["Queues"]
    denials = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in denials)


def test_dead_letter_queue_alarm_notifies_the_topic(template: dict[str, Any]) -> None:
    # Given the alarms
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    # When one watches the DLQ's visible messages
    dlq_alarms = [
        a["Properties"]
        for a in alarms
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["TaskDeadLetterQueue", "QueueName"]}
    ]
    # Then it fires on any message and notifies the topic
    assert len(dlq_alarms) == 1
    alarm = dlq_alarms[0]
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
    assert {"Ref": "NotifyTopic"} in alarm["AlarmActions"]


def test_poller_reports_partial_batch_failures_with_bounded_concurrency(template: dict[str, Any]) -> None:
    # Given the poller's SQS event source
    event = poller_queue_event(template)
    params = template["Parameters"]["PollerMaxConcurrency"]
    # Then failed records are reported one by one, batches are small, and concurrency is capped
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BatchSize"] == 10
    assert event["MaximumBatchingWindowInSeconds"] == 1
    assert event["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "PollerMaxConcurrency"}
    assert params["MinValue"] >= 2 and params["MaxValue"] <= 1000


# ------------------------------------------------------------------ environment


@pytest.mark.parametrize(
    ("function_id", "required"),
    [("PollerFunction", SPEC_POLLER_ENV), ("WebhookFunction", SPEC_WEBHOOK_ENV)],
)
def test_function_has_every_spec_variable_it_needs(
    template: dict[str, Any], function_id: str, required: set[str]
) -> None:
    # Given a function's effective environment (Globals merged)
    env = function_env(template, function_id)
    # Then every contract variable it needs is there by its exact name, and nothing beyond the contract
    assert required <= set(env), f"missing: {sorted(required - set(env))}"
    assert set(env) <= ALL_SPEC_ENV | POWERTOOLS_ENV, f"unexpected: {sorted(set(env) - ALL_SPEC_ENV - POWERTOOLS_ENV)}"


def test_webhook_cannot_see_huawei_credentials(template: dict[str, Any]) -> None:
    # Given the webhook's environment
    env = function_env(template, "WebhookFunction")
    # Then it names no Huawei secret
    assert "HUAWEI_CREDENTIALS_SECRET_ID" not in env


@pytest.mark.parametrize("function_id", ["PollerFunction", "WebhookFunction"])
def test_environment_holds_no_secret_values(template: dict[str, Any], function_id: str) -> None:
    # Given a function's environment
    env = function_env(template, function_id)
    # When we look at every value
    for name, value in env.items():
        rendered = repr(value)
        # Then no value resolves a secret, and secret variables carry only the secret's id (its ARN)
        assert "resolve:secretsmanager" not in rendered and "resolve:ssm-secure" not in rendered, name
        assert not re.search(r"whsec_|REPLACE_ME", rendered), name
        if name in SECRET_ID_ENV:
            assert value == {"Ref": SECRET_ID_ENV[name]}
    assert not {"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"} & set(env)


def test_functions_are_arm64_python312_traced(template: dict[str, Any]) -> None:
    # Given both functions
    for function_id in ("PollerFunction", "WebhookFunction"):
        # Then they run python3.12 on arm64 with active tracing and an explicit memory size and timeout
        assert function_setting(template, function_id, "Runtime") == "python3.12"
        assert function_setting(template, function_id, "Architectures") == ["arm64"]
        assert function_setting(template, function_id, "Tracing") == "Active"
        assert function_setting(template, function_id, "MemorySize")
        assert function_setting(template, function_id, "Timeout")
    # And both layers are built by their own Makefiles (pip --no-deps) for arm64
    common, identity = template["Resources"]["CommonLayer"], template["Resources"]["IdentityLayer"]
    for layer in (common, identity):
        assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]


@pytest.mark.parametrize("layer_id", ["CommonLayer", "IdentityLayer"])
def test_layer_makefile_has_the_target_sam_runs(template: dict[str, Any], layer_id: str) -> None:
    # Given a layer's source directory
    source = REPO_ROOT / template["Resources"][layer_id]["Properties"]["ContentUri"]
    makefile = (source / "Makefile").read_text()
    # Then it has build-<logical id>, installs without dependency resolution for arm64, from requirements.txt
    assert re.search(rf"^build-{layer_id}:", makefile, re.MULTILINE)
    assert "--no-deps" in makefile and "manylinux2014_aarch64" in makefile and "--only-binary=:all:" in makefile
    assert "requirements.txt" in makefile and (source / "requirements.txt").is_file()


def test_only_the_webhook_carries_the_identity_layer(template: dict[str, Any]) -> None:
    # Given the layers of each function (SAM appends a function's Layers to the Globals' list)
    global_layers = template["Globals"]["Function"]["Layers"]
    webhook = template["Resources"]["WebhookFunction"]["Properties"].get("Layers", [])
    poller = template["Resources"]["PollerFunction"]["Properties"].get("Layers", [])
    # Then every function has the common layer, and only the webhook (which verifies CI tokens) PyJWT's
    assert global_layers == [{"Ref": "CommonLayer"}]
    assert webhook == [{"Ref": "IdentityLayer"}]
    assert poller == []


@pytest.mark.parametrize("handler", ["functions/poller/app.py", "functions/webhook/app.py"])
def test_handlers_do_not_load_the_xray_sdk_or_swagger(handler: str) -> None:
    # Given a handler's source
    source = (REPO_ROOT / handler).read_text()
    # Then it builds no Powertools Tracer (which imports the X-Ray SDK, no longer in the layer), and serves
    # no Swagger UI (the common layer's build removes its bundled JavaScript)
    assert not re.search(r"\bTracer\b", source)
    assert "enable_swagger" not in source


def test_each_function_logs_to_its_own_retained_log_group(template: dict[str, Any]) -> None:
    for function_id, log_group_id in (("PollerFunction", "PollerLogGroup"), ("WebhookFunction", "WebhookLogGroup")):
        # Given a function and its log group
        function = template["Resources"][function_id]["Properties"]
        log_group = template["Resources"][log_group_id]["Properties"]
        # Then the group is "/aws/lambda/<function name>", has a retention, and the function uses it
        assert log_group["LogGroupName"]["Fn::Sub"] == "/aws/lambda/" + function["FunctionName"]["Fn::Sub"]
        assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert function["LoggingConfig"]["LogGroup"] == {"Ref": log_group_id}


# ------------------------------------------------------------------ storage


def test_export_bucket_is_private_versioned_encrypted_tls_only(template: dict[str, Any]) -> None:
    # Given the bucket and its policy
    bucket = template["Resources"]["ExportBucket"]["Properties"]
    policy = template["Resources"]["ExportBucketPolicy"]["Properties"]
    # Then public access is blocked four ways, ACLs are off, objects are versioned and encrypted
    assert all(
        bucket["PublicAccessBlockConfiguration"][flag] is True
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    assert bucket["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] in {"AES256", "aws:kms"}
    # And old versions and abandoned uploads are cleaned up
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in r for r in rules)
    assert any("AbortIncompleteMultipartUpload" in r for r in rules)
    # And plain-HTTP access is denied
    assert policy["Bucket"] == {"Ref": "ExportBucket"}
    assert any(
        s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
        for s in policy["PolicyDocument"]["Statement"]
    )


def test_task_table_matches_the_spec_key_and_ttl(template: dict[str, Any]) -> None:
    # Given the table
    table = template["Resources"]["TaskTable"]["Properties"]
    # Then it has a single string partition key pk, TTL on expires_at, PITR and encryption
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True


def test_topic_uses_a_rotating_customer_key_that_alarms_may_use(template: dict[str, Any]) -> None:
    # Given the topic and its key
    topic = template["Resources"]["NotifyTopic"]["Properties"]
    key = template["Resources"]["NotifyKey"]["Properties"]
    # Then the topic is encrypted with the stack's own rotating key
    assert topic["KmsMasterKeyId"] == {"Ref": "NotifyKey"}
    assert key["EnableKeyRotation"] is True
    # And CloudWatch (alarm actions) may use the key and publish to the topic
    statements = key["KeyPolicy"]["Statement"]
    assert any(s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com" for s in statements)
    topic_policy = template["Resources"]["NotifyTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Allow" and s["Principal"].get("Service") == "cloudwatch.amazonaws.com" for s in topic_policy
    )


def test_secrets_are_generated_never_written_in_the_template(template: dict[str, Any]) -> None:
    # Given the two secrets
    for name in ("HuaweiCredentialsSecret", "WebhookSecret"):
        secret = template["Resources"][name]["Properties"]
        # Then neither carries a literal value
        assert "SecretString" not in secret
        assert "GenerateSecretString" in secret
    huawei = template["Resources"]["HuaweiCredentialsSecret"]["Properties"]["GenerateSecretString"]
    assert huawei["GenerateStringKey"] == "sk"


# ------------------------------------------------------------------ IAM


def test_every_function_uses_a_hand_written_role(template: dict[str, Any]) -> None:
    # Given the functions
    functions = resources_of_type(template, "AWS::Serverless::Function")
    # Then none asks SAM for generated policies (which bring managed policies with Resource "*")
    for name, res in functions.items():
        assert "Policies" not in res["Properties"], name
    roles = function_role_ids(template)
    for role_id in roles.values():
        assert "ManagedPolicyArns" not in template["Resources"][role_id]["Properties"]


def test_function_policies_have_no_forbidden_actions(template: dict[str, Any]) -> None:
    # Given every statement of every function role
    for function_id, role_id in function_role_ids(template).items():
        for statement in role_statements(template, role_id):
            actions = as_list(statement["Action"])
            # Then there is no wildcard action, no ACL writes and no table scans
            assert statement["Effect"] == "Allow"
            assert not any(a == "*" or a.endswith(":*") for a in actions), (function_id, actions)
            assert "s3:PutObjectAcl" not in actions
            assert "dynamodb:Scan" not in actions
            assert "NotAction" not in statement and "NotResource" not in statement


def test_function_policies_only_reach_this_stacks_resources(template: dict[str, Any]) -> None:
    # Given every statement of every function role
    for function_id, role_id in function_role_ids(template).items():
        for statement in role_statements(template, role_id):
            actions = set(as_list(statement["Action"]))
            for resource in as_list(statement["Resource"]):
                # When a statement uses "*"
                if resource == "*":
                    # Then only for actions that have no resource-level permissions
                    assert actions <= RESOURCE_STAR_ACTIONS, (function_id, statement.get("Sid"))
                    continue
                # Otherwise the resource is one of this stack's own resources
                assert refers_to_stack_resource(resource, template), (function_id, statement.get("Sid"), resource)


def test_each_function_reads_only_its_own_secrets(template: dict[str, Any]) -> None:
    roles = function_role_ids(template)
    # The poller signs outcome callbacks with the webhook key; the webhook never sees Huawei credentials.
    expected = {"PollerFunction": {"HuaweiCredentialsSecret", "WebhookSecret"}, "WebhookFunction": {"WebhookSecret"}}
    for function_id, secret_ids in expected.items():
        # Given the function's secret statements
        secret_statements = [
            s
            for s in role_statements(template, roles[function_id])
            if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))
        ]
        # Then it may only GetSecretValue, and only on its own secrets
        assert secret_statements
        for statement in secret_statements:
            assert as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
        readable = {r["Ref"] for statement in secret_statements for r in as_list(statement["Resource"])}
        assert readable == secret_ids


def test_notification_key_is_used_only_through_sns(template: dict[str, Any]) -> None:
    # Given the KMS statements of the function roles
    for role_id in function_role_ids(template).values():
        for statement in role_statements(template, role_id):
            if any(a.startswith("kms:") for a in as_list(statement["Action"])):
                # Then they name the notification key and are limited to calls made by SNS
                assert statement["Resource"] == {"Fn::GetAtt": ["NotifyKey", "Arn"]}
                assert "sns." in statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"]


# ------------------------------------------------------------------ API and outputs


def test_http_api_is_throttled_and_access_logged(template: dict[str, Any]) -> None:
    # Given the HTTP API
    api = template["Resources"]["WebhookApi"]["Properties"]
    # Then default routes are throttled and access logs go to the stack's log group
    assert api["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0
    assert api["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["WebhookApiAccessLogGroup", "Arn"]}
    # And the webhook serves the two contract routes on that API
    events = template["Resources"]["WebhookFunction"]["Properties"]["Events"].values()
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events if e["Type"] == "HttpApi"}
    assert {("POST", "/tasks"), ("GET", "/tasks/{task_id}")} <= routes
    assert all(e["Properties"]["ApiId"] == {"Ref": "WebhookApi"} for e in events)


def test_outputs_name_what_operators_and_ci_need(template: dict[str, Any]) -> None:
    # Given the outputs
    outputs = template["Outputs"]
    # Then each promised output is there
    for name in (
        "WebhookUrl",
        "TaskQueueUrl",
        "ExportBucketName",
        "NotifyTopicArn",
        "TaskTableName",
        "DeadLetterQueueUrl",
    ):
        assert name in outputs, name


def test_only_the_poller_may_write_to_the_dead_letter_queue(template: dict[str, Any]) -> None:
    roles = function_role_ids(template)

    def send_targets(function_id: str) -> list[Any]:
        return [
            resource
            for s in role_statements(template, roles[function_id])
            if "sqs:SendMessage" in as_list(s["Action"])
            for resource in as_list(s["Resource"])
        ]

    # Given the queues each function may send to
    poller, webhook = send_targets("PollerFunction"), send_targets("WebhookFunction")
    # Then the webhook only enqueues polls, while the poller also dead-letters invalid messages
    assert webhook == [{"Fn::GetAtt": ["TaskQueue", "Arn"]}]
    assert sorted(map(repr, poller)) == sorted(
        map(repr, [{"Fn::GetAtt": ["TaskQueue", "Arn"]}, {"Fn::GetAtt": ["TaskDeadLetterQueue", "Arn"]}])
    )


@pytest.mark.parametrize(("variable", "parameter"), sorted(OPTIONAL_PARAMETERS.items()))
def test_ci_identity_and_callbacks_are_off_until_an_operator_sets_them(
    template: dict[str, Any], variable: str, parameter: str
) -> None:
    # Given the stack parameter behind the variable
    assert template["Parameters"][parameter]["Default"] == ""
    # Then every function that reads it gets it from that parameter
    for function_id in ("WebhookFunction", "PollerFunction"):
        env = function_env(template, function_id)
        if variable in env:
            assert env[variable] == {"Ref": parameter}
