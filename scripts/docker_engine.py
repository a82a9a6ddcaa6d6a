"""A Docker engine of our own for the cluster test, stopped by its PID (devtools.docker_engine).

    python scripts/docker_engine.py start     # prints the DOCKER_HOST to use
    python scripts/docker_engine.py stop
    python scripts/docker_engine.py status    # exit 0 when our engine answers

When ``DOCKER_HOST`` already names an engine that answers, that engine is used and nothing is
started or stopped.
"""

from __future__ import annotations

import argparse
import sys

from devtools.docker_engine import LOCAL, start, stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a Docker engine of our own, stopped by its PID")
    parser.add_argument("action", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    if args.action == "start":
        print(start())
    elif args.action == "stop":
        stop()
    else:
        return 0 if LOCAL.running() else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
