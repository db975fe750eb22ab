"""Inline SVG charts of the report: heatmap, line chart, reliability plot, bars.

Data flow: the section modules (`adopt.report.sections_plan`, `sections_why`,
`sections_context`) pass plain numbers and labels; each
function returns one ``<svg>`` element as a string, with every label escaped
(`adopt.report.fmt.esc`) and nothing fetched from anywhere (no fonts, images
or scripts), so the report opens offline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from adopt.report.fmt import esc, num

PALETTE = ("#1f5fa8", "#d9661f", "#2e8b57", "#8e44ad", "#b8860b", "#c0392b")


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    return [first + i * step for i in range(int(math.ceil((hi - first) / step)) + 1)]


class _Frame:
    """A plot area with linear x/y scales and axes."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], width: int = 640,
                 height: int = 320, y_from_zero: bool = True) -> None:
        self.w, self.h = width, height
        self.left, self.right, self.top, self.bottom = 70, 20, 20, 45
        xs = np.asarray(xs, float)
        ys = np.asarray(ys, float)
        self.xt = nice_ticks(float(np.nanmin(xs)), float(np.nanmax(xs)))
        lo = min(0.0, float(np.nanmin(ys))) if y_from_zero else float(np.nanmin(ys))
        self.yt = nice_ticks(lo, float(np.nanmax(ys)))

    def x(self, v: float) -> float:
        a, b = self.xt[0], self.xt[-1]
        return self.left + (v - a) / (b - a) * (self.w - self.left - self.right)

    def y(self, v: float) -> float:
        a, b = self.yt[0], self.yt[-1]
        return self.h - self.bottom - (v - a) / (b - a) * (self.h - self.top - self.bottom)

    def axes(self, x_label: str, y_label: str) -> str:
        parts = []
        for t in self.yt:
            y = self.y(t)
            parts.append(f'<line x1="{self.left}" x2="{self.w - self.right}" y1="{y:.1f}" '
                         f'y2="{y:.1f}" class="grid"/>'
                         f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                         f"{esc(num(t))}</text>")
        for t in self.xt:
            x = self.x(t)
            parts.append(f'<text x="{x:.1f}" y="{self.h - self.bottom + 16}" '
                         f'text-anchor="middle">{esc(num(t))}</text>')
        base = self.h - self.bottom
        parts.append(f'<line x1="{self.left}" x2="{self.w - self.right}" y1="{base}" '
                     f'y2="{base}" class="axis"/>')
        parts.append(f'<text x="{(self.left + self.w - self.right) / 2:.0f}" '
                     f'y="{self.h - 6}" text-anchor="middle" class="label">{esc(x_label)}</text>')
        parts.append(f'<text x="14" y="{(self.top + base) / 2:.0f}" text-anchor="middle" '
                     f'class="label" transform="rotate(-90 14 {(self.top + base) / 2:.0f})">'
                     f"{esc(y_label)}</text>")
        return "".join(parts)

    def svg(self, body: str, title: str) -> str:
        return (f'<svg class="chart" viewBox="0 0 {self.w} {self.h}" width="{self.w}" '
                f'height="{self.h}" role="img" aria-label="{esc(title)}">'
                f"<title>{esc(title)}</title>{body}</svg>")

    def polyline(self, xs: Sequence[float], ys: Sequence[float], color: str) -> str:
        pts = " ".join(f"{self.x(a):.1f},{self.y(b):.1f}" for a, b in zip(xs, ys, strict=True)
                       if math.isfinite(a) and math.isfinite(b))
        return f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>'


def line_chart(
    xs: Sequence[float], ys: Sequence[float], *, title: str, x_label: str, y_label: str,
    mark_x: float | None = None, mark_y: float | None = None, mark_label: str = "",
) -> str:
    """A line through (xs, ys) with an optional marked point and vertical guide.

    Parameters
    ----------
    xs, ys : sequences of float
    title, x_label, y_label : str
        Plain text (escaped here).
    mark_x, mark_y : float, optional
        The point to mark (e.g. the chosen budget and its objective).
    mark_label : str
        Text beside the mark.
    """
    all_x = list(xs) + ([mark_x] if mark_x is not None else [])
    all_y = list(ys) + ([mark_y] if mark_y is not None else [])
    f = _Frame(all_x, all_y)
    body = [f.axes(x_label, y_label), f.polyline(xs, ys, PALETTE[0])]
    body += [f'<circle cx="{f.x(a):.1f}" cy="{f.y(b):.1f}" r="3" fill="{PALETTE[0]}">'
             f"<title>{esc(num(a))}: {esc(num(b))}</title></circle>"
             for a, b in zip(xs, ys, strict=True) if math.isfinite(a) and math.isfinite(b)]
    if mark_x is not None:
        x = f.x(mark_x)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{f.top}" y2="{f.h - f.bottom}" '
                    f'class="mark"/>')
        if mark_y is not None:
            body.append(f'<circle cx="{x:.1f}" cy="{f.y(mark_y):.1f}" r="6" class="markdot"/>')
        anchor = "end" if x > f.w * 0.6 else "start"
        dx = -8 if anchor == "end" else 8
        body.append(f'<text x="{x + dx:.1f}" y="{f.top + 14}" text-anchor="{anchor}" '
                    f'class="marktext">{esc(mark_label)}</text>')
    return f.svg("".join(body), title)


def reliability_plot(series: dict[str, tuple[Sequence[float], Sequence[float]]],
                     *, title: str) -> str:
    """Observed against mean predicted rate per bin, one line per target, and the diagonal."""
    xs = [v for p, _ in series.values() for v in p]
    ys = [v for _, o in series.values() for v in o]
    top = max(xs + ys + [1e-9])
    f = _Frame([0.0, top], [0.0, top], width=420, height=360)
    body = [f.axes("mean predicted rate", "observed rate")]
    lo, hi = 0.0, min(f.xt[-1], f.yt[-1])
    body.append(f'<line x1="{f.x(lo):.1f}" y1="{f.y(lo):.1f}" x2="{f.x(hi):.1f}" '
                f'y2="{f.y(hi):.1f}" class="diag"/>')
    for i, (name, (p, o)) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        body.append(f.polyline(p, o, color))
        body += [f'<circle cx="{f.x(a):.1f}" cy="{f.y(b):.1f}" r="3.5" fill="{color}">'
                 f"<title>{esc(name)}: predicted {esc(num(a))}, observed {esc(num(b))}</title>"
                 f"</circle>" for a, b in zip(p, o, strict=True)]
        body.append(f'<text x="{f.left + 10}" y="{f.top + 14 + 16 * i}" fill="{color}">'
                    f"{esc(name)}</text>")
    return f.svg("".join(body), title)


def heatmap(rows: Sequence[str], cols: Sequence[str], values: np.ndarray, *, title: str,
            unit: str = "") -> str:
    """A rows x cols grid of cells shaded by value, each labelled with its number.

    Parameters
    ----------
    rows, cols : sequences of str
        Row and column labels (escaped here).
    values : ndarray (len(rows), len(cols))
        NaN cells are left blank.
    title, unit : str
    """
    values = np.asarray(values, float)
    cw, ch, left, top = 92, 26, 170, 80
    w, h = left + cw * len(cols) + 10, top + ch * len(rows) + 10
    finite = values[np.isfinite(values)]
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    body = []
    for j, c in enumerate(cols):
        x = left + cw * j + cw / 2
        body.append(f'<text x="{x:.0f}" y="{top - 8}" text-anchor="start" '
                    f'transform="rotate(-30 {x:.0f} {top - 8})">{esc(_short(c))}'
                    f"<title>{esc(c)}</title></text>")
    for i, r in enumerate(rows):
        y = top + ch * i
        body.append(f'<text x="{left - 6}" y="{y + ch / 2 + 4:.0f}" text-anchor="end">'
                    f"{esc(_short(r, 24))}<title>{esc(r)}</title></text>")
        for j, c in enumerate(cols):
            v = values[i, j]
            x = left + cw * j
            if not np.isfinite(v):
                continue
            t = max(v, 0.0) / vmax
            fill = _blend(t)
            ink = "#fff" if t > 0.55 else "#222"
            body.append(f'<rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" '
                        f'fill="{fill}"><title>{esc(r)} x {esc(c)}: {esc(num(v))} '
                        f"{esc(unit)}</title></rect>"
                        f'<text x="{x + cw / 2 - 1:.0f}" y="{y + ch / 2 + 3:.0f}" '
                        f'text-anchor="middle" fill="{ink}">{esc(num(v))}</text>')
    return (f'<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
            f'aria-label="{esc(title)}"><title>{esc(title)}</title>{"".join(body)}</svg>')


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str,
              unit: str = "") -> str:
    """Horizontal bars, one per label, with the value written at the end."""
    bw, bh, left = 380, 22, 170
    w, h = left + bw + 90, 10 + bh * len(labels) + 10
    vmax = max([float(v) for v in values if math.isfinite(float(v))] + [1e-12])
    body = []
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = 10 + bh * i
        length = max(float(v), 0.0) / vmax * bw if math.isfinite(float(v)) else 0.0
        body.append(f'<text x="{left - 6}" y="{y + bh / 2 + 4:.0f}" text-anchor="end">'
                    f"{esc(_short(label, 24))}<title>{esc(label)}</title></text>"
                    f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="{bh - 6}" '
                    f'fill="{PALETTE[0]}"/><text x="{left + length + 6:.1f}" '
                    f'y="{y + bh / 2 + 4:.0f}">{esc(num(v))} {esc(unit)}</text>')
    return (f'<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
            f'aria-label="{esc(title)}"><title>{esc(title)}</title>{"".join(body)}</svg>')


def _blend(t: float) -> str:
    """White (t = 0) to dark blue (t = 1)."""
    a, b = np.array([247, 251, 255]), np.array([8, 48, 107])
    r, g, bl = (a + (b - a) * min(max(t, 0.0), 1.0)).round().astype(int)
    return f"#{r:02x}{g:02x}{bl:02x}"


def _short(text: str, n: int = 14) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"
