"""``python -m apig_emulator --port 8095 --ak AK --sk SK``: run the emulator in the foreground."""

from __future__ import annotations

import argparse
import sys

from .emulator import ApigEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apig_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8095, help="0 picks a free port")
    parser.add_argument("--ak", help="accepted access key")
    parser.add_argument("--sk", help="secret key of --ak")
    parser.add_argument("--token", action="append", default=[], help="accepted X-Auth-Token (repeatable)")
    parser.add_argument("--waiting-seconds", type=float, default=1.0)
    parser.add_argument("--processing-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    if bool(args.ak) != bool(args.sk):
        parser.error("--ak and --sk go together")
    emulator = ApigEmulator(
        credentials={args.ak: args.sk} if args.ak else {},
        tokens=args.token,
        waiting_seconds=args.waiting_seconds,
        processing_seconds=args.processing_seconds,
        host=args.host,
        port=args.port,
    )
    url = emulator.start()
    print(url, flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
