"""BENCHMARKS.md: the benchmarks' results rendered as Markdown, one function per section; the goals each
section judges also go into the closing summary."""

from __future__ import annotations

import math
import os
import platform
from collections import Counter
from dataclasses import dataclass, field

from bench.child_probe import ProbeRun
from bench.client import ClientSize, client_lines
from bench.coldstart import ColdStart
from bench.costs import Costs, TaskCost, WebhookCall, stack_inventory
from bench.drift import DriftSize, drift_section, drift_summary
from bench.harness import ChildRun
from bench.hostile import hostile_section, hostile_summary
from bench.layer import PackageSize
from bench.prices import (
    ACCESS_LOG_BYTES,
    ALARM_PER_METRIC_MONTH,
    ASSUMED_APIG_RTT,
    CUSTOM_METRIC_PER_MONTH,
    DASHBOARD_PER_MONTH,
    DDB_PER_RRU,
    DDB_PER_WRU,
    ESM_IDLE_POLLERS,
    HTTP_API_PER_REQUEST,
    KMS_PER_KEY_MONTH,
    KMS_PER_REQUEST,
    LAMBDA_MEMORY_GB,
    LAMBDA_PER_GB_SECOND_ARM,
    LAMBDA_PER_REQUEST,
    PLATFORM_LOG_BYTES,
    PRICES_SOURCE,
    S3_PER_PUT,
    SECONDS_PER_MONTH,
    SECRET_PER_MONTH,
    SFN_PER_TRANSITION,
    SFN_TRANSITIONS_PER_POLL,
    SNS_PER_PUBLISH,
    SQS_PER_REQUEST,
    WEBHOOK_MEMORY_GB,
    XRAY_PER_TRACE,
    lambda_price,
    logs_price,
    price_of,
)
from bench.simulate import BucketStats, Scale, calls_for, policy_schedule
from bench.stats import median


@dataclass
class Results:
    smoke: bool
    command: str
    started: str
    elapsed_s: float = 0.0
    cold: ColdStart | None = None
    costs: Costs | None = None
    schedule: dict[str, list[BucketStats]] = field(default_factory=dict)
    calls_60min: dict[str, float] = field(default_factory=dict)
    memory: dict[int, list[ChildRun]] = field(default_factory=dict)
    scale: Scale | None = None
    scale_sweep: dict[int, Scale] = field(default_factory=dict)
    scale_service_s: float = ASSUMED_APIG_RTT
    package: PackageSize | None = None
    client: ClientSize | None = None
    hostile: dict[str, list[ProbeRun]] = field(default_factory=dict)
    drift: dict[int, DriftSize] = field(default_factory=dict)
    plot_path: str = ""


@dataclass
class Section:
    lines: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)  # one line per goal, for the closing summary


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def fmt_calls(calls: Counter[tuple[str, str, str]]) -> str:
    return ", ".join(f"{service}.{op} x{n}" for (_, service, op), n in sorted(calls.items()) if n) or "none"


def by_api(calls: Counter[tuple[str, str, str]], caller: str | None = None) -> Counter[tuple[str, str, str]]:
    merged: Counter[tuple[str, str, str]] = Counter()
    for (who, service, op), n in calls.items():
        if caller is None or who == caller:
            merged[("", service, op)] += n
    return merged


def report(r: Results) -> str:
    sections = [Section(header(r))]
    if r.cold:
        sections.append(cold_start_section(r.cold))
    if r.costs:
        sections.append(costs_section(r.costs))
    if r.schedule:
        sections.append(schedule_section(r.schedule, r.calls_60min, r.plot_path))
    if r.memory:
        sections.append(memory_section(r.memory))
    if r.scale:
        local_poll_s = r.costs.steady_duration_s if r.costs else math.nan
        sections.append(scale_section(r.scale, r.scale_sweep, r.scale_service_s, local_poll_s))
    if r.package:
        sections.append(package_section(r.package))
    if r.costs:
        sections.append(operating_cost_section(r.costs))
    if r.client:
        sections.append(Section(*client_lines(r.client)))
    if r.hostile:
        sections.append(Section(hostile_section(r.hostile), [hostile_summary(r.hostile)]))
    if r.drift:
        poller_baseline = median([x.rss_mb for x in r.memory[0]]) if r.memory.get(0) else None
        sections.append(Section(drift_section(r.drift, poller_baseline), [drift_summary(r.drift)]))
    sections.append(Section(code_changes(r.cold)))
    sections.append(Section(summary([item for section in sections for item in section.summary])))
    return "\n".join(line for section in sections for line in section.lines)


def header(r: Results) -> list[str]:
    return [
        "# Benchmarks" + (" (smoke run: small samples, not for quoting)" if r.smoke else ""),
        "",
        f"- command: `{r.command}` (took {r.elapsed_s:.0f} s)",
        f"- date: {r.started}",
        f"- machine: `{platform.machine()}`, {os.cpu_count()} CPUs, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}",
        "- machines are shared and noisy: figures are medians, and every ratio compares runs made side by side "
        "in the same run, interleaved.",
        "- local emulators: moto server (SQS, S3, SNS, DynamoDB, Secrets Manager) and the project's APIG emulator, "
        "both on 127.0.0.1, started once by the bench; network latency to real AWS/Huawei is not in these numbers.",
        "",
    ]


def cold_start_section(cold: ColdStart) -> Section:
    section = Section()
    add = section.lines.append
    add("## 1. Cold start")
    add("")
    n = len(next(iter(cold.runs.values())))
    add(
        f"Fresh interpreter per run (median of {n}, after one uncounted warm-up round; handlers interleaved): "
        "import the handler file and handle one first event against the local stack. Every run is Lambda-like: "
        "`python -S` (no site-packages) on PYTHONPATH alone, the handlers on the common layer built by "
        "`layers/common/Makefile` (the deployed arm64 artifact: everything the handlers import from it is pure "
        "Python) plus the runtime's own packages (boto3 and its tree, from this venv), the anchor on its own "
        "dependencies (Powertools and pydantic copied from this venv); no bytecode is written, and none is "
        "shipped for the layer or the anchor's packages, so both compile their sources at every start, as "
        "on Lambda (/opt is read-only). *Process* is the "
        "wall time from spawn to exit, *peak RSS* the child's own high-water mark (`VmHWM` in "
        "/proc/self/status, read just before exit; `ru_maxrss` from wait4 would carry the bench's own RSS, "
        "which Linux keeps across fork + exec). The poller's event is "
        "one SQS record for a running task (a steady first poll: secret read, claim write, signed APIG GET, "
        "re-enqueue); the webhook's a signed `POST /tasks`; the anchor is `bench/anchor.py`, a "
        "minimal Powertools `BatchProcessor(event_type=SQS, model=SqsRecordModel subclass with a pydantic "
        "Json body)` + `process_partial_response` handling the same SQS event (parsing only, no AWS calls)."
    )
    add("")
    add("| handler | process (ms) | import (ms) | first event (ms) | peak RSS (MB) | process / anchor | RSS / anchor |")
    add("|---|---|---|---|---|---|---|")
    anchor = cold.runs["anchor"]
    a_wall, a_rss = median([x.wall_s for x in anchor]), median([x.rss_mb for x in anchor])
    for kind, runs in cold.runs.items():
        wall, rss = median([x.wall_s for x in runs]), median([x.rss_mb for x in runs])
        add(
            f"| {kind} | {wall * 1000:.0f} | {median([x.import_s for x in runs]) * 1000:.0f} | "
            f"{median([x.handle_s for x in runs]) * 1000:.0f} | {rss:.1f} | {wall / a_wall:.2f} | "
            f"{rss / a_rss:.2f} |"
        )
    poller = cold.runs["poller"]
    ratio = median([x.wall_s for x in poller]) / a_wall
    per_pair = median([x.wall_s / y.wall_s for x, y in zip(poller, anchor, strict=False)])
    import_ratio = median([x.import_s for x in poller]) / median([x.import_s for x in anchor])
    add("")
    add(
        f"Poller / anchor process time (import + first event): **{ratio:.2f}** (median of per-round ratios: "
        f"{per_pair:.2f}); goal <= 1.5: {verdict(ratio <= 1.5)}."
    )
    add(
        f"Import alone: poller / anchor = **{import_ratio:.2f}**; goal <= 1.0: {verdict(import_ratio <= 1.0)}. "
        "The poller imports no X-Ray SDK any more (Powertools' Tracer is gone from both handlers; "
        "`Tracing: Active` still has Lambda record every invocation), and its layer no longer carries "
        "huaweicloudsdkcore's unused dependencies. What it imports beyond the anchor is its job: boto3 "
        "(three clients on the first event) and the Huawei SDK's Signer (taskwatch signs with it directly: "
        "the SDK's credentials module would import its IAM clients and requests, about 110 ms); the drift "
        "engine and PyYAML load only when an export drifts. The first event makes four network calls the anchor "
        "does not make."
    )
    auth = next((c for c, _, name in cold.profile if name.strip() == "huaweicloudsdkcore.auth.internal"), 0) / 1000
    if auth:
        add(
            f"The lever left is in `taskwatch/adapters/apig.py`: it signs through `BasicCredentials`, whose module "
            f"imports `huaweicloudsdkcore.auth.internal` and with it requests ({auth:.0f} ms cumulative in the "
            "profile below), although signing only needs `huaweicloudsdkcore.signer.signer.Signer` (plus the "
            "`X-Project-Id` and `X-Security-Token` headers BasicCredentials adds). Signing with `Signer` directly "
            "would take that off the import and let the layer drop requests, idna, certifi and charset-normalizer."
        )
    section.summary.append(
        f"cold start poller/anchor = {ratio:.2f} (goal <= 1.5: {verdict(ratio <= 1.5)}); import only "
        f"{import_ratio:.2f} (goal <= 1.0: {verdict(import_ratio <= 1.0)})"
    )
    add("")
    add(
        "Import-time profile of the poller (`python -X importtime`, top 10 by cumulative time, one run; "
        "nested modules are included in their parents' cumulative figure):"
    )
    add("")
    add("| cumulative (ms) | self (ms) | module |")
    add("|---|---|---|")
    for cumulative, self_us, name in cold.profile:
        add(f"| {cumulative / 1000:.1f} | {self_us / 1000:.1f} | `{name.strip()}` |")
    add("")
    return section


def costs_section(c: Costs) -> Section:
    section = Section()
    add = section.lines.append
    add("## 2. Cost per poll and per task")
    add("")
    add(
        "AWS requests counted with `client.meta.events.register('before-call.*.*', ...)` on the handler's own "
        "boto3 clients (*function*) and on the SQS client of the event-source stand-in (*event source*: "
        "Lambda's SQS poller, whose ReceiveMessage/DeleteMessageBatch calls are billed to the account too). "
        "Delays were set to 0 s so a chain runs in seconds; the requests per poll do not depend on the delay."
    )
    add("")
    add(
        f"Prices ({PRICES_SOURCE}): SQS "
        f"${SQS_PER_REQUEST * 1e6:.2f}/M requests (per 64 KB chunk); Lambda ${LAMBDA_PER_REQUEST * 1e6:.2f}/M "
        f"requests + ${LAMBDA_PER_GB_SECOND_ARM}/GB-s (arm64) at {LAMBDA_MEMORY_GB * 1024:.0f} MB; DynamoDB "
        f"on-demand ${DDB_PER_WRU * 1e6:.3f}/M WRU (1 WRU per KB of item), ${DDB_PER_RRU * 1e6:.3f}/M RRU; "
        f"S3 PUT ${S3_PER_PUT * 1000:.3f}/1000; SNS ${SNS_PER_PUBLISH * 1e6:.2f}/M publishes; Secrets Manager "
        "$0.05/10,000 calls; Step Functions Standard $0.025/1000 state transitions."
    )
    add("")
    add("**One steady poll** (a running task, not the first poll of the environment):")
    add("")
    function_calls = by_api(c.steady)
    add(f"- function: {fmt_calls(function_calls)}")
    add(
        "- event source, per poll: sqs.ReceiveMessage x1 + sqs.DeleteMessageBatch x1 (delayed messages "
        "arrive one by one, so a batch usually holds one record; larger batches only lower this)"
    )
    add(f"- task record: {c.item_kb} KB -> {c.item_kb} WRU per conditional write")
    esm: Counter[tuple[str, str, str]] = Counter(
        {("", "sqs", "ReceiveMessage"): 1, ("", "sqs", "DeleteMessageBatch"): 1}
    )
    aws_dollars = price_of(function_calls + esm, c.item_kb)
    measured = lambda_price(1, c.steady_duration_s)
    with_rtt = lambda_price(1, c.steady_duration_s + ASSUMED_APIG_RTT)
    sfn = SFN_TRANSITIONS_PER_POLL * SFN_PER_TRANSITION
    add("")
    add(
        "| $ per million polls | measured local duration "
        f"({c.steady_duration_s * 1000:.0f} ms) | + {ASSUMED_APIG_RTT * 1000:.0f} ms assumed APIG round trip |"
    )
    add("|---|---|---|")
    for service, dollars in sorted(aws_dollars.items()):
        add(f"| {service} | {dollars * 1e6:.2f} | {dollars * 1e6:.2f} |")
    add(f"| Lambda (request + GB-s) | {measured * 1e6:.2f} | {with_rtt * 1e6:.2f} |")
    ours, ours_rtt = sum(aws_dollars.values()) + measured, sum(aws_dollars.values()) + with_rtt
    add(f"| **total** | **{ours * 1e6:.2f}** | **{ours_rtt * 1e6:.2f}** |")
    add(
        f"| Step Functions Standard job poller ({SFN_TRANSITIONS_PER_POLL} transitions/poll, transitions only) "
        f"| {sfn * 1e6:.2f} | {sfn * 1e6:.2f} |"
    )
    add(f"| ratio Step Functions / ours | {sfn / ours:.1f}x | {sfn / ours_rtt:.1f}x |")
    goal = ours_rtt <= sfn / 20
    add("")
    add(
        f"Goal <= 1/20 of Step Functions per poll (${sfn / 20 * 1e6:.2f}/M): {verdict(goal)} with the assumed "
        f"APIG round trip (${ours_rtt * 1e6:.2f}/M), {verdict(ours <= sfn / 20)} at the local duration "
        f"(${ours * 1e6:.2f}/M). The Lambda duration is the lever: every 100 ms more of APIG latency adds "
        f"${lambda_price(0, 0.1) * 1e6:.2f}/M; SQS (3 requests) and the claim write are fixed."
    )
    section.summary.append(
        f"cost per poll ${ours_rtt * 1e6:.2f}/M (with {ASSUMED_APIG_RTT * 1000:.0f} ms APIG) vs "
        f"Step Functions ${sfn * 1e6:.0f}/M = 1/{sfn / ours_rtt:.0f} (goal <= 1/20: {verdict(goal)})"
    )
    add("")
    add("**Whole tasks** (measured end to end through the event-source stand-in):")
    add("")
    add(
        "| task | APIG polls | Lambda invocations | function requests | event-source requests | notifications "
        "| $ per million tasks (+ APIG RTT) |"
    )
    add("|---|---|---|---|---|---|---|")
    for task in c.tasks:
        fn = by_api(task.total, "function")
        es = by_api(task.total, "event source")
        seconds = sum(task.durations) + ASSUMED_APIG_RTT * task.polls
        dollars = sum(price_of(fn + es, task.item_kb).values()) + lambda_price(len(task.invocations), seconds)
        add(
            f"| {task.name} | {task.polls} | {len(task.invocations)} | {fmt_calls(fn)} | {fmt_calls(es)} | "
            f"{task.notifications} | {dollars * 1e6:.2f} |"
        )
    add("")
    add(
        "The first poll of a fresh execution environment also reads the Huawei secret "
        "(secretsmanager.GetSecretValue, cached while warm). Lambda's SQS poller also long-polls an empty "
        "queue: about 5 ReceiveMessage calls per 20 s while idle (~0.65 M requests, ~$0.26 a month), a "
        "fixed cost independent of the number of polls."
    )
    add("")
    return section


def schedule_section(schedule: dict[str, list[BucketStats]], calls_60min: dict[str, float], plot_path: str) -> Section:
    section = Section()
    add = section.lines.append
    add("## 3. Poll-schedule efficiency (virtual time)")
    add("")
    n = sum(b.n for b in next(iter(schedule.values())))
    add(
        f"{n} task durations, log-uniform between 5 s and 60 min (seeded); the first poll is at 0 (the watch "
        "starts with the task), then each policy's delays; a task is *detected* by the first poll at or after "
        "it finishes. *Lag* = detection time - finish time; *share* = lag / duration; *calls* = APIG GETs for "
        "the task. PollPolicy uses the defaults (min 5 s, max 300 s) with max_wait 7200 s so 60-min tasks "
        "fit, and its own jitter (seeded). No sleeping: `PollPolicy.delay_within_deadline` is called directly."
    )
    add("")
    add(
        "| duration bucket (s) | n | policy | lag p50 (s) | lag p95 (s) | share p50 | share p95 | calls mean "
        "| p95 of lag / max(10 s, 10 %) | goal |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|")
    policy_name = next(iter(schedule))
    all_met = True
    for index in range(len(schedule[policy_name])):
        for name, buckets in schedule.items():
            b = buckets[index]
            ok = b.bound_p95 <= 1.0
            if name == policy_name:
                all_met = all_met and ok
            add(
                f"| {b.low:.0f}-{b.high:.0f} | {b.n} | {name} | {b.lag_p50:.1f} | {b.lag_p95:.1f} | "
                f"{b.share_p50:.1%} | {b.share_p95:.1%} | {b.calls_mean:.1f} | {b.bound_p95:.2f} | "
                f"{'yes' if ok else 'no'} |"
            )
    add("")
    add(
        "The goal is read per task: each task's lag is divided by its own bound max(10 s, 10 % of its "
        "duration), and the bucket meets the goal when the 95th percentile of that ratio is <= 1."
    )
    add("")
    policy_calls, fixed30 = calls_60min[policy_name], calls_60min["fixed 30 s"]
    listed = ", ".join(f"{k}: {v:.1f}" for k, v in calls_60min.items())
    add(
        f"APIG calls for a 60-min task (mean of 200 jittered runs): {listed}. Policy / fixed 30 s = "
        f"{policy_calls / fixed30:.2f}; goal <= 0.5: {verdict(policy_calls <= fixed30 / 2)}."
    )
    add(f"p95 lag goal in every bucket for PollPolicy: {verdict(all_met)}.")
    section.summary.append(
        f"schedule: p95 lag within max(10 s, 10 %) in every bucket: {verdict(all_met)}; 60-min task "
        f"calls {policy_calls:.0f} vs fixed-30 s {fixed30:.0f} (goal <= half: "
        f"{verdict(policy_calls <= fixed30 / 2)})"
    )
    add("")
    add(f"![poll schedule and scale]({plot_path})")
    add("")
    return section


def memory_section(memory: dict[int, list[ChildRun]]) -> Section:
    section = Section()
    add = section.lines.append
    add("## 4. Memory with large exports")
    add("")
    base_runs = memory[0]
    base = median([x.rss_mb for x in base_runs])
    add(
        "A fresh poller process handles one poll that finds an export finished (APIG answers the whole swagger "
        "inside `task_result`, the poller stores it in S3). Peak RSS = the child's `VmHWM`, median of "
        f"{len(base_runs)} runs; baseline = the same path with a ~200-byte export."
    )
    add("")
    add("| export | peak RSS (MB) | over baseline (MB) | over / export size | goal <= baseline + 3x | fits 512 MB |")
    add("|---|---|---|---|---|---|")
    add(f"| tiny (baseline) | {base:.1f} | - | - | - | {'yes' if base < 512 else 'no'} |")
    memory_ok = True
    for size, runs in memory.items():
        if size == 0:
            continue
        rss = median([x.rss_mb for x in runs])
        over = rss - base
        ok = over <= 3 * size
        memory_ok = memory_ok and ok and rss < 512
        add(
            f"| {size} MB | {rss:.1f} | {over:.1f} | {over / size:.2f}x | {'yes' if ok else 'no'} | "
            f"{'yes' if rss < 512 else 'no'} |"
        )
    add("")
    largest = max(memory)
    section.summary.append(
        f"memory up to {largest} MB export: {verdict(memory_ok)} "
        f"(peak {median([x.rss_mb for x in memory[largest]]):.0f} MB, baseline {base:.0f} MB)"
    )
    return section


def scale_section(s: Scale, sweep: dict[int, Scale], service_s: float, local_poll_s: float) -> Section:
    section = Section()
    add = section.lines.append
    add("## 5. Scale (virtual time)")
    add("")
    add(
        f"10,000 tasks submitted uniformly within the first minute, durations log-uniform 5 s - 60 min, at most "
        f"5 concurrent pollers (the event source's maximum concurrency), each poll holding a poller for "
        f"{service_s * 1000:.0f} ms (**assumed**: the local steady poll measured "
        f"{local_poll_s * 1000:.0f} ms without real network latency; "
        "a cross-cloud APIG round trip dominates in production). Event-driven simulation (heapq): a visible "
        "message goes to the first free poller, the APIG call happens at the start of the poll, a running task "
        "goes back with PollPolicy's delay."
    )
    add("")
    ok = s.peak_after_minute <= 2 * s.mean_after_minute
    add(
        f"- APIG requests/s after the first minute (1-s buckets, until the last poll at {s.last_second} s): "
        f"peak **{s.peak_after_minute}**, mean **{s.mean_after_minute:.1f}**, peak/mean "
        f"{s.peak_after_minute / s.mean_after_minute:.2f}; goal peak <= 2x mean: {verdict(ok)}."
    )
    add(f"- first minute: peak {max(s.per_second[:60])}/s; the pollers' ceiling is {5 / service_s:.1f} polls/s.")
    add(
        f"- {s.polls} polls in all; detection lag p50 {s.lag_p50:.1f} s, p95 {s.lag_p95:.1f} s; "
        f"p95 wait of a visible message for a free poller {s.backlog_wait_p95:.1f} s."
    )
    add("")
    if not ok:
        add(
            "Why and what it would take: the burst's first polls (10,000 in a minute) keep every poller busy "
            "long after the first minute, so the peak *is* the concurrency ceiling, while the hour's mean is "
            "set by the long tasks' sparse polls. Peak <= 2x mean needs a ceiling <= 2x that mean: 2 pollers "
            "at this service time (table below), which trades it for a much longer detection lag. The ceiling "
            "is what protects APIG (a fixed, known request rate), so the limit works as designed; the sound "
            "lever for lag is more pollers, not a smoother peak."
        )
        add("")
    add("The same burst with other concurrency limits (same seeds):")
    add("")
    add(
        "| pollers | ceiling (polls/s) | peak after 1st min | mean after 1st min | peak / mean | lag p95 (s) "
        "| last poll (s) |"
    )
    add("|---|---|---|---|---|---|---|")
    for pollers, run in sweep.items():
        add(
            f"| {pollers} | {pollers / service_s:.1f} | {run.peak_after_minute} | "
            f"{run.mean_after_minute:.1f} | {run.peak_after_minute / run.mean_after_minute:.2f} | "
            f"{run.lag_p95:.1f} | {run.last_second} |"
        )
    add("")
    section.summary.append(
        f"scale: APIG peak {s.peak_after_minute}/s vs mean {s.mean_after_minute:.1f}/s "
        f"(goal peak <= 2x mean: {verdict(ok)})"
    )
    return section


def package_section(pk: PackageSize) -> Section:
    section = Section()
    add = section.lines.append
    add("## 6. Package size")
    add("")
    ok = pk.total_mb <= 8.0 and not pk.forbidden
    add(
        f"Source: {pk.source}. Unpacked size **{pk.total_mb:.2f} MB** (MiB), goal <= 8: {verdict(pk.total_mb <= 8.0)}. "
        "Not in it: boto3, botocore, s3transfer, jmespath, python-dateutil, six and urllib3 (the python3.12 "
        "runtime provides them), huaweicloudsdkcore's unused dependencies (pymongo/bson, dnspython, simplejson, "
        "requests-toolbelt, defusedxml), the X-Ray SDK, Powertools' Swagger UI bundle, and PyJWT/cryptography "
        "(14 MB, in the webhook's own identity layer). "
        + (f"**Found anyway: {', '.join(pk.forbidden)}.**" if pk.forbidden else "None of them was found.")
    )
    add("")
    add("| package | MB |")
    add("|---|---|")
    for name, megabytes in pk.top:
        add(f"| {name} | {megabytes:.2f} |")
    add("")
    add(
        "PyYAML's compiled extension (2.9 MB of the 3.0 MB `yaml` row, shipped unstripped with debug "
        "information) stays: the export-drift feature parses YAML with it. Shipping bytecode for the modules "
        "the handlers import at cold start would save their compilation at every start but add about 2.7 MB "
        "(measured while building this), which the 8 MB goal does not leave room for."
    )
    add("")
    add(
        f"Import of `taskwatch.wiring` (the layer's wiring module, pulling every adapter) in a fresh Lambda-like "
        f"interpreter (layer + runtime packages, compiling from source): median **{pk.import_s * 1000:.0f} ms**."
    )
    add("")
    section.summary.append(f"common layer {pk.total_mb:.2f} MB unpacked (goal <= 8 MB: {verdict(ok)})")
    return section


# A watched task, for the per-1,000-task figures: its APIG duration and the scenario it is extrapolated from.
WATCHED_TASKS = (
    ("2-minute export", 120.0, "export_api"),
    ("20-minute import", 1200.0, "import succeeded"),
)
STATUS_READ_INTERVAL_S = 5.0  # `taskwatch wait --interval`'s default


def webhook_call_price(call: WebhookCall, item_kb: int) -> float:
    """An HTTP API request, a warm webhook invocation, its AWS requests, its logs (own lines, Lambda's platform
    lines, the access-log line) and its X-Ray trace."""
    return (
        HTTP_API_PER_REQUEST
        + lambda_price(1, call.duration_s, WEBHOOK_MEMORY_GB)
        + sum(price_of(call.calls, item_kb).values())
        + logs_price(call.log_bytes + PLATFORM_LOG_BYTES + ACCESS_LOG_BYTES)
        + XRAY_PER_TRACE
    )


def watch_price(task: TaskCost, c: Costs, polls: float) -> dict[str, float]:
    """The poller's side of one task, measured on `task` and extrapolated to `polls` APIG polls with the
    steady poll (each poll is one invocation, as delayed messages arrive one by one)."""
    extra = polls - task.polls
    esm: Counter[tuple[str, str, str]] = Counter(
        {("", "sqs", "ReceiveMessage"): 1, ("", "sqs", "DeleteMessageBatch"): 1}
    )
    steady_requests = sum(price_of(by_api(c.steady) + esm, c.item_kb).values())
    requests = sum(price_of(by_api(task.total), task.item_kb).values()) + extra * steady_requests
    invocations = len(task.invocations) + extra
    seconds = sum(task.durations) + extra * c.steady_duration_s + ASSUMED_APIG_RTT * polls
    log_bytes = task.log_bytes + extra * c.steady_log_bytes + PLATFORM_LOG_BYTES * invocations
    return {
        "AWS requests (SQS, DynamoDB, S3, SNS, Secrets Manager)": requests + task.notifications * KMS_PER_REQUEST,
        "Lambda (requests + GB-s, with the assumed APIG round trip)": lambda_price(invocations, seconds),
        "CloudWatch Logs ingestion": logs_price(log_bytes),
        "X-Ray traces (one per invocation at most)": XRAY_PER_TRACE * invocations,
    }


def operating_cost_section(c: Costs) -> Section:
    section = Section()
    add = section.lines.append
    inventory = stack_inventory()
    add("## 7. What it costs to run")
    add("")
    add(
        f"Prices: {PRICES_SOURCE}. Counted from template.yaml: {inventory.alarms} alarms reading "
        f"{inventory.alarm_metrics} metrics, {inventory.dashboards} dashboard of {inventory.dashboard_metrics} "
        f"metrics, {inventory.kms_keys} KMS key, {inventory.secrets} secrets, {inventory.queues_polled} queue "
        "long-polled by a Lambda event source."
    )
    add("")
    add("**Fixed monthly cost of an idle stack** (no task watched all month):")
    add("")
    idle_receives = inventory.queues_polled * ESM_IDLE_POLLERS * SECONDS_PER_MONTH / 20
    fixed = [
        (
            f"KMS key of the notification topic ({inventory.kms_keys})",
            inventory.kms_keys * KMS_PER_KEY_MONTH,
            "$1 more after each of its first two yearly rotations",
        ),
        (f"Secrets Manager secrets ({inventory.secrets})", inventory.secrets * SECRET_PER_MONTH, ""),
        (
            f"CloudWatch alarms ({inventory.alarms} alarms, {inventory.alarm_metrics} alarm metrics)",
            inventory.alarm_metrics * ALARM_PER_METRIC_MONTH,
            "metric-math alarms are billed per metric they read",
        ),
        (
            "CloudWatch dashboard",
            inventory.dashboards * DASHBOARD_PER_MONTH,
            "$0 if it is one of the account's 3 free dashboards (up to 50 metrics each)",
        ),
        (
            f"SQS: the event source long-polls the empty poll queue ({ESM_IDLE_POLLERS} pollers x one 20 s "
            f"ReceiveMessage each, {idle_receives / 1e6:.2f} M requests)",
            idle_receives * SQS_PER_REQUEST,
            "within SQS's free 1 M requests a month if nothing else uses them",
        ),
        ("custom metrics (EMF)", 0.0, "billed by the hour only while published, see below"),
        ("storage (DynamoDB, S3, logs, PITR)", 0.0, "nothing stored yet; grows with use"),
    ]
    add("| item | $ / month | note |")
    add("|---|---|---|")
    for item, dollars, note in fixed:
        add(f"| {item} | {dollars:.2f} | {note} |")
    total_fixed = sum(d for _, d, _ in fixed)
    add(f"| **total** | **{total_fixed:.2f}** | |")
    add("")
    add(
        f"With traffic, the {inventory.custom_metrics} custom metrics the dashboard shows cost up to "
        f"${inventory.custom_metrics * CUSTOM_METRIC_PER_MONTH:.2f} a month if every one is published in every "
        f"hour (${CUSTOM_METRIC_PER_MONTH:.2f} per metric-month, billed by the hour); an outcome kind that never "
        "happens costs nothing."
    )
    add("")
    tasks = {t.name: t for t in c.tasks}
    export = next(t for t in c.tasks if t.task_type == "export_api")
    imported = next(t for name, t in tasks.items() if name.startswith("import succeeded"))
    scenario = {"export_api": export, "import succeeded": imported}
    schedule = policy_schedule(3600)
    columns = []
    for label, duration, key in WATCHED_TASKS:
        polls = calls_for(duration, schedule)
        columns.append((label, duration, polls, watch_price(scenario[key], c, polls)))
    add(
        "**Cost per 1,000 watched tasks**, from the requests counted in section 2 (the export and the successful "
        f"import scenarios, extrapolated with the steady poll to the number of polls PollPolicy makes for the "
        f"task's duration, mean of 200 jittered runs), a {ASSUMED_APIG_RTT * 1000:.0f} ms APIG round trip "
        f"(assumed) per poll, the log bytes the handlers printed at LOG_LEVEL=INFO (measured) plus "
        f"{PLATFORM_LOG_BYTES} bytes of Lambda platform lines per invocation and {ACCESS_LOG_BYTES} bytes of "
        "access log per HTTP request (assumed), and at most one X-Ray trace per invocation (Lambda samples the "
        "first request each second and 5 % of the rest, so a quiet poller has every invocation traced; the "
        "first 100,000 traces a month are free). The submission is one signed `POST /tasks` through the "
        "webhook (warm, measured)."
    )
    add("")
    add(
        "| per 1,000 tasks ($) | " + " | ".join(f"{label} ({polls:.1f} polls)" for label, _, polls, _ in columns) + " |"
    )
    add("|---|" + "---|" * len(columns))
    for item in columns[0][3]:
        add(f"| poller: {item} | " + " | ".join(f"{parts[item] * 1000:.4f}" for _, _, _, parts in columns) + " |")
    submission = webhook_call_price(c.submission, c.item_kb) if c.submission else 0.0
    add(
        "| webhook: the submission (HTTP API, Lambda, DynamoDB, SQS, logs, trace) | "
        + " | ".join(f"{submission * 1000:.4f}" for _ in columns)
        + " |"
    )
    totals = [sum(parts.values()) + submission for _, _, _, parts in columns]
    add("| **total** | " + " | ".join(f"**{t * 1000:.4f}**" for t in totals) + " |")
    read = webhook_call_price(c.status_read, c.item_kb) if c.status_read else 0.0
    waits = [duration / STATUS_READ_INTERVAL_S * read for _, duration, _, _ in columns]
    add(
        f"| + CI waiting with `taskwatch wait` (a status read every {STATUS_READ_INTERVAL_S:.0f} s) | "
        + " | ".join(f"{w * 1000:.4f}" for w in waits)
        + " |"
    )
    add("")
    add(
        f"A status read costs ${read * 1e6:.2f} per million (an HTTP API request, a webhook invocation, one "
        "DynamoDB read): over a long task, a CI job that waits with `taskwatch wait` costs more than the watch "
        "itself; a longer `--interval` (or `submit` without `--wait` and a notification) brings it down."
    )
    add("")
    section.summary.append(
        f"cost: idle stack ${total_fixed:.2f}/month; per 1,000 tasks "
        + ", ".join(f"{label} ${t * 1000:.3f}" for (label, _, _, _), t in zip(columns, totals, strict=True))
        + " (plus CI status reads if it waits)"
    )
    return section


def code_changes(cold: ColdStart | None) -> list[str]:
    lines = [
        "## Changes made for these figures",
        "",
        "- The common layer is built by `layers/common/Makefile` from `requirements.txt` (exported from uv.lock) "
        "with `pip install --no-deps`: no boto3 tree (the runtime's), none of huaweicloudsdkcore's dependencies "
        "its Signer does not import (requests included), no X-Ray SDK, no Swagger UI bundle. "
        "PyJWT and cryptography moved to a webhook-only identity layer. 37.7 MB unpacked before.",
        "- `functions/poller/app.py`, `functions/webhook/app.py`: Powertools' Tracer removed (it imported the "
        "X-Ray SDK at every cold start: 123 ms cumulative in the previous profile); Lambda's active tracing "
        "still records each invocation.",
        "- `taskwatch/adapters/apig.py`: signs with huaweicloudsdkcore's Signer directly (BasicCredentials' module "
        "imports the SDK's IAM/STS clients and requests), reads APIG under one 15 s deadline and decodes gzip a "
        "chunk at a time (a bomb at the 64 MiB cap cost twice the cap before); `domain/watcher.py` imports the "
        "drift engine only when an export drifts.",
        "- Earlier, still in place: one boto3 session for all clients, S3/SNS clients created on first use, "
        "and large exports held in at most two forms at a time.",
    ]
    if cold and len(cold.runs) > 3:
        before = next(k for k in cold.runs if "@" in k)
        old_runs, new_runs = cold.runs[before], cold.runs["poller"]
        lines.append(
            f"- side by side in this run, the poller's first event: "
            f"{median([x.handle_s for x in old_runs]) * 1000:.0f} ms "
            f"before (`{before}`) vs {median([x.handle_s for x in new_runs]) * 1000:.0f} ms after; "
            f"whole process {median([x.wall_s for x in cold.runs[before]]) * 1000:.0f} ms vs "
            f"{median([x.wall_s for x in cold.runs['poller']]) * 1000:.0f} ms."
        )
    lines.append("")
    return lines


def summary(items: list[str]) -> list[str]:
    return ["## Summary", "", *(f"- {item}" for item in items), ""]
