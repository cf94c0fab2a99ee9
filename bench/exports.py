"""4. Memory with large exports: the peak RSS of a fresh poller that stores a finished export of a given size."""

from __future__ import annotations

import uuid
from pathlib import Path

from bench.harness import (
    MB,
    ChildRun,
    Local,
    check_answer,
    child_env,
    new_stack,
    poll_body,
    queue_arn,
    run_child,
    sqs_event,
)


def swagger_of(size: int) -> str:
    head, tail = '{"swagger": "2.0", "info": {"title": "bench", "version": "1"}, "paths": {', "}}"
    parts, total, i = [head], len(head) + len(tail), 0
    while total < size:
        entry = (
            f'{"," if i else ""}"/pets/{i}": {{"get": {{"summary": "read pet {i}", '
            f'"responses": {{"200": {{"description": "ok"}}}}}}}}'
        )
        parts.append(entry)
        total += len(entry)
        i += 1
    parts.append(tail)
    return "".join(parts)


def bench_memory(local: Local, sizes_mb: list[int], repeats: int, workdir: Path) -> dict[int, list[ChildRun]]:
    from apig_emulator import ScriptedAnswer

    stack = new_stack(local)
    env = child_env(stack, local.apig.url)
    arn = queue_arn(stack)
    out: dict[int, list[ChildRun]] = {}
    for size_mb in [0, *sizes_mb]:
        text = swagger_of(max(size_mb * MB, 200))
        out[size_mb] = []
        for _ in range(repeats):
            task_id = f"mem{size_mb}x{uuid.uuid4().hex[:8]}"
            local.apig.script(task_id, [ScriptedAnswer.export_json(text)], task_type="export_api")
            run = run_child("poller", sqs_event(poll_body(task_id, expected_type="export_api"), arn), env, workdir)
            check_answer("poller", run.answer)
            out[size_mb].append(run)
            local.apig.script(task_id, [ScriptedAnswer.waiting()])  # let the emulator drop the large answer
    return out
