"""apig-taskwatch benchmarks: cold start, cost per poll, poll-schedule efficiency, memory, scale, size.

    python bench/run.py [--smoke] [--out BENCHMARKS.md]

Real figures (cold start, requests, memory) run the real handlers against the local emulators
(moto server + the APIG emulator, started once here); schedule and scale figures run in virtual time.
`--smoke` runs everything small and never fails on a timing, only on a crash.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, Python puts bench/ on the path, not the repository root that `bench.*` lives in.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.client import bench_client
from bench.coldstart import bench_cold_start
from bench.costs import bench_costs
from bench.drift import bench_drift
from bench.exports import bench_memory
from bench.harness import local_emulators
from bench.hostile import bench_hostile
from bench.layer import bench_package, lambda_like
from bench.plot import plot
from bench.prices import ASSUMED_APIG_RTT
from bench.report import Results, report
from bench.simulate import bench_scale, bench_schedule, calls_for, fixed_schedule, policy_schedule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small samples; finishes in about a minute")
    parser.add_argument("--out", default="BENCHMARKS.md", help="where to write the report")
    parser.add_argument("--compare-ref", help="also cold-start the poller with layers/common/taskwatch at this git ref")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python bench/run.py" + (" --smoke" if args.smoke else "") + f" --out {args.out}"
    if args.compare_ref:
        command += f" --compare-ref {args.compare_ref}"
    started = time.perf_counter()
    results = Results(args.smoke, command, dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    repeats = 3 if args.smoke else 15

    def step(name: str) -> None:
        print(f"[bench {time.perf_counter() - started:6.1f} s] {name}", flush=True)

    with tempfile.TemporaryDirectory(prefix="taskwatch-bench-") as tmp, local_emulators() as local:
        workdir = Path(tmp)
        step("0. build the common layer (layers/common/Makefile) and the Lambda-like paths")
        lambda_env = lambda_like(workdir)
        step("1. cold start")
        results.cold = bench_cold_start(local, repeats, workdir, lambda_env, args.compare_ref)
        step("2. requests and cost")
        results.costs = bench_costs(local)
        step("4. memory with large exports")
        results.memory = bench_memory(local, [1] if args.smoke else [1, 20, 50], 1 if args.smoke else 3, workdir)
        step("6. package size")
        results.package = bench_package(3 if args.smoke else 7, lambda_env)
        step("8. the CI client")
        results.client = bench_client(workdir, 3 if args.smoke else 15)
        step("9. hostile APIG answers (the 64 MiB cap)")
        results.hostile = bench_hostile(1 if args.smoke else 5, workdir, smoke=args.smoke)
        step("10. export drift: diff time and memory")
        results.drift = bench_drift([1] if args.smoke else [1, 20], 1 if args.smoke else 5, workdir)
    step("3. poll schedule")
    results.schedule = bench_schedule(500 if args.smoke else 2000)
    results.calls_60min = {
        "PollPolicy defaults (5/300 s)": calls_for(3600, policy_schedule(7200)),
        "fixed 10 s": calls_for(3600, fixed_schedule(10)),
        "fixed 30 s": calls_for(3600, fixed_schedule(30)),
    }
    step("5. scale")
    results.scale_sweep = {n: bench_scale(10_000, n, ASSUMED_APIG_RTT) for n in (2, 3, 4, 5, 10)}
    results.scale = results.scale_sweep[5]
    plot_path = out.parent / ("bench-smoke.png" if args.smoke else "bench/benchmarks.png")
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot(results.schedule, results.scale, plot_path)
    results.plot_path = os.path.relpath(plot_path, out.parent)
    results.elapsed_s = time.perf_counter() - started
    out.write_text(report(results))
    step(f"wrote {out} and {plot_path}")


if __name__ == "__main__":
    main()
