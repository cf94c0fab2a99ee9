"""template.yaml as the single source of the local stack's settings.

The local stack mirrors what `sam deploy` would create: the poll queue's visibility timeout and
redrive count, the event source's batch size, the poller's timeout and the Parameters' defaults
are read from the template, so the demo cannot drift from the deployed shape.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml  # type: ignore[import-untyped, unused-ignore]  # types-PyYAML is not a dev dependency

from taskwatch_local.stack import StackSettings

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"


class CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    """SafeLoader that turns `!Ref x` into {"Ref": x} and `!Sub s` into {"Fn::Sub": s}, etc."""


def _short_tag(loader: CloudFormationLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{tag_suffix}", node.start_mark)

    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _short_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        loaded: dict[str, Any] = yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    return loaded


class TemplateError(ValueError):
    """template.yaml lacks something the local stack needs."""


@dataclass(frozen=True)
class TemplateStack:
    """What the local stack takes from template.yaml: settings and the resources' logical ids."""

    settings: StackSettings
    queue: str
    dead_letter_queue: str
    bucket: str
    topic: str
    table: str
    huawei_secret: str
    webhook_secret: str
    poller: str
    webhook: str
    handlers: dict[str, tuple[str, str]]  # function logical id -> (CodeUri, Handler)

    def handler(self, function: str) -> Callable[[dict[str, Any], Any], Any]:
        """The function's handler, loaded as Lambda does: `module.function` from the CodeUri directory.

        The module is registered under its repository name (`functions.poller.app`), so a process that
        already imported it (the tests) gets the very same module.
        """
        code_uri, handler = self.handlers[function]
        module_file, _, attribute = handler.rpartition(".")
        directory = TEMPLATE_PATH.parent / code_uri
        name = ".".join([*Path(code_uri).parts, module_file])
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, directory / f"{module_file}.py")
            if spec is None or spec.loader is None:
                raise TemplateError(f"cannot load {function}'s handler from {directory}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        return cast(Callable[[dict[str, Any], Any], Any], getattr(module, attribute))


def _resource_of_type(resources: dict[str, Any], kind: str, *, having: str | None = None) -> str:
    found = [
        name
        for name, resource in resources.items()
        if resource.get("Type") == kind and (having is None or having in resource.get("Properties", {}))
    ]
    if len(found) != 1:
        raise TemplateError(f"expected one {kind}{f' with {having}' if having else ''}, found {found}")
    return found[0]


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """A plain value, or the Default of the Parameter it references."""
    name = _ref(value)
    if name is None:
        return value
    if name not in parameters or "Default" not in parameters[name]:
        raise TemplateError(f"{name} has no default in the template's Parameters")
    return parameters[name]["Default"]


def read_template_stack(path: Path = TEMPLATE_PATH) -> TemplateStack:
    template = load_template(path)
    resources: dict[str, Any] = template.get("Resources", {})
    parameters: dict[str, Any] = template.get("Parameters", {})

    queue = _resource_of_type(resources, "AWS::SQS::Queue", having="RedrivePolicy")
    queue_props = resources[queue]["Properties"]
    dead_letter_queue = _ref(queue_props["RedrivePolicy"]["deadLetterTargetArn"])
    if dead_letter_queue is None:
        raise TemplateError(f"{queue}'s RedrivePolicy names no dead-letter queue")

    poller = webhook = None
    batch_size = 10
    function_timeout: Any = 3
    env: dict[str, Any] = {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        for event in props.get("Events", {}).values():
            if event.get("Type") == "SQS" and _ref(event["Properties"].get("Queue")) == queue:
                poller = name
                batch_size = int(event["Properties"].get("BatchSize", 10))
                function_timeout = props.get("Timeout", function_timeout)
                env = props.get("Environment", {}).get("Variables", {})
            elif event.get("Type") == "HttpApi":
                webhook = name
    if poller is None or webhook is None:
        raise TemplateError("the template needs a function fed by the poll queue and one behind the HTTP API")

    def setting(variable: str) -> Any:
        if variable not in env:
            raise TemplateError(f"{poller} does not set {variable}")
        return _resolve(env[variable], parameters)

    settings = StackSettings(
        visibility_timeout=int(queue_props["VisibilityTimeout"]),
        max_receive_count=int(queue_props["RedrivePolicy"]["maxReceiveCount"]),
        batch_size=batch_size,
        function_timeout=float(function_timeout),
        export_prefix=str(setting("EXPORT_PREFIX")),
        poll_min_delay_seconds=int(setting("POLL_MIN_DELAY_SECONDS")),
        poll_max_delay_seconds=int(setting("POLL_MAX_DELAY_SECONDS")),
        poll_max_wait_seconds=int(setting("POLL_MAX_WAIT_SECONDS")),
        notify_on_success=str(setting("NOTIFY_ON_SUCCESS")).lower() == "true",
    )
    return TemplateStack(
        settings=settings,
        queue=queue,
        dead_letter_queue=dead_letter_queue,
        bucket=_resource_of_type(resources, "AWS::S3::Bucket", having="VersioningConfiguration"),
        topic=_resource_of_type(resources, "AWS::SNS::Topic"),
        table=_resource_of_type(resources, "AWS::DynamoDB::Table"),
        huawei_secret=_referenced(resources, poller, "HUAWEI_CREDENTIALS_SECRET_ID"),
        webhook_secret=_referenced(resources, webhook, "WEBHOOK_SECRET_ID"),
        poller=poller,
        webhook=webhook,
        handlers={
            name: (str(resources[name]["Properties"]["CodeUri"]), _handler_name(template, resources[name]))
            for name in (poller, webhook)
        },
    )


def _handler_name(template: dict[str, Any], resource: dict[str, Any]) -> str:
    handler = resource["Properties"].get("Handler") or template.get("Globals", {}).get("Function", {}).get("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError("a function has no Handler (module.function)")
    return handler


def _referenced(resources: dict[str, Any], function: str, variable: str) -> str:
    """The logical id a function's environment variable references."""
    variables = resources[function].get("Properties", {}).get("Environment", {}).get("Variables", {})
    name = _ref(variables.get(variable))
    if name is None or name not in resources:
        raise TemplateError(f"{function}'s {variable} references no resource")
    return name
