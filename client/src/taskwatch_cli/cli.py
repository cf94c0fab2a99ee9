"""`taskwatch`: start APIG async imports/exports from CI and wait for their outcome (docs/contract.md, "CLI").

    taskwatch export --project-id P --instance-id I --group-id G --env-id E [--url URL | --direct] ...
    taskwatch import FILE --project-id P --instance-id I (--group-id G | --create-group) [--url URL | --direct] ...
    taskwatch submit --url URL --project-id P --instance-id I --task-id T [--wait] ...
    taskwatch wait   --url URL --task-id T [--timeout S] [--interval S] [--not-found-grace S]
    taskwatch status --url URL --task-id T
    taskwatch watch  --project-id P --instance-id I --task-id T     (an existing task, watched directly)

stdout carries exactly one JSON document on every exit path; everything else goes to stderr. Exit
codes: 0 succeeded, 1 any other outcome, 2 usage/configuration/authentication/HTTP error, 3 still
running when --timeout ran out. Other installed packages add commands through the entry point group
`taskwatch.commands` (a `register(subcommands)` function); the project's dev install adds `demo` and
`local`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from taskwatch_cli import __version__
from taskwatch_cli.console import Console
from taskwatch_cli.errors import EXIT_SUCCEEDED, CliError
from taskwatch_cli.report import Ending, error_ending, finish

if TYPE_CHECKING:
    from taskwatch_cli.apig import StartRequest
    from taskwatch_cli.webhook import WebhookClient

ENTRY_POINT_GROUP = "taskwatch.commands"
TASK_TYPES = ("import_api", "export_api")
DEFAULT_KEY_ENV = "TASKWATCH_WEBHOOK_KEY"
DEFAULT_AUDIENCE = "apig-taskwatch"
DEFINES = ("spec", "proxy", "all", "dev")
BUILTIN_COMMANDS = ("export", "import", "submit", "wait", "status", "watch")


class UsageError(Exception):
    """argparse found the command line wrong."""


class Parser(argparse.ArgumentParser):
    """Usage errors end like every other error: one line on stderr, a JSON document on stdout, exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


@dataclass
class Context:
    env: Mapping[str, str]
    console: Console
    out: TextIO


Command = Callable[[argparse.Namespace, Context], Ending]


# --- argument types ----------------------------------------------------------------------------------


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 10**7:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _whole_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _source(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a JSON object") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


# --- options shared by several commands ----------------------------------------------------------------


def _output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--output", metavar="FILE", help="also write the JSON document printed on stdout to FILE")
    group.add_argument("--junit", metavar="FILE", help="write a JUnit XML report (one test case per API of an import)")


def _webhook_options(parser: argparse.ArgumentParser, *, url_required: bool) -> None:
    group = parser.add_argument_group("the webhook (apig-taskwatch)")
    group.add_argument(
        "--url",
        required=url_required,
        metavar="WEBHOOK_URL",
        help="the webhook's base URL (the stack's WebhookUrl output)"
        + ("" if url_required else ": hand the task to the service and wait for its outcome"),
    )
    group.add_argument(
        "--key-env",
        default=DEFAULT_KEY_ENV,
        metavar="NAME",
        help=f"environment variable holding the shared webhook key (default {DEFAULT_KEY_ENV})",
    )
    group.add_argument(
        "--oidc-token-env",
        metavar="NAME",
        help="environment variable holding a CI OIDC token (GitLab `id_tokens:`); used for the first request",
    )
    group.add_argument(
        "--audience",
        default=DEFAULT_AUDIENCE,
        help=f"audience of the GitHub Actions OIDC token requested from the runner (default {DEFAULT_AUDIENCE})",
    )


def _wait_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("waiting")
    group.add_argument(
        "--timeout", type=_seconds, default=3600.0, metavar="S", help="stop waiting after S seconds, exit 3 (3600)"
    )
    group.add_argument(
        "--interval", type=_seconds, default=5.0, metavar="S", help="read the status every S seconds (5)"
    )
    group.add_argument(
        "--not-found-grace",
        type=_seconds,
        default=60.0,
        metavar="S",
        help="a task the status API has not heard of for S seconds ends the wait with exit 2 (60)",
    )


def _watch_fields(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the watch")
    group.add_argument("--max-wait", type=int, metavar="S", help="the service's deadline for the task (1..604800)")
    group.add_argument("--source", type=_source, metavar="JSON", help="CI context, a JSON object echoed in the record")
    group.add_argument("--callback-url", metavar="URL", help="where the service POSTs the outcome (https)")


def _apig_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("APIG")
    group.add_argument("--project-id", required=True)
    group.add_argument("--instance-id", required=True)
    group.add_argument("--region", help="Huawei Cloud region of the instance (default cn-north-4)")
    group.add_argument(
        "--endpoint",
        metavar="URL",
        help="APIG endpoint (default $APIG_ENDPOINT, else https://apig.{region}.myhuaweicloud.com)",
    )


def _direct_options(parser: argparse.ArgumentParser, *, with_switch: bool) -> None:
    group = parser.add_argument_group("watching directly")
    if with_switch:
        group.add_argument("--direct", action="store_true", help="watch APIG from this process (no webhook)")
    group.add_argument("--out", metavar="FILE", help="where a succeeded export is written (default: its name, here)")
    group.add_argument("--min-delay", type=_whole_seconds, default=5, metavar="S", help="first re-poll delay (5)")
    group.add_argument("--max-delay", type=_whole_seconds, default=300, metavar="S", help="largest re-poll delay (300)")


# --- commands ------------------------------------------------------------------------------------------


def _client(args: argparse.Namespace, ctx: Context) -> WebhookClient:
    from taskwatch_cli.auth import from_environment
    from taskwatch_cli.webhook import WebhookClient

    credentials = from_environment(
        ctx.env,
        key_env=args.key_env,
        oidc_token_env=args.oidc_token_env,
        audience=args.audience,
        say=ctx.console.say,
    )
    return WebhookClient(args.url, credentials=credentials, say=ctx.console.say)


def _message(args: argparse.Namespace, task_id: str, expected_type: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"project_id": args.project_id, "instance_id": args.instance_id, "task_id": task_id}
    optional = {
        "region": args.region,
        "expected_type": expected_type,
        "max_wait_seconds": args.max_wait,
        "source": args.source,
        "callback_url": args.callback_url,
        "group_id": getattr(args, "group_id", None) if expected_type == "export_api" else None,
        "env_id": getattr(args, "env_id", None) if expected_type == "export_api" else None,
    }
    message.update({name: value for name, value in optional.items() if value is not None})
    return message


def _hand_over(args: argparse.Namespace, ctx: Context, message: dict[str, Any], *, wait: bool) -> Ending:
    """POST the watch; then wait for its outcome, or end with the webhook's answer."""
    from taskwatch_cli.waiting import wait_for_task
    from taskwatch_cli.webhook import describe, refused

    client = _client(args, ctx)
    task_id = message["task_id"]
    answer = client.submit(message)
    if answer.status == 401:
        raise refused(answer, client.credentials)
    if answer.status not in (200, 202) or not isinstance(answer.body, dict) or "status_url" not in answer.body:
        raise CliError(f"the webhook refused the watch of task {task_id}: {describe(answer)}", task_id=task_id)
    status_url = str(answer.body["status_url"])
    ctx.console.say(f"task {task_id}: watched by the service ({answer.body.get('status')}), status at {status_url}")
    if not wait:
        return Ending(EXIT_SUCCEEDED, answer.body, status_url=status_url)
    code, record = wait_for_task(
        client,
        task_id,
        console=ctx.console,
        timeout=args.timeout,
        interval=args.interval,
        not_found_grace=args.not_found_grace,
    )
    return Ending(code, record, status_url=status_url)


def run_submit(args: argparse.Namespace, ctx: Context) -> Ending:
    return _hand_over(args, ctx, _message(args, args.task_id, args.expected_type), wait=args.wait)


def run_wait(args: argparse.Namespace, ctx: Context) -> Ending:
    from taskwatch_cli.waiting import wait_for_task

    client = _client(args, ctx)
    code, record = wait_for_task(
        client,
        args.task_id,
        console=ctx.console,
        timeout=args.timeout,
        interval=args.interval,
        not_found_grace=args.not_found_grace,
    )
    return Ending(code, record, status_url=client.status_url(args.task_id))


def run_status(args: argparse.Namespace, ctx: Context) -> Ending:
    from taskwatch_cli.waiting import read_status

    client = _client(args, ctx)
    code, record = read_status(client, args.task_id, console=ctx.console)
    return Ending(code, record, status_url=client.status_url(args.task_id))


def _start(args: argparse.Namespace, ctx: Context, request: StartRequest) -> Ending:
    """Start the task on APIG, then hand it over (--url), watch it (--direct), or end with its id."""
    from taskwatch_cli.apig import DEFAULT_REGION, ApigStarter, endpoint_for, huawei_credentials

    if args.url is not None and args.direct:
        raise UsageError(f"taskwatch {args.command}: give --url or --direct, not both")
    region = args.region or DEFAULT_REGION
    endpoint = args.endpoint or ctx.env.get("APIG_ENDPOINT") or endpoint_for(region)
    starter = ApigStarter(endpoint, huawei_credentials(ctx.env), args.project_id, args.instance_id, say=ctx.console.say)
    if args.url is not None:
        _client(args, ctx)  # the webhook's credentials are checked before APIG starts anything
    task_id = starter.start(request)
    ctx.console.say(f"APIG {request.operation} started: task {task_id}")
    if args.url is not None:
        return _hand_over(args, ctx, _message(args, task_id, request.task_type), wait=True)
    if args.direct:
        return _direct(args, ctx, task_id, request.task_type, endpoint=endpoint, region=region)
    return Ending(EXIT_SUCCEEDED, {"task_id": task_id})


def _direct(
    args: argparse.Namespace, ctx: Context, task_id: str, expected_type: str | None, *, endpoint: str, region: str
) -> Ending:
    from taskwatch.domain.model import PollMessage
    from taskwatch_cli.direct import run_direct

    message = PollMessage(
        project_id=args.project_id,
        instance_id=args.instance_id,
        task_id=task_id,
        region=args.region,
        expected_type=expected_type,
        max_wait_seconds=max(1, int(args.timeout)),
    )
    return run_direct(
        message,
        endpoint=endpoint,
        region=region,
        env=ctx.env,
        console=ctx.console,
        min_delay=args.min_delay,
        max_delay=args.max_delay,
        out=args.out,
    )


def run_import(args: argparse.Namespace, ctx: Context) -> Ending:
    from taskwatch_cli.apig import import_request

    if args.create_group == (args.group_id is not None):
        raise UsageError("taskwatch import: give exactly one of --group-id G and --create-group")
    path = Path(args.file)
    try:
        document = path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error.strerror}") from None
    request = import_request(
        args.project_id,
        args.instance_id,
        document,
        file_name=path.name,
        group_id=args.group_id,
        create_group=args.create_group,
        extend_mode=args.extend_mode,
        api_mode=args.api_mode,
        simple_mode=True if args.simple_mode else None,
        mock_mode=True if args.mock_mode else None,
    )
    return _start(args, ctx, request)


def run_export(args: argparse.Namespace, ctx: Context) -> Ending:
    from taskwatch_cli.apig import export_request

    request = export_request(
        args.project_id,
        args.instance_id,
        env_id=args.env_id,
        group_id=args.group_id,
        define=args.define,
        file_type=args.type,
        version=args.version,
        apis=args.api,
        oas_version=args.oas_version,
    )
    return _start(args, ctx, request)


def run_watch(args: argparse.Namespace, ctx: Context) -> Ending:
    from taskwatch_cli.apig import DEFAULT_REGION, endpoint_for

    region = args.region or DEFAULT_REGION
    endpoint = args.endpoint or ctx.env.get("APIG_ENDPOINT") or endpoint_for(region)
    return _direct(args, ctx, args.task_id, args.expected_type, endpoint=endpoint, region=region)


# --- the parser --------------------------------------------------------------------------------------


def _register_builtin(subcommands: Any) -> None:
    _register_export(subcommands)
    _register_import(subcommands)
    _register_webhook_commands(subcommands)
    _register_watch(subcommands)


def _register_export(subcommands: Any) -> None:
    export = subcommands.add_parser(
        "export",
        help="start an APIG async export (then --url: the service watches it; --direct: this process does)",
        description='POST .../openapi/async-export; without --url or --direct, print {"task_id": ...} and exit 0.',
    )
    _apig_options(export)
    group = export.add_argument_group("the export")
    group.add_argument("--group-id", required=True, help="the API group to export")
    group.add_argument("--env-id", required=True, help="the environment whose published APIs are exported")
    group.add_argument("--define", choices=DEFINES, help="what to export (APIG's default: spec)")
    group.add_argument("--type", choices=("json", "yaml"), help="the document's format (APIG's default: json)")
    group.add_argument("--oas-version", choices=("2.0", "3.0"), help="OpenAPI version (APIG's default: 2.0)")
    group.add_argument("--version", help="the version written into the document (APIG's default: the time)")
    group.add_argument("--api", action="append", metavar="API_ID", help="export only this API (repeatable)")
    _modes(export)
    export.set_defaults(end=run_export)


def _register_import(subcommands: Any) -> None:
    imp = subcommands.add_parser(
        "import",
        help="start an APIG async import of FILE (then --url or --direct, as for export)",
        description='POST .../openapi/async-import; without --url or --direct, print {"task_id": ...} and exit 0.',
    )
    imp.add_argument("file", metavar="FILE", help="the OpenAPI/Swagger document (json or yaml)")
    _apig_options(imp)
    group = imp.add_argument_group("the import")
    group.add_argument("--group-id", help="import into this API group")
    group.add_argument("--create-group", action="store_true", help="import into a new API group")
    group.add_argument("--extend-mode", choices=("merge", "override"), help="extension definitions in conflict")
    group.add_argument("--api-mode", choices=("merge", "override"), help="API definitions in conflict")
    group.add_argument("--simple-mode", action="store_true", help="APIG's simple import mode")
    group.add_argument("--mock-mode", action="store_true", help="import with mock backends")
    _modes(imp)
    imp.set_defaults(end=run_import)


def _register_webhook_commands(subcommands: Any) -> None:
    submit = subcommands.add_parser(
        "submit",
        help="hand an APIG task to the service (prints the webhook's answer; --wait: the final record)",
        description="POST a watch to the webhook; with --wait, then wait as `taskwatch wait` does.",
    )
    _webhook_options(submit, url_required=True)
    group = submit.add_argument_group("the task")
    group.add_argument("--project-id", required=True)
    group.add_argument("--instance-id", required=True)
    group.add_argument("--task-id", required=True)
    group.add_argument("--expected-type", choices=TASK_TYPES, help="fail the watch if the task is of another type")
    group.add_argument("--region", help="Huawei Cloud region of the instance (default: the stack's)")
    _watch_fields(submit)
    submit.add_argument("--wait", action="store_true", help="then wait for the outcome")
    _wait_options(submit)
    _output_options(submit)
    submit.set_defaults(end=run_submit)

    wait = subcommands.add_parser(
        "wait",
        help="wait for a watched task's outcome (exit 0 only when it succeeded)",
        description="Read the task's status until it ends; print its record.",
    )
    _webhook_options(wait, url_required=True)
    wait.add_argument("--task-id", required=True)
    _wait_options(wait)
    _output_options(wait)
    wait.set_defaults(end=run_wait)

    status = subcommands.add_parser(
        "status",
        help="read a watched task's record once (exit 0 succeeded, 1 other outcome, 3 still running)",
        description="GET /tasks/{task_id} once and print the record.",
    )
    _webhook_options(status, url_required=True)
    status.add_argument("--task-id", required=True)
    _output_options(status)
    status.set_defaults(end=run_status)


def _register_watch(subcommands: Any) -> None:
    watch = subcommands.add_parser(
        "watch",
        help="watch an existing APIG task directly from this process (HUAWEICLOUD_SDK_AK/SK, no AWS)",
        description="Poll one task with the poller's policy until it ends.",
    )
    _apig_options(watch)
    watch.add_argument("--task-id", required=True)
    watch.add_argument("--expected-type", choices=TASK_TYPES)
    watch.add_argument(
        "--timeout", "--max-wait", dest="timeout", type=_seconds, default=3600.0, metavar="S", help="give up after S"
    )
    _direct_options(watch, with_switch=False)
    _output_options(watch)
    watch.set_defaults(end=run_watch)


def _modes(parser: argparse.ArgumentParser) -> None:
    """--url / --direct and everything either needs, for import and export."""
    _webhook_options(parser, url_required=False)
    _watch_fields(parser)
    _direct_options(parser, with_switch=True)
    _wait_options(parser)
    _output_options(parser)


def _plugin_registrars(modules: Sequence[str], *, plugins: bool) -> list[Callable[[Any], None]]:
    import importlib

    registrars = [importlib.import_module(name).register for name in modules]
    if plugins:
        from importlib.metadata import entry_points

        for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                registrars.append(entry.load())
            except Exception as error:  # a broken plugin must not take the client's own commands down
                sys.stderr.write(f"taskwatch: the {entry.name!r} commands are unavailable: {error}\n")
    return registrars


def build_parser(modules: Sequence[str] = (), *, plugins: bool = True) -> argparse.ArgumentParser:
    parser = Parser(
        prog="taskwatch",
        description="Start Huawei Cloud APIG async imports/exports and wait for their outcome.",
        epilog="Exit codes: 0 succeeded, 1 any other outcome, 2 usage/configuration/authentication/HTTP error, "
        "3 still running when --timeout ran out. stdout is one JSON document; progress goes to stderr.",
    )
    parser.add_argument("--version", action="version", version=f"taskwatch-cli {__version__}")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    _register_builtin(subcommands)
    for register in _plugin_registrars(modules, plugins=plugins):
        register(subcommands)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    modules: Sequence[str] = (),
    plugins: bool = True,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    out, err = out or sys.stdout, err or sys.stderr
    console = Console(err)
    # The client's own commands do not need the plugins (which may import much more).
    load_plugins = plugins and not (argv and argv[0] in BUILTIN_COMMANDS)
    args: argparse.Namespace | None = None
    try:
        args = build_parser(modules, plugins=load_plugins).parse_args(argv)
        end: Command | None = getattr(args, "end", None)
        if end is None:  # a plugin's command: its own output and exit code
            run: Callable[[argparse.Namespace], int] = args.run
            return run(args)
        ending = end(args, Context(env, console, out))
    except UsageError as error:
        console.error(str(error))
        return finish(error_ending(str(error)), out=out, console=console, env=env)
    except CliError as error:
        console.error(str(error))
        ending = error_ending(str(error), error.task_id)
    except KeyboardInterrupt:
        console.error("interrupted")
        finish(error_ending("interrupted"), out=out, console=console, env=env)
        return 130
    except Exception as error:
        if env.get("TASKWATCH_DEBUG"):
            raise
        message = f"internal error: {type(error).__name__}: {error} (TASKWATCH_DEBUG=1 shows the traceback)"
        console.error(message)
        ending = error_ending(message)
    return finish(
        ending,
        out=out,
        console=console,
        env=env,
        output_file=getattr(args, "output", None),
        junit_file=getattr(args, "junit", None),
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
