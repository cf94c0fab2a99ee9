"""`taskwatch local up`: the demo's stack kept running to try things by hand; `taskwatch local create-task`.

Everything runs in this one process (moto server, APIG emulator, webhook front, poller thread);
SIGINT or SIGTERM stops all of it and frees every port.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from taskwatch_local.apig_tasks import ApigRequestFailed, ApigTasks
from taskwatch_local.ci import DEFAULT_KEY_ENV
from taskwatch_local.demo import ORDERS_SWAGGER
from taskwatch_local.environment import LocalEnvironment, local_environment

EXIT_OK, EXIT_ERROR = 0, 2


def state_of(env: LocalEnvironment) -> dict[str, Any]:
    """What a script needs to use the running stack (every secret in it is a local throwaway)."""
    return {
        "pid": os.getpid(),
        "webhook_url": env.webhook_url,
        "webhook_key": env.stack.webhook_key,
        "aws_endpoint": env.aws_endpoint,
        "apig_endpoint": env.apig_url,
        "huaweicloud_sdk_ak": env.ak,
        "huaweicloud_sdk_sk": env.sk,
        "project_id": env.project_id,
        "instance_id": env.instance_id,
        "bucket": env.stack.bucket,
        "queue_url": env.stack.queue_url,
        "notifications_queue_url": env.stack.inbox_url,
        "region": "us-east-1",
    }


def instructions(state: dict[str, Any]) -> str:
    q = shlex.quote
    url, apig, aws = state["webhook_url"], state["apig_endpoint"], state["aws_endpoint"]
    ids = f"--project-id {state['project_id']} --instance-id {state['instance_id']}"
    aws_env = "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1"
    return f"""\
taskwatch local stack is up (Ctrl-C stops everything)

  webhook URL    {url}
  webhook key    {state["webhook_key"]}   (a local throwaway key)
  AWS endpoint   {aws}   (moto; credentials testing/testing, region us-east-1)
  APIG emulator  {apig}   (signed requests only; AK/SK below)
  bucket         {state["bucket"]}

Paste into another shell:

  export {DEFAULT_KEY_ENV}={q(state["webhook_key"])}
  export HUAWEICLOUD_SDK_AK={q(state["huaweicloud_sdk_ak"])} HUAWEICLOUD_SDK_SK={q(state["huaweicloud_sdk_sk"])}

  # an APIG task on the emulator (--type import for an import with one failing API)
  TASK=$(taskwatch local create-task --apig-url {apig} {ids} --type export)

  # watch it through the webhook, as CI does, and wait for its outcome
  taskwatch submit --url {url} {ids} --task-id "$TASK" --expected-type export_api
  taskwatch wait --url {url} --task-id "$TASK" --interval 1

  # the exports in the bucket
  {aws_env} aws --endpoint-url {aws} s3 ls s3://{state["bucket"]} --recursive
  {aws_env} python -c "import boto3; print([o['Key'] for o in boto3.client('s3', endpoint_url='{aws}')\
.list_objects_v2(Bucket='{state["bucket"]}').get('Contents', [])])"

  # the notifications (what a subscriber of the topic receives)
  {aws_env} aws --endpoint-url {aws} sqs receive-message --queue-url {state["notifications_queue_url"]} \
--max-number-of-messages 10

  # or watch a task directly, without AWS
  taskwatch watch --endpoint {apig} {ids} --task-id "$TASK" --min-delay 1 --max-delay 3
"""


def run_up(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with local_environment(waiting_seconds=args.waiting, processing_seconds=args.processing) as env:
            state = state_of(env)
            if args.state_file:
                path = Path(args.state_file)
                temporary = path.with_suffix(path.suffix + ".tmp")
                temporary.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
                temporary.replace(path)  # readers never see a half-written file
            out.write(instructions(state))
            out.flush()
            while not stop.wait(0.5):
                pass
            out.write("stopping...\n")
            out.flush()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out.write("stopped\n")
    out.flush()
    return EXIT_OK


def run_create_task(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    ak, sk = os.environ.get("HUAWEICLOUD_SDK_AK", ""), os.environ.get("HUAWEICLOUD_SDK_SK", "")
    if not (ak and sk):
        err.write("taskwatch: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (printed by `taskwatch local up`)\n")
        return EXIT_ERROR
    apig = ApigTasks(args.apig_url, ak, sk, args.project_id, args.instance_id)
    try:
        if args.type == "export":
            task_id = apig.start_export(args.group)
        else:
            swagger = Path(args.swagger).read_text(encoding="utf-8") if args.swagger else ORDERS_SWAGGER
            task_id = apig.start_import(swagger)
    except (ApigRequestFailed, OSError) as error:
        err.write(f"taskwatch: {error}\n")
        return EXIT_ERROR
    out.write(task_id + "\n")
    return EXIT_OK


def register(subcommands: Any) -> None:
    local = subcommands.add_parser("local", help="the local stack: keep it running, create APIG tasks on it")
    actions = local.add_subparsers(dest="local_command", required=True, metavar="ACTION")

    up = actions.add_parser(
        "up",
        help="start the local stack and keep it running until Ctrl-C",
        description="moto (AWS), the APIG emulator, the webhook and the poller, in this process.",
    )
    up.add_argument("--state-file", metavar="PATH", help="also write the URLs and keys to this JSON file")
    up.add_argument("--waiting", type=float, default=2.0, metavar="SECONDS", help="APIG tasks wait this long")
    up.add_argument("--processing", type=float, default=3.0, metavar="SECONDS", help="then process this long")
    up.set_defaults(run=run_up)

    create = actions.add_parser(
        "create-task",
        help="start an APIG import or export task on an APIG endpoint (prints its task id)",
        description="A signed POST async-export / async-import; AK/SK from HUAWEICLOUD_SDK_AK/SK.",
    )
    create.add_argument("--apig-url", required=True, help="the APIG endpoint (the emulator's URL)")
    create.add_argument("--project-id", required=True)
    create.add_argument("--instance-id", required=True)
    create.add_argument("--type", choices=("export", "import"), default="export")
    create.add_argument("--group", default="petstore", help="export: the API group id (default petstore)")
    create.add_argument("--swagger", metavar="FILE", help="import: the definition (default: a sample with /fail)")
    create.set_defaults(run=run_create_task)
