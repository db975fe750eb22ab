"""The `adopt` command: one subcommand per stage, plus `run` and `demo`.

The subcommands live in one module per group, in the order of the data flow:
`data` (generate, ingest, import, profiles), `models` (embed, train,
evaluate, segment, curves), `plans` (plan, report, score, actuals) and `pipeline`
(run, demo). Each parses its arguments and calls the library; errors that
adopt raises on purpose, and filesystem failures (`OSError`: permission
denied, a file where a folder is needed, a read-only disk...), print one line
and exit with code 2, never a traceback (`main`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from adopt.cli import data, models, pipeline, plans
from adopt.exceptions import AdoptError
from adopt.progress import setup_logging

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adopt",
        description="Ad-targeting optimization: from raw ad logs to a certified-optimal plan.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], None], help: str):
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    # in the order of the data flow
    for group in (data, models, plans, pipeline):
        group.add_commands(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        args.func(args)
    except AdoptError as exc:
        print(f"adopt: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"adopt: error: {os_error_line(exc, f'adopt {args.command}')}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"adopt: adopt {args.command} interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if _is_duckdb_io_error(exc):
            # DuckDB cannot open or write its file (read-only workspace, full disk, a lock)
            reason = _one_line(str(exc)).removeprefix("IO Error: ")
            print(f"adopt: error: adopt {args.command} cannot use the warehouse: {reason}",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        if args.verbose:
            raise
        # not the input's fault: a bug or a failing library; one line, the rest with -v
        print(f"adopt: internal error in adopt {args.command}: {type(exc).__name__}: "
              f"{_one_line(str(exc))} (run `adopt -v {args.command} ...` for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL
    return 0


def _is_duckdb_io_error(exc: BaseException) -> bool:
    """A DuckDB IOException or PermissionException, told without importing duckdb."""
    return any(cls.__module__ in ("duckdb", "_duckdb")
               and cls.__name__ in ("IOException", "PermissionException")
               for cls in type(exc).__mro__)


def _one_line(text: str) -> str:
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


def os_error_line(exc: OSError, what: str) -> str:
    """A filesystem failure as one line: ``<what> cannot use <path>: <reason>``.

    Covers every `OSError` (permission denied, a file where a folder is
    needed or the reverse, a read-only file system, a full disk...).
    """
    reason = _one_line(exc.strerror or str(exc) or type(exc).__name__)
    if exc.filename is None:
        return f"{what} failed: {reason}"
    path = str(exc.filename)
    if exc.filename2 is not None:
        path += f" -> {exc.filename2}"
    return f"{what} cannot use {path}: {reason}"
