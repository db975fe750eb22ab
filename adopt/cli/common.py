"""What the subcommand modules of `adopt.cli` share: how a subcommand is added."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Protocol


class AddCommand(Protocol):
    """``add(name, func, help)``: a subcommand parser whose parsed arguments go to `func`."""

    def __call__(self, name: str, func: Callable[[argparse.Namespace], None],
                 help: str) -> argparse.ArgumentParser: ...
