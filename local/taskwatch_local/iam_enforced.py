"""A moto server that enforces IAM, and the functions' execution roles read from template.yaml.

moto checks no permissions by default. It can (moto.core.set_initial_no_auth_action_count, the
INITIAL_NO_AUTH_ACTION_COUNT setting): after an allowance of unauthenticated requests, every request
must be signed by an IAM user's or an assumed role's keys and be allowed by that principal's policies.
The allowance and the switch are settings of the whole process, shared by every moto server in it, so
this server runs in a child process of its own and the shared local stack is never affected.

The allowance is used to create the stack as an administrator; then `enforce` ends it, as moto's own
decorator does for a server (POST /moto-api/reset-auth with the new allowance, 0).

Two gaps of moto's enforcement are closed in the child process, on purpose:

* moto evaluates a statement's Resource only for S3, SQS, IAM and STS; for every other service it
  checks the action against the resource "*", so a statement scoped to a table, topic or secret ARN
  (as all of the template's are) never matches and everything is denied. The child teaches moto the
  resource of DynamoDB requests (the table's ARN), SNS requests (TopicArn/TargetArn) and Secrets
  Manager requests (the secret's ARN), so the template's own scoping is what is evaluated.
* moto ignores Condition elements except in trust policies; the one condition in the roles
  (kms:ViaService on the notification key) concerns KMS, which the local stack does not use.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskwatch_local.stack import REGION, AwsCredentials, LocalAws
from taskwatch_local.template_resources import TemplateError, TemplateStack

ACCOUNT = "123456789012"  # moto's default account
PARTITION = "aws"
ADMINISTRATOR_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


# --- the server, in a process of its own -------------------------------------------------------------------


@contextmanager
def enforcing_aws_emulator(stop_timeout: float = 10.0) -> Iterator[str]:
    """A moto server on 127.0.0.1 in a child process, not yet enforcing IAM; yields its endpoint URL.

    Call `enforce(endpoint)` once the stack is created. The child stops when this context exits."""
    repository = Path(__file__).resolve().parents[2]
    paths = [str(repository / "local"), str(repository / "layers" / "common")]
    inherited = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, *inherited])}
    with tempfile.TemporaryFile() as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "taskwatch_local.iam_enforced"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            text=True,
        )
        try:
            assert child.stdout is not None and child.stdin is not None
            port = child.stdout.readline().strip()
            if not port.isdigit():
                log.seek(0)
                raise RuntimeError(f"the IAM-enforcing moto server did not start: {log.read().decode()[-2000:]}")
            yield f"http://127.0.0.1:{port}"
        finally:
            if child.stdin is not None:
                child.stdin.close()  # the child's signal to stop
            try:
                child.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def enforce(endpoint: str) -> None:
    """End the unauthenticated allowance: from now on every request needs an allowed IAM principal."""
    url = f"{endpoint}/moto-api/reset-auth"
    # Not form-encoded (urllib's default), or Flask would consume the body as a form and moto read nothing.
    headers = {"Content-Type": "text/plain"}
    request = urllib.request.Request(url, data=b"0", headers=headers, method="POST")  # noqa: S310 - our own server
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        if answer.status != 200:
            raise RuntimeError(f"moto refused to enforce IAM: HTTP {answer.status}")


def _serve() -> None:
    """The child process: teach moto the resources it does not evaluate, serve until stdin closes."""
    import logging

    from moto.server import ThreadedMotoServer

    from taskwatch_local import moto_atomic

    _evaluate_resources()
    moto_atomic.install()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()
    server.stop()


def _evaluate_resources() -> None:
    """Give moto's DynamoDB, SNS and Secrets Manager responses the resource a request acts on, as AWS
    evaluates it ("*" where a request names none, or several)."""
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.responses import DynamoHandler
    from moto.secretsmanager.responses import SecretsManagerResponse
    from moto.sns.responses import SNSResponse

    def table(self: Any) -> str:
        name = self._get_param("TableName")
        if not isinstance(name, str):
            return "*"
        try:
            return str(self.dynamodb_backend.get_table(name).table_arn)
        except ResourceNotFoundException:  # the request itself fails after the check
            return "*"

    def topic(self: Any) -> str:
        arn = self._get_param("TopicArn") or self._get_param("TargetArn")
        return str(arn) if arn else "*"

    def secret(self: Any) -> str:
        secret_id = self._get_param("SecretId")
        found = self.backend.secrets.get(secret_id) if isinstance(secret_id, str) else None
        return str(found.arn) if found is not None else "*"

    # BaseResponse.call_action asks for it where a response class defines one (moto's SQS and IAM do).
    DynamoHandler._determine_resource = table  # type: ignore[attr-defined]
    SNSResponse._determine_resource = topic  # type: ignore[attr-defined]
    SecretsManagerResponse._determine_resource = secret  # type: ignore[attr-defined]


# --- the template's roles, resolved against the local stack ------------------------------------------------


class Intrinsics:
    """Ref, Fn::GetAtt and Fn::Sub of a template, resolved from known values."""

    def __init__(self, refs: Mapping[str, str], attributes: Mapping[tuple[str, str], str]) -> None:
        self.refs = dict(refs)
        self.attributes = dict(attributes)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"}:
            return self._ref(node["Ref"])
        if set(node) == {"Fn::GetAtt"}:
            logical_id, attribute = node["Fn::GetAtt"]
            return self._attribute(logical_id, attribute)
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            return re.sub(r"\$\{([^}!]+)\}", lambda m: self._substitute(m.group(1)), node["Fn::Sub"])
        unknown = [key for key in node if key.startswith("Fn::") or key == "Ref"]
        if unknown:
            raise TemplateError(f"cannot resolve {unknown[0]} locally: {node}")
        return {key: self.resolve(value) for key, value in node.items()}

    def _substitute(self, name: str) -> str:
        if "." in name and not name.startswith("AWS::"):
            logical_id, attribute = name.split(".", 1)
            return self._attribute(logical_id, attribute)
        return self._ref(name)

    def _ref(self, name: str) -> str:
        if name not in self.refs:
            raise TemplateError(f"no local value for Ref {name}")
        return self.refs[name]

    def _attribute(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) not in self.attributes:
            raise TemplateError(f"no local value for {logical_id}.{attribute}")
        return self.attributes[(logical_id, attribute)]


def stack_intrinsics(template: dict[str, Any], names: TemplateStack, stack: LocalAws, stack_name: str) -> Intrinsics:
    """The template's references, resolved to the local stack's resources and their real ARNs.

    The local stack creates the queues, bucket, topic, table and secrets; log groups and the KMS key are
    not created locally, so they get ARNs of the right shape that no request ever uses."""
    sqs, dynamodb = stack.client("sqs"), stack.client("dynamodb")

    def queue_arn(url: str) -> str:
        return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    refs: dict[str, str] = {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": PARTITION,
        "AWS::StackName": stack_name,
        "AWS::URLSuffix": "amazonaws.com",
        **{name: str(p["Default"]) for name, p in template.get("Parameters", {}).items() if "Default" in p},
        names.queue: stack.queue_url,
        names.dead_letter_queue: stack.dlq_url,
        names.bucket: stack.bucket,
        names.topic: stack.topic_arn,
        names.table: stack.table,
        names.huawei_secret: stack.huawei_secret_id,
        names.webhook_secret: stack.webhook_secret_id,
    }
    attributes: dict[tuple[str, str], str] = {
        (names.queue, "Arn"): queue_arn(stack.queue_url),
        (names.queue, "QueueName"): stack.queue_url.rsplit("/", 1)[1],
        (names.dead_letter_queue, "Arn"): queue_arn(stack.dlq_url),
        (names.dead_letter_queue, "QueueName"): stack.dlq_url.rsplit("/", 1)[1],
        (names.bucket, "Arn"): f"arn:{PARTITION}:s3:::{stack.bucket}",
        (names.table, "Arn"): str(dynamodb.describe_table(TableName=stack.table)["Table"]["TableArn"]),
    }
    intrinsics = Intrinsics(refs, attributes)
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Logs::LogGroup":
            group = intrinsics.resolve(resource["Properties"]["LogGroupName"])
            intrinsics.attributes[(logical_id, "Arn")] = f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
        elif resource.get("Type") == "AWS::KMS::Key":
            key = uuid.uuid5(uuid.NAMESPACE_URL, f"{stack_name}/{logical_id}")
            intrinsics.attributes[(logical_id, "Arn")] = f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{key}"
    return intrinsics


@dataclass(frozen=True)
class ExecutionRole:
    """A function's execution role as the template declares it, its references resolved."""

    logical_id: str
    trust_policy: dict[str, Any]
    policies: dict[str, dict[str, Any]]  # inline policy name -> document


def execution_role(template: dict[str, Any], function: str, intrinsics: Intrinsics) -> ExecutionRole:
    resources: dict[str, Any] = template["Resources"]
    role = resources[function]["Properties"].get("Role")
    if not (isinstance(role, dict) and "Fn::GetAtt" in role and role["Fn::GetAtt"][1] == "Arn"):
        raise TemplateError(f"{function}'s Role is not !GetAtt <role>.Arn")
    logical_id = str(role["Fn::GetAtt"][0])
    properties = resources[logical_id]["Properties"]
    if properties.get("ManagedPolicyArns") or properties.get("PermissionsBoundary"):
        raise TemplateError(f"{logical_id}: managed policies and boundaries are not reproduced locally")
    return ExecutionRole(
        logical_id=logical_id,
        trust_policy=intrinsics.resolve(properties["AssumeRolePolicyDocument"]),
        policies={p["PolicyName"]: intrinsics.resolve(p["PolicyDocument"]) for p in properties.get("Policies", [])},
    )


def assume(stack: LocalAws, role: ExecutionRole, name: str) -> AwsCredentials:
    """Create the role and assume it: the temporary credentials Lambda would give the function.

    Assumed during the allowance, by the stack's administrator rather than lambda.amazonaws.com (moto
    cannot evaluate a service principal in a trust policy); the trust policy is stored as written."""
    iam, sts = stack.client("iam"), stack.client("sts")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(role.trust_policy))["Role"]["Arn"]
    for policy_name, document in role.policies.items():
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    answer = sts.assume_role(RoleArn=arn, RoleSessionName=name)["Credentials"]
    return AwsCredentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"])


def administrator(stack: LocalAws, name: str = "administrator") -> AwsCredentials:
    """An IAM user allowed everything: the operator's view of the stack once IAM is enforced."""
    iam = stack.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="everything", PolicyDocument=json.dumps(ADMINISTRATOR_POLICY))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return AwsCredentials(key["AccessKeyId"], key["SecretAccessKey"])


if __name__ == "__main__":
    _serve()
