"""Every exception adopt raises on purpose.

Each subclasses the built-in it refines, so callers can catch either.
"""

from __future__ import annotations


class AdoptError(Exception):
    """Base class of adopt's own errors."""


class InputError(AdoptError, ValueError):
    """Input data breaks the input contract.

    The message is one line naming the table, the column, an example row and
    what is wrong.
    """

    def __init__(
        self,
        table: str,
        column: str | None,
        problem: str,
        row: object | None = None,
    ) -> None:
        self.table = table
        self.column = column
        self.problem = problem
        self.row = row
        where = f"table '{table}'"
        if column:
            where += f", column '{column}'"
        if row is not None:
            where += f", row {row}"
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):
        # pickled by its fields: a Ray task's error comes back to the driver as itself
        return type(self), (self.table, self.column, self.problem, self.row)


class NotFittedError(AdoptError, AttributeError):
    """An estimator was used before `fit`."""


class WorkspaceError(AdoptError, FileNotFoundError):
    """A workspace lacks what a stage needs (e.g. profiles before ingest)."""


class InfeasibleError(AdoptError, ValueError):
    """A plan's constraints cannot all hold; the message says which conflict."""


class ParameterError(AdoptError, ValueError):
    """A function or CLI argument is outside what it allows.

    Messages follow "The 'budget' parameter of Planner.plan must be a positive
    number. Got -5 instead."
    """
