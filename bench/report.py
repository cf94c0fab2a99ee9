"""BENCHMARKS.md: the benchmarks' results rendered as Markdown, one function per section; the goals each
section judges also go into the closing summary."""

from __future__ import annotations

import math
import os
import platform
from collections import Counter
from dataclasses import dataclass, field

from bench.coldstart import ColdStart
from bench.costs import Costs
from bench.harness import ChildRun
from bench.layer import PackageSize
from bench.prices import (
    ASSUMED_APIG_RTT,
    DDB_PER_RRU,
    DDB_PER_WRU,
    LAMBDA_MEMORY_GB,
    LAMBDA_PER_GB_SECOND_ARM,
    LAMBDA_PER_REQUEST,
    PRICES_SOURCE,
    S3_PER_PUT,
    SFN_PER_TRANSITION,
    SFN_TRANSITIONS_PER_POLL,
    SNS_PER_PUBLISH,
    SQS_PER_REQUEST,
    lambda_price,
    price_of,
)
from bench.simulate import BucketStats, Scale
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
        "import the handler file and handle one first event against the local stack. *Process* is the "
        "wall time from spawn to exit, *peak RSS* the child's own high-water mark (`VmHWM` in "
        "/proc/self/status, read just before exit; `ru_maxrss` from wait4 would carry the bench's own RSS, "
        "which Linux keeps across fork + exec). The poller's event is "
        "one SQS record for a running task (a steady first poll: secret read, claim write, signed APIG GET, "
        "re-enqueue); the webhook's a GitHub-signed `POST /tasks`; the anchor is `bench/anchor.py`, a "
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
    add("")
    add(
        f"Poller / anchor process time: **{ratio:.2f}** (median of per-round ratios: {per_pair:.2f}); goal <= 1.0: "
        f"{verdict(ratio <= 1.0)}."
    )
    import_ratio = median([x.import_s for x in poller]) / median([x.import_s for x in anchor])
    xray = next((c for c, _, name in cold.profile if name.strip() == "aws_xray_sdk.core"), 0) / 1000
    add(
        f"Import alone: poller / anchor = {import_ratio:.2f}. The anchor does no I/O, while the poller's first "
        "event creates three boto3 clients (Secrets Manager, DynamoDB, SQS) and makes four network calls; "
        f"Powertools' Tracer (the template sets `Tracing: Active`) imports the X-Ray SDK "
        f"({xray:.0f} ms cumulative below) and builds its sampling client. What a ratio <= 1.0 would take: "
        "no Tracer (or X-Ray only when sampled), the Huawei signer and boto3 loaded by the anchor's budget, "
        "i.e. a handler that is not doing the poller's job; that is not a sound trade for a poller whose "
        "cold starts are rare (one per execution environment, kept warm by polls every few seconds). "
        "Measured and kept instead: one boto3 session for all clients and S3/SNS clients created on first "
        "use (see *Code changes*)."
    )
    section.summary.append(
        f"cold start poller/anchor = {ratio:.2f} (import only {import_ratio:.2f}; goal <= 1.0: {verdict(ratio <= 1.0)})"
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
    add(
        f"Source: {pk.source}. Unpacked size **{pk.total_mb:.1f} MB**, of which {pk.runtime_provided_mb:.1f} MB "
        "are boto3/botocore/s3transfer, which the python3.12 Lambda runtime already provides."
    )
    add("")
    add("| package | MB |")
    add("|---|---|")
    for name, megabytes in pk.top:
        add(f"| {name} | {megabytes:.1f} |")
    add("")
    add(
        f"Import of `taskwatch.wiring` (the layer's wiring module, pulling every adapter) in a fresh "
        f"interpreter on this machine: median **{pk.import_s * 1000:.0f} ms**."
    )
    add("")
    return section


def code_changes(cold: ColdStart | None) -> list[str]:
    lines = [
        "## Code changes made for these figures",
        "",
        "- `taskwatch/adapters/aws.py`: every boto3 client now comes from one cached `boto3.session.Session` "
        "(a session per client re-read botocore's endpoint and service indexes each time), and `LazyClient` "
        "creates a client on first use. `wiring.py` hands the S3 store and the SNS notifier lazy clients, so a "
        "steady poll creates three clients instead of five; `wiring.reset()` also forgets the session.",
        "- `taskwatch/adapters/apig.py`: drop the urllib3 response (it caches the body) before parsing, and "
        "decode the bytes, free them, then parse the text, so a large export is held in at most two forms at a "
        "time. The 50 MB case went from 201 MB over baseline (4.0x) to about 144 MB (2.9x) in a side run.",
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
