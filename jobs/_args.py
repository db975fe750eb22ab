"""Arguments and the error exit shared by the job entry points.

Stage jobs run the `adopt` command's subcommand of the same name (`run_command`),
so each option is defined once, in `adopt.cli`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from adopt.exceptions import AdoptError
from adopt.progress import setup_logging

EXIT_BAD_INPUT = 2


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--workspace`` every job takes; sets up log lines."""
    setup_logging()
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--workspace", required=True, help="workspace folder (shared on a cluster)")
    return p


def run(main: Callable[[], object]) -> None:
    """Call a job's `main`; an error adopt raises on purpose exits 2 with one line."""
    try:
        main()
    except AdoptError as exc:
        print(f"adopt: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)


def run_command(command: str) -> int:
    """Run ``adopt <command>`` with this process's arguments; the exit code (2: bad input)."""
    from adopt.cli import main

    return main([command, *sys.argv[1:]])
