"""HTML building blocks of the report: escaping, number formats, tables.

Data flow: used by the section modules (`adopt.report.sections_plan`,
`sections_why`, `sections_context`) and `adopt.report.charts` to turn plan
numbers and (untrusted) ad, segment and campaign texts into HTML. Every
value that reaches the page goes through `esc` (text and attribute contexts
alike: quotes are escaped too), so a creative such as
``<script>alert(1)</script>`` shows as text.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Iterable, Sequence

import pandas as pd

NA = "–"


def esc(value: object) -> str:
    """``html.escape(str(value), quote=True)``; None, NaN, NA and NaT become an en dash."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return NA
    return html.escape(str(value), quote=True)


def num(value: object, digits: int = 3) -> str:
    """A readable number: thousands separators for large values, `digits` significant otherwise.

    Parameters
    ----------
    value : number or None
    digits : int
        Significant digits for values below 100.

    Returns
    -------
    str
        Plain text (no HTML), e.g. ``"12,345"``, ``"3.14"``, ``"0.00123"``; an
        en dash for None, NaN or infinity.
    """
    if value is None:
        return NA
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return esc(value)
    if not math.isfinite(x):
        return NA
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def pct(value: float | None, signed: bool = False) -> str:
    """A share or change as a percentage (``0.123`` -> ``"12.3%"``)."""
    if value is None or not math.isfinite(value):
        return NA
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    if a is None or b is None or not b:
        return None
    return float(a) / float(b)


def table(
    rows: Iterable[Sequence[object]],
    header: Sequence[str],
    numeric: Sequence[bool] | None = None,
    cls: str = "",
) -> str:
    """An HTML table; cells are escaped unless they are `Raw`.

    Parameters
    ----------
    rows : iterable of sequences
        Cell values: numbers are formatted with `num`, text escaped.
    header : sequence of str
        Column titles (escaped).
    numeric : sequence of bool, optional
        Right-align these columns (default: guessed from the first row).
    cls : str
        CSS class of the table.
    """
    rows = [list(r) for r in rows]
    if numeric is None:
        first = rows[0] if rows else []
        numeric = [_is_number(v) for v in first] + [False] * (len(header) - len(first))
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = []
        for v, right in zip(r, numeric, strict=False):
            klass = ' class="n"' if right else ""
            cells.append(f"<td{klass}>{cell(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    klass = f' class="{esc(cls)}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class Raw(str):
    """HTML that is already safe (built from escaped parts); `table` inserts it as is."""


def cell(value: object) -> str:
    """One table cell's HTML: `Raw` as is, numbers via `num`, anything else escaped."""
    if isinstance(value, Raw):
        return str(value)
    if _is_number(value):
        return num(value)
    return esc(value)


def frame_rows(df: pd.DataFrame, columns: Sequence[str]) -> list[list[object]]:
    """The given columns of `df` as a list of row lists (missing columns give en dashes)."""
    return [[row.get(c) for c in columns] for row in df.to_dict(orient="records")]


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
