"""Hostile APIG answers: the peak memory of the poller's APIG read when the answer is a decompression bomb.

A loopback HTTP server (127.0.0.1, this process) answers the task GET; a fresh interpreter
(bench/child_probe.py) calls `ApigClient(...).get_task(PollMessage(...))` against it and reports its own peak
RSS and the call's time. Cases, side by side in one run:

- baseline: a small, normal answer (a finished export of a few KB);
- export: a valid export answer just under the cap, uncompressed (the cap is not about size on the wire);
- gzip bomb: `Content-Encoding: gzip`, a few MB on the wire inflating to GBs of whitespace before a valid JSON
  answer; it must stop with `BodyTooLarge` at the cap;
- identity bomb: the same, uncompressed, somewhat over the cap: the cap applies there too.

The gzip stream is built chunk by chunk (never the inflated text in memory) and kept in the work directory.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from bench.child_probe import ProbeRun, probe_env, run_probe
from bench.drift import generate_pair
from bench.harness import AK, SK
from bench.stats import median

MB = 1024 * 1024
CAP = 64 * MB  # taskwatch.domain.limits.APIG_MAX_BODY_BYTES
_SPACES = b" " * MB
CASES = ("baseline", "export", "gzip bomb", "identity bomb")


@dataclass(frozen=True)
class Sizes:
    cap: int  # the ApigClient's max_body_bytes
    export: int  # the export answer's body (decoded = on the wire), under the cap
    gzip_inflated: int  # what the gzip bomb inflates to
    identity: int  # the identity bomb's body, over the cap


FULL = Sizes(cap=CAP, export=60 * MB, gzip_inflated=2048 * MB, identity=100 * MB)
SMOKE = Sizes(cap=1 * MB, export=MB * 9 // 10, gzip_inflated=5 * MB, identity=2 * MB)


@dataclass(frozen=True)
class Answer:
    """What the server sends for one task id: headers, and the body as a fresh iterable of chunks."""

    encoding: str
    length: int  # bytes on the wire
    decoded: int  # bytes once decoded
    chunks: Callable[[], Iterable[bytes | memoryview]]


def task_answer(task_id: str, swagger: str) -> bytes:
    """A finished export as APIG answers it (the emulator's shape: task_result is JSON text)."""
    result = {"FileName": f"{task_id}-RELEASE", "FileType": ".json", "Comment": swagger}
    body = {
        "task_id": task_id,
        "task_status": "succeed",
        "task_type": "export_api",
        "task_result": json.dumps(result, ensure_ascii=False),
    }
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def tiny_swagger() -> str:
    return '{"swagger": "2.0", "info": {"title": "bench", "version": "1"}, "paths": {}}'


def export_answer(task_id: str, target: int) -> bytes:
    """A valid export answer of about `target` bytes (and not above it): a generated swagger, sized by a probe."""
    probe = task_answer(task_id, generate_pair(MB // 4)[0])
    swagger_bytes = int(target / (len(probe) / (MB // 4)) * 0.98)
    body = task_answer(task_id, generate_pair(swagger_bytes)[0])
    while len(body) > target:
        swagger_bytes = int(swagger_bytes * 0.98)
        body = task_answer(task_id, generate_pair(swagger_bytes)[0])
    return body


def spaces(total: int) -> Iterator[memoryview]:
    view = memoryview(_SPACES)
    while total > 0:
        n = min(total, len(view))
        yield view[:n]
        total -= n


def gzip_bomb(path: Path, inflated: int, tail: bytes) -> Path:
    """Whitespace then `tail` (so the text is valid JSON once inflated), gzip'd chunk by chunk into `path`."""
    if path.exists():
        return path
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    partial = path.with_suffix(".part")
    with partial.open("wb") as out:
        for chunk in spaces(inflated - len(tail)):
            out.write(compressor.compress(chunk))
        out.write(compressor.compress(tail))
        out.write(compressor.flush())
    partial.rename(path)
    return path


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(MB):
            yield chunk


class _Handler(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, Answer]] = {}  # replaced per server, on a subclass

    def do_GET(self) -> None:
        answer = self.answers.get(self.path.rstrip("/").rsplit("/", 1)[-1])
        if answer is None:
            self.send_error(404)
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if answer.encoding != "identity":
                self.send_header("Content-Encoding", answer.encoding)
            self.send_header("Content-Length", str(answer.length))
            self.end_headers()
            for chunk in answer.chunks():
                self.wfile.write(chunk)
        except OSError:  # the client stopped reading at its cap and hung up: what the case is about
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def hostile_server(answers: dict[str, Answer]) -> Iterator[str]:
    """A loopback server answering each task id in `answers`; yields its URL."""
    handler = type("HostileHandler", (_Handler,), {"answers": answers})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="hostile-apig", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def build_answers(sizes: Sizes, workdir: Path) -> dict[str, Answer]:
    small = task_answer("baseline", tiny_swagger())
    export = export_answer("export", sizes.export)
    bomb = gzip_bomb(workdir / f"bomb-{sizes.gzip_inflated}.gz", sizes.gzip_inflated, task_answer("gzip", "{}"))
    identity_tail = task_answer("identity", "{}")
    return {
        "baseline": Answer("identity", len(small), len(small), lambda: [small]),
        "export": Answer("identity", len(export), len(export), lambda: [export]),
        "gzip bomb": Answer("gzip", bomb.stat().st_size, sizes.gzip_inflated, lambda: file_chunks(bomb)),
        "identity bomb": Answer(
            "identity",
            sizes.identity,
            sizes.identity,
            lambda: [*spaces(sizes.identity - len(identity_tail)), identity_tail],
        ),
    }


def bench_hostile(repeats: int, workdir: Path, *, smoke: bool = False) -> dict[str, list[ProbeRun]]:
    """`repeats` fresh children per case, interleaved. `smoke`: a 1 MiB cap (the client's max_body_bytes), a
    5 MiB-inflating gzip bomb, a 2 MiB identity body and a 0.9 MiB export, so the cap path still runs, quickly."""
    sizes = SMOKE if smoke else FULL
    answers = build_answers(sizes, workdir)
    task_ids = {case: case.replace(" ", "-") for case in CASES}
    env = probe_env({"BENCH_AK": AK, "BENCH_SK": SK})
    out: dict[str, list[ProbeRun]] = {case: [] for case in CASES}
    with hostile_server({task_ids[case]: answers[case] for case in CASES}) as url:
        for _ in range(repeats):
            for case in CASES:
                run = run_probe(["apig", url, task_ids[case], str(sizes.cap)], workdir, env)
                answer = answers[case]
                run.detail.update(encoding=answer.encoding, wire_bytes=answer.length, decoded_bytes=answer.decoded)
                want = "BodyTooLarge" if "bomb" in case else "ok"
                if not run.outcome.startswith(want):
                    raise RuntimeError(f"hostile {case}: expected {want}, got {run.outcome}")
                out[case].append(run)
    return out


def _size(n: float) -> str:
    if n >= 1024 * MB:
        return f"{n / (1024 * MB):.1f} GiB"
    if n >= MB:
        return f"{n / MB:.1f} MiB"
    return f"{n / 1024:.1f} KiB"


def hostile_section(results: dict[str, list[ProbeRun]]) -> list[str]:
    lines = ["## Hostile APIG answers (the 64 MiB cap)", ""]
    add = lines.append
    base_runs = results["baseline"]
    base = median([x.rss_mb for x in base_runs])
    cap = int(base_runs[0].detail["cap_bytes"])
    all_runs = [x for runs in results.values() for x in runs]
    maxrss = median([x.maxrss_mb for x in all_runs])
    polluted = maxrss > max(x.rss_mb for x in all_runs) + 10
    bomb = results.get("gzip bomb")
    ratio = bomb[0].detail["decoded_bytes"] / bomb[0].detail["wire_bytes"] if bomb else float("nan")
    add(
        "A loopback HTTP server (127.0.0.1) answers the poller's task GET; a fresh interpreter per run "
        "(bench/child_probe.py) calls `ApigClient(EnvCredentials(...), endpoint=...).get_task(PollMessage(...))` "
        f"with a {_size(cap)} cap on the decoded body"
        + ("" if cap == CAP else " (lowered from 64 MiB for the smoke run, through `max_body_bytes`)")
        + ". The bombs are whitespace followed by a valid task answer, so only their decoded size can refuse them; "
        f"the gzip bomb inflates {ratio:.0f}:1 (deflate's ceiling is about 1030:1). "
        f"Peak RSS = the child's `VmHWM`, median of {len(base_runs)} run(s)"
        + (
            f" (the children's ru_maxrss read {maxrss:.0f} MB: this parent's RSS at fork, which Linux carries "
            "across exec, not the child's own)"
            if polluted
            else ""
        )
        + "; time = the `get_task` call, median."
    )
    add("")
    add(
        "| case | on the wire | decoded in full | peak RSS median (MB) | over baseline (MB) | time median (s) "
        "| outcome |"
    )
    add("|---|---|---|---|---|---|---|")
    over: dict[str, float] = {}
    for case, runs in results.items():
        detail = runs[0].detail
        rss = median([x.rss_mb for x in runs])
        over[case] = rss - base
        outcomes = {x.outcome for x in runs}
        outcome = runs[0].outcome if len(outcomes) == 1 else " / ".join(sorted(outcomes))
        add(
            f"| {case} | {_size(detail['wire_bytes'])} {detail['encoding']} | {_size(detail['decoded_bytes'])} | "
            f"{rss:.1f} | {'-' if case == 'baseline' else f'{rss - base:+.1f}'} | "
            f"{median([x.elapsed_s for x in runs]):.3f} | {outcome} |"
        )
    add("")
    cap_mb = cap / MB
    if "gzip bomb" in over and "identity bomb" in over:
        text = (
            f"Both bombs end with `BodyTooLarge` at the cap, whatever they would inflate to: the identity bomb "
            f"costs {over['identity bomb']:.0f} MB over the baseline ({over['identity bomb'] / cap_mb:.1f}x the "
            f"cap), the gzip bomb {over['gzip bomb']:.0f} MB ({over['gzip bomb'] / cap_mb:.1f}x)."
        )
        if cap >= 16 * MB and over["gzip bomb"] > 1.5 * cap_mb:
            text += (
                " The gzip path holds the cap twice for a moment: `_read_decoded` asks zlib for the whole remaining "
                "cap in one `decompress(data, max_length)` call, and CPython builds that output in blocks, then "
                "copies them into one bytes object. Asking for at most a MiB or so per call would keep it near 1x."
            )
        add(text)
        add("")
    if "export" in over:
        wire = results["export"][0].detail["wire_bytes"] / MB
        add(
            f"The valid export just under the cap ({wire:.0f} MiB uncompressed) passes, at {over['export']:.0f} MB "
            f"over the baseline ({over['export'] / wire:.1f}x its size: the body, its text, the parsed answer and "
            "the export text overlap; the generated export has Chinese descriptions, so its text takes 2 bytes a "
            "character)."
        )
        add("")
    return lines


def hostile_summary(results: dict[str, list[ProbeRun]]) -> str:
    """One line for the closing summary."""
    base = median([x.rss_mb for x in results["baseline"]])
    cap = int(results["baseline"][0].detail["cap_bytes"])
    bombs = {case: median([x.rss_mb for x in runs]) - base for case, runs in results.items() if "bomb" in case}
    refused = all(x.outcome.startswith("BodyTooLarge") for case in bombs for x in results[case])
    return f"hostile APIG answers: bombs refused at the {_size(cap)} cap: {'yes' if refused else '**no**'} (" + (
        ", ".join(f"{case} +{over:.0f} MB" for case, over in bombs.items()) + " over the baseline)"
    )
