"""One cold start, run by bench/run.py in a fresh interpreter: import a handler, handle one event.

    python bench/child.py <poller|webhook|anchor> <event.json> <result.json> [handler.py]

The environment (AWS_ENDPOINT_URL, the contract's variables) comes from the parent. The result file gets
the import and first-event times, the answer and the files of the taskwatch modules imported; the parent
measures whole-process time and peak RSS. `handler.py` replaces the kind's handler file of this tree (the
poller at another git ref).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = {
    "poller": ROOT / "functions" / "poller" / "app.py",
    "webhook": ROOT / "functions" / "webhook" / "app.py",
    "anchor": ROOT / "bench" / "anchor.py",
}


def load(kind: str, handler: Path) -> ModuleType:
    # Lambda imports the handler file as a top-level module; do the same, by file path.
    spec = importlib.util.spec_from_file_location(f"{kind}_app", handler)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    kind, event_path, result_path = sys.argv[1:4]
    handler = Path(sys.argv[4]) if len(sys.argv) > 4 else HANDLERS[kind]
    event = json.loads(Path(event_path).read_text())
    started = time.perf_counter()
    module = load(kind, handler)
    imported = time.perf_counter()
    from taskwatch_local.event_source import LocalContext

    answer = module.lambda_handler(event, LocalContext(function_name=f"bench-{kind}", timeout_seconds=10.0))
    handled = time.perf_counter()
    result = {
        "import_s": imported - started,
        "handle_s": handled - imported,
        "peak_rss_mb": peak_rss_mb(),
        "answer": answer,
        "taskwatch_files": sorted(
            str(m.__file__)
            for name, m in sys.modules.items()
            if name.split(".")[0] == "taskwatch" and getattr(m, "__file__", None)
        ),
    }
    Path(result_path).write_text(json.dumps(result, default=str))


def peak_rss_mb() -> float:
    """This process's own high-water mark. (ru_maxrss of a child also carries the parent's RSS at fork,
    which Linux keeps across exec, so the parent cannot use wait4 for a small child of a big parent.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
