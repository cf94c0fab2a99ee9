"""The report's figure: schedule lag against its goal, APIG calls per task, and the scale run's request rate."""

from __future__ import annotations

import math
from pathlib import Path

from bench.simulate import BucketStats, Scale


def plot(schedule: dict[str, list[BucketStats]], scale: Scale, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lag_ax, calls_ax, rate_ax) = plt.subplots(1, 3, figsize=(17, 4.8))
    mids = [math.sqrt(b.low * b.high) for b in next(iter(schedule.values()))]
    for name, buckets in schedule.items():
        lag_ax.plot(mids, [b.bound_p95 for b in buckets], marker="o", label=name)
        calls_ax.plot(mids, [b.calls_mean for b in buckets], marker="o", label=name)
    lag_ax.axhline(1.0, linestyle="--", color="grey", label="goal: lag <= max(10 s, 10 % of duration)")
    for ax, title, label in (
        (lag_ax, "p95 of detection lag / max(10 s, 10 % of duration)", "ratio"),
        (calls_ax, "APIG calls per task (mean)", "calls"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("task duration (s), bucket middle")
        ax.set_ylabel(label)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    rate_ax.plot(range(len(scale.per_second)), scale.per_second, linewidth=0.6)
    rate_ax.axhline(scale.mean_after_minute, color="grey", linestyle="--", label="mean after 1st minute")
    rate_ax.set_xlabel("time (s)")
    rate_ax.set_ylabel("APIG requests / s")
    rate_ax.set_title("10,000 tasks, 5 pollers: APIG request rate")
    rate_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
